/**
 * index.html of a report: one self-contained page (inline CSS and SVG, no scripts, no
 * network). Every piece of text from data, configs or arguments goes through escapeHtml.
 */
import type { RankingMetrics } from '../metrics.js';
import { escapeHtml as esc } from './escape.js';
import { lineChart, PALETTE, stackedBars, type Series } from './svg.js';
import type { ModelReport, Report } from './types.js';

const CSS = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #5b6470; --line: #d8dde3; --bg-alt: #f5f7f9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg); margin: 0; padding: 24px; }
main { max-width: 1180px; margin: 0 auto; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 8px; }
p.sub, .muted { color: var(--muted); }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--bg-alt); font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: 700; }
tr.group th { text-align: center; background: #eef1f4; }
.scroll { overflow-x: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 20px; }
svg.chart { max-width: 100%; height: auto; background: #fff; }
svg .chart-title { font-size: 13px; font-weight: 600; fill: var(--fg); }
svg .plot { fill: #fff; stroke: var(--line); }
svg .grid { stroke: #eceff2; }
svg .tick, svg .legend { font-size: 11px; fill: var(--muted); }
svg .axis-label { font-size: 11px; fill: var(--muted); }
svg .empty { font-size: 13px; fill: var(--muted); }
svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
pre { background: var(--bg-alt); padding: 10px; overflow-x: auto; font-size: 12px; }
details { margin: 6px 0; }
summary { cursor: pointer; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dt { color: var(--muted); }
dd { margin: 0; }
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

interface Column {
  label: string;
  get: (m: ModelReport) => number | undefined;
  digits?: number;
  /** Which way is better, for the bold best value. */
  better?: 'high' | 'low';
  format?: (v: number | undefined) => string;
}

const metricColumns = (scope: 'all' | 'coldStart', prefix: string): Column[] => {
  const r = (m: ModelReport): RankingMetrics | undefined => (scope === 'all' ? m.final.all : m.final.coldStart);
  return [
    { label: `${prefix}AUC`, get: (m) => r(m)?.auc, better: 'high' },
    { label: `${prefix}QAUC`, get: (m) => r(m)?.qauc.mean, better: 'high' },
    { label: `${prefix}QAUC (w)`, get: (m) => r(m)?.qauc.weighted, better: 'high' },
    { label: `${prefix}UAUC`, get: (m) => r(m)?.uauc.mean, better: 'high' },
    { label: `${prefix}UAUC (w)`, get: (m) => r(m)?.uauc.weighted, better: 'high' },
    { label: `${prefix}log-loss`, get: (m) => r(m)?.logLoss, better: 'low' },
  ];
};

function table(models: ModelReport[], columns: Column[], groups?: { label: string; span: number }[], id?: string): string {
  const best = columns.map((c) => {
    if (!c.better || models.length < 2) return undefined;
    const values = models.map((m) => c.get(m)).filter((v): v is number => v !== undefined && Number.isFinite(v));
    if (!values.length) return undefined;
    return c.better === 'high' ? Math.max(...values) : Math.min(...values);
  });
  const head = groups
    ? `<tr class="group"><th></th>${groups.map((g) => `<th colspan="${g.span}">${esc(g.label)}</th>`).join('')}</tr>`
    : '';
  const rows = models
    .map((m) => {
      const cells = columns.map((c, i) => {
        const v = c.get(m);
        const text = c.format ? c.format(v) : num(v, c.digits ?? 4);
        const isBest = best[i] !== undefined && v !== undefined && Number.isFinite(v) && v.toFixed(c.digits ?? 4) === best[i]!.toFixed(c.digits ?? 4);
        return `<td${isBest ? ' class="best"' : ''}>${esc(text)}</td>`;
      });
      return `<tr><td>${esc(m.name)}</td>${cells.join('')}</tr>`;
    })
    .join('');
  return `<div class="scroll"><table${id ? ` id="${esc(id)}"` : ''}><thead>${head}<tr><th>model</th>${columns
    .map((c) => `<th>${esc(c.label)}</th>`)
    .join('')}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

function comparison(r: Report): string {
  const models = r.models;
  const hasCold = models.some((m) => m.final.coldStart);
  const all = metricColumns('all', '');
  const cold = hasCold ? metricColumns('coldStart', 'cold ') : [];
  const other: Column[] = [
    { label: 'parameters', get: (m) => m.parameters, format: int },
    { label: 'steps', get: (m) => m.step, format: int },
    { label: 'train time', get: (m) => m.timings.trainSeconds, format: seconds },
    { label: 'samples/s', get: (m) => m.timings.samplesPerSecond, format: int },
  ];
  const groups = [
    { label: `all ${r.split} rows`, span: all.length },
    ...(hasCold ? [{ label: 'cold-start documents', span: cold.length }] : []),
    { label: '', span: other.length },
  ];
  let out = table(models, [...all, ...cold, ...other], groups, 'comparison');
  out += `<p class="muted">Evaluated on the <code>${esc(r.split)}</code> split. QAUC / UAUC: AUC per query / user, averaged over groups with both classes; (w): weighted by impressions. Best value per column in bold.${
    hasCold ? ' Cold-start: rows whose candidate document never occurs in training.' : ''
  }</p>`;
  if (models.length >= 2) {
    const base = models[0]!;
    const rel = (get: (m: ModelReport) => number | undefined) => (m: ModelReport) => {
      const a = get(m);
      const b = get(base);
      return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b - 1 : undefined;
    };
    const fmtRel = (v: number | undefined) => (v === undefined ? '—' : pct(v));
    const cols: Column[] = [
      { label: 'AUC', get: rel((m) => m.final.all.auc), better: 'high', format: fmtRel, digits: 6 },
      { label: 'QAUC', get: rel((m) => m.final.all.qauc.mean), better: 'high', format: fmtRel, digits: 6 },
      { label: 'UAUC', get: rel((m) => m.final.all.uauc.mean), better: 'high', format: fmtRel, digits: 6 },
      ...(hasCold
        ? ([
            { label: 'cold AUC', get: rel((m) => m.final.coldStart?.auc), better: 'high', format: fmtRel, digits: 6 },
            { label: 'cold QAUC', get: rel((m) => m.final.coldStart?.qauc.mean), better: 'high', format: fmtRel, digits: 6 },
          ] as Column[])
        : []),
    ];
    out += `<h3>Relative to ${esc(base.name)}</h3>` + table(models, cols, undefined, 'relative');
  }
  return out;
}

function colorOf(r: Report): Map<string, string> {
  return new Map(r.models.map((m, i) => [m.name, PALETTE[i % PALETTE.length]!]));
}

function charts(r: Report): string {
  const color = colorOf(r);
  const out: string[] = [];
  const loss: Series[] = [];
  for (const m of r.models) {
    loss.push({ name: `${m.name} loss`, color: color.get(m.name), points: m.progress.map((p) => [p.step, p.loss]) });
    if (m.progress.some((p) => p.sqdc > 0))
      loss.push({ name: `${m.name} BCE`, color: color.get(m.name), dashed: true, points: m.progress.map((p) => [p.step, p.bce]) });
  }
  out.push(lineChart({ title: 'Training loss (BCE + λ·SQDC; dashed: BCE alone)', xMin: 0, xLabel: 'step', yLabel: 'loss', series: loss, id: 'chart-loss' }));
  const auc: Series[] = [];
  for (const m of r.models) {
    auc.push({ name: `${m.name} AUC`, color: color.get(m.name), points: m.evaluations.map((e) => [e.step, e.all.auc]) });
    auc.push({ name: `${m.name} QAUC`, color: color.get(m.name), dashed: true, points: m.evaluations.map((e) => [e.step, e.all.qauc.mean]) });
  }
  out.push(lineChart({ title: `AUC (solid) and QAUC (dashed) on ${r.split} over training`, xMin: 0, xLabel: 'step', yLabel: 'AUC', series: auc, id: 'chart-auc' }));
  if (r.models.some((m) => m.evaluations.some((e) => e.coldStart))) {
    const cold: Series[] = [];
    for (const m of r.models) {
      cold.push({ name: `${m.name} AUC`, color: color.get(m.name), points: m.evaluations.map((e) => [e.step, e.coldStart?.auc ?? NaN]) });
      cold.push({ name: `${m.name} QAUC`, color: color.get(m.name), dashed: true, points: m.evaluations.map((e) => [e.step, e.coldStart?.qauc.mean ?? NaN]) });
    }
    out.push(lineChart({ title: 'Cold-start documents: AUC (solid) and QAUC (dashed)', xMin: 0, xLabel: 'step', yLabel: 'AUC', series: cold, id: 'chart-cold-auc' }));
  }
  return `<div class="charts">${out.join('')}</div>`;
}

function bankCharts(r: Report): string {
  const withBank = r.models.filter((m) => m.progress.some((p) => p.bank));
  if (!withBank.length) return '<p class="muted">No model in this report has a memory bank.</p>';
  const out = withBank.map((m) => {
    const bank = m.progress.filter((p) => p.bank);
    const series: Series[] = [
      { name: 'target coverage', color: PALETTE[0], points: bank.map((p) => [p.step, p.bank!.targetCoverage]) },
      { name: 'history coverage', color: PALETTE[2], points: bank.map((p) => [p.step, p.bank!.historyCoverage]) },
    ];
    if (bank.some((p) => p.bank!.staleness !== undefined))
      series.push({ name: 'staleness (cosine bank vs fresh)', color: PALETTE[3], dashed: true, points: bank.map((p) => [p.step, p.bank!.staleness ?? NaN]) });
    return lineChart({ title: `${m.name}: memory-bank coverage and staleness`, xMin: 0, xLabel: 'step', yLabel: 'fraction / cosine', series, yMax: 1, percent: false, id: 'chart-bank' });
  });
  return (
    `<div class="charts">${out.join('')}</div>` +
    '<p class="muted">Coverage: fraction of looked-up documents (targets, history items) already in the bank, over the steps since the previous report. ' +
    'Staleness: mean cosine between bank rows and fresh encodings of a probe sample (1 = fresh).</p>'
  );
}

function stepTimes(r: Report): string {
  const models = r.models.filter((m) => m.timings.meanStep);
  if (!models.length) return '<p class="muted">No training in this report (evaluation only, no saved history).</p>';
  const colors = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#bab0ac'];
  const rows = models.map((m) => {
    const t = m.timings.meanStep!;
    const parts: { name: string; value: number; color: string }[] = STEP_PARTS.map((k, i) => ({ name: k, value: (t[k] ?? 0) * 1000, color: colors[i]! }));
    const other = (t.total ?? 0) * 1000 - parts.reduce((s, p) => s + p.value, 0);
    if (other > 0.005 * (t.total ?? 0) * 1000) parts.push({ name: 'other', value: other, color: colors[6]! });
    return { label: m.name, segments: parts };
  });
  const cols: Column[] = [
    ...STEP_PARTS.map((k) => ({ label: k, get: (m: ModelReport) => (m.timings.meanStep?.[k] ?? NaN) * 1000, digits: 1 })),
    { label: 'total', get: (m) => (m.timings.meanStep?.total ?? NaN) * 1000, digits: 1, better: 'low' },
    { label: 'samples/s', get: (m) => m.timings.samplesPerSecond, format: int, better: 'high' },
  ];
  return (
    stackedBars({ title: 'Mean time per training step by phase (ms)', unit: 'ms', rows, id: 'chart-step-time' }) +
    table(models, cols, undefined, 'step-times') +
    '<p class="muted">Milliseconds per step, weighted over all progress reports. samples/s: training samples over the wall time of fit() (periodic evaluations included).</p>'
  );
}

function evaluationDetails(r: Report): string {
  const rows: string[] = [];
  for (const m of r.models) {
    for (const [scope, x] of [
      ['all', m.final.all],
      ['cold-start', m.final.coldStart],
      ['warm', m.final.warm],
    ] as const) {
      if (!x) continue;
      rows.push(
        `<tr><td>${esc(m.name)}</td><td>${esc(scope)}</td><td>${int(x.n)}</td><td>${int(x.positives)}</td><td>${num(x.auc)}</td><td>${num(x.qauc.mean)}</td><td>${num(
          x.qauc.weighted,
        )}</td><td>${int(x.qauc.groups)}</td><td>${num(x.uauc.mean)}</td><td>${num(x.uauc.weighted)}</td><td>${int(x.uauc.groups)}</td><td>${num(x.logLoss)}</td></tr>`,
      );
    }
  }
  return `<div class="scroll"><table id="evaluations"><thead><tr><th>model</th><th>rows</th><th>n</th><th>positives</th><th>AUC</th><th>QAUC</th><th>QAUC (w)</th><th>queries</th><th>UAUC</th><th>UAUC (w)</th><th>users</th><th>log-loss</th></tr></thead><tbody>${rows.join(
    '',
  )}</tbody></table></div><p class="muted">Final evaluation of each model at step ${esc(r.models.map((m) => `${m.name}: ${m.step}`).join(', '))}; groups with a single class are skipped.</p>`;
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

export function renderHtml(r: Report): string {
  const title = `lemur ${r.command}: ${r.models.map((m) => m.name).join(', ')} on ${r.dataset.name}`;
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
<p class="sub">${esc(r.dataset.name)} · ${int(r.dataset.numDocuments)} documents · ${int(r.dataset.numUsers)} users · evaluated on ${esc(r.split)} · ${esc(
    r.createdAt,
  )}</p>
<h2 id="models">Models</h2>
${comparison(r)}
<h2 id="training">Training</h2>
${charts(r)}
<h2 id="bank">Memory bank</h2>
${bankCharts(r)}
<h2 id="step-time">Step time</h2>
${stepTimes(r)}
<h2 id="evaluation">Evaluation details</h2>
${evaluationDetails(r)}
<h2 id="dataset">Dataset</h2>
${dataset(r)}
<h2 id="configs">Configurations</h2>
${configs(r)}
<h2 id="machine">Machine and versions</h2>
${machine(r)}
<p class="muted">Numbers: <code>metrics.json</code> next to this page.</p>
</main>
</body>
</html>
`;
}
