// The command line end to end on tiny generated data: generate, train (a comparison of two
// presets), eval from the checkpoint, resume, the report files, errors and Ctrl-C.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeMiniMovielens } from '../data/fixtures.js';
import { collect, runCli, spawnCli, tempDir, TINY_SETS } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const data = join(tmp.dir, 'data');
const run = join(tmp.dir, 'run');
const report = join(tmp.dir, 'report');

interface ReportJson {
  format: string;
  command: string;
  split: string;
  dataset: { name: string; numDocuments: number; stats: Record<string, { rows: number }> };
  versions: { lemur: string; torch: string };
  machine: { cores: number; devices: string[] };
  models: {
    name: string;
    step: number;
    parameters: number;
    final: { all: { auc: number; qauc: { mean: number } }; coldStart?: { auc: number } };
    progress: { step: number; loss: number; bank?: { targetCoverage: number } }[];
    evaluations: { step: number }[];
    timings: { trainSeconds: number; meanStep?: Record<string, number>; fits: { startStep: number; endStep: number }[] };
    config: { embeddingDim: number; preset: string };
  }[];
}

const readReport = (dir: string) => JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as ReportJson;

/** A one-line error: `lemur: ...`, no stack trace. */
function expectOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^lemur: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  const r = await runCli(['generate', data, '--docs', '300', '--users', '60', '--samples', '3000', '--history', '12', '--seed', '5']);
  expect(r.stderr).toContain('generating');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/wrote .* 300 documents, 60 users/);
});

