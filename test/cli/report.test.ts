// The report page and its charts, and the --set parsing, without training anything.
import { describe, expect, it } from 'vitest';

import { renderHtml } from '../../dist/report/html.js';
import { escapeHtml } from '../../dist/report/escape.js';
import { lineChart, niceTicks, stackedBars } from '../../dist/report/svg.js';
import type { ComparisonReport, ModelReport, Report } from '../../dist/report/types.js';
import type { Progress } from '../../dist/model.js';
import { modelSpecs, parsePath, parseValue } from '../../dist/cli/models.js';
import { resolveConfig } from '../../dist/index.js';

const metrics = (auc: number) => ({
  n: 100,
  positives: 30,
  auc,
  qauc: { mean: auc - 0.05, weighted: auc - 0.04, groups: 10, skipped: 2 },
  uauc: { mean: auc - 0.03, weighted: auc - 0.02, groups: 20, skipped: 1 },
  logLoss: 1 - auc,
});

function model(name: string, auc: number, bank: boolean): ModelReport {
  const progress = [10, 20, 30].map((step, i) => ({
    step,
    epoch: 0,
    batch: step,
    batchesPerEpoch: 30,
    phase: 'train' as const,
    loss: 0.7 - i * 0.05,
    bce: 0.65 - i * 0.05,
    sqdc: bank ? 0.5 : 0,
    encoderGradNorm: 0,
    samplesPerSecond: 1000,
    lr: 1e-3,
    seconds: { data: 0.001, encoder: 0.004, bank: 0.001, backbone: 0.003, backward: 0.006, optimizer: 0.002, total: 0.018 },
    ...(bank ? { bank: { rows: 10, written: 5, meanAge: 3, targetCoverage: 0.5 + i * 0.2, historyCoverage: i ? 0.4 + i * 0.2 : NaN, staleness: 0.9 } } : {}),
    eta: 10 - i,
  }));
  const evaluations = [15, 30].map((step) => ({ split: 'test', step, all: metrics(auc - (30 - step) / 1000), coldStart: metrics(auc - 0.1), bankMisses: 0 }));
  return {
    name,
    preset: 'lemur',
    device: 'cpu',
    parameters: 1234,
    idTableParameters: 5678,
    step: 30,
    epoch: 1,
    final: evaluations[1]!,
    timings: { trainSeconds: 12.5, evalSeconds: 0, samples: 3000, samplesPerSecond: 240, meanStep: progress[0]!.seconds, fits: [] },
    progress,
    evaluations,
    config: resolveConfig('lemur'),
  };
}

function report(models: ModelReport[]): Report {
  return {
    format: 'lemur-report',
    version: 1,
    command: 'train',
    argv: ['train', '--data', '<x>'],
    createdAt: '2025-01-01T00:00:00.000Z',
    wallSeconds: 20,
    split: 'test',
    dataset: {
      dir: '/tmp/<data>',
      name: 'syn"thetic</title><script>alert(1)</script>',
      createdBy: 'lemur generate',
      numDocuments: 300,
      numUsers: 60,
      numQueries: 60,
      textFields: [{ name: 'title', maxTokens: 8 }],
      image: null,
      sequences: [{ name: 'clicks', maxLength: 12, action: false, age: true }],
      stats: { train: { rows: 2400, positives: 0.3, distinctUsers: 60, distinctDocuments: 270, meanHistory: { clicks: 7.5 } } },
      sourceStats: { seed: 1 },
    },
    models,
    versions: { lemur: '0.1.0', torch: '2.0', torchSource: 'test', node: '20' },
    machine: { platform: 'linux', arch: 'x64', cpu: 'cpu', cores: 2, memoryBytes: 2 ** 33, threads: { intraOp: 2, interOp: 1, blas: 2, blasLibrary: 'x' }, devices: ['cpu'], cuda: [] },
  };
}

