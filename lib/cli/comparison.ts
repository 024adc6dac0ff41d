/**
 * The comparison a `train` run with several models (or --seeds) ends with: each model's
 * metrics as mean ± std over its seeds, and a paired bootstrap interval of its difference to
 * the first model, on all rows and on cold-start rows.
 */
import { pairedBootstrap, spread, type Difference, type RunScores } from '../compare.js';
import type { Dataset } from '../data/dataset.js';
import type { ComparedModel, ComparisonReport, ModelReport } from '../report/types.js';
import { metric, textTable } from './common.js';
import { groupOf } from './models.js';

export const RESAMPLES = 1000;
export const LEVEL = 0.95;

/** `scores[i]` are the final-evaluation scores of `models[i]` on `split`. */
export function buildComparison(models: ModelReport[], scores: Float32Array[], dataset: Dataset, split: string): ComparisonReport | undefined {
  const groups = [...new Set(models.map(groupOf))];
  if (models.length < 2) return undefined;
  const cols = dataset.splits[split]!;
  const runs: RunScores[] = models.map((m, i) => ({ model: groupOf(m), seed: m.seed ?? m.config.seed, scores: scores[i]! }));
  const baseline = groups[0]!;
  const cold = cols.coldStart ? Array.from({ length: cols.rows }, (_, i) => i).filter((i) => cols.coldStart![i] === 1) : undefined;
  const options = { labels: cols.label, query: cols.query, runs, baseline, resamples: RESAMPLES, level: LEVEL };
  const all = groups.length > 1 ? pairedBootstrap(options) : [];
  const coldDiff = groups.length > 1 && cold?.length ? pairedBootstrap({ ...options, rows: cold }) : [];
  const compared: ComparedModel[] = groups.map((g) => {
    const ms = models.filter((m) => groupOf(m) === g);
    const over = (f: (m: ModelReport) => number | undefined) => spread(ms.map((m) => f(m) ?? NaN));
    const out: ComparedModel = {
      name: g,
      runs: ms.map((m) => m.name),
      seeds: ms.map((m) => m.seed ?? m.config.seed),
      all: {
        auc: over((m) => m.final.all.auc),
        qauc: over((m) => m.final.all.qauc.mean),
        uauc: over((m) => m.final.all.uauc.mean),
        logLoss: over((m) => m.final.all.logLoss),
      },
    };
    if (ms.some((m) => m.final.coldStart)) out.coldStart = { auc: over((m) => m.final.coldStart?.auc), qauc: over((m) => m.final.coldStart?.qauc.mean) };
    if (g !== baseline) {
      out.vsBaseline = { all: all.filter((d) => d.model === g) };
      if (coldDiff.length) out.vsBaseline.coldStart = coldDiff.filter((d) => d.model === g);
    }
    return out;
  });
  return { baseline, split, resamples: RESAMPLES, level: LEVEL, models: compared };
}

const pm = (s: { mean: number; std: number; n: number } | undefined) => (!s || !Number.isFinite(s.mean) ? '—' : s.n > 1 ? `${metric(s.mean)} ± ${metric(s.std)}` : metric(s.mean));

/** +0.0123 [+0.0050, +0.0190] */
export function differenceText(d: Difference | undefined): string {
  if (!d || !Number.isFinite(d.difference)) return '—';
  const f = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
  return `${f(d.difference)} [${f(d.low)}, ${f(d.high)}]`;
}

/** The comparison as a text table (one row per model; intervals against the first). */
export function comparisonTable(c: ComparisonReport): string {
  const seeded = c.models.some((m) => m.runs.length > 1);
  const header = ['model', 'AUC', 'QAUC', 'cold-start AUC', 'cold-start QAUC', `ΔQAUC vs ${c.baseline}`, 'ΔAUC', 'Δcold-start AUC'];
  const rows = c.models.map((m) => {
    const find = (ds: Difference[] | undefined, metric: 'auc' | 'qauc') => ds?.find((d) => d.metric === metric);
    return [
      m.name,
      pm(m.all.auc),
      pm(m.all.qauc),
      pm(m.coldStart?.auc),
      pm(m.coldStart?.qauc),
      m.vsBaseline ? differenceText(find(m.vsBaseline.all, 'qauc')) : '(baseline)',
      m.vsBaseline ? differenceText(find(m.vsBaseline.all, 'auc')) : '',
      m.vsBaseline ? differenceText(find(m.vsBaseline.coldStart, 'auc')) : '',
    ];
  });
  const note =
    `${c.split}: ${seeded ? 'mean ± std over seeds; ' : ''}Δ = model − ${c.baseline}` +
    `${seeded ? ' (each averaged over its seeds)' : ''}, [${Math.round(c.level * 100)}% paired bootstrap interval over queries, ${c.resamples} resamples]`;
  return `${textTable(header, rows)}\n${note}`;
}
