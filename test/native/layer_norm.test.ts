// The encoders' and backbones' LayerNorm: the fused CPU float32 rows (N % 8 == 0) and
// at::layer_norm (float64, N not a multiple of 8) against a float64 reference, forward and the
// three gradients; the weight and bias gradients over more rows than one chunk (256).
import { describe, expect, it } from 'vitest';

import { native, tensor } from '../../dist/index.js';
import { rng } from '../helpers.js';
import { expectClose, f64, uniform } from './op_helpers.js';

function reference(x: Float64Array, w: Float64Array, b: Float64Array, g: Float64Array, M: number, N: number, eps: number) {
  const y = new Float64Array(M * N), gx = new Float64Array(M * N), gw = new Float64Array(N), gb = new Float64Array(N);
  for (let r = 0; r < M; r++) {
    const row = x.subarray(r * N, (r + 1) * N);
    const mean = row.reduce((a, v) => a + v, 0) / N;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / N;
    const rstd = 1 / Math.sqrt(variance + eps);
    const xh = Array.from(row, (v) => (v - mean) * rstd);
    let a = 0, c = 0;
    for (let j = 0; j < N; j++) {
      y[r * N + j] = xh[j]! * w[j]! + b[j]!;
      const gj = g[r * N + j]!;
      gw[j]! += gj * xh[j]!;
      gb[j]! += gj;
      a += gj * w[j]!;
      c += gj * w[j]! * xh[j]!;
    }
    for (let j = 0; j < N; j++) gx[r * N + j] = rstd * (g[r * N + j]! * w[j]! - a / N - (xh[j]! * c) / N);
  }
  return { y, gx, gw, gb };
}

function check(seed: number, shape: number[], dtype: 'float32' | 'float64', eps = 1e-5) {
  const r = rng(seed);
  const N = shape[shape.length - 1]!, M = shape.slice(0, -1).reduce((a, v) => a * v, 1);
  // rows with an offset and a spread of their own, as activations have
  const x = Float64Array.from(uniform(r, M * N), (v, i) => 3 * v * (1 + (Math.floor(i / N) % 5)) + (Math.floor(i / N) % 7));
  const w = uniform(r, N, 0.5, 1.5), b = uniform(r, N), g = uniform(r, M * N);
  const arr = (a: Float64Array) => (dtype === 'float32' ? Float32Array.from(a) : a);
  const seen = (a: Float64Array) => Float64Array.from(arr(a));
  const got = native().ops.layerNorm(tensor(arr(x), { shape }), tensor(arr(w), { shape: [N] }), tensor(arr(b), { shape: [N] }), eps,
    tensor(arr(g), { shape }));
  const ref = reference(seen(x), seen(w), seen(b), seen(g), M, N, eps);
  const tol = dtype === 'float32' ? 2e-5 : 1e-11;
  expect(got.out.shape).toEqual(shape);
  expectClose(f64(got.out), ref.y, tol, 1e-5, 'y');
  expectClose(f64(got.gradX!), ref.gx, tol, 1e-4, 'd x');
  expectClose(f64(got.gradWeight!), ref.gw, tol * Math.sqrt(M), 1e-5, 'd weight');
  expectClose(f64(got.gradBias!), ref.gb, tol * Math.sqrt(M), 1e-5, 'd bias');
}

describe('layerNorm (CPU)', () => {
  it('fused float32 rows match the float64 reference (one row, 2-D, 3-D, more rows than a chunk)', () => {
    check(1, [1, 8], 'float32');
    check(2, [37, 64], 'float32');
    check(3, [3, 200, 128], 'float32'); // 600 rows: three chunks of weight/bias gradient
    check(4, [5, 16], 'float32', 1e-3);
  });

  it('other widths and dtypes take at::layer_norm with the same result', () => {
    check(5, [9, 12], 'float32');
    check(6, [300, 64], 'float64');
  });

  it('refuses mismatched shapes with all of them named', () => {
    expect(() => native().ops.layerNorm(tensor(new Float32Array(8), { shape: [2, 4] }), tensor(new Float32Array(3)), tensor(new Float32Array(4)), 1e-5))
      .toThrow(/layerNorm: expected x \[\.\.\., N\], weight \[N\] and bias \[N\]; got x \[2, 4\], weight \[3\], bias \[4\]/);
  });
});
