// The feed-forward layers' GELU: the fused CPU float32 pass (AVX-512, else at::gelu) and
// at::gelu (float64) against a float64 reference of the exact GELU, forward and gradient,
// over lengths that are not a multiple of the vector width and over more elements than one task.
import { describe, expect, it } from 'vitest';

import { native, tensor } from '../../dist/index.js';
import { rng } from '../helpers.js';
import { expectClose, f64, uniform } from './op_helpers.js';

// Phi(x) in float64, independent of the kernel's approximation: erfc(a) from erf's Taylor series
// below 2.5 (terms peak near 60, so about 14 correct digits) and from its continued fraction
// above, so the left tail keeps its relative precision (no 1 + erf cancellation).
function erfc(a: number): number {
  if (a < 2.5) {
    let term = a, sum = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = a;
  for (let k = 200; k >= 1; k--) f = a + k / 2 / f;
  return Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
}

function cdf(x: number): number {
  const c = 0.5 * erfc(Math.abs(x) / Math.SQRT2);
  return x < 0 ? c : 1 - c;
}

function reference(x: Float64Array, g: Float64Array) {
  const y = new Float64Array(x.length), gx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = cdf(x[i]!);
    const pdf = Math.exp(-0.5 * x[i]! * x[i]!) / Math.sqrt(2 * Math.PI);
    y[i] = x[i]! * p;
    gx[i] = g[i]! * (p + x[i]! * pdf);
  }
  return { y, gx };
}

function check(seed: number, shape: number[], dtype: 'float32' | 'float64') {
  const r = rng(seed);
  const n = shape.reduce((a, v) => a * v, 1);
  const x = uniform(r, n, -6, 6);
  // the edges: zero, tiny, the tails where erf saturates or exp underflows
  const edges = [0, 1e-4, -1e-4, 0.5, -0.5, 3, -3, 5.5, -5.5, 9, -9, 12, -12, 30, -30, 88, -88, 100, -100];
  edges.forEach((v, i) => { if (i < n) x[i] = v; });
  const g = uniform(r, n);
  const arr = (a: Float64Array) => (dtype === 'float32' ? Float32Array.from(a) : a);
  const seen = (a: Float64Array) => Float64Array.from(arr(a));
  const got = native().ops.gelu(tensor(arr(x), { shape }), tensor(arr(g), { shape }));
  const ref = reference(seen(x), seen(g));
  expect(got.out.shape).toEqual(shape);
  // float32: erf's approximation (|error| <= 1.5e-7, as ATen's) scaled by |x| / 2, and rounding
  const [atol, rtol] = dtype === 'float32' ? [4e-7, 2e-6] : [1e-13, 1e-12];
  expectClose(f64(got.out), ref.y, atol, rtol, 'y');
  expectClose(f64(got.gradX!), ref.gx, atol, rtol, 'd x');
  if (dtype === 'float32') {  // the saturated tails are exact
    const y = f64(got.out);
    if (n > 16) {
      expect(y[16]).toBe(-0);  // x = -88: x * 0
      expect(y[13]).toBe(30);
    }
  }
}

describe('gelu (CPU)', () => {
  it('fused float32 matches the float64 reference (vector body, tails, several tasks)', () => {
    check(1, [3], 'float32');           // a tail only
    check(2, [37, 64], 'float32');
    check(3, [1001], 'float32');        // body + a 1-element tail
    check(4, [5, 7, 1200], 'float32');  // 42,000 elements: three tasks
  });

  it('float64 takes at::gelu with the same result', () => {
    check(5, [300, 17], 'float64');
  });

  it('refuses integer input by name', () => {
    expect(() => native().ops.gelu(tensor(new Int32Array(4)))).toThrow(/gelu: x must be floating point, got Int/);
  });
});
