// The dense layers' op: y = x W^T + b and its three gradients against a float64 reference,
// on oneDNN's GEMM (CPU float32, where LibTorch's libdnnl is loaded) and on at::linear
// (other dtypes; every case with LEMUR_CPU_GEMM=blas in a child process).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { info, native, tensor } from '../../dist/index.js';
import { rng } from '../helpers.js';
import { expectClose, f64, uniform } from './op_helpers.js';

function reference(x: Float64Array, w: Float64Array, b: Float64Array | null, g: Float64Array, M: number, K: number, N: number) {
  const y = new Float64Array(M * N), gx = new Float64Array(M * K), gw = new Float64Array(N * K), gb = new Float64Array(N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = b ? b[n]! : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k]! * w[n * K + k]!;
      y[m * N + n] = s;
      const gi = g[m * N + n]!;
      gb[n]! += gi;
      for (let k = 0; k < K; k++) {
        gx[m * K + k]! += gi * w[n * K + k]!;
        gw[n * K + k]! += gi * x[m * K + k]!;
      }
    }
  return { y, gx, gw, gb };
}

function check(seed: number, xShape: number[], N: number, withBias: boolean, dtype: 'float32' | 'float64') {
  const r = rng(seed);
  const K = xShape[xShape.length - 1]!;
  const M = xShape.slice(0, -1).reduce((a, v) => a * v, 1);
  const x = uniform(r, M * K), w = uniform(r, N * K), b = withBias ? uniform(r, N) : null, g = uniform(r, M * N);
  const arr = (a: Float64Array) => (dtype === 'float32' ? Float32Array.from(a) : a);
  const got = native().ops.linear(
    tensor(arr(x), { shape: xShape }),
    tensor(arr(w), { shape: [N, K] }),
    b ? tensor(arr(b), { shape: [N] }) : null,
    tensor(arr(g), { shape: [...xShape.slice(0, -1), N] }),
  );
  const ref = reference(x, w, b, g, M, K, N);
  // float32 inputs, sums of K (or M) products of values in [-1, 1]
  const tol = dtype === 'float32' ? 2e-5 * Math.max(K, M, 1) : 1e-12;
  expect(got.out.shape).toEqual([...xShape.slice(0, -1), N]);
  expect(got.gradX!.shape).toEqual(xShape);
  expectClose(f64(got.out), ref.y, tol, 0, 'y');
  expectClose(f64(got.gradX!), ref.gx, tol, 0, 'd x');
  expectClose(f64(got.gradWeight!), ref.gw, tol, 0, 'd weight');
  if (withBias) expectClose(f64(got.gradBias!), ref.gb, tol, 0, 'd bias');
  else expect(got.gradBias).toBeUndefined();
}

describe('linear (CPU)', () => {
  it('runs CPU float32 on oneDNN where LibTorch links it, and says so', () => {
    const gemm = info().threads.cpuGemm;
    if (process.env.LEMUR_CPU_GEMM === 'blas') expect(gemm).toBe('BLAS');
    else expect(gemm === 'BLAS' || /^oneDNN \d+\.\d+\.\d+$/.test(gemm), gemm).toBe(true);
  });

  it('matches the float64 reference: 2-D with bias, 3-D without, float32 and float64', () => {
    check(1, [37, 19], 11, true, 'float32');
    check(2, [3, 5, 64], 48, false, 'float32');
    check(3, [300, 64], 192, true, 'float32');  // a text encoder's qkv at the presets' width
    check(4, [7, 13], 5, true, 'float64');  // not float32: at::linear
  });

  it('reads a transposed (non-contiguous) input and handles no rows', () => {
    const r = rng(5);
    const M = 9, K = 6, N = 4;
    const xt = uniform(r, K * M), w = uniform(r, N * K), b = uniform(r, N), g = uniform(r, M * N);
    const x = tensor(Float32Array.from(xt), { shape: [K, M] }).transpose(0, 1);  // [M, K], strides (1, M)
    expect(x.isContiguous).toBe(false);
    const xRows = new Float64Array(M * K);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) xRows[m * K + k] = xt[k * M + m]!;
    const got = native().ops.linear(x, tensor(Float32Array.from(w), { shape: [N, K] }), tensor(Float32Array.from(b), { shape: [N] }),
      tensor(Float32Array.from(g), { shape: [M, N] }));
    const ref = reference(xRows, w, b, g, M, K, N);
    expectClose(f64(got.out), ref.y, 1e-5, 0, 'y');
    expectClose(f64(got.gradX!), ref.gx, 1e-5, 0, 'd x');
    expectClose(f64(got.gradWeight!), ref.gw, 1e-5, 0, 'd weight');

    const empty = native().ops.linear(tensor(new Float32Array(0), { shape: [0, K] }), tensor(Float32Array.from(w), { shape: [N, K] }),
      tensor(Float32Array.from(b), { shape: [N] }), tensor(new Float32Array(0), { shape: [0, N] }));
    expect(empty.out.shape).toEqual([0, N]);
    expect(empty.gradWeight!.sum()).toBe(0);
    expect(empty.gradBias!.sum()).toBe(0);
  });

  it('refuses mismatched shapes with both shapes named', () => {
    expect(() => native().ops.linear(tensor(new Float32Array(6), { shape: [2, 3] }), tensor(new Float32Array(8), { shape: [2, 4] }), null))
      .toThrow(/linear: expected x \[\.\.\., in\], weight \[out, in\].*got x \[2, 3\], weight \[2, 4\]/);
  });

  it('gives the same products on LibTorch\'s BLAS (LEMUR_CPU_GEMM=blas, a child process)', () => {
    if (process.env.LEMUR_CPU_GEMM === 'blas') return;
    const script = `
      import { info, native, tensor } from ${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)};
      const x = Float32Array.from({ length: 40 * 24 }, (_, i) => Math.sin(i));
      const w = Float32Array.from({ length: 16 * 24 }, (_, i) => Math.cos(i));
      const y = native().ops.linear(tensor(x, { shape: [40, 24] }), tensor(w, { shape: [16, 24] }), null).out.copy();
      console.log(JSON.stringify({ gemm: info().threads.cpuGemm, y: Array.from(y) }));`;
    const run = (gemm: string) => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8', env: { ...process.env, LEMUR_CPU_GEMM: gemm }, cwd: fileURLToPath(new URL('.', import.meta.url)),
    })) as { gemm: string; y: number[] };
    const blas = run('blas'), fast = run('onednn');
    expect(blas.gemm).toBe('BLAS');
    expect(fast.gemm).toBe(info().threads.cpuGemm);
    expectClose(fast.y, blas.y, 1e-5, 1e-5, 'oneDNN vs BLAS');
  });
});