describe('report page', () => {
  it('escapes every text from data and names', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const html = renderHtml(report([model('<b>evil</b>', 0.7, true), model('base & co', 0.65, false)]));
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>evil</b>');
    expect(html).toContain('&lt;b&gt;evil&lt;/b&gt;');
    expect(html).toContain('base &amp; co');
    expect(html).toContain('/tmp/&lt;data&gt;');
  });

  it('has the charts, the comparison with the best in bold, and the step-time breakdown', () => {
    const html = renderHtml(report([model('dlrm-mlp', 0.65, false), model('lemur', 0.7, true)]));
    for (const id of ['chart-loss', 'chart-auc', 'chart-cold-auc', 'chart-bank', 'chart-step-time', 'id="comparison"', 'id="step-times"', 'id="relative"'])
      expect(html).toContain(id);
    // The best AUC (0.7000) is bold, the other is not; the lower log-loss (0.3000) is bold.
    expect(html).toContain('<td class="best">0.7000</td>');
    expect(html).toContain('<td>0.6500</td>');
    expect(html).toContain('<td class="best">0.3000</td>');
    expect(html).toMatch(/\+7\.69%/); // 0.70 / 0.65 - 1
    expect(html).not.toMatch(/<script|<link|src=/i);
    // Only the model with a bank has a bank chart.
    expect(html.match(/class="chart line-chart chart-bank"/g)).toHaveLength(1);
    // Two single-seed models: no thin seed lines, and no pre-training chart.
    expect(html).not.toContain('line thin');
    expect(html).not.toContain('chart-pretrain');
  });

  it('draws lines with gaps at NaN and says when there is no data', () => {
    const svg = lineChart({
      title: 't',
      xLabel: 'step',
      yLabel: 'y',
      series: [{ name: 'a', points: [[0, 1], [1, 2], [2, NaN], [3, 3], [4, 4]] }],
    });
    expect(svg.match(/<path class="line"/g)).toHaveLength(2);
    expect(svg.match(/<circle/g)).toHaveLength(4);
    expect(lineChart({ title: 'e', xLabel: 'x', yLabel: 'y', series: [] })).toContain('no data');
    expect(lineChart({ title: 'one', xLabel: 'x', yLabel: 'y', series: [{ name: 'p', points: [[5, 0.5]] }] })).toContain('<circle');
    const bars = stackedBars({ title: 'b', unit: 'ms', rows: [{ label: 'm', segments: [{ name: 'data', value: 2, color: '#000' }, { name: 'x', value: 3, color: '#111' }] }] });
    expect(bars).toContain('>5 ms<');
  });

  it('picks round ticks', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.62, 0.71)).toEqual([0.62, 0.64, 0.66, 0.68, 0.7]);
    expect(niceTicks(3, 3).length).toBeGreaterThan(1);
  });
});

/** The <svg> of the chart with class `cls`. */
function chart(html: string, cls: string): string {
  const m = html.match(new RegExp(`<svg class="chart [^"]*\\b${cls}\\b[^"]*"[\\s\\S]*?</svg>`));
  expect(m, `chart ${cls}`).toBeTruthy();
  return m![0];
}

/** The dots of a line chart: series name, step and value (from their <title>). */
function dots(svg: string): { name: string; step: number; value: number }[] {
  return [...svg.matchAll(/<circle class="dot"[^>]*><title>([^<]*): step ([-\d.e]+), ([-\d.e]+)<\/title>/g)].map((m) => ({ name: m[1]!, step: Number(m[2]), value: Number(m[3]) }));
}

const tickValues = (svg: string) => [...svg.matchAll(/<text class="tick"[^>]*text-anchor="end"[^>]*>([^<]*)<\/text>/g)].map((m) => Number(m[1]));

/** A two-stage model: pre-training (SQDC only, no BCE) at steps 5..45, then ranking at 10, 20, 30. */
function pretrained(name: string): ModelReport {
  const m = model(name, 0.72, false);
  const pre: Progress[] = [5, 15, 25, 35, 45].map((step, i) => ({ ...m.progress[0]!, step, batch: step, phase: 'pretrain', loss: 5 - i * 0.4, bce: undefined, sqdc: 5 - i * 0.4 }));
  // Joint training after it (sqdc > 0), one report without a BCE: a gap, never a 0.
  const train = m.progress.map((p, i) => ({ ...p, sqdc: 0.4, ...(i === 1 ? { bce: undefined } : {}) }));
  return { ...m, progress: [...pre, ...train], pretrainSteps: 45 };
}

