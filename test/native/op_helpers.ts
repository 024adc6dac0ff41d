// Shared pieces of the op tests: float64 references written independently of the native code,
// random ragged layouts, and tolerance checks over whole arrays.
import { expect } from 'vitest';

import { tensor, type Tensor } from '../../dist/index.js';
import { rng } from '../helpers.js';

/** Offsets [B+1] from lengths. */
export function offsetsOf(lengths: number[]): number[] {
  const o = [0];
  for (const n of lengths) o.push(o[o.length - 1]! + n);
  return o;
}

export function i64(values: number[]): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(v));
}

export function uniform(r: () => number, n: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** The tensor's values as float64, whatever its dtype, device and layout. */
export function f64(t: Tensor): Float64Array {
  const c = t.dtype === 'float64' || t.dtype === 'float32' ? t : t.to('float32');
  const a = c.copy();
  return a instanceof Float64Array ? a : Float64Array.from(a as Float32Array);
}

/** max |a - b| / (atol + rtol |b|) <= 1, reported with the worst position when not. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol = 0, what = ''): void {
  expect(got.length, `${what} length`).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    const err = d === 0 ? 0 : d / (atol + rtol * Math.abs(want[i]!));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  if (!(worst <= 1)) {
    throw new Error(`${what}: at ${at} got ${got[at]} want ${want[at]} (error ${worst.toExponential(2)} x tolerance)`);
  }
}

export interface AttentionCase {
  H: number;
  D: number;
  Dv: number;
  qOff: number[];
  kOff: number[];
  q: Float64Array; // [Tq, H, D]
  k: Float64Array; // [Tk, H, D]
  v: Float64Array; // [Tk, H, Dv]
  mask: boolean[] | null; // [Tk]
  gradOut: Float64Array; // [Tq, H, Dv]
}

export function randomAttentionCase(
  seed: number,
  opts: { H: number; D: number; Dv?: number; qLens: number[]; kLens: number[]; maskRate?: number },
): AttentionCase {
  const r = rng(seed);
  const Dv = opts.Dv ?? opts.D;
  const qOff = offsetsOf(opts.qLens);
  const kOff = offsetsOf(opts.kLens);
  const Tq = qOff[qOff.length - 1]!;
  const Tk = kOff[kOff.length - 1]!;
  const mask = opts.maskRate === undefined ? null : Array.from({ length: Tk }, () => r() >= opts.maskRate!);
  return {
    H: opts.H,
    D: opts.D,
    Dv,
    qOff,
    kOff,
    q: uniform(r, Tq * opts.H * opts.D, -1.5, 1.5),
    k: uniform(r, Tk * opts.H * opts.D, -1.5, 1.5),
    v: uniform(r, Tk * opts.H * Dv),
    mask,
    gradOut: uniform(r, Tq * opts.H * Dv),
  };
}

/**
 * Float64 multi-head attention over ragged samples, and its gradients for gradOut: computed
 * per query with a plain softmax over the sample's unmasked keys.
 */
export function attentionReference(c: AttentionCase, scale: number) {
  const { H, D, Dv, qOff, kOff, q, k, v, mask, gradOut } = c;
  const out = new Float64Array(q.length / D * Dv);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b + 1 < qOff.length; b++) {
    const keys: number[] = [];
    for (let j = kOff[b]!; j < kOff[b + 1]!; j++) if (!mask || mask[j]) keys.push(j);
    if (keys.length === 0) continue;
    for (let i = qOff[b]!; i < qOff[b + 1]!; i++) {
      for (let h = 0; h < H; h++) {
        const qi = (i * H + h) * D;
        const s = keys.map((j) => {
          let dot = 0;
          for (let x = 0; x < D; x++) dot += q[qi + x]! * k[(j * H + h) * D + x]!;
          return dot * scale;
        });
        const mx = Math.max(...s);
        const e = s.map((x) => Math.exp(x - mx));
        const sum = e.reduce((a, x) => a + x, 0);
        const p = e.map((x) => x / sum);
        const oi = (i * H + h) * Dv;
        keys.forEach((j, n) => {
          for (let y = 0; y < Dv; y++) out[oi + y]! += p[n]! * v[(j * H + h) * Dv + y]!;
        });
        // backward: dp_n = g . v_n; ds_n = p_n (dp_n - sum_m p_m dp_m)
        const dp = keys.map((j) => {
          let dot = 0;
          for (let y = 0; y < Dv; y++) dot += gradOut[oi + y]! * v[(j * H + h) * Dv + y]!;
          return dot;
        });
        const pdp = p.reduce((a, x, n) => a + x * dp[n]!, 0);
        keys.forEach((j, n) => {
          const ds = p[n]! * (dp[n]! - pdp) * scale;
          const kj = (j * H + h) * D;
          for (let x = 0; x < D; x++) {
            dq[qi + x]! += ds * k[kj + x]!;
            dk[kj + x]! += ds * q[qi + x]!;
          }
          for (let y = 0; y < Dv; y++) dv[(j * H + h) * Dv + y]! += p[n]! * gradOut[oi + y]!;
        });
      }
    }
  }
  return { out, dq, dk, dv };
}

/** A [d0, d1, d2] float64 tensor in dtype `dtype` (rounded through float32 for half types). */
export function tensor3(data: Float64Array, shape: number[], dtype: 'float64' | 'float32' | 'bfloat16' | 'float16'): Tensor {
  if (dtype === 'float64') return tensor(Float64Array.from(data), { shape });
  const t = tensor(Float32Array.from(data), { shape });
  return dtype === 'float32' ? t : t.to(dtype);
}
