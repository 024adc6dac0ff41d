// The report page in a real browser (Debian's headless Chromium, driven over the DevTools
// protocol on --remote-debugging-pipe, no extra dependency): it loads without console errors,
// nothing overflows horizontally at 1400x900, every column of the tables is on screen and
// every chart has drawn marks. Built from in-memory fixtures (7 presets x 3 seeds, two-stage
// pre-training, validation evaluations with early stopping, a comparison): nothing trains.
// Skipped where /usr/bin/chromium is absent (apt-get install -y --no-install-recommends chromium).
// REPORT_SCREENSHOT_DIR=<folder> keeps the page and its screenshots there.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Readable, Writable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { spread } from '../../dist/compare.js';
import { renderHtml } from '../../dist/report/html.js';
import type { ComparedModel, ComparisonReport, ModelReport, Report } from '../../dist/report/types.js';
import type { Evaluation, Progress } from '../../dist/model.js';
import { resolveConfig } from '../../dist/index.js';

const CHROMIUM = '/usr/bin/chromium';
const WIDTH = 1400;
const HEIGHT = 900;

// ---------------------------------------------------------------------------------------
// Fixtures

/** A small seeded generator: the fixture is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const metrics = (auc: number, n = 20000) => ({
  n,
  positives: Math.round(n * 0.3),
  auc,
  qauc: { mean: auc - 0.04, weighted: auc - 0.035, groups: 900, skipped: 40 },
  uauc: { mean: auc - 0.03, weighted: auc - 0.025, groups: 1200, skipped: 30 },
  logLoss: 0.62 - (auc - 0.6) * 0.5,
});

const PRESETS = ['dlrm-mlp', 'rankmixer', 'longer', 'two-stage', 'end-to-end', 'lemur', 'hyformer'] as const;
const STRENGTH: Record<string, number> = { 'dlrm-mlp': 0.68, rankmixer: 0.695, longer: 0.7, 'two-stage': 0.705, 'end-to-end': 0.712, lemur: 0.72, hyformer: 0.716 };
const BANK = new Set(['end-to-end', 'lemur']);
const SEEDS = [0, 1, 2];
const BATCHES = 400;

function seededModel(preset: (typeof PRESETS)[number], seed: number): ModelReport {
  const r = rng(PRESETS.indexOf(preset) * 100 + seed + 1);
  const bank = BANK.has(preset);
  const joint = preset === 'lemur' || preset === 'end-to-end';
  const pretrainSteps = preset === 'two-stage' ? 300 : 0;
  const seconds = { data: 0.002, encoder: joint ? 0.012 : 0.001, bank: bank ? 0.002 : 0, backbone: 0.006, backward: 0.01, optimizer: 0.003, total: 0.036 };
  const progress: Progress[] = [];
  const base = { batchesPerEpoch: BATCHES, encoderGradNorm: 0.5, samplesPerSecond: 9000, lr: 1e-3, seconds, skippedSteps: 0, eta: 0 };
  for (let step = 20; step <= pretrainSteps; step += 20)
    progress.push({ ...base, step, epoch: 0, batch: step, phase: 'pretrain', loss: 3 + 2.5 * Math.exp(-step / 120) + r() * 0.1, sqdc: 3 + 2.5 * Math.exp(-step / 120) });
  const strength = STRENGTH[preset]! + (r() - 0.5) * 0.006;
  // Early stopping: the best validation evaluation at a step that depends on the seed.
  const bestAt = 400 * (2 + ((seed + PRESETS.indexOf(preset)) % 3));
  const stoppedAt = bestAt + 800;
  for (let step = 20; step <= stoppedAt; step += 20) {
    const bce = 0.52 + 0.14 * Math.exp(-step / 300) + (r() - 0.5) * 0.01;
    const sqdc = joint ? 0.9 + 0.3 * Math.exp(-step / 500) : 0;
    progress.push({
      ...base,
      step,
      epoch: Math.floor(step / BATCHES),
      batch: step % BATCHES,
      phase: 'train',
      loss: bce + 0.1 * sqdc,
      bce,
      sqdc,
      ...(bank
        ? { bank: { rows: 3000, written: 200, meanAge: 30, targetCoverage: Math.min(1, step / 800), historyCoverage: step === 20 ? NaN : Math.min(1, step / 1200), staleness: 0.95 - 0.1 * Math.exp(-step / 400) } }
        : {}),
    });
  }
  const valid = (step: number) => {
    const v = strength - 0.05 * Math.exp(-step / 400) - (step > bestAt ? (step - bestAt) * 0.000004 : 0) + (r() - 0.5) * 0.002;
    return { split: 'valid', step, all: metrics(v, 5000), coldStart: metrics(v - 0.06, 600), bankMisses: 0 } satisfies Evaluation;
  };
  const evaluations: Evaluation[] = [];
  for (let step = BATCHES / 2; step <= stoppedAt; step += BATCHES / 2) evaluations.push(valid(step));
  const best = evaluations.find((e) => e.step === bestAt)!;
  // Restored to the best step: the final evaluation is at that step, on the test split.
  const final: Evaluation = { split: 'test', step: bestAt, all: metrics(strength - 0.004), coldStart: metrics(strength - 0.07, 2500), warm: metrics(strength, 17500), bankMisses: 0 };
  evaluations.push(final);
  const name = `${preset}-seed${seed}`;
  return {
    name,
    group: preset,
    seed,
    preset,
    device: 'cpu',
    parameters: 1_200_000 + PRESETS.indexOf(preset) * 350_000,
    idTableParameters: 4_800_000,
    step: bestAt,
    epoch: stoppedAt / BATCHES,
    final,
    timings: { trainSeconds: 80 + r() * 20, evalSeconds: 2.5, samples: stoppedAt * 256, samplesPerSecond: 9000 - PRESETS.indexOf(preset) * 600, meanStep: seconds, fits: [] },
    progress,
    evaluations,
    earlyStopping: {
      metric: 'qauc',
      split: 'valid',
      best: { step: bestAt, epoch: bestAt / BATCHES, value: best.all.qauc.mean },
      stoppedAt,
      restored: true,
      history: evaluations.filter((e) => e.split === 'valid').map((e) => ({ step: e.step, epoch: e.step / BATCHES, value: e.all.qauc.mean })),
    },
    ...(pretrainSteps ? { pretrainSteps } : {}),
    config: { ...resolveConfig(preset), seed },
  };
}

function comparisonOf(models: ModelReport[]): ComparisonReport {
  const groups = [...new Set(models.map((m) => m.group!))];
  const over = (ms: ModelReport[], f: (m: ModelReport) => number | undefined) => spread(ms.map((m) => f(m) ?? NaN));
  const baseline = models.filter((m) => m.group === groups[0]);
  const diff = (g: string, metric: 'auc' | 'qauc', d: number, half: number) => ({ model: g, metric, difference: d, low: d - half, high: d + half, level: 0.95, pNotBetter: d > half ? 0.001 : 0.2 });
  const compared: ComparedModel[] = groups.map((g) => {
    const ms = models.filter((m) => m.group === g);
    const c: ComparedModel = {
      name: g,
      runs: ms.map((m) => m.name),
      seeds: ms.map((m) => m.seed!),
      all: { auc: over(ms, (m) => m.final.all.auc), qauc: over(ms, (m) => m.final.all.qauc.mean), uauc: over(ms, (m) => m.final.all.uauc.mean), logLoss: over(ms, (m) => m.final.all.logLoss) },
      coldStart: { auc: over(ms, (m) => m.final.coldStart?.auc), qauc: over(ms, (m) => m.final.coldStart?.qauc.mean) },
    };
    if (g !== groups[0]) {
      const d = c.all.auc.mean - over(baseline, (m) => m.final.all.auc).mean;
      const dc = c.coldStart!.auc.mean - over(baseline, (m) => m.final.coldStart?.auc).mean;
      c.vsBaseline = {
        all: [diff(g, 'auc', d, 0.012), diff(g, 'qauc', d - 0.001, 0.014)],
        coldStart: [diff(g, 'auc', dc, 0.03), diff(g, 'qauc', dc - 0.002, 0.035)],
      };
    }
    return c;
  });
  return { baseline: groups[0]!, split: 'test', resamples: 1000, level: 0.95, models: compared };
}

function seededReport(): Report {
  const models = PRESETS.flatMap((p) => SEEDS.map((s) => seededModel(p, s)));
  return {
    format: 'lemur-report',
    version: 1,
    command: 'train',
    argv: ['train', '--data', '/data/<movielens>', '--preset', ...PRESETS, '--seeds', '3', '--report', 'out'],
    createdAt: '2025-01-01T00:00:00.000Z',
    wallSeconds: 2100,
    split: 'test',
    dataset: {
      dir: '/data/<movielens>',
      name: 'movielens-1m "sample" <&>',
      createdBy: 'lemur import movielens',
      numDocuments: 3706,
      numUsers: 6040,
      numQueries: 6040,
      textFields: [{ name: 'title', maxTokens: 16 }, { name: 'genres', maxTokens: 8 }],
      image: null,
      sequences: [{ name: 'clicks', maxLength: 50, action: false, age: true }],
      stats: {
        train: { rows: 800000, positives: 0.3, distinctUsers: 6040, distinctDocuments: 3500, meanHistory: { clicks: 42.1 } },
        valid: { rows: 100000, positives: 0.3, coldStartRows: 6000, distinctUsers: 5000, distinctDocuments: 3400, meanHistory: { clicks: 45.3 } },
        test: { rows: 100000, positives: 0.3, coldStartRows: 8000, distinctUsers: 5100, distinctDocuments: 3450, meanHistory: { clicks: 46.0 } },
      },
      sourceStats: { ratings: 1000209, threshold: 4 },
    },
    models,
    comparison: comparisonOf(models),
    versions: { lemur: '0.1.0', torch: '2.5.1', torchSource: 'test', node: process.version },
    machine: {
      platform: 'linux',
      arch: 'x64',
      cpu: 'test cpu',
      cores: 2,
      memoryBytes: 2 ** 34,
      threads: { intraOp: 2, interOp: 1, blas: 2, blasLibrary: 'openblas' },
      devices: ['cpu'],
      cuda: [],
    },
  };
}

// ---------------------------------------------------------------------------------------
// A minimal DevTools-protocol client over --remote-debugging-pipe (fd 3: commands in, fd 4:
// replies and events out, each a JSON message ended by a NUL byte).

interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
  sessionId?: string;
}

class Browser {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }>();
  private listeners: ((e: CdpEvent) => void)[] = [];
  private buffer = '';
  stderr = '';
  readonly exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly profile: string,
  ) {
    const out = child.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buffer.slice(0, end)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown>; sessionId?: string };
        this.buffer = this.buffer.slice(end + 1);
        if (msg.id !== undefined) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
          else p?.resolve(msg.result);
        } else if (msg.method) for (const l of this.listeners) l({ method: msg.method, params: msg.params ?? {}, sessionId: msg.sessionId });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
    void this.exited.then(() => {
      for (const p of this.pending.values()) p.reject(new Error(`chromium exited during ${p.method}\n${this.stderr.slice(-2000)}`));
      this.pending.clear();
    });
  }

  static launch(): Browser {
    const profile = mkdtempSync(join(tmpdir(), 'lemur-chromium-'));
    const child = spawn(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-extensions',
        '--hide-scrollbars',
        '--mute-audio',
        `--user-data-dir=${profile}`,
        '--remote-debugging-pipe',
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
    );
    return new Browser(child, profile);
  }

  on(listener: (e: CdpEvent) => void): () => void {
    this.listeners.push(listener);
    return () => (this.listeners = this.listeners.filter((l) => l !== listener));
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string, timeoutMs = 30_000): Promise<T> {
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no reply in ${timeoutMs} ms\n${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      this.pending.set(id, {
        method,
        resolve: (v) => (clearTimeout(timer), resolve(v as T)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
    (this.child.stdio[3] as Writable).write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    return p;
  }

  /** Resolves with the first event `method` of `sessionId` (registered before the action that causes it). */
  waitFor(method: string, sessionId: string, timeoutMs = 30_000): Promise<CdpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (off(), reject(new Error(`no ${method} in ${timeoutMs} ms`))), timeoutMs);
      const off = this.on((e) => {
        if (e.method === method && e.sessionId === sessionId) {
          clearTimeout(timer);
          off();
          resolve(e);
        }
      });
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await this.send('Browser.close', {}, undefined, 5000).catch(() => undefined);
      const killed = await Promise.race([this.exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 5000))]);
      if (killed) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}

