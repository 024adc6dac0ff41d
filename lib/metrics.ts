import { LemurError } from './errors.js';

/**
 * Ranking metrics: AUC, QAUC / UAUC (AUC per group, averaged unweighted and weighted by
 * impressions; groups with a single class are skipped), log-loss, and HR@K / NDCG@K for
 * two-tower embeddings.
 */

/** AUC by ranks (ties share their average rank). NaN when only one class is present. */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>, index?: ArrayLike<number>): number {
  const n = index ? index.length : scores.length;
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = index ? index[i]! : i;
  idx.sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[idx[k]!]! > 0.5) {
        pos++;
        rankSum += avgRank;
      }
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

export interface GroupedAuc {
  /** Mean AUC over groups with both classes. */
  mean: number;
  /** Mean weighted by each group's number of impressions. */
  weighted: number;
  /** Groups that had both classes (the others are skipped). */
  groups: number;
  skipped: number;
}

/** AUC per group (query for QAUC, user for UAUC/GAUC). */
export function groupedAuc(scores: ArrayLike<number>, labels: ArrayLike<number>, groups: ArrayLike<number | bigint>): GroupedAuc {
  const members = new Map<number | bigint, number[]>();
  for (let i = 0; i < scores.length; i++) {
    const g = groups[i]!;
    let m = members.get(g);
    if (!m) members.set(g, (m = []));
    m.push(i);
  }
  let sum = 0;
  let wsum = 0;
  let w = 0;
  let counted = 0;
  let skipped = 0;
  for (const idx of members.values()) {
    const a = auc(scores, labels, idx);
    if (Number.isNaN(a)) {
      skipped++;
      continue;
    }
    counted++;
    sum += a;
    wsum += a * idx.length;
    w += idx.length;
  }
  return { mean: counted ? sum / counted : NaN, weighted: w ? wsum / w : NaN, groups: counted, skipped };
}

/** Mean binary cross-entropy of probabilities. */
export function logLoss(probs: ArrayLike<number>, labels: ArrayLike<number>, index?: ArrayLike<number>): number {
  const n = index ? index.length : probs.length;
  let s = 0;
  for (let k = 0; k < n; k++) {
    const i = index ? index[k]! : k;
    const p = Math.min(Math.max(probs[i]!, 1e-7), 1 - 1e-7);
    s += labels[i]! > 0.5 ? -Math.log(p) : -Math.log(1 - p);
  }
  return n ? s / n : NaN;
}

export interface RankingMetrics {
  n: number;
  positives: number;
  auc: number;
  qauc: GroupedAuc;
  uauc: GroupedAuc;
  logLoss: number;
}

/** Throws when a score is not a finite number: a metric over NaN scores is silently arbitrary. */
export function checkScores(scores: ArrayLike<number>, what = 'scores'): void {
  let bad = 0;
  let first = -1;
  for (let i = 0; i < scores.length; i++)
    if (!Number.isFinite(scores[i]!)) {
      if (first < 0) first = i;
      bad++;
    }
  if (bad) throw new LemurError(`${what}: ${bad} of ${scores.length} are not finite (first at index ${first}, ${scores[first]}); no metric is computed from them`);
}

/** Why a metric is undefined (NaN) on some rows, in words; undefined when it is defined. */
export function undefinedMetrics(m: RankingMetrics, where: string): string[] {
  const notes: string[] = [];
  if (m.n === 0) return [`${where}: no rows`];
  if (Number.isNaN(m.auc))
    notes.push(`${where}: AUC and QAUC are undefined: all ${m.n} rows are ${m.positives === 0 ? 'negatives (label 0)' : 'positives (label 1)'}`);
  else if (m.qauc.groups === 0)
    notes.push(`${where}: QAUC is undefined: none of its ${m.qauc.skipped} queries has both clicked and unclicked rows`);
  else if (m.uauc.groups === 0) notes.push(`${where}: UAUC is undefined: no user has both clicked and unclicked rows`);
  return notes;
}

/** All ranking metrics over the rows in `index` (all rows when omitted). Non-finite scores are an error. */
export function rankingMetrics(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  query: ArrayLike<number | bigint>,
  user: ArrayLike<number | bigint>,
  index?: number[],
): RankingMetrics {
  const pick = <T>(a: ArrayLike<T>): T[] => (index ? index.map((i) => a[i]!) : Array.from(a));
  const s = pick(scores);
  checkScores(s);
  const l = pick(labels);
  return {
    n: s.length,
    positives: l.filter((x) => x > 0.5).length,
    auc: auc(s, l),
    qauc: groupedAuc(s, l, pick(query)),
    uauc: groupedAuc(s, l, pick(user)),
    logLoss: logLoss(s, l),
  };
}

/**
 * HR@K and NDCG@K of two-tower retrieval: each query embedding ranks all candidate
 * document embeddings by dot product; its relevant document's rank decides the hit.
 * queries [nq, e], docs [nd, e] row-major; relevant[i] is the index of query i's document.
 */
export function retrievalMetrics(
  queries: Float32Array,
  docs: Float32Array,
  dim: number,
  relevant: ArrayLike<number>,
  k: number,
): { hr: number; ndcg: number; n: number } {
  const nq = relevant.length;
  const nd = docs.length / dim;
  let hits = 0;
  let ndcg = 0;
  for (let i = 0; i < nq; i++) {
    const q = queries.subarray(i * dim, (i + 1) * dim);
    const target = relevant[i]!;
    let targetScore = 0;
    for (let c = 0; c < dim; c++) targetScore += q[c]! * docs[target * dim + c]!;
    let rank = 0;
    for (let d = 0; d < nd && rank < k; d++) {
      if (d === target) continue;
      let s = 0;
      for (let c = 0; c < dim; c++) s += q[c]! * docs[d * dim + c]!;
      if (s > targetScore) rank++;
    }
    if (rank < k) {
      hits++;
      ndcg += 1 / Math.log2(rank + 2);
    }
  }
  return { hr: nq ? hits / nq : NaN, ndcg: nq ? ndcg / nq : NaN, n: nq };
}
