#!/usr/bin/env node
// lemur vs its plain-PyTorch peer (bench/peer/lemur_peer), side by side: the same model (the
// `lemur` preset, resolved by lemur's own config code), the same generated data, the same
// protocol (N epochs of `train` with batch train.batchSize, shuffled per epoch, then `test`),
// over S seeds. Prints test AUC, QAUC, cold-start AUC (mean ± std over seeds), steady-state
// training samples/s, peak resident memory and thread counts of both processes.
//
//   node bench/peer/run.mjs [--docs 3000] [--samples 60000] [--history 50] [--data-seed 1]
//        [--epochs 1] [--seeds 2 | --seeds 0,1,2] [--threads <cores>] [--device cpu|cuda]
//        [--warmup 20] [--preset lemur] [--config '<json overrides>'] [--max-steps N]
//        [--only lemur|peer] [--check] [--no-parity] [--python /usr/bin/python3] [--json out.json]
//
// First (unless --no-parity) parity.mjs checks the port exactly on a small dataset: one
// training step from lemur's checkpointed state, and test scores of lemur's weights.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { info, openDataset } from '../../dist/index.js';
import { benchDir, cachedDatasetDir, parseArgs } from '../common.mjs';
import { exportForPeer } from './export.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));

const args = parseArgs(process.argv.slice(2), {
  docs: '3000',
  samples: '60000',
  history: '50',
  dataSeed: '1',
  epochs: '1',
  seeds: '2',
  threads: String(availableParallelism()),
  device: 'cpu',
  warmup: '20',
  preset: 'lemur',
  python: '/usr/bin/python3',
});
const seeds = String(args.seeds).includes(',') ? String(args.seeds).split(',').map(Number) : Array.from({ length: Number(args.seeds) }, (_, i) => i);
if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s) || s < 0)) {
  console.error(`--seeds: expected a count >= 1 (e.g. 2) or a list of seeds (e.g. 0,1), got ${args.seeds}`);
  process.exit(2);
}
const configInput = { preset: args.preset, ...(args.config ? JSON.parse(args.config) : {}) };
if (args.device !== 'cpu') configInput.device = args.device;

// The dataset: generated once per option set under bench/.cache.
const genOptions = { numDocuments: Number(args.docs), numSamples: Number(args.samples), historyLength: Number(args.history), seed: Number(args.dataSeed) };
const dataDir = await cachedDatasetDir(genOptions);
const name = basename(dataDir);
const exportDir = join(benchDir, '.cache', 'peer-export', name);
const meta = exportForPeer(openDataset(dataDir), exportDir, configInput);
console.error(`exported ${basename(dataDir)} for the peer to ${exportDir}`);

const threads = Number(args.threads);
// The same runtime settings for both: thread counts, and OpenMP's wait policy (lemur sets
// PASSIVE itself in lib/native.ts unless given; the peer does the same in peer.py).
const env = {
  ...process.env,
  OMP_NUM_THREADS: String(threads),
  OPENBLAS_NUM_THREADS: String(threads),
  MKL_NUM_THREADS: String(threads),
  OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE',
};
const common = ['--epochs', String(args.epochs), '--threads', String(threads), '--device', args.device, '--warmup', String(args.warmup)];
if (args.maxSteps) common.push('--max-steps', String(args.maxSteps));
if (args.check) common.push('--check');

