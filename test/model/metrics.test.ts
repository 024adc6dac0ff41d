// Metrics against hand computations: AUC with ties, grouped AUC (single-class groups skipped,
// impression-weighted mean), log-loss, HR@K / NDCG@K.
import { describe, expect, it } from 'vitest';

import { auc, groupedAuc, logLoss, retrievalMetrics } from '../../dist/index.js';

describe('metrics', () => {
  it('AUC counts pairs, ties as one half', () => {
    // positives 0.9, 0.5; negatives 0.5, 0.1: pairs (0.9>0.5) (0.9>0.1) (0.5=0.5 -> 1/2) (0.5>0.1) = 3.5 / 4
    expect(auc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])).toBe(0.875);
    expect(auc([0.1, 0.2], [1, 0])).toBe(0);
    expect(Number.isNaN(auc([0.3, 0.4], [1, 1]))).toBe(true);
  });

  it('grouped AUC skips single-class groups and weights by impressions', () => {
    const scores = [0.9, 0.1, 0.8, 0.7, 0.6, 0.2, 0.3];
    const labels = [1, 0, 0, 1, 1, 0, 0];
    const groups = [1, 1, 2, 2, 2, 3, 3];
    // group 1: AUC 1 (2 rows); group 2: positives 0.7, 0.6 vs negative 0.8 -> 0 (3 rows); group 3: no positive -> skipped
    const g = groupedAuc(scores, labels, groups);
    expect(g.groups).toBe(2);
    expect(g.skipped).toBe(1);
    expect(g.mean).toBe(0.5);
    expect(g.weighted).toBeCloseTo((1 * 2 + 0 * 3) / 5, 12);
  });

  it('log-loss is the mean binary cross-entropy', () => {
    expect(logLoss([0.8, 0.3], [1, 0])).toBeCloseTo((-Math.log(0.8) - Math.log(0.7)) / 2, 12);
  });

  it('HR@K and NDCG@K rank every document by dot product', () => {
    // 3 documents in 2-d; query 0 prefers doc 2 then doc 0 (its target, rank 1); query 1 hits doc 1 first
    const docs = Float32Array.from([1, 0, 0, 1, 2, 0]);
    const queries = Float32Array.from([1, 0.1, 0, 1]);
    const r1 = retrievalMetrics(queries, docs, 2, [0, 1], 1);
    expect(r1.hr).toBe(0.5);
    expect(r1.ndcg).toBe(0.5);
    const r2 = retrievalMetrics(queries, docs, 2, [0, 1], 2);
    expect(r2.hr).toBe(1);
    expect(r2.ndcg).toBeCloseTo((1 / Math.log2(3) + 1) / 2, 12);
  });
});
