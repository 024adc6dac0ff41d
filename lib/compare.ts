/**
 * Comparing models trained over several seeds: mean and standard deviation of each metric
 * across seeds, and a paired bootstrap confidence interval of each model's difference to a
 * baseline. The bootstrap resamples whole queries (a cluster bootstrap: rows of one query are
 * not independent), the same resample for every model, and averages each model over its
 * seeds, so the interval covers both the test sample and the seeds' spread.
 */
import { LemurError } from './errors.js';

export interface Spread {
  mean: number;
  /** Sample standard deviation over seeds (0 with one seed). */
  std: number;
  n: number;
}

/** Mean and sample standard deviation, over the finite values. */
export function spread(values: readonly number[]): Spread {
  const v = values.filter(Number.isFinite);
  const n = v.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

export type BootstrapMetric = 'auc' | 'qauc';

/** One trained model's scores on the evaluated split (row order of the split). */
export interface RunScores {
  model: string;
  seed: number;
  scores: Float32Array;
}

export interface Difference {
  model: string;
  metric: BootstrapMetric;
  /** model minus baseline, each averaged over its seeds, on the rows evaluated. */
  difference: number;
  /** Percentile interval of the difference over the resamples. */
  low: number;
  high: number;
  level: number;
  /** Fraction of resamples where the difference is <= 0 (a one-sided bootstrap p-value). */
  pNotBetter: number;
}

export interface BootstrapOptions {
  labels: ArrayLike<number>;
  /** Query id of each row: the resampling unit, and the groups of QAUC. */
  query: ArrayLike<number>;
  /** Rows to use (e.g. the cold-start rows); default all. */
  rows?: ArrayLike<number>;
  runs: RunScores[];
  baseline: string;
  metrics?: BootstrapMetric[];
  resamples?: number;
  /** Confidence level of the interval (default 0.95). */
  level?: number;
  seed?: number;
}

/** Small seeded generator (mulberry32): the intervals repeat exactly for one seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What one run needs for a resample's metrics in O(rows). */
interface Prepared {
  model: string;
  /** Rows (indices into the used rows) sorted by score, and where each tie run ends. */
  order: Int32Array;
  tieEnd: Int32Array;
  /** AUC of each group on all of its rows (NaN with one class). */
  groupAuc: Float64Array;
}

function prepare(run: RunScores, rows: Int32Array, label: Uint8Array, group: Int32Array, groups: number): Prepared {
  const n = rows.length;
  const score = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = run.scores[rows[i]!]!;
    if (!Number.isFinite(s)) throw new LemurError(`comparison: ${run.model} (seed ${run.seed}) has a non-finite score at row ${rows[i]}`);
    score[i] = s;
  }
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => score[a]! - score[b]!);
  const tieEnd = new Int32Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && score[order[j + 1]!] === score[order[i]!]) j++;
    for (let k = i; k <= j; k++) tieEnd[k] = j;
    i = j + 1;
  }
  // per-group AUC by the same sweep: each positive counts its group's negatives below it,
  // and half of those tied with it (O(rows), whatever the ties)
  const negBelow = new Float64Array(groups);
  const tiedNeg = new Float64Array(groups);
  const pos = new Float64Array(groups);
  const neg = new Float64Array(groups);
  const rankSum = new Float64Array(groups);
  const touched: number[] = [];
  for (let i = 0; i < n; ) {
    const j = tieEnd[i]!;
    for (let k = i; k <= j; k++) {
      const r = order[k]!;
      if (label[r]) continue;
      const g = group[r]!;
      if (tiedNeg[g] === 0) touched.push(g);
      tiedNeg[g]!++;
    }
    for (let k = i; k <= j; k++) {
      const r = order[k]!;
      if (!label[r]) continue;
      const g = group[r]!;
      pos[g]!++;
      rankSum[g]! += negBelow[g]! + tiedNeg[g]! / 2;
    }
    for (const g of touched) {
      negBelow[g]! += tiedNeg[g]!;
      neg[g]! += tiedNeg[g]!;
      tiedNeg[g] = 0;
    }
    touched.length = 0;
    i = j + 1;
  }
  const groupAuc = new Float64Array(groups);
  for (let g = 0; g < groups; g++) groupAuc[g] = pos[g]! > 0 && neg[g]! > 0 ? rankSum[g]! / (pos[g]! * neg[g]!) : NaN;
  return { model: run.model, order, tieEnd, groupAuc };
}

/** AUC with row weights (a resample's multiplicities), from the sorted order: O(rows). */
function weightedAuc(p: Prepared, weight: Float64Array, label: Uint8Array): number {
  let negBelow = 0;
  let num = 0;
  let posTotal = 0;
  const n = p.order.length;
  for (let i = 0; i < n; ) {
    const j = p.tieEnd[i]!;
    let posW = 0;
    let negW = 0;
    for (let k = i; k <= j; k++) {
      const r = p.order[k]!;
      if (label[r]) posW += weight[r]!;
      else negW += weight[r]!;
    }
    num += posW * (negBelow + negW / 2);
    posTotal += posW;
    negBelow += negW;
    i = j + 1;
  }
  return posTotal > 0 && negBelow > 0 ? num / (posTotal * negBelow) : NaN;
}

