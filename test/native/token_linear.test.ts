// RankMixer's per-token layers: y[b, t] = x[b, t] W[t] + bias[t] and its three gradients
// against a float64 reference, on oneDNN's GEMM per token in place (CPU float32) and on the
// einsum (float64; every case with LEMUR_CPU_GEMM=blas in a child process).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { native, tensor } from '../../dist/index.js';
import { rng } from '../helpers.js';
import { expectClose, f64, uniform } from './op_helpers.js';

// x [B, T, C], w [T, C, D], b [T, D], g [B, T, D]
function reference(x: Float64Array, w: Float64Array, b: Float64Array | null, g: Float64Array, B: number, T: number, C: number, D: number) {
  const y = new Float64Array(B * T * D), gx = new Float64Array(B * T * C), gw = new Float64Array(T * C * D), gb = new Float64Array(T * D);
  for (let n = 0; n < B; n++)
    for (let t = 0; t < T; t++)
      for (let d = 0; d < D; d++) {
        let s = b ? b[t * D + d]! : 0;
        for (let c = 0; c < C; c++) s += x[(n * T + t) * C + c]! * w[(t * C + c) * D + d]!;
        y[(n * T + t) * D + d] = s;
        const gi = g[(n * T + t) * D + d]!;
        gb[t * D + d]! += gi;
        for (let c = 0; c < C; c++) {
          gx[(n * T + t) * C + c]! += gi * w[(t * C + c) * D + d]!;
          gw[(t * C + c) * D + d]! += gi * x[(n * T + t) * C + c]!;
        }
      }
  return { y, gx, gw, gb };
}

function check(seed: number, [B, T, C, D]: number[], withBias: boolean, dtype: 'float32' | 'float64', transposedWeight = false) {
  const r = rng(seed);
  const x = uniform(r, B * T * C), w = uniform(r, T * C * D), b = withBias ? uniform(r, T * D) : null, g = uniform(r, B * T * D);
  const arr = (a: Float64Array) => (dtype === 'float32' ? Float32Array.from(a) : a);
  let weight = tensor(arr(w), { shape: [T, C, D] });
  if (transposedWeight) {
    // the same logical [T, C, D] weight, stored as [T, D, C] (as bank attention's W_v per head)
    const s = new Float64Array(T * D * C);
    for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) s[(t * D + d) * C + c] = w[(t * C + c) * D + d]!;
    weight = tensor(arr(s), { shape: [T, D, C] }).transpose(1, 2);
    expect(weight.isContiguous).toBe(false);
  }
  const got = native().ops.tokenLinear(tensor(arr(x), { shape: [B, T, C] }), weight, b ? tensor(arr(b), { shape: [T, D] }) : null,
    tensor(arr(g), { shape: [B, T, D] }));
  const ref = reference(x, w, b, g, B, T, C, D);
  const tol = dtype === 'float32' ? 2e-5 * Math.max(C, D, B, 1) : 1e-12;
  expect(got.out.shape).toEqual([B, T, D]);
  expect(got.gradWeight!.shape).toEqual([T, C, D]);
  expectClose(f64(got.out), ref.y, tol, 0, 'y');
  expectClose(f64(got.gradX!), ref.gx, tol, 0, 'd x');
  expectClose(f64(got.gradWeight!), ref.gw, tol, 0, 'd weight');
  if (withBias) expectClose(f64(got.gradBias!), ref.gb, tol, 0, 'd bias');
  else expect(got.gradBias).toBeUndefined();
}

describe('tokenLinear (CPU)', () => {
  it('matches the float64 reference: with and without bias, float32 and float64', () => {
    check(1, [5, 3, 7, 4], true, 'float32');
    check(2, [64, 8, 24, 64], true, 'float32'); // RankMixer's tokenizer at the presets' sizes
    check(3, [33, 8, 64, 128], false, 'float32'); // a per-token FFN's first layer
    check(4, [6, 2, 5, 3], true, 'float64'); // not float32: einsum
  });

  it('reads a weight stored transposed ([T, D, C] read as [T, C, D]) in place', () => {
    check(5, [9, 4, 16, 6], false, 'float32', true);
    check(6, [9, 4, 6, 16], true, 'float32', true);
  });

  it('handles a batch of zero rows (zero weight and bias gradients)', () => {
    const got = native().ops.tokenLinear(tensor(new Float32Array(0), { shape: [0, 3, 4] }), tensor(new Float32Array(3 * 4 * 5).fill(1), { shape: [3, 4, 5] }),
      tensor(new Float32Array(15).fill(2), { shape: [3, 5] }), tensor(new Float32Array(0), { shape: [0, 3, 5] }));
    expect(got.out.shape).toEqual([0, 3, 5]);
    expect(got.gradWeight!.shape).toEqual([3, 4, 5]);
    expect(got.gradWeight!.sum()).toBe(0);
    expect(got.gradBias!.sum()).toBe(0);
  });

  it('refuses mismatched shapes with all of them named', () => {
    expect(() => native().ops.tokenLinear(tensor(new Float32Array(24), { shape: [2, 3, 4] }), tensor(new Float32Array(30), { shape: [3, 5, 2] }), null))
      .toThrow(/token_linear: expected x \[B, T, C\], weight \[T, C, D\] and bias \[T, D\], got x \[2, 3, 4\], weight \[3, 5, 2\], no bias/);
    expect(() => native().ops.tokenLinear(tensor(new Float32Array(24), { shape: [2, 3, 4] }), tensor(new Float32Array(24), { shape: [3, 4, 2] }),
      tensor(new Float32Array(4), { shape: [2, 2] }))).toThrow(/bias \[2, 2\]/);
  });

  it('gives the same products on the einsum (LEMUR_CPU_GEMM=blas, a child process)', () => {
    if (process.env.LEMUR_CPU_GEMM === 'blas') return;
    const script = `
      import { native, tensor } from ${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)};
      const x = Float32Array.from({ length: 40 * 3 * 24 }, (_, i) => Math.sin(i));
      const w = Float32Array.from({ length: 3 * 24 * 16 }, (_, i) => Math.cos(i));
      const b = Float32Array.from({ length: 3 * 16 }, (_, i) => Math.sin(3 * i));
      const g = Float32Array.from({ length: 40 * 3 * 16 }, (_, i) => Math.cos(7 * i));
      const r = native().ops.tokenLinear(tensor(x, { shape: [40, 3, 24] }), tensor(w, { shape: [3, 24, 16] }), tensor(b, { shape: [3, 16] }),
        tensor(g, { shape: [40, 3, 16] }));
      console.log(JSON.stringify([r.out, r.gradX, r.gradWeight, r.gradBias].map((t) => Array.from(t.copy()))));`;
    const run = (gemm: string) => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8', env: { ...process.env, LEMUR_CPU_GEMM: gemm }, cwd: fileURLToPath(new URL('.', import.meta.url)),
    })) as number[][];
    const einsum = run('blas'), fast = run('onednn');
    for (let i = 0; i < 4; i++) expectClose(fast[i]!, einsum[i]!, 1e-4, 1e-5, ['y', 'd x', 'd weight', 'd bias'][i]);
  });
});
