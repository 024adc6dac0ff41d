// The dense parameters' AdamW: FusedAdamW (one pass per CPU float32 parameter, the clipping
// coefficient folded in) against a float64 reference of the update and against LibTorch's
// own AdamW on the same gradients; float64 and non-contiguous parameters take AdamW's ops.
import { describe, expect, it } from 'vitest';

import { native, tensor, type Tensor } from '../../dist/index.js';
import { rng } from '../helpers.js';
import { expectClose, f64, uniform } from '../native/op_helpers.js';

type Options = { lr: number; weightDecay: number; beta1: number; beta2: number; eps: number; gradScale: number };
const nn = native().nn as unknown as {
  adamwSteps(o: Options, param: Tensor, grads: Tensor[]): { fused: Tensor; reference: Tensor };
};

// AdamW (decoupled weight decay, bias-corrected moments), gradients scaled first.
function reference(o: Options, p0: Float64Array, grads: Float64Array[]): Float64Array {
  const p = Float64Array.from(p0), m = new Float64Array(p.length), v = new Float64Array(p.length);
  grads.forEach((g, s) => {
    const t = s + 1;
    const bc1 = 1 - o.beta1 ** t, bc2 = 1 - o.beta2 ** t;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]! * o.gradScale;
      p[i]! *= 1 - o.lr * o.weightDecay;
      m[i] = o.beta1 * m[i]! + (1 - o.beta1) * gi;
      v[i] = o.beta2 * v[i]! + (1 - o.beta2) * gi * gi;
      p[i]! -= (o.lr / bc1) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(bc2) + o.eps));
    }
  });
  return p;
}

const base: Options = { lr: 0.01, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, gradScale: 0.37 };

function check(seed: number, n: number, o: Options, dtype: 'float32' | 'float64', transposed = false) {
  const r = rng(seed);
  const p0 = uniform(r, n), grads = Array.from({ length: 6 }, () => uniform(r, n, -0.5, 0.5));
  const arr = (a: Float64Array) => (dtype === 'float32' ? Float32Array.from(a) : a);
  // the float64 reference sees what the op sees: inputs rounded to the parameter's dtype
  const seen = (a: Float64Array) => Float64Array.from(arr(a));
  let param = tensor(arr(p0), { shape: [n] });
  if (transposed) {
    // the same n = rows * cols values in order, stored column-major (a transposed view)
    const rows = 8, cols = n / 8;
    const t = new Float64Array(n);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = p0[i * cols + j]!;
    param = tensor(arr(t), { shape: [cols, rows] }).transpose(0, 1);
    expect(param.isContiguous).toBe(false);
  }
  const shape = param.shape;
  const got = nn.adamwSteps(o, param, grads.map((g) => tensor(arr(g), { shape })));
  const want = reference(o, seen(p0), grads.map(seen));
  const tol = dtype === 'float32' ? 2e-6 : 1e-12;
  expectClose(f64(got.fused), want, tol, 0, `${dtype} fused vs reference`);
  expectClose(f64(got.fused), f64(got.reference), tol, 0, `${dtype} fused vs LibTorch AdamW`);
  // the update moved every element (nothing skipped)
  expect(f64(got.fused).every((x, i) => x !== seen(p0)[i])).toBe(true);
}

describe('FusedAdamW', () => {
  it('matches the float64 reference and LibTorch AdamW on float32 (vector body and tail)', () => {
    check(1, 37, base, 'float32');
    check(2, 4096, base, 'float32');
    check(3, 19, { ...base, weightDecay: 0, gradScale: 1 }, 'float32');
  });

  it('float64 and non-contiguous parameters take AdamW\'s own ops with the same result', () => {
    check(4, 40, base, 'float64');
    check(5, 64, base, 'float32', true);
  });
});