/** QAUC (unweighted mean over groups with both classes) with group multiplicities. */
function weightedQauc(p: Prepared, groupWeight: Float64Array): number {
  let s = 0;
  let w = 0;
  for (let g = 0; g < groupWeight.length; g++) {
    const a = p.groupAuc[g]!;
    if (groupWeight[g]! > 0 && !Number.isNaN(a)) {
      s += groupWeight[g]! * a;
      w += groupWeight[g]!;
    }
  }
  return w > 0 ? s / w : NaN;
}

/**
 * Paired bootstrap of each model's difference to `baseline` (AUC and QAUC by default), each
 * model averaged over its seeds on every resample. Returns one Difference per other model and
 * metric.
 */
export function pairedBootstrap(o: BootstrapOptions): Difference[] {
  const metrics = o.metrics ?? ['auc', 'qauc'];
  const B = o.resamples ?? 1000;
  const level = o.level ?? 0.95;
  if (!(Number.isInteger(B) && B >= 10)) throw new LemurError(`pairedBootstrap: resamples must be an integer >= 10, got ${B}`);
  if (!(level > 0 && level < 1)) throw new LemurError(`pairedBootstrap: level must be in (0, 1), got ${level}`);
  const rows = o.rows ? Int32Array.from(o.rows) : Int32Array.from({ length: o.labels.length }, (_, i) => i);
  const n = rows.length;
  const label = new Uint8Array(n);
  const groupOf = new Map<number, number>();
  const group = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    label[i] = o.labels[rows[i]!]! > 0.5 ? 1 : 0;
    const q = Number(o.query[rows[i]!]);
    let g = groupOf.get(q);
    if (g === undefined) groupOf.set(q, (g = groupOf.size));
    group[i] = g;
  }
  const G = groupOf.size;
  const models = [...new Set(o.runs.map((r) => r.model))];
  if (!models.includes(o.baseline)) throw new LemurError(`pairedBootstrap: no runs of the baseline '${o.baseline}'`);
  if (n === 0 || G === 0) return [];
  const prepared = new Map<string, Prepared[]>();
  for (const m of models) prepared.set(m, o.runs.filter((r) => r.model === m).map((r) => prepare(r, rows, label, group, G)));

  const meanOver = (ps: Prepared[], f: (p: Prepared) => number) => {
    let s = 0;
    let k = 0;
    for (const p of ps) {
      const v = f(p);
      if (Number.isFinite(v)) (s += v), k++;
    }
    return k ? s / k : NaN;
  };
  const evaluate = (metric: BootstrapMetric, ps: Prepared[], rowW: Float64Array, groupW: Float64Array) =>
    meanOver(ps, (p) => (metric === 'auc' ? weightedAuc(p, rowW, label) : weightedQauc(p, groupW)));

  const ones = new Float64Array(n).fill(1);
  const groupOnes = new Float64Array(G).fill(1);
  const others = models.filter((m) => m !== o.baseline);
  const draws = new Map<string, Float64Array>();
  for (const m of others) for (const metric of metrics) draws.set(`${m}\u0000${metric}`, new Float64Array(B));
  const rng = mulberry32(o.seed ?? 12345);
  const groupW = new Float64Array(G);
  const rowW = new Float64Array(n);
  for (let b = 0; b < B; b++) {
    groupW.fill(0);
    for (let k = 0; k < G; k++) groupW[Math.floor(rng() * G)]!++;
    for (let i = 0; i < n; i++) rowW[i] = groupW[group[i]!]!;
    for (const metric of metrics) {
      const base = evaluate(metric, prepared.get(o.baseline)!, rowW, groupW);
      for (const m of others) draws.get(`${m}\u0000${metric}`)![b] = evaluate(metric, prepared.get(m)!, rowW, groupW) - base;
    }
  }
  const out: Difference[] = [];
  for (const m of others)
    for (const metric of metrics) {
      const d = Array.from(draws.get(`${m}\u0000${metric}`)!).filter(Number.isFinite).sort((a, b) => a - b);
      const q = (f: number) => (d.length ? d[Math.min(d.length - 1, Math.max(0, Math.round(f * (d.length - 1))))]! : NaN);
      const full = evaluate(metric, prepared.get(m)!, ones, groupOnes) - evaluate(metric, prepared.get(o.baseline)!, ones, groupOnes);
      out.push({
        model: m,
        metric,
        difference: full,
        low: q((1 - level) / 2),
        high: q(1 - (1 - level) / 2),
        level,
        pNotBetter: d.length ? d.filter((x) => x <= 0).length / d.length : NaN,
      });
    }
  return out;
}