describe('report page: pre-training, validation, seeds and the comparison', () => {
  it('draws pre-training in its own chart and the ranking loss from ranking steps only', () => {
    const html = renderHtml(report([model('dlrm-mlp', 0.65, false), pretrained('two-stage')]));
    const pre = chart(html, 'chart-pretrain');
    const preDots = dots(pre);
    expect(preDots.map((d) => d.step)).toEqual([5, 15, 25, 35, 45]);
    expect(preDots.every((d) => d.value >= 3)).toBe(true);
    const loss = chart(html, 'chart-loss');
    const lossDots = dots(loss);
    expect(lossDots.length).toBeGreaterThan(0);
    // No point at a pre-training step, no SQDC-sized value, no BCE drawn as 0.
    expect(new Set(lossDots.map((d) => d.step))).toEqual(new Set([10, 20, 30]));
    expect(lossDots.every((d) => d.value > 0.3 && d.value < 1)).toBe(true);
    expect(Math.max(...tickValues(loss))).toBeLessThan(1);
    const bce = lossDots.filter((d) => d.name.endsWith(' BCE'));
    expect(bce.map((d) => d.step)).toEqual([10, 30]);
    expect(loss).toContain('BCE + λ·SQDC');
    // The size table says how many pre-training steps there were.
    expect(html).toContain('pre-training steps');
    // Without pre-training there is no such chart.
    expect(renderHtml(report([model('a', 0.7, true), model('b', 0.6, false)]))).not.toContain('chart-pretrain');
  });

  it('draws validation evaluations apart from the final ones, with the best step ringed', () => {
    const withValid = (name: string, auc: number, best: number): ModelReport => {
      const m = model(name, auc, false);
      const valid = [10, 20, 30].map((step) => ({ split: 'valid', step, all: metrics(0.6 + step / 1000), bankMisses: 0 }));
      const final = { split: 'test', step: best, all: metrics(auc), coldStart: metrics(auc - 0.1), bankMisses: 0 };
      return {
        ...m,
        final,
        evaluations: [...valid, final],
        earlyStopping: { metric: 'auc', split: 'valid', best: { step: best, epoch: 0, value: 0.6 + best / 1000 }, stoppedAt: 30, restored: true, history: valid.map((e) => ({ step: e.step, epoch: 0, value: e.all.auc })) },
      };
    };
    const html = renderHtml(report([withValid('a', 0.75, 20), withValid('b', 0.7, 10)]));
    const valid = chart(html, 'chart-split-valid-auc');
    // Only the validation values (0.61..0.63), not the final test AUCs (0.70, 0.75).
    expect(dots(valid).map((d) => d.value).sort()).toEqual([0.61, 0.61, 0.62, 0.62, 0.63, 0.63]);
    const marks = [...valid.matchAll(/<circle class="mark"[^>]*><title>([^<]*)<\/title>/g)].map((m) => m[1]);
    expect(marks).toEqual(['a: best at step 20, 0.62', 'b: best at step 10, 0.61']);
    expect(valid).toContain('best auc step of each run');
    // The test split has a single (final) evaluation per model: no line over training for it,
    // its values in the final charts.
    expect(html).not.toMatch(/class="chart [^"]*\bchart-auc\b/);
    const final = chart(html, 'chart-final-auc');
    expect(final).toContain('a: 0.7500');
    expect(final).toContain('b: 0.7000');
    expect(final).not.toContain('0.6200');
    expect(html).toContain('id="early-stopping"');
  });

  it('draws a line per model (mean over its seeds, thin lines per seed), not per run', () => {
    const seeds = ['base', 'new'].flatMap((g, k) => [0, 1, 2].map((seed) => ({ ...model(`${g}-seed${seed}`, 0.65 + k * 0.05 + seed * 0.001, k === 1), group: g, seed })));
    const html = renderHtml(report(seeds));
    const loss = chart(html, 'chart-loss');
    expect(loss.match(/class="line thin"/g)).toHaveLength(6);
    const legend = [...loss.matchAll(/<text class="legend"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(legend).toEqual(['base', 'new', 'new BCE']);
    // The mean loss of a group at step 10 is the mean of its seeds'.
    expect(dots(loss).find((d) => d.name === 'base' && d.step === 10)?.value).toBeCloseTo(0.7, 6);
    // One bank chart per model with a bank (not per seed); the title names the model, not a seed.
    expect(html.match(/class="chart line-chart chart-bank"/g)).toHaveLength(1);
    expect(html).toContain('new (3 runs): memory-bank coverage');
    expect(html).toContain('lemur train: base, new × 3 seeds on');
    // The final chart: a dot per seed.
    expect(chart(html, 'chart-final-auc').match(/<circle class="run"/g)).toHaveLength(6);
  });

  it('shows the comparison: mean ± std over seeds and the intervals against the baseline', () => {
    const spread = (mean: number, std: number) => ({ mean, std, n: 3 });
    const d = (model: string, metric: 'auc' | 'qauc', difference: number, low: number, high: number) => ({ model, metric, difference, low, high, level: 0.95, pNotBetter: low > 0 ? 0 : 0.3 });
    const comparison: ComparisonReport = {
      baseline: 'base',
      split: 'test',
      resamples: 1000,
      level: 0.95,
      models: [
        { name: 'base', runs: ['base-seed0', 'base-seed1', 'base-seed2'], seeds: [0, 1, 2], all: { auc: spread(0.7, 0.01), qauc: spread(0.65, 0.02), uauc: spread(0.66, 0.01), logLoss: spread(0.5, 0.01) }, coldStart: { auc: spread(0.6, 0.03), qauc: spread(0.55, 0.04) } },
        {
          name: '<new>',
          runs: ['<new>-seed0', '<new>-seed1', '<new>-seed2'],
          seeds: [0, 1, 2],
          all: { auc: spread(0.72, 0.005), qauc: spread(0.66, 0.006), uauc: spread(0.67, 0.01), logLoss: spread(0.49, 0.01) },
          coldStart: { auc: spread(0.59, 0.02), qauc: spread(0.56, 0.02) },
          vsBaseline: {
            all: [d('<new>', 'auc', 0.02, 0.01, 0.03), d('<new>', 'qauc', 0.01, -0.005, 0.025)],
            coldStart: [d('<new>', 'auc', -0.01, -0.02, -0.001), d('<new>', 'qauc', 0.01, -0.01, 0.03)],
          },
        },
      ],
    };
    const models = ['base', '<new>'].flatMap((g, k) => [0, 1, 2].map((seed) => ({ ...model(`${g}-seed${seed}`, 0.7 + k * 0.02, false), group: g, seed })));
    const html = renderHtml({ ...report(models), comparison });
    // Near the top: the first section.
    expect(html.indexOf('<h2 id="compare">Comparison</h2>')).toBeGreaterThan(0);
    expect(html.indexOf('<h2 id="compare">')).toBeLessThan(html.indexOf('<h2 id="models">'));
    const table = html.match(/<table id="compare-table">[\s\S]*?<\/table>/)![0];
    const rows = table.split('<tbody>')[1]!.split('<tr>').slice(1);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('0.7000<span class="second">± 0.0100</span>');
    expect(rows[0]).toContain('baseline');
    expect(rows[1]).toContain('&lt;new&gt;');
    expect(rows[1]).not.toContain('<new>');
    expect(rows[1]).toContain('<td class="best">0.7200<span class="second">± 0.0050</span></td>');
    // AUC: [+0.01, +0.03] excludes 0, better; QAUC's includes it; cold-start AUC is worse.
    const cells = [...rows[1]!.matchAll(/<td( class="[^"]*")?( title="[^"]*")?><span class="d">([^<]*)<\/span><span class="second">([^<]*)<\/span><\/td>/g)].map((m) => ({ cls: m[1] ?? '', text: m[3], interval: m[4] }));
    expect(cells).toEqual([
      { cls: ' class="sig-up"', text: '+0.0200 ▲', interval: '[+0.0100, +0.0300]' },
      { cls: '', text: '+0.0100', interval: '[-0.0050, +0.0250]' },
      { cls: ' class="sig-down"', text: '-0.0100 ▼', interval: '[-0.0200, -0.0010]' },
      { cls: '', text: '+0.0100', interval: '[-0.0100, +0.0300]' },
    ]);
    expect(table).toContain('Δ vs base [95% interval]');
    expect(html).toContain('1,000 resamples');
    // Without a comparison, no such section.
    expect(renderHtml(report(models))).not.toContain('id="compare"');
  });
});

describe('--set and model specs', () => {
  it('parses paths and values', () => {
    expect(parsePath('backbone.mlpHidden[1]')).toEqual(['backbone', 'mlpHidden', 1]);
    expect(parsePath('sequences.2.maxLength')).toEqual(['sequences', 2, 'maxLength']);
    expect(() => parsePath('a..b')).toThrow(/not a config path/);
    expect(parseValue('16')).toBe(16);
    expect(parseValue('false')).toBe(false);
    expect(parseValue('[8,4]')).toEqual([8, 4]);
    expect(parseValue('cuda:1')).toBe('cuda:1');
  });

  it('applies overrides on top of each preset, list items included', () => {
    const specs = modelSpecs({
      presets: ['dlrm-mlp', 'lemur'],
      sets: ['backbone.width=32'],
      batchSize: 64,
      device: 'cpu',
    });
    expect(specs.map((s) => s.name)).toEqual(['dlrm-mlp', 'lemur']);
    expect(specs.every((s) => s.config.backbone.width === 32 && s.config.train.batchSize === 64)).toBe(true);
    const [lemur] = modelSpecs({ presets: ['lemur'], sets: ['sequences[2].maxLength=100', 'backbone.mlpHidden=[8]'] });
    expect(lemur!.config.sequences[2]!.maxLength).toBe(100);
    expect(lemur!.config.sequences[2]!.name).toBe('long');
    expect(lemur!.config.backbone.mlpHidden).toEqual([8]);
    expect(() => modelSpecs({ presets: ['lemur', 'lemur'] })).toThrow(/listed twice/);
    expect(() => modelSpecs({ presets: ['lemur'], sets: ['embeddingDim'] })).toThrow(/key\.path=value/);
    expect(() => modelSpecs({ presets: ['lemur'], sets: ['embeddingDim.x=1'] })).toThrow(/not an object/);
  });
});