interface PageReport {
  scrollWidth: number;
  clientWidth: number;
  mainRight: number;
  /** Elements whose box reaches past the viewport's right edge. */
  pastViewport: string[];
  /** Table containers (and elements in them) whose content is wider than their box. */
  overflowing: string[];
  tables: { id: string; columns: number; visibleColumns: number; right: number; wrapRight: number }[];
  charts: { cls: string; kind: string; width: number; right: number; lines: number; drawnLength: number; dots: number; rects: number; empty: boolean }[];
  sections: string[];
}

/** Runs in the page: layout and chart figures (the page itself has no script). */
const MEASURE = `(() => {
  const vw = document.documentElement.clientWidth;
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.getAttribute('class') ? '.' + el.getAttribute('class').split(/\\s+/).join('.') : '');
  const mainRight = document.querySelector('main').getBoundingClientRect().right;
  const pastViewport = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > vw + 0.5) pastViewport.push(describe(el) + ' right=' + r.right.toFixed(1));
  }
  const overflowing = [];
  for (const wrap of document.querySelectorAll('.table-wrap')) {
    for (const el of [wrap, ...wrap.querySelectorAll('*')]) {
      if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth) overflowing.push(describe(el) + ' in ' + describe(wrap.querySelector('table')) + ': ' + el.scrollWidth + ' > ' + el.clientWidth);
    }
  }
  const tables = [...document.querySelectorAll('.table-wrap > table')].filter((t) => t.getBoundingClientRect().width > 0).map((t) => {
    const wrap = t.parentElement.getBoundingClientRect();
    const ths = [...t.querySelectorAll('thead tr:last-child th')];
    const visible = ths.filter((th) => { const r = th.getBoundingClientRect(); return r.width > 0 && r.left >= wrap.left - 0.5 && r.right <= Math.min(wrap.right, vw) + 0.5; });
    return { id: t.id, columns: ths.length, visibleColumns: visible.length, right: t.getBoundingClientRect().right, wrapRight: wrap.right };
  });
  const charts = [...document.querySelectorAll('svg.chart')].map((svg) => {
    const r = svg.getBoundingClientRect();
    const cls = svg.getAttribute('class');
    const kind = cls.includes('line-chart') ? 'line' : cls.includes('strip-chart') ? 'strip' : cls.includes('bar-chart') ? 'bar' : 'other';
    const paths = [...svg.querySelectorAll('path.line, polyline')];
    const drawn = paths.filter((p) => (p.getAttribute('d') || p.getAttribute('points') || '').match(/[ML,]/g)?.length >= 2 || p.tagName === 'path');
    let drawnLength = 0;
    for (const p of drawn) drawnLength += p.getTotalLength();
    return {
      cls,
      kind,
      width: r.width,
      right: r.right,
      lines: drawn.length,
      drawnLength,
      dots: svg.querySelectorAll('circle.dot, circle.run, circle.mark').length,
      rects: [...svg.querySelectorAll('rect:not(.plot)')].filter((x) => x.getBBox().width > 0).length,
      empty: !!svg.querySelector('text.empty'),
    };
  });
  const sections = [...document.querySelectorAll('h2')].map((h) => h.id);
  return { scrollWidth: document.documentElement.scrollWidth, clientWidth: vw, mainRight, pastViewport, overflowing, tables, charts, sections };
})()`;

