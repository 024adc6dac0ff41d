/**
 * index.html of a report: one self-contained page (inline CSS and SVG, no scripts, no
 * network). Every piece of text from data, configs or arguments goes through escapeHtml.
 */
import type { Difference, Spread } from '../compare.js';
import type { RankingMetrics } from '../metrics.js';
import type { Evaluation } from '../model.js';
import { escapeHtml as esc } from './escape.js';
import { lineChart, PALETTE, stackedBars, stripChart, type Series } from './svg.js';
import type { ComparedModel, ModelReport, Report } from './types.js';

const CSS = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #5b6470; --line: #d8dde3; --bg-alt: #f5f7f9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg); margin: 0; padding: 24px; }
main { max-width: 1240px; margin: 0 auto; }
h1 { font-size: 22px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 8px; }
p.sub, .muted { color: var(--muted); }
p { overflow-wrap: anywhere; }
nav { margin: 8px 0 0; font-size: 13px; }
nav a { color: var(--muted); margin-right: 12px; }
code { overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
th:first-child, td:first-child { text-align: left; white-space: normal; overflow-wrap: anywhere; max-width: 260px; }
td.best { font-weight: 700; }
tr.group th { text-align: center; background: #eef1f4; }
tr.group-start > td { border-top: 2px solid #b9c1ca; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.table-wrap { max-width: 100%; overflow-x: auto; }
.side-by-side { display: flex; flex-wrap: wrap; gap: 0 28px; align-items: flex-start; }
.side-by-side > div { min-width: 0; max-width: 100%; }
.second { display: block; font-size: 11.5px; color: var(--muted); }
td.sig-up { background: #e3f4e3; }
td.sig-down { background: #fbe5e5; }
td.sig-up .d, td.sig-down .d { font-weight: 700; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 20px; }
svg.chart { max-width: 100%; height: auto; background: #fff; }
svg .chart-title { font-size: 13px; font-weight: 600; fill: var(--fg); }
svg .plot { fill: #fff; stroke: var(--line); }
svg .grid { stroke: #eceff2; }
svg .tick, svg .legend { font-size: 11px; fill: var(--muted); }
svg .axis-label { font-size: 11px; fill: var(--muted); }
svg .empty { font-size: 13px; fill: var(--muted); }
svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg .line.thin { stroke-width: 1; stroke-opacity: 0.45; }
svg .line.spread { stroke-width: 3; stroke-opacity: 0.5; stroke-linecap: round; }
svg .line.mean { stroke-width: 2.5; }
svg .mark { fill: #fff; fill-opacity: 0.6; stroke-width: 2; }
svg .run { fill-opacity: 0.8; stroke: #fff; stroke-width: 1; }
pre { background: var(--bg-alt); padding: 10px; overflow-x: auto; font-size: 12px; }
details { margin: 6px 0; }
summary { cursor: pointer; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; min-width: 0; }
@media print { body { padding: 0; } h2 { break-after: avoid; } svg.chart { break-inside: avoid; } }
`;

const STEP_PARTS = ['data', 'encoder', 'bank', 'backbone', 'backward', 'optimizer'] as const;

function num(v: number | undefined | null, digits = 4): string {
  return v === undefined || v === null || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

function int(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '—' : Math.round(v).toLocaleString('en-US');
}

function seconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '—';
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function pct(v: number): string {
  return `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)}%`;
}

const mean = (values: number[]): number => {
  const v = values.filter(Number.isFinite);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
};

/** The runs of one model: its seeds with --seeds, else the model alone. */
interface Group {
  name: string;
  color: string;
  models: ModelReport[];
}

function groupsOf(r: Report): Group[] {
  const out = new Map<string, Group>();
  for (const m of r.models) {
    const name = m.group ?? m.name;
    let g = out.get(name);
    if (!g) out.set(name, (g = { name, color: PALETTE[out.size % PALETTE.length]!, models: [] }));
    g.models.push(m);
  }
  return [...out.values()];
}

const seeded = (groups: Group[]) => groups.some((g) => g.models.length > 1);
const runsText = (g: Group) => (g.models.length > 1 ? `${g.name} (${g.models.length} runs)` : g.name);
const swatch = (color: string) => `<span class="swatch" style="background:${color}"></span>`;

interface Column<T> {
  label: string;
  get: (m: T) => number | undefined;
  digits?: number;
  /** Which way is better, for the bold best value. */
  better?: 'high' | 'low';
  format?: (v: number | undefined) => string;
}

const metricColumns = (scope: 'all' | 'coldStart'): Column<ModelReport>[] => {
  const r = (m: ModelReport): RankingMetrics | undefined => (scope === 'all' ? m.final.all : m.final.coldStart);
  return [
    { label: 'AUC', get: (m) => r(m)?.auc, better: 'high' },
    { label: 'QAUC', get: (m) => r(m)?.qauc.mean, better: 'high' },
    { label: 'QAUC (w)', get: (m) => r(m)?.qauc.weighted, better: 'high' },
    { label: 'UAUC', get: (m) => r(m)?.uauc.mean, better: 'high' },
    { label: 'UAUC (w)', get: (m) => r(m)?.uauc.weighted, better: 'high' },
    { label: 'log-loss', get: (m) => r(m)?.logLoss, better: 'low' },
  ];
};

interface Row<T> {
  item: T;
  label: string;
  color?: string;
  /** First row of a group of seeds (drawn with a rule above it). */
  groupStart?: boolean;
}

function table<T>(rows: Row<T>[], columns: Column<T>[], o: { id?: string; first?: string; groups?: { label: string; span: number }[] } = {}): string {
  const best = columns.map((c) => {
    if (!c.better || rows.length < 2) return undefined;
    const values = rows.map((r) => c.get(r.item)).filter((v): v is number => v !== undefined && Number.isFinite(v));
    if (!values.length) return undefined;
    return c.better === 'high' ? Math.max(...values) : Math.min(...values);
  });
  const head = o.groups
    ? `<tr class="group"><th></th>${o.groups.map((g) => `<th colspan="${g.span}">${esc(g.label)}</th>`).join('')}</tr>`
    : '';
  const body = rows
    .map((r) => {
      const cells = columns.map((c, i) => {
        const v = c.get(r.item);
        const text = c.format ? c.format(v) : num(v, c.digits ?? 4);
        const isBest = best[i] !== undefined && v !== undefined && Number.isFinite(v) && v.toFixed(c.digits ?? 4) === best[i]!.toFixed(c.digits ?? 4);
        return `<td${isBest ? ' class="best"' : ''}>${esc(text)}</td>`;
      });
      return `<tr${r.groupStart ? ' class="group-start"' : ''}><td>${r.color ? swatch(r.color) : ''}${esc(r.label)}</td>${cells.join('')}</tr>`;
    })
    .join('');
  return `<div class="table-wrap"><table${o.id ? ` id="${esc(o.id)}"` : ''}><thead>${head}<tr><th>${esc(o.first ?? 'model')}</th>${columns
    .map((c) => `<th>${esc(c.label)}</th>`)
    .join('')}</tr></thead><tbody>${body}</tbody></table></div>`;
}

/** One row per run, grouped by model (a rule between groups of seeds). */
function runRows(groups: Group[]): Row<ModelReport>[] {
  const many = seeded(groups);
  return groups.flatMap((g) => g.models.map((m, i) => ({ item: m, label: m.name, color: g.color, groupStart: many && i === 0 })));
}

/** The per-run tables: final metrics on all rows, on cold-start rows, size and time, early stopping. */
function modelTables(r: Report, groups: Group[]): string {
  const models = r.models;
  const rows = runRows(groups);
  const hasCold = models.some((m) => m.final.coldStart);
  const hasPretrain = models.some((m) => (m.pretrainSteps ?? 0) > 0);
  const epochs = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : String(Number(v.toFixed(2))));
  // All rows and cold-start rows side by side where they fit, one below the other elsewhere.
  let out =
    `<div class="side-by-side"><div><h3>All ${esc(r.split)} rows</h3>${table(rows, metricColumns('all'), { id: 'comparison' })}</div>` +
    (hasCold ? `<div><h3>Cold-start documents</h3>${table(rows, metricColumns('coldStart'), { id: 'cold-start' })}</div>` : '') +
    '</div>';
  out += `<p class="muted">Final evaluation of each run on the <code>${esc(r.split)}</code> split. QAUC / UAUC: AUC per query / user, averaged over groups with both classes; (w): weighted by impressions. Best value per column in bold.${
    hasCold ? ' Cold-start: rows whose candidate document never occurs in training.' : ''
  }</p>`;
  const size: Column<ModelReport>[] = [
    { label: 'parameters', get: (m) => m.parameters, format: int },
    { label: 'ID-table parameters', get: (m) => m.idTableParameters, format: int },
    ...(hasPretrain ? [{ label: 'pre-training steps', get: (m: ModelReport) => m.pretrainSteps ?? 0, format: int }] : []),
    { label: 'steps', get: (m) => m.step, format: int },
    { label: 'epochs', get: (m) => m.epoch, format: epochs },
    { label: 'train time', get: (m) => m.timings.trainSeconds, format: seconds },
    { label: 'eval time', get: (m) => m.timings.evalSeconds, format: seconds },
    { label: 'samples/s', get: (m) => m.timings.samplesPerSecond, format: int },
  ];
  out += '<h3>Size, steps and time</h3>' + table(rows, size, { id: 'models-size' });
  if (hasPretrain) out += '<p class="muted">Pre-training steps: two-stage contrastive (SQDC) pre-training before the ranker&#39;s steps, which count from 0 after it.</p>';
  const stopped = rows.filter((x) => x.item.earlyStopping);
  if (stopped.length) {
    const es = (m: ModelReport) => m.earlyStopping!;
    const cell = (text: string) => `<td>${esc(text)}</td>`;
    const body = stopped
      .map(({ item: m, label, color, groupStart }) => {
        const e = es(m);
        return (
          `<tr${groupStart ? ' class="group-start"' : ''}><td>${color ? swatch(color) : ''}${esc(label)}</td>` +
          cell(`${e.split} ${e.metric}`) +
          cell(e.best ? int(e.best.step) : '—') +
          cell(e.best ? epochs(e.best.epoch) : '—') +
          cell(e.best ? num(e.best.value) : '—') +
          cell(String(e.history.length)) +
          cell(e.stoppedAt !== undefined ? int(e.stoppedAt) : 'no (budget ended)') +
          cell(e.restored ? 'yes' : 'no') +
          '</tr>'
        );
      })
      .join('');
    out +=
      '<h3>Early stopping</h3><div class="table-wrap"><table id="early-stopping"><thead><tr><th>model</th><th>followed</th><th>best step</th><th>best epoch</th><th>best value</th><th>evaluations</th><th>stopped early at</th><th>restored best</th></tr></thead>' +
      `<tbody>${body}</tbody></table></div>`;
  }
  if (groups.length >= 2) {
    const base = groups[0]!;
    const groupMean = (g: Group, get: (m: ModelReport) => number | undefined) => mean(g.models.map((m) => get(m) ?? NaN));
    const rel = (get: (m: ModelReport) => number | undefined) => (g: Group) => {
      const a = groupMean(g, get);
      const b = groupMean(base, get);
      return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b - 1 : undefined;
    };
    const fmtRel = (v: number | undefined) => (v === undefined ? '—' : pct(v));
    const cols: Column<Group>[] = [
      { label: 'AUC', get: rel((m) => m.final.all.auc), better: 'high', format: fmtRel, digits: 6 },
      { label: 'QAUC', get: rel((m) => m.final.all.qauc.mean), better: 'high', format: fmtRel, digits: 6 },
      { label: 'UAUC', get: rel((m) => m.final.all.uauc.mean), better: 'high', format: fmtRel, digits: 6 },
      ...(hasCold
        ? ([
            { label: 'cold AUC', get: rel((m) => m.final.coldStart?.auc), better: 'high', format: fmtRel, digits: 6 },
            { label: 'cold QAUC', get: rel((m) => m.final.coldStart?.qauc.mean), better: 'high', format: fmtRel, digits: 6 },
          ] as Column<Group>[])
        : []),
    ];
    const many = seeded(groups);
    out +=
      `<h3>Relative to ${esc(base.name)}</h3>` +
      table(
        groups.map((g) => ({ item: g, label: runsText(g), color: g.color })),
        cols,
        { id: 'relative' },
      ) +
      `<p class="muted">Ratio of each model's final metric to ${esc(base.name)}'s, minus 1${many ? ' (each averaged over its seeds)' : ''}.</p>`;
  }
  return out;
}

/** Mean ± std over seeds and the paired bootstrap difference to the baseline, per model. */
function comparisonSection(r: Report, groups: Group[]): string {
  const c = r.comparison!;
  const color = new Map(groups.map((g) => [g.name, g.color]));
  const hasCold = c.models.some((m) => m.coldStart);
  const many = c.models.some((m) => m.runs.length > 1);
  const level = `${Math.round(c.level * 100)}%`;
  const metrics: { label: string; spread: (m: ComparedModel) => Spread | undefined; diff: (m: ComparedModel) => Difference | undefined }[] = [
    { label: 'AUC', spread: (m) => m.all.auc, diff: (m) => m.vsBaseline?.all.find((d) => d.metric === 'auc') },
    { label: 'QAUC', spread: (m) => m.all.qauc, diff: (m) => m.vsBaseline?.all.find((d) => d.metric === 'qauc') },
    ...(hasCold
      ? [
          { label: 'cold-start AUC', spread: (m: ComparedModel) => m.coldStart?.auc, diff: (m: ComparedModel) => m.vsBaseline?.coldStart?.find((d) => d.metric === 'auc') },
          { label: 'cold-start QAUC', spread: (m: ComparedModel) => m.coldStart?.qauc, diff: (m: ComparedModel) => m.vsBaseline?.coldStart?.find((d) => d.metric === 'qauc') },
        ]
      : []),
  ];
  const best = metrics.map((x) => Math.max(...c.models.map((m) => x.spread(m)?.mean ?? NaN).filter(Number.isFinite)));
  const signed = (v: number) => {
    const t = Math.abs(v).toFixed(4);
    return Number(t) === 0 ? t : `${v > 0 ? '+' : '-'}${t}`;
  };
  const body = c.models
    .map((m) => {
      const spreads = metrics.map((x, i) => {
        const s = x.spread(m);
        if (!s || !Number.isFinite(s.mean)) return '<td>—</td>';
        const isBest = c.models.length > 1 && s.mean.toFixed(4) === best[i]!.toFixed(4);
        return `<td${isBest ? ' class="best"' : ''}>${esc(s.mean.toFixed(4))}${s.n > 1 ? `<span class="second">± ${esc(s.std.toFixed(4))}</span>` : ''}</td>`;
      });
      const diffs = metrics.map((x, i) => {
        if (m.name === c.baseline) return i === 0 ? '<td class="muted">baseline</td>' : '<td></td>';
        const d = x.diff(m);
        if (!d || !Number.isFinite(d.difference)) return '<td>—</td>';
        const up = d.low > 0;
        const down = d.high < 0;
        const mark = up ? ' ▲' : down ? ' ▼' : '';
        const title = `${m.name} − ${c.baseline}: ${x.label} ${signed(d.difference)}, ${level} interval [${signed(d.low)}, ${signed(d.high)}], P(Δ ≤ 0) = ${num(d.pNotBetter, 3)}`;
        return (
          `<td${up ? ' class="sig-up"' : down ? ' class="sig-down"' : ''} title="${esc(title)}"><span class="d">${esc(signed(d.difference) + mark)}</span>` +
          `<span class="second">[${esc(signed(d.low))}, ${esc(signed(d.high))}]</span></td>`
        );
      });
      const seeds = m.seeds.length > 1 ? `${m.seeds.length} (${m.seeds.join(', ')})` : String(m.seeds.length);
      return `<tr><td>${swatch(color.get(m.name) ?? '#7f7f7f')}${esc(m.name)}</td><td>${esc(seeds)}</td>${spreads.join('')}${diffs.join('')}</tr>`;
    })
    .join('');
  const head =
    `<tr class="group"><th></th><th></th><th colspan="${metrics.length}">${esc(c.split)}: ${many ? 'mean ± std over seeds' : 'final value'}</th>` +
    `<th colspan="${metrics.length}">Δ vs ${esc(c.baseline)} [${esc(level)} interval]</th></tr>` +
    `<tr><th>model</th><th>seeds</th>${metrics.map((x) => `<th>${esc(x.label)}</th>`).join('')}${metrics.map((x) => `<th>Δ ${esc(x.label)}</th>`).join('')}</tr>`;
  return (
    `<div class="table-wrap"><table id="compare-table"><thead>${head}</thead><tbody>${body}</tbody></table></div>` +
    `<p class="muted">On the <code>${esc(c.split)}</code> split. ${many ? 'Mean ± sample standard deviation over each model&#39;s seeds. ' : ''}` +
    `Δ: model − ${esc(c.baseline)}${many ? ', each averaged over its seeds' : ''}; below it the ${esc(level)} paired bootstrap interval (${int(c.resamples)} resamples of whole queries). ` +
    '▲ / ▼ and shading: the interval excludes 0 (better / worse than the baseline). Best mean per column in bold.</p>'
  );
}

/**
 * Mean over runs at each x. Where every run has a value at some x's, only those (a run that
 * stopped early does not make the mean jump); else at each x over the runs present there.
 */
function meanPoints(runs: [number, number][][]): [number, number][] {
  const at = new Map<number, number[]>();
  for (const pts of runs)
    for (const [x, y] of pts) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      const ys = at.get(x);
      if (ys) ys.push(y);
      else at.set(x, [y]);
    }
  const all = [...at.entries()].sort((a, b) => a[0] - b[0]);
  const complete = all.filter(([, ys]) => ys.length === runs.length);
  return (complete.length >= 2 ? complete : all).map(([x, ys]) => [x, mean(ys)]);
}

/** A group's line: the run itself, or a thin line per seed and a thick mean. */
function groupSeries(g: Group, pointsOf: (m: ModelReport) => [number, number][], o: { suffix?: string; dashed?: boolean; seedLines?: boolean; marks?: (m: ModelReport) => [number, number] | undefined } = {}): Series[] {
  const name = `${g.name}${o.suffix ?? ''}`;
  const runs = g.models.map(pointsOf);
  const marks = o.marks ? g.models.map((m) => o.marks!(m)).filter((p): p is [number, number] => p !== undefined) : undefined;
  if (g.models.length === 1) return [{ name, color: g.color, dashed: o.dashed, points: runs[0]!, marks }];
  const out: Series[] = [];
  if (o.seedLines !== false)
    g.models.forEach((m, i) => out.push({ name: `${m.name}${o.suffix ?? ''}`, color: g.color, dashed: o.dashed, thin: true, legend: false, points: runs[i]! }));
  out.push({ name, color: g.color, dashed: o.dashed, points: meanPoints(runs), marks });
  return out;
}

const SEEDS_NOTE = 'Thick lines: mean over a model&#39;s seeds at each step; thin lines: each seed.';

function trainingCharts(r: Report, groups: Group[]): string {
  const out: string[] = [];
  const many = seeded(groups);
  const pretrained = r.models.some((m) => m.progress.some((p) => p.phase === 'pretrain'));
  if (pretrained) {
    const series = groups
      .filter((g) => g.models.some((m) => m.progress.some((p) => p.phase === 'pretrain')))
      .flatMap((g) => groupSeries(g, (m) => m.progress.filter((p) => p.phase === 'pretrain').map((p) => [p.step, p.loss])));
    out.push(lineChart({ title: 'Two-stage pre-training: SQDC contrastive loss', xMin: 0, xLabel: 'pre-training step', yLabel: 'SQDC loss', series, id: 'chart-pretrain' }));
  }
  const ranking = (m: ModelReport) => m.progress.filter((p) => p.phase !== 'pretrain');
  const joint = r.models.some((m) => ranking(m).some((p) => p.sqdc > 0));
  const loss: Series[] = [];
  for (const g of groups) {
    loss.push(...groupSeries(g, (m) => ranking(m).map((p) => [p.step, p.loss])));
    // BCE is undefined where there is none: a gap, never a 0.
    if (g.models.some((m) => ranking(m).some((p) => p.sqdc > 0)))
      loss.push(...groupSeries(g, (m) => ranking(m).map((p) => [p.step, p.bce ?? NaN]), { suffix: ' BCE', dashed: true, seedLines: false }));
  }
  out.push(
    lineChart({
      title: joint ? 'Ranking loss (BCE + λ·SQDC; dashed: BCE alone)' : 'Ranking loss (BCE)',
      xMin: 0,
      xLabel: pretrained ? 'ranking step (after pre-training)' : 'step',
      yLabel: 'loss',
      series: loss,
      id: 'chart-loss',
    }),
  );
  const notes = [
    pretrained ? 'Pre-training steps count apart from the ranker&#39;s steps, which start at 0 after it; its loss (SQDC) is on another scale than the ranking loss.' : '',
    many ? SEEDS_NOTE : '',
  ].filter(Boolean);
  return `<div class="charts">${out.join('')}</div>${notes.length ? `<p class="muted">${notes.join(' ')}</p>` : ''}`;
}

const EVAL_METRICS: { key: string; label: string; cold: boolean; get: (e: Evaluation) => number | undefined }[] = [
  { key: 'auc', label: 'AUC', cold: false, get: (e) => e.all.auc },
  { key: 'qauc', label: 'QAUC', cold: false, get: (e) => e.all.qauc.mean },
  { key: 'cold-auc', label: 'cold-start AUC', cold: true, get: (e) => e.coldStart?.auc },
  { key: 'cold-qauc', label: 'cold-start QAUC', cold: true, get: (e) => e.coldStart?.qauc.mean },
];

const slug = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '_');

function evaluationCharts(r: Report, groups: Group[]): string {
  const many = seeded(groups);
  const on = (m: ModelReport, split: string) => m.evaluations.filter((e) => e.split === split).sort((a, b) => a.step - b.step);
  const splits = [...new Set(r.models.flatMap((m) => m.evaluations.map((e) => e.split)))];
  // Validation (and other) splits first; the evaluated split over training only when some
  // model was evaluated on it more than once (periodic evaluations).
  const overTraining = [
    ...splits.filter((s) => s !== r.split),
    ...(r.models.some((m) => on(m, r.split).length > 1) ? [r.split] : []),
  ];
  const parts: string[] = [];
  for (const split of overTraining) {
    const selection = r.models.filter((m) => m.earlyStopping?.split === split && m.earlyStopping.best);
    const charts: string[] = [];
    for (const x of EVAL_METRICS) {
      if (x.cold && !r.models.some((m) => on(m, split).some((e) => e.coldStart))) continue;
      const series = groups.flatMap((g) =>
        groupSeries(g, (m) => on(m, split).map((e) => [e.step, x.get(e) ?? NaN]), {
          marks: (m) => {
            const best = m.earlyStopping?.split === split ? m.earlyStopping.best : undefined;
            const e = best && on(m, split).find((e) => e.step === best.step);
            const v = e ? x.get(e) : undefined;
            return best && v !== undefined && Number.isFinite(v) ? [best.step, v] : undefined;
          },
        }),
      );
      const metric = selection[0]?.earlyStopping?.metric;
      charts.push(
        lineChart({
          title: `${x.label} on ${split} over training`,
          xMin: 0,
          xLabel: 'step',
          yLabel: x.label,
          series,
          id: split === r.split ? `chart-${x.key}` : `chart-split-${slug(split)}-${x.key}`,
          ...(selection.length ? { notes: [{ name: `best ${metric ?? ''} step of each run (early stopping)`, kind: 'mark' as const }] } : {}),
        }),
      );
    }
    const validation = selection.length ? ' (validation: model selection and early stopping)' : split === r.split ? ' (periodic evaluations and the final one)' : '';
    parts.push(`<h3>${esc(split)} over training${esc(validation)}</h3><div class="charts">${charts.join('')}</div>`);
  }
  const final: string[] = [];
  for (const x of EVAL_METRICS) {
    if (x.cold && !r.models.some((m) => m.final.coldStart)) continue;
    const rows = groups.map((g) => ({
      label: g.name,
      color: g.color,
      values: g.models.map((m) => ({ name: m.name, value: x.get(m.final) ?? NaN })),
    }));
    final.push(stripChart({ title: `Final ${x.label} on ${r.split}`, xLabel: x.label, rows, id: `chart-final-${x.key}` }));
  }
  parts.push(`<h3>Final evaluation on ${esc(r.split)}</h3><div class="charts">${final.join('')}</div>`);
  const notes = [
    overTraining.some((s) => s !== r.split)
      ? `Evaluations on each split are drawn apart: validation curves come from training (model selection), the final values from the <code>${esc(r.split)}</code> split.`
      : '',
    r.models.some((m) => m.earlyStopping?.best) ? 'Rings: the best validation evaluation of each run (the state early stopping restores).' : '',
    many ? SEEDS_NOTE : '',
    `Final charts: ${many ? 'a dot per seed, the tick at the mean and the bar ± one standard deviation' : 'a dot per model'}.`,
  ].filter(Boolean);
  return parts.join('') + `<p class="muted">${notes.join(' ')}</p>`;
}

function bankCharts(r: Report, groups: Group[]): string {
  // Ranking steps only: pre-training counts its own steps.
  const bankOf = (m: ModelReport) => m.progress.filter((p) => p.bank && p.phase !== 'pretrain');
  const withBank = groups.filter((g) => g.models.some((m) => bankOf(m).length));
  if (!withBank.length) return '<p class="muted">No model in this report has a memory bank.</p>';
  const out = withBank.map((g) => {
    const ms = g.models.filter((m) => bankOf(m).length);
    const sub: Group = { ...g, models: ms };
    const line = (name: string, color: string, get: (b: NonNullable<ModelReport['progress'][number]['bank']>) => number | undefined, dashed = false) =>
      groupSeries({ ...sub, name, color }, (m) => bankOf(m).map((p) => [p.step, get(p.bank!) ?? NaN]), { dashed });
    const series: Series[] = [
      ...line('target coverage', PALETTE[0]!, (b) => b.targetCoverage),
      ...line('history coverage', PALETTE[2]!, (b) => b.historyCoverage),
    ];
    if (ms.some((m) => bankOf(m).some((p) => p.bank!.staleness !== undefined)))
      series.push(...line('staleness (cosine bank vs fresh)', PALETTE[3]!, (b) => b.staleness, true));
    return lineChart({ title: `${runsText(g)}: memory-bank coverage and staleness`, xMin: 0, xLabel: 'step', yLabel: 'fraction / cosine', series, yMax: 1, percent: false, id: 'chart-bank' });
  });
  return (
    `<div class="charts">${out.join('')}</div>` +
    '<p class="muted">Coverage: fraction of looked-up documents (targets, history items) already in the bank, over the steps since the previous report. ' +
    `Staleness: mean cosine between bank rows and fresh encodings of a probe sample (1 = fresh).${seeded(withBank) ? ` ${SEEDS_NOTE}` : ''}</p>`
  );
}

function stepTimes(r: Report, groups: Group[]): string {
  const timed = groups.map((g) => ({ ...g, models: g.models.filter((m) => m.timings.meanStep) })).filter((g) => g.models.length);
  if (!timed.length) return '<p class="muted">No training in this report (evaluation only, no saved history).</p>';
  const many = seeded(timed);
  const colors = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#bab0ac'];
  // Milliseconds per step of a group: the mean over its runs.
  const ms = (g: Group, k: string) => mean(g.models.map((m) => (m.timings.meanStep![k] ?? NaN) * 1000));
  const rows = timed.map((g) => {
    const total = ms(g, 'total');
    const parts: { name: string; value: number; color: string }[] = STEP_PARTS.map((k, i) => ({ name: k, value: Number.isFinite(ms(g, k)) ? ms(g, k) : 0, color: colors[i]! }));
    const other = (Number.isFinite(total) ? total : 0) - parts.reduce((s, p) => s + p.value, 0);
    if (other > 0.005 * total) parts.push({ name: 'other', value: other, color: colors[6]! });
    return { label: runsText(g), segments: parts };
  });
  const cols: Column<Group>[] = [
    ...STEP_PARTS.map((k) => ({ label: k, get: (g: Group) => ms(g, k), digits: 1 })),
    { label: 'total', get: (g) => ms(g, 'total'), digits: 1, better: 'low' },
    { label: 'samples/s', get: (g) => mean(g.models.map((m) => m.timings.samplesPerSecond ?? NaN)), format: int, better: 'high' },
  ];
  return (
    stackedBars({ title: `Mean time per training step by phase (ms)${many ? ', mean over seeds' : ''}`, unit: 'ms', rows, id: 'chart-step-time' }) +
    table(
      timed.map((g) => ({ item: g, label: runsText(g), color: g.color })),
      cols,
      { id: 'step-times' },
    ) +
    `<p class="muted">Milliseconds per step, weighted over all progress reports${many ? ', averaged over each model&#39;s seeds' : ''}. samples/s: training samples over the wall time of fit() (periodic evaluations included).</p>`
  );
}

function evaluationDetails(r: Report, groups: Group[]): string {
  const rows: string[] = [];
  for (const { item: m, color, groupStart } of runRows(groups)) {
    let first = true;
    for (const [scope, x] of [
      ['all', m.final.all],
      ['cold-start', m.final.coldStart],
      ['warm', m.final.warm],
    ] as const) {
      if (!x) continue;
      rows.push(
        `<tr${groupStart && first ? ' class="group-start"' : ''}><td>${color ? swatch(color) : ''}${esc(m.name)}</td><td>${esc(scope)}</td><td>${int(x.n)}</td><td>${int(x.positives)}</td><td>${num(x.auc)}</td><td>${num(x.qauc.mean)}</td><td>${num(
          x.qauc.weighted,
        )}</td><td>${int(x.qauc.groups)}</td><td>${num(x.uauc.mean)}</td><td>${num(x.uauc.weighted)}</td><td>${int(x.uauc.groups)}</td><td>${num(x.logLoss)}</td></tr>`,
      );
      first = false;
    }
  }
  const steps = [...new Set(r.models.map((m) => m.step))];
  const tableHtml = `<div class="table-wrap"><table id="evaluations"><thead><tr><th>model</th><th>rows</th><th>n</th><th>positives</th><th>AUC</th><th>QAUC</th><th>QAUC (w)</th><th>queries</th><th>UAUC</th><th>UAUC (w)</th><th>users</th><th>log-loss</th></tr></thead><tbody>${rows.join(
    '',
  )}</tbody></table></div>`;
  const note = `<p class="muted">Final evaluation of each run on <code>${esc(r.split)}</code>, at step ${esc(
    steps.length === 1 ? int(steps[0]) : r.models.map((m) => `${m.name}: ${m.step}`).join(', '),
  )}; groups with a single class are skipped.</p>`;
  // Many runs: folded, the tables above already show the headline numbers.
  return r.models.length > 8 ? `<details><summary>${int(rows.length)} rows: all, cold-start and warm rows of ${int(r.models.length)} runs</summary>${tableHtml}${note}</details>` : tableHtml + note;
}

function dataset(r: Report): string {
  const d = r.dataset;
  const splitRows = Object.entries(d.stats)
    .map(
      ([name, s]) =>
        `<tr><td>${esc(name)}</td><td>${int(s.rows)}</td><td>${num(s.positives, 3)}</td><td>${s.coldStartRows === undefined ? '—' : int(s.coldStartRows)}</td><td>${int(
          s.distinctUsers,
        )}</td><td>${int(s.distinctDocuments)}</td><td>${esc(
          Object.entries(s.meanHistory)
            .map(([k, v]) => `${k} ${v.toFixed(1)}`)
            .join(', '),
        )}</td></tr>`,
    )
    .join('');
  return (
    `<dl><dt>name</dt><dd>${esc(d.name)}</dd><dt>folder</dt><dd><code>${esc(d.dir)}</code></dd><dt>created by</dt><dd>${esc(d.createdBy)}</dd>` +
    `<dt>documents / users / queries</dt><dd>${int(d.numDocuments)} / ${int(d.numUsers)} / ${int(d.numQueries)}</dd>` +
    `<dt>text fields</dt><dd>${esc(d.textFields.map((f) => `${f.name} (${f.maxTokens} tokens)`).join(', ') || 'none')}</dd>` +
    `<dt>images</dt><dd>${d.image ? esc(`${d.image.height}×${d.image.width}×${d.image.channels}`) : 'none'}</dd>` +
    `<dt>sequences</dt><dd>${esc(d.sequences.map((s) => `${s.name} (≤ ${s.maxLength})`).join(', ') || 'none')}</dd></dl>` +
    `<div class="scroll"><table id="splits"><thead><tr><th>split</th><th>rows</th><th>positive rate</th><th>cold-start rows</th><th>users</th><th>documents</th><th>mean history</th></tr></thead><tbody>${splitRows}</tbody></table></div>` +
    `<details><summary>source figures</summary><pre>${esc(JSON.stringify(d.sourceStats, null, 2))}</pre></details>`
  );
}

function configs(r: Report): string {
  return r.models
    .map(
      (m) =>
        `<details><summary>${esc(m.name)}: preset ${esc(m.preset)}, ${esc(m.device)}, ${int(m.parameters)} parameters + ${int(m.idTableParameters)} in ID tables${
          m.checkpoint ? `, checkpoint <code>${esc(m.checkpoint)}</code>` : ''
        }</summary><pre>${esc(JSON.stringify(m.config, null, 2))}</pre></details>`,
    )
    .join('');
}

function machine(r: Report): string {
  const x = r.machine;
  const v = r.versions;
  return (
    `<dl><dt>lemur</dt><dd>${esc(v.lemur)}</dd><dt>LibTorch</dt><dd>${esc(`${v.torch} (${v.torchSource})`)}</dd><dt>Node.js</dt><dd>${esc(v.node)}</dd>` +
    `<dt>machine</dt><dd>${esc(`${x.platform} ${x.arch}, ${x.cores} cores, ${x.cpu}, ${(x.memoryBytes / 2 ** 30).toFixed(1)} GiB`)}</dd>` +
    `<dt>threads</dt><dd>${esc(`intra-op ${x.threads.intraOp}, inter-op ${x.threads.interOp}, BLAS ${x.threads.blas} (${x.threads.blasLibrary})`)}</dd>` +
    `<dt>devices</dt><dd>${esc(x.devices.join(', '))}${x.cuda.length ? esc(` (${x.cuda.map((d) => `cuda:${d.index} ${d.name}`).join(', ')})`) : ''}</dd>` +
    `<dt>command</dt><dd><code>${esc(['lemur', ...r.argv].join(' '))}</code></dd>` +
    `<dt>created</dt><dd>${esc(r.createdAt)}, ${esc(seconds(r.wallSeconds))} wall time</dd></dl>`
  );
}

function titleOf(r: Report, groups: Group[]): string {
  const counts = [...new Set(groups.map((g) => g.models.length))];
  const names = groups.length <= 6 ? groups.map((g) => g.name).join(', ') : `${groups.length} models`;
  const seeds = seeded(groups) ? (counts.length === 1 ? ` × ${counts[0]} seeds` : ` (${r.models.length} runs)`) : '';
  return `lemur ${r.command}: ${names}${seeds} on ${r.dataset.name}`;
}

export function renderHtml(r: Report): string {
  const groups = groupsOf(r);
  const title = titleOf(r, groups);
  const compare = r.comparison && (r.comparison.models.length > 1 || r.comparison.models.some((m) => m.runs.length > 1));
  const sections: [string, string, string][] = [
    ...(compare ? ([['compare', 'Comparison', comparisonSection(r, groups)]] as [string, string, string][]) : []),
    ['models', 'Models', modelTables(r, groups)],
    ['training', 'Training', trainingCharts(r, groups)],
    ['evaluation', 'Evaluation', evaluationCharts(r, groups)],
    ['bank', 'Memory bank', bankCharts(r, groups)],
    ['step-time', 'Step time', stepTimes(r, groups)],
    ['evaluation-details', 'Evaluation details', evaluationDetails(r, groups)],
    ['dataset', 'Dataset', dataset(r)],
    ['configs', 'Configurations', configs(r)],
    ['machine', 'Machine and versions', machine(r)],
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>${esc(title)}</h1>
<p class="sub">${esc(r.dataset.name)} · ${int(r.dataset.numDocuments)} documents · ${int(r.dataset.numUsers)} users · ${
    seeded(groups) ? `${int(groups.length)} models, ${int(r.models.length)} runs · ` : ''
  }evaluated on ${esc(r.split)} · ${esc(r.createdAt)}</p>
<nav>${sections.map(([id, name]) => `<a href="#${id}">${esc(name)}</a>`).join('')}</nav>
${sections.map(([id, name, html]) => `<h2 id="${id}">${esc(name)}</h2>\n${html}`).join('\n')}
<p class="muted">Numbers: <code>metrics.json</code> next to this page.</p>
</main>
</body>
</html>
`;
}
