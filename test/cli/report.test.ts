// The report page and its charts, and the --set parsing, without training anything.
import { describe, expect, it } from 'vitest';

import { renderHtml } from '../../dist/report/html.js';
import { escapeHtml } from '../../dist/report/escape.js';
import { lineChart, niceTicks, stackedBars } from '../../dist/report/svg.js';
import type { ModelReport, Report } from '../../dist/report/types.js';
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
    expect(html.match(/class="chart chart-bank"/g)).toHaveLength(1);
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
