#!/usr/bin/env node
// Exact parity check of the peer against lemur, from identical state on identical data:
//  1. lemur: a fresh model (seed 0) with train.batchSize >= the train split, so that its one
//     batch is the whole split whatever the shuffle; checkpoint at step 0, one training step,
//     checkpoint at step 1, test scores.
//  2. the peer (parity.py) loads the step-0 checkpoint, takes one training step on the whole
//     train split, and compares with lemur's step: the loss, every parameter's update, the ID
//     table rows and the bank rows written; then loads the step-1 checkpoint and compares the
//     test scores row by row.
//
//   node bench/peer/parity.mjs [--docs 1000] [--samples 10000] [--history 50] [--config '<json>']
//        [--threads N] [--python /usr/bin/python3] [--json out.json]
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Lemur, openDataset, setThreads } from '../../dist/index.js';
import { cachedDatasetDir } from '../common.mjs';
import { exportForPeer } from './export.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const opt = (k, d) => {
  const i = process.argv.indexOf(`--${k}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const threads = Number(opt('threads', availableParallelism()));
setThreads({ intraOp: threads });
const gen = { numDocuments: Number(opt('docs', 1000)), numSamples: Number(opt('samples', 10000)), historyLength: Number(opt('history', 50)), seed: 1 };
const dataDir = await cachedDatasetDir(gen);
const name = basename(dataDir);
const data = openDataset(dataDir);
const rows = data.splits.train.rows;
const overrides = opt('config') ? JSON.parse(opt('config')) : {};
const config = { preset: 'lemur', ...overrides, seed: 0, train: { ...(overrides.train ?? {}), batchSize: rows } };

const work = join(here, '..', '.cache', 'peer-parity', name);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
exportForPeer(data, join(work, 'export'), config);
const model = await Lemur.create(data, config);
const ck0 = await model.save(join(work, 'step0'), { keep: 1 });
const losses = [];
await model.fit({ steps: 1, earlyStopping: false, progressEvery: 1, onProgress: (p) => losses.push({ loss: p.loss, bce: p.bce, sqdc: p.sqdc }) });
const ck1 = await model.save(join(work, 'step1'), { keep: 1 });
const ev = await model.evaluate('test', { scores: true });
writeFileSync(join(work, 'lemur-scores.f32'), Buffer.from(ev.scores.buffer, ev.scores.byteOffset, ev.scores.byteLength));
writeFileSync(join(work, 'lemur-step.json'), JSON.stringify({ ...losses[0], auc: ev.all.auc, qauc: ev.all.qauc.mean }));
console.error(`[parity] lemur: one step over all ${rows} train rows, loss ${losses[0].loss.toFixed(6)}; checkpoints in ${work}`);

const out = opt('json', join(work, 'parity.json'));
const r = spawnSync(
  opt('python', '/usr/bin/python3'),
  [join(here, 'parity.py'), '--export', join(work, 'export'), '--step0', join(ck0, 'model.pt'), '--step1', join(ck1, 'model.pt'), '--lemur-step', join(work, 'lemur-step.json'), '--lemur-scores', join(work, 'lemur-scores.f32'), '--threads', String(threads), '--json', out],
  { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' } },
);
process.exit(r.status ?? 1);