// One process per seed on both sides: the peak memory is that of training one model, and no
// seed inherits another's allocator state (or, for Python, its garbage). The two sides take
// turns seed by seed (lemur seed 0, peer seed 0, lemur seed 1, ...): a VM whose speed drifts
// over minutes then slows both sides of a pair alike, and the per-seed ratios show the drift.
function runSeed(label, cmd, argv, seed) {
  const out = join(exportDir, `${label}.seed-${seed}.result.json`);
  const a = [...argv, '--seeds', String(seed), '--json', out];
  const t0 = performance.now();
  const r = spawnSync(cmd, a, { env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status ?? r.signal}): ${cmd} ${a.join(' ')}`);
  const res = JSON.parse(readFileSync(out, 'utf8'));
  for (const run of res.runs) run.maxRssKB = res.maxRssKB;
  res.wallSeconds = (performance.now() - t0) / 1000;
  return res;
}
function merge(parts) {
  if (parts.length === 0) return undefined;
  const merged = parts[0];
  for (const res of parts.slice(1)) {
    merged.runs.push(...res.runs);
    merged.maxRssKB = Math.max(merged.maxRssKB, res.maxRssKB);
    merged.wallSeconds += res.wallSeconds;
    if (res.cudaPeakBytes) merged.cudaPeakBytes = Math.max(merged.cudaPeakBytes ?? 0, res.cudaPeakBytes);
  }
  return merged;
}

const results = {};
if (!args.noParity && !args.check && args.only !== 'lemur' && args.only !== 'peer') {
  const parityJson = join(exportDir, 'parity.result.json');
  const r = spawnSync(process.execPath, [join(here, 'parity.mjs'), '--threads', String(threads), '--python', args.python, '--json', parityJson, ...(args.config ? ['--config', args.config] : [])], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  results.parity = existsSync(parityJson) ? JSON.parse(readFileSync(parityJson, 'utf8')) : { ok: false, error: `parity.mjs exit ${r.status}` };
}
const lemurArgv = [join(here, 'lemur.mjs'), '--dataset', dataDir, '--preset', args.preset, ...(args.config ? ['--config', args.config] : []), ...common];
const peerArgv = [join(here, 'peer.py'), '--export', exportDir, ...common];
const parts = { lemur: [], peer: [] };
for (const seed of args.check ? [seeds[0]] : seeds) {
  if (args.only !== 'peer') parts.lemur.push(runSeed('lemur', process.execPath, lemurArgv, seed));
  if (args.only !== 'lemur') parts.peer.push(runSeed('peer', args.python, peerArgv, seed));
}
results.lemur = merge(parts.lemur);
results.peer = merge(parts.peer);

// ------------------------------------------------------------------------------- report

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)) : NaN);
const stat = (xs) => ({ mean: mean(xs), std: std(xs), values: xs });
function summary(r) {
  if (!r || !r.runs?.length) return undefined;
  const runs = r.runs;
  return {
    auc: stat(runs.map((x) => x.evaluation.all.auc)),
    qauc: stat(runs.map((x) => x.evaluation.all.qauc.mean)),
    qaucWeighted: stat(runs.map((x) => x.evaluation.all.qauc.weighted)),
    coldAuc: stat(runs.map((x) => x.evaluation.coldStart?.auc ?? NaN)),
    logLoss: stat(runs.map((x) => x.evaluation.all.logLoss)),
    firstLoss: stat(runs.map((x) => x.loss[0])),
    first10Loss: stat(runs.map((x) => mean(x.loss.slice(0, 10)))),
    last10Loss: stat(runs.map((x) => mean(x.loss.slice(-10)))),
    samplesPerSecond: stat(runs.map((x) => x.samplesPerSecond)),
    trainSeconds: stat(runs.map((x) => x.trainSeconds)),
    steps: runs[0].steps,
    targetCoverage: stat(runs.map((x) => x.bankCoverage?.target ?? NaN)),
    historyCoverage: stat(runs.map((x) => x.bankCoverage?.history ?? NaN)),
  };
}
const S = { lemur: summary(results.lemur), peer: summary(results.peer) };
const cell = (s, digits = 4) => (s === undefined ? '—' : Number.isNaN(s.std) ? s.mean.toFixed(digits) : `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}`);
const diff = (k, digits = 4) => {
  if (!S.lemur || !S.peer) return '';
  const a = S.lemur[k], b = S.peer[k];
  const d = b.mean - a.mean;
  const se = Math.sqrt((a.std ** 2 + b.std ** 2) / seeds.length);
  return `${d >= 0 ? '+' : ''}${d.toFixed(digits)}${Number.isFinite(se) && se > 0 ? ` (${(Math.abs(d) / se).toFixed(1)} se)` : ''}`;
};
const rows = [];
const row = (label, k, digits) => rows.push([label, cell(S.lemur?.[k], digits), cell(S.peer?.[k], digits), diff(k, digits)]);
const i = info();
console.log(
  `\n${new Date().toISOString().slice(0, 10)} · lemur ${i.version} · ${meta.manifest.numDocuments} docs, ${meta.splits.train} train / ${meta.splits.test} test samples, history <= ${genOptions.historyLength} · ` +
    `preset ${args.preset}${args.config ? ` + ${args.config}` : ''} · ${args.epochs} epoch(s), batch ${meta.config.train.batchSize} · seeds ${seeds.join(',')} · ${args.device} · ${threads} threads\n`,
);
if (!args.check) {
  row('test AUC', 'auc');
  row('test QAUC', 'qauc');
  row('test QAUC (impression-weighted)', 'qaucWeighted');
  row('cold-start AUC', 'coldAuc');
  row('test log-loss', 'logLoss');
  row('train loss, step 1', 'firstLoss');
  row('train loss, steps 1-10', 'first10Loss');
  row('train loss, last 10 steps', 'last10Loss');
  row('bank coverage, targets', 'targetCoverage', 3);
  row('bank coverage, history', 'historyCoverage', 3);
  row(`samples/s (train, after ${args.warmup} steps)`, 'samplesPerSecond', 0);
  row('train wall seconds per seed', 'trainSeconds', 1);
}
const mb = (r) => (r ? `${(r.maxRssKB / 1024).toFixed(0)} MB` : '—');
rows.push(['peak RSS (one process per seed, max)', mb(results.lemur), mb(results.peer) + (results.peer?.cudaPeakBytes ? ` (+ CUDA ${(results.peer.cudaPeakBytes / 2 ** 20).toFixed(0)} MB)` : ''), '']);
rows.push([
  'torch threads',
  results.lemur ? `${results.lemur.threads.intraOp} intra-op, ${results.lemur.threads.blas} BLAS (${results.lemur.threads.blasLibrary})` : '—',
  results.peer ? `${results.peer.threads} (torch.get_num_threads), OPENBLAS_NUM_THREADS=${threads}` : '—',
  '',
]);
rows.push(['OMP_WAIT_POLICY', results.lemur?.ompWaitPolicy ?? '—', results.peer?.ompWaitPolicy ?? '—', '']);
rows.push(['LibTorch', results.lemur?.torch ?? '—', results.peer?.torch ?? '—', '']);
const pc = (r) => (r ? `${r.parameters.toLocaleString()} + ${r.idTableParameters.toLocaleString()} ID` : '—');
const same = results.lemur && results.peer && results.lemur.parameters === results.peer.parameters && results.lemur.idTableParameters === results.peer.idTableParameters;
rows.push(['parameters (dense + ID tables)', pc(results.lemur), pc(results.peer), results.lemur && results.peer ? (same ? 'equal' : 'DIFFER') : '']);
const line = (c) => `| ${c.join(' | ')} |`;
console.log([line(['', 'lemur', 'PyTorch peer', 'peer − lemur']), line(['---', '---', '---', '---']), ...rows.map(line)].join('\n'));
if (results.parity) {
  const p = results.parity;
  console.log(
    p.error
      ? `\nparity check: FAILED (${p.error})`
      : `\nparity check (${p.trainRows} train rows, one step from lemur's checkpoint): ${p.ok ? 'OK' : 'MISMATCH'}: loss ${p.loss.lemur.toFixed(6)} vs ${p.loss.peer.toFixed(6)}, ` +
          `parameter updates rel. error ${p.updateRelativeError.toExponential(1)}, bank rows ${p.bankMaxAbsDiff.toExponential(1)}, test scores of lemur's weights max |diff| ${p.testScores.maxAbsDiff.toExponential(1)}`,
  );
}
if (S.lemur && S.peer) {
  // each seed's pair ran back to back: its ratio is the one least moved by drift
  const paired = S.lemur.samplesPerSecond.values.map((v, k) => v / S.peer.samplesPerSecond.values[k]);
  console.log(
    `\nsamples/s: lemur ${(S.lemur.samplesPerSecond.mean / S.peer.samplesPerSecond.mean).toFixed(2)}x the peer ` +
      `(per seed, each pair run back to back: ${paired.map((r) => `${r.toFixed(2)}x`).join(', ')})`,
  );
  S.pairedRatios = paired;
}
if (results.lemur && results.peer && !same) console.log('\nWARNING: the parameter counts differ: the peer does not build the model lemur builds for this configuration');

if (args.json) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    args.json,
    JSON.stringify({ settings: { ...genOptions, dataset: dataDir, epochs: Number(args.epochs), seeds, threads, device: args.device, warmup: Number(args.warmup), config: configInput }, config: meta.config, native: meta.native, summary: S, parity: results.parity, lemur: results.lemur, peer: results.peer }, null, 1),
  );
  console.error(`wrote ${args.json}`);
}
mkdirSync(exportDir, { recursive: true });
