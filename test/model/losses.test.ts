// BCE and SQDC against hand computations.
import { describe, expect, it } from 'vitest';

import { native, tensor } from '../../dist/index.js';
import { rng } from '../helpers.js';

const nn = native().nn as {
  sqdcLoss(q: unknown, d: unknown, labels: unknown, queries: unknown, t: number, mask: boolean): number;
  bceLoss(logits: unknown, labels: unknown): number;
};

function sqdcByHand(q: number[][], d: number[][], labels: number[], queries: number[], T: number, mask: boolean): number {
  const norm = (v: number[]) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const pos = labels.map((l, i) => (l === 1 ? i : -1)).filter((i) => i >= 0);
  let total = 0;
  for (const i of pos) {
    const qi = norm(q[i]!);
    const logits = pos.map((j) => {
      const dj = norm(d[j]!);
      return T * qi.reduce((s, x, k) => s + x * dj[k]!, 0);
    });
    const own = logits[pos.indexOf(i)]!;
    let denom = 0;
    pos.forEach((j, jj) => {
      if (mask && j !== i && queries[j] === queries[i]) return; // same query: not a negative
      denom += Math.exp(logits[jj]! - own);
    });
    total += Math.log(denom); // -log(exp(own)/sum) = log(sum exp(l - own))
  }
  return total / pos.length;
}

describe('SQDC', () => {
  const r = rng(3);
  const B = 7, e = 5;
  const q = Array.from({ length: B }, () => Array.from({ length: e }, () => r() * 2 - 1));
  const d = Array.from({ length: B }, () => Array.from({ length: e }, () => r() * 2 - 1));
  const labels = [1, 0, 1, 1, 0, 1, 1];
  const queries = [4, 4, 4, 9, 9, 2, 9]; // rows 0,2 share query 4; rows 3,6 share query 9
  const args = () =>
    [
      tensor(Float32Array.from(q.flat()), { shape: [B, e] }),
      tensor(Float32Array.from(d.flat()), { shape: [B, e] }),
      Float32Array.from(labels),
      BigInt64Array.from(queries, BigInt),
    ] as const;

  it('equals the hand-computed value with the same-query mask (T = 50)', () => {
    const got = nn.sqdcLoss(...args(), 50, true);
    expect(got).toBeCloseTo(sqdcByHand(q, d, labels, queries, 50, true), 3);
  });

  it('equals the hand-computed value without the mask, and the mask changes it', () => {
    const masked = nn.sqdcLoss(...args(), 50, true);
    const plain = nn.sqdcLoss(...args(), 50, false);
    expect(plain).toBeCloseTo(sqdcByHand(q, d, labels, queries, 50, false), 3);
    expect(Math.abs(plain - masked)).toBeGreaterThan(1e-3);
  });

  it('is zero with fewer than two positives', () => {
    const [qt, dt] = args();
    expect(nn.sqdcLoss(qt, dt, Float32Array.from([0, 0, 1, 0, 0, 0, 0]), BigInt64Array.from(queries, BigInt), 50, true)).toBe(0);
  });
});

describe('BCE', () => {
  it('equals the mean binary cross-entropy', () => {
    const logits = [0.3, -1.2, 2.0, 0];
    const labels = [1, 0, 0, 1];
    const byHand =
      logits.reduce((s, z, i) => s + (labels[i] ? Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))), 0) / logits.length;
    expect(nn.bceLoss(Float32Array.from(logits), Float32Array.from(labels))).toBeCloseTo(byHand, 6);
  });
});