describe('lemur CLI', () => {
  it('info prints the build', async () => {
    const r = await runCli(['info', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).torch.version).toBeTruthy();
    const text = await runCli(['info']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/threads: intra-op (\d+), .* cores; lemur's kernels on \1\n/);  // the kernels follow intra-op
  });

  it('trains two presets one after the other, prints the table and writes the report', async () => {
    const r = await runCli([
      'train', '--data', data, '--preset', 'dlrm-mlp', 'lemur', ...TINY_SETS,
      '--batch-size', '128', '--epochs', '1', '--checkpoint', run, '--report', report,
      '--eval-every', '10', '--progress-every', '5', '--threads', '2', '--no-early-stopping',
    ]);
    if (r.code !== 0) console.log(r.stdout, r.stderr);
    expect(r.code).toBe(0);
    // Non-TTY progress: plain lines with step/total, samples/s, loss, ETA; bank coverage for lemur.
    expect(r.stderr).toMatch(/dlrm-mlp: step +\d+\/\d+ .*loss \d\.\d+ .*samples\/s .*ETA/);
    expect(r.stderr).toMatch(/lemur: step +\d+\/\d+ .*bank \d+%\/\d+%/);
    expect(r.stderr).toMatch(/lemur: test at step \d+: AUC 0\.\d+/);
    // The final table.
    const table = r.stdout.split('\n');
    const head = table.find((l) => l.startsWith('model'))!;
    for (const col of ['AUC', 'QAUC', 'UAUC', 'log-loss', 'cold-start AUC', 'cold-start QAUC', 'train time']) expect(head).toContain(col);
    expect(table.some((l) => /^dlrm-mlp\s+0\.\d{4}\s+0\.\d{4}/.test(l))).toBe(true);
    expect(table.some((l) => /^lemur\s+0\.\d{4}\s+0\.\d{4}/.test(l))).toBe(true);
    expect(r.stdout).toContain(`report: ${join(report, 'index.html')}`);

    // Checkpoints: the run plan and a folder per model.
    expect(existsSync(join(run, 'run.json'))).toBe(true);
    for (const m of ['dlrm-mlp', 'lemur']) {
      expect(existsSync(join(run, m, 'LATEST'))).toBe(true);
      expect(existsSync(join(run, m, 'history.json'))).toBe(true);
    }

    // metrics.json
    const j = readReport(report);
    expect(j.format).toBe('lemur-report');
    expect(j.command).toBe('train');
    expect(j.dataset.numDocuments).toBe(300);
    expect(j.versions.torch).toBeTruthy();
    expect(j.machine.cores).toBeGreaterThan(0);
    expect(j.machine.devices).toEqual(['cpu']);
    expect(j.models.map((m) => m.name)).toEqual(['dlrm-mlp', 'lemur']);
    for (const m of j.models) {
      expect(m.config.embeddingDim).toBe(16);
      expect(m.final.all.auc).toBeGreaterThan(0);
      expect(m.final.coldStart?.auc).toBeGreaterThan(0);
      expect(m.progress.length).toBeGreaterThan(2);
      expect(m.evaluations.length).toBeGreaterThanOrEqual(2);
      expect(m.timings.meanStep?.total).toBeGreaterThan(0);
      expect(m.step).toBe(m.progress.at(-1)!.step);
    }
    expect(j.models[1]!.progress.some((p) => p.bank && p.bank.targetCoverage >= 0)).toBe(true);

    // index.html: self-contained, with the charts and the comparison table.
    const html = readFileSync(join(report, 'index.html'), 'utf8');
    for (const id of ['chart-loss', 'chart-auc', 'chart-cold-auc', 'chart-bank', 'chart-step-time', 'id="comparison"', 'id="relative"'])
      expect(html).toContain(id);
    expect(html).toMatch(/<td class="best">0\.\d{4}<\/td>/);
    expect(html).toMatch(/<path class="line" d="M[\d.]+ [\d.]+L/);
    expect(html).not.toMatch(/<script|<link|src=|@import|url\(/i);
    expect(readdirSync(tmp.dir).filter((e) => e.includes('.tmp-'))).toEqual([]);
  });

  it('evaluates the saved run, with its training history in the report', async () => {
    const out = join(tmp.dir, 'eval-report');
    const r = await runCli(['eval', '--checkpoint', run, '--report', out]);
    if (r.code !== 0) console.log(r.stdout, r.stderr);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^lemur\s+0\.\d{4}/m);
    expect(r.stdout).toMatch(/^dlrm-mlp\s+0\.\d{4}/m);
    const j = readReport(out);
    const trained = readReport(report);
    expect(j.command).toBe('eval');
    expect(j.models.map((m) => m.name)).toEqual(['dlrm-mlp', 'lemur']);
    // Same weights, same data: the same AUC as the training run's final evaluation.
    for (let i = 0; i < 2; i++) expect(j.models[i]!.final.all.auc).toBeCloseTo(trained.models[i]!.final.all.auc, 6);
    expect(j.models[1]!.progress.length).toBe(trained.models[1]!.progress.length);
    // One model's checkpoint folder works too.
    const one = await runCli(['eval', '--checkpoint', join(run, 'lemur'), '--data', data, '--no-report']);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^lemur\s+0\.\d{4}/m);
  });

  it('--resume continues the run where it stopped', async () => {
    const out = join(tmp.dir, 'resume-report');
    const before = readReport(report);
    const r = await runCli(['train', '--resume', '--checkpoint', run, '--epochs', '2', '--report', out, '--progress-every', '5']);
    if (r.code !== 0) console.log(r.stdout, r.stderr);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/resuming dlrm-mlp at step \d+ \(epoch 2\)/);
    const j = readReport(out);
    for (let i = 0; i < 2; i++) {
      const m = j.models[i]!;
      const b = before.models[i]!;
      expect(m.step).toBeGreaterThan(b.step);
      expect(m.timings.fits).toHaveLength(2);
      expect(m.timings.fits[1]!.startStep).toBe(b.step);
      // The history carries on: the earlier progress, then the new.
      expect(m.progress.slice(0, b.progress.length).map((p) => p.step)).toEqual(b.progress.map((p) => p.step));
      expect(m.progress.at(-1)!.step).toBe(m.step);
    }
  });

  it('--auto-resume: one command starts the run, then continues it after a restart; another configuration is refused', async () => {
    const ck = join(tmp.dir, 'auto');
    const cmd = (steps: number, ...extra: string[]) =>
      runCli(['train', '--data', data, '--preset', 'dlrm-mlp', '--batch-size', '128', '--no-early-stopping', '--no-report', '--checkpoint', ck, '--auto-resume', '--steps', String(steps), ...extra]);
    const first = await cmd(4);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).not.toMatch(/continuing the run/);
    expect(existsSync(join(ck, 'dlrm-mlp', 'step-000000004'))).toBe(true);
    const again = await cmd(7);  // the same command (a launcher's restart), a later step budget
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/continuing the run in .*auto \(--auto-resume\)/);
    expect(again.stderr).toMatch(/resuming dlrm-mlp at step 4/);
    expect(existsSync(join(ck, 'dlrm-mlp', 'step-000000007'))).toBe(true);
    const other = await cmd(9, '--set', 'embeddingDim=8');
    expect(other.code).toBe(1);
    expectOneLineError(other.stderr, /--auto-resume: .* holds a run of another configuration or dataset than this command's/);
    expect(existsSync(join(ck, 'dlrm-mlp', 'step-000000007'))).toBe(true);  // untouched
    const both = await cmd(9, '--resume');
    expect(both.code).toBe(2);
  });

  it('--seeds: every model over several seeds with early stopping on valid, then mean ± std and paired intervals', async () => {
    const out = join(tmp.dir, 'seeds-report');
    const r = await runCli([
      'train', '--data', data, '--preset', 'dlrm-mlp', 'rankmixer', ...TINY_SETS, '--batch-size', '128',
      '--epochs', '4', '--patience', '2', '--seeds', '2', '--report', out, '--threads', '2',
    ]);
    if (r.code !== 0) console.log(r.stdout, r.stderr);
    expect(r.code).toBe(0);
    // early stopping reports each validation evaluation and where it stops
    expect(r.stderr).toMatch(/dlrm-mlp-seed0: valid qauc 0\.\d{4} at step \d+ \(best so far\)/);
    // the test split is evaluated once per model, at the end
    expect(r.stderr.match(/dlrm-mlp-seed0: test at step/g)).toHaveLength(1);
    expect(r.stdout).toMatch(/ΔQAUC vs dlrm-mlp/);
    expect(r.stdout).toMatch(/^dlrm-mlp\s+0\.\d{4} ± 0\.\d{4}/m);
    expect(r.stdout).toMatch(/^rankmixer\s+0\.\d{4} ± 0\.\d{4}.*[-+]0\.\d{4} \[[-+]0\.\d{4}, [-+]0\.\d{4}\]/m);
    expect(r.stdout).toMatch(/95% paired bootstrap interval over queries/);
    const j = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as ReportJson & {
      comparison: { baseline: string; models: { name: string; runs: string[]; all: { qauc: { n: number } }; vsBaseline?: { all: { metric: string; low: number; high: number }[] } }[] };
    };
    expect(j.models.map((m) => m.name)).toEqual(['dlrm-mlp-seed0', 'dlrm-mlp-seed1', 'rankmixer-seed0', 'rankmixer-seed1']);
    expect(j.comparison.baseline).toBe('dlrm-mlp');
    expect(j.comparison.models.map((m) => [m.name, m.runs.length, m.all.qauc.n])).toEqual([['dlrm-mlp', 2, 2], ['rankmixer', 2, 2]]);
    const d = j.comparison.models[1]!.vsBaseline!.all.find((x) => x.metric === 'qauc')!;
    expect(d.low).toBeLessThanOrEqual(d.high);
    // the seeds differ: different initializations, different scores
    expect(j.models[0]!.final.all.auc).not.toBe(j.models[1]!.final.all.auc);
  });

  it('bad arguments: one line, exit 2 for usage and 1 for errors', async () => {
    const unknownOption = await runCli(['train', '--data', data, '--bogus']);
    expect(unknownOption.code).toBe(2);
    expectOneLineError(unknownOption.stderr, /unknown option '--bogus'/);

    const missing = await runCli(['generate']);
    expect(missing.code).toBe(2);
    expectOneLineError(missing.stderr, /missing required argument 'out'/);

    const notInt = await runCli(['generate', join(tmp.dir, 'x'), '--docs', 'many']);
    expect(notInt.code).toBe(2);
    expectOneLineError(notInt.stderr, /--docs.*positive integer/);

    const preset = await runCli(['train', '--data', data, '--preset', 'nope']);
    expect(preset.code).toBe(2);
    expectOneLineError(preset.stderr, /unknown preset 'nope' \(known: dlrm-mlp,/);

    const noData = await runCli(['train', '--data', join(tmp.dir, 'nowhere'), '--no-report']);
    expect(noData.code).toBe(1);
    expectOneLineError(noData.stderr, /nowhere: no such dataset folder/);

    const badConfig = await runCli(['train', '--data', data, '--set', 'backbone.width=wide', '--no-report']);
    expect(badConfig.code).toBe(1);
    expectOneLineError(badConfig.stderr, /config\.backbone\.width: must be a positive integer, got "wide"/);

    const unknownField = await runCli(['train', '--data', data, '--set', 'backbone.depth=3', '--no-report']);
    expect(unknownField.code).toBe(1);
    expectOneLineError(unknownField.stderr, /config\.backbone\.depth: unknown field/);

    const exists = await runCli(['train', '--data', data, '--preset', 'dlrm-mlp', '--checkpoint', run, '--no-report']);
    expect(exists.code).toBe(1);
    expectOneLineError(exists.stderr, /already holds a run .*--resume continues it, --overwrite starts over/);

    const debug = await runCli(['eval', '--checkpoint', join(tmp.dir, 'nowhere')], { LEMUR_DEBUG: '1' });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^lemur: .*nowhere: no such checkpoint folder\n/);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('import movielens: a MovieLens folder into a dataset; a missing source in one line', async () => {
    const source = join(tmp.dir, 'mini-movielens');
    await writeMiniMovielens(source);
    const out = join(tmp.dir, 'ml');
    const r = await runCli(['import', 'movielens', source, out, '--history', '5', '--image-size', '8']);
    if (r.code !== 0) console.log(r.stdout, r.stderr);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote .*ml in .*: 6 documents, 4 users, images; train \d+ rows/);
    expect(r.stderr).toMatch(/lemur: warning: .*corrupt/);
    expect(existsSync(join(out, 'dataset.json'))).toBe(true);
    const again = await runCli(['import', 'movielens', source, out, '--no-posters']);
    expect(again.code).toBe(1);
    expectOneLineError(again.stderr, /ml already exists: pass --overwrite to replace it/);
    const plain = await runCli(['import', 'movielens', source, out, '--no-posters', '--overwrite']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toContain('images');

    const missing = await runCli(['import', 'movielens', join(tmp.dir, 'no-movielens'), join(tmp.dir, 'ml2')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n').at(-1)).toMatch(/^lemur: .*no-movielens/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  });

  it('Ctrl-C stops training, saves a checkpoint that loads, and exits 130', async () => {
    const ck = join(tmp.dir, 'interrupted');
    const child = spawnCli([
      'train', '--data', data, '--preset', 'lemur', ...TINY_SETS, '--epochs', '500',
      '--checkpoint', ck, '--progress-every', '1', '--eval-every', '0', '--no-report', '--threads', '2',
    ]);
    const done = collect(child);
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`no progress line: ${seen}`)), 90_000);
      child.stderr!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/lemur: step +\d+\//.test(seen)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/stopping after this step and saving a checkpoint/);
    expect(r.stderr).toMatch(/lemur: interrupted at step \d+; checkpoint saved in .*step-\d+/);
    expect(r.stderr).toMatch(/continue with: lemur train --resume --checkpoint/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const ev = await runCli(['eval', '--checkpoint', ck, '--no-report']);
    if (ev.code !== 0) console.log(ev.stdout, ev.stderr);
    expect(ev.code).toBe(0);
    expect(ev.stdout).toMatch(/^lemur\s+0\.\d{4}/m);
    // ...and training continues from it (to the end of the first epoch: a few steps).
    const step = Number(/interrupted at step (\d+)/.exec(r.stderr)![1]);
    const resumed = await runCli(['train', '--resume', '--checkpoint', ck, '--epochs', '1', '--no-report']);
    if (resumed.code !== 0) console.log(resumed.stdout, resumed.stderr);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`resuming lemur at step ${step} (epoch 1)`);
    expect(resumed.stdout).toMatch(/^lemur\s+0\.\d{4}/m);
  });
});