describe.skipIf(!existsSync(CHROMIUM))('report page in headless Chromium', () => {
  let browser: Browser;
  let session: string;
  let dir: string;
  const errors: string[] = [];
  let page: PageReport;
  let loadSeconds = 0;

  /** Opens `file` in the tab and measures it. */
  async function load(file: string): Promise<PageReport> {
    const loaded = browser.waitFor('Page.loadEventFired', session);
    const nav = await browser.send<{ errorText?: string }>('Page.navigate', { url: pathToFileURL(file).href }, session);
    if (nav.errorText) throw new Error(`navigation failed: ${nav.errorText}`);
    await loaded;
    const res = await browser.send<{ result: { value: PageReport }; exceptionDetails?: unknown }>('Runtime.evaluate', { expression: MEASURE, returnByValue: true }, session);
    if (res.exceptionDetails) throw new Error(`measuring failed: ${JSON.stringify(res.exceptionDetails)}`);
    return res.result.value;
  }

  /** Screenshots of the whole page in screen-high parts, `<prefix>-<k>.png` (REPORT_SCREENSHOT_DIR only). */
  async function keepScreenshots(prefix: string): Promise<void> {
    if (!process.env.REPORT_SCREENSHOT_DIR) return;
    const { contentSize } = await browser.send<{ contentSize: { height: number } }>('Page.getLayoutMetrics', {}, session);
    for (let y = 0, k = 0; y < contentSize.height; y += 2 * HEIGHT, k++) {
      const part = await browser.send<{ data: string }>(
        'Page.captureScreenshot',
        { format: 'png', captureBeyondViewport: true, clip: { x: 0, y, width: WIDTH, height: Math.min(2 * HEIGHT, Math.ceil(contentSize.height - y)), scale: 1 } },
        session,
      );
      writeFileSync(join(dir, `${prefix}-${k}.png`), Buffer.from(part.data, 'base64'));
    }
  }

  beforeAll(async () => {
    const keep = process.env.REPORT_SCREENSHOT_DIR;
    dir = keep ? (mkdirSync(keep, { recursive: true }), keep) : mkdtempSync(join(tmpdir(), 'lemur-report-browser-'));
    const html = renderHtml(seededReport());
    const file = join(dir, 'index.html');
    writeFileSync(file, html);

    const t0 = performance.now();
    browser = Browser.launch();
    browser.on((e) => {
      if (e.method === 'Runtime.consoleAPICalled' && ['error', 'assert'].includes(String(e.params.type)))
        errors.push(`console.${String(e.params.type)}: ${JSON.stringify(e.params.args)}`);
      if (e.method === 'Runtime.exceptionThrown') errors.push(`exception: ${JSON.stringify(e.params.exceptionDetails)}`);
      if (e.method === 'Log.entryAdded') {
        const entry = e.params.entry as { level: string; text: string; url?: string };
        if (entry.level === 'error') errors.push(`log: ${entry.text} ${entry.url ?? ''}`);
      }
    });
    const { targetId } = await browser.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    ({ sessionId: session } = await browser.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true }));
    await browser.send('Page.enable', {}, session);
    await browser.send('Runtime.enable', {}, session);
    await browser.send('Log.enable', {}, session);
    await browser.send('Emulation.setDeviceMetricsOverride', { width: WIDTH, height: HEIGHT, deviceScaleFactor: 1, mobile: false }, session);
    page = await load(file);
    loadSeconds = (performance.now() - t0) / 1000;
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    if (dir && !process.env.REPORT_SCREENSHOT_DIR) rmSync(dir, { recursive: true, force: true });
  });

  it('loads without console errors', () => {
    expect(errors).toEqual([]);
    expect(page.sections.slice(0, 4)).toEqual(['compare', 'models', 'training', 'evaluation']);
    expect(loadSeconds).toBeLessThan(60);
  });

  it('fits a 1400 px wide window: nothing overflows, every table column is on screen', () => {
    expect(page.clientWidth).toBe(WIDTH);
    expect(page.scrollWidth).toBeLessThanOrEqual(WIDTH);
    expect(page.pastViewport).toEqual([]);
    expect(page.overflowing).toEqual([]);
    const ids = page.tables.map((t) => t.id);
    for (const id of ['compare-table', 'comparison', 'cold-start', 'models-size', 'early-stopping', 'relative', 'step-times']) expect(ids).toContain(id);
    for (const t of page.tables) {
      expect(t.visibleColumns, `columns of table #${t.id}`).toBe(t.columns);
      expect(t.right, `table #${t.id}`).toBeLessThanOrEqual(Math.min(t.wrapRight, page.mainRight) + 0.5);
    }
  });

  it('draws every chart inside the page', () => {
    const classes = page.charts.map((c) => c.cls).join(' ');
    for (const id of ['chart-pretrain', 'chart-loss', 'chart-split-valid-auc', 'chart-split-valid-qauc', 'chart-split-valid-cold-auc', 'chart-final-auc', 'chart-final-cold-qauc', 'chart-bank', 'chart-step-time'])
      expect(classes).toContain(id);
    for (const c of page.charts) {
      expect(c.width, c.cls).toBeGreaterThan(300);
      expect(c.right, c.cls).toBeLessThanOrEqual(page.mainRight + 0.5);
      expect(c.empty, c.cls).toBe(false);
      if (c.kind === 'bar') expect(c.rects, c.cls).toBeGreaterThan(0);
      else {
        expect(c.lines, c.cls).toBeGreaterThan(0);
        expect(c.drawnLength, c.cls).toBeGreaterThan(0);
      }
      if (c.kind === 'strip') expect(c.dots, c.cls).toBe(21);
    }
    // Validation charts ring the best step of each of the 21 runs.
    const valid = page.charts.find((c) => c.cls.includes('chart-split-valid-qauc'))!;
    expect(valid.dots).toBeGreaterThanOrEqual(21);
  });

  it('takes a screenshot at 1400x900', async () => {
    const shot = await browser.send<{ data: string }>('Page.captureScreenshot', { format: 'png' }, session);
    const png = Buffer.from(shot.data, 'base64');
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(WIDTH);
    expect(png.readUInt32BE(20)).toBe(HEIGHT);
    if (process.env.REPORT_SCREENSHOT_DIR) {
      writeFileSync(join(dir, 'viewport.png'), png);
      await keepScreenshots('page');
    }
  });

  it('a small report (two models, one seed each, periodic test evaluations, no comparison) fits too', async () => {
    const r = seededReport();
    const models = ['dlrm-mlp-seed0', 'lemur-seed0'].map((name) => {
      const m = r.models.find((x) => x.name === name)!;
      const { group: _g, seed: _s, earlyStopping: _e, ...rest } = m;
      // --eval-every: evaluations on the test split over training, the last one the final.
      const evaluations = m.evaluations.map((e) => ({ ...e, split: 'test' })).filter((e) => e.step <= m.step);
      return { ...rest, name: name.replace('-seed0', ''), evaluations, final: evaluations.at(-1)! };
    });
    const file = join(dir, 'small.html');
    writeFileSync(file, renderHtml({ ...r, models, comparison: undefined }));
    const before = errors.length;
    const small = await load(file);
    expect(errors.slice(before)).toEqual([]);
    expect(small.sections[0]).toBe('models');
    expect(small.scrollWidth).toBeLessThanOrEqual(WIDTH);
    expect(small.pastViewport).toEqual([]);
    expect(small.overflowing).toEqual([]);
    for (const t of small.tables) expect(t.visibleColumns, `columns of table #${t.id}`).toBe(t.columns);
    const classes = small.charts.map((c) => c.cls).join(' ');
    for (const id of ['chart-loss', 'chart-auc', 'chart-qauc', 'chart-cold-auc', 'chart-final-auc', 'chart-bank']) expect(classes).toContain(id);
    expect(classes).not.toContain('chart-pretrain');
    for (const c of small.charts) {
      expect(c.empty, c.cls).toBe(false);
      expect(c.kind === 'bar' ? c.rects : c.drawnLength, c.cls).toBeGreaterThan(0);
    }
    await keepScreenshots('small');
  });
});
