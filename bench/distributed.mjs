#!/usr/bin/env node
// Data-parallel throughput and traffic: the lemur preset with 1 worker and with N workers
// on this machine (torch threads split so the cores are not oversubscribed), the step
// breakdown with its communication column, and the bytes each rank sends per step by kind
// (dense gradients, ID-table rows, bank writes, SQDC's gathered embeddings), measured at N
// and modelled for 8, 64 and 512 workers; for ID tables and bank sharded (the default) and
// replicated.
//
//   node bench/distributed.mjs [--workers 2] [--steps 60] [--batch 256] [--json out.json]
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Lemur, openDataset, setThreads } from '../dist/index.js';
import { cachedDatasetDir, machine, parseArgs, table } from './common.mjs';

const DATA = { numDocuments: 3000, numUsers: 600, numSamples: 60000, historyLength: 50, seed: 1 };

if (process.env.LEMUR_BENCH_WORKER) {
  // A worker: train, then report the mean step times (after warm-up) and traffic per step.
  const o = JSON.parse(process.env.LEMUR_BENCH_WORKER);
  setThreads({ intraOp: o.threads });
  const lemur = await Lemur.create(openDataset(o.dir), { preset: 'lemur', train: { batchSize: o.batch, earlyStopping: { enabled: false } } }, { distributed: 'env' });
  await lemur.fit({ steps: o.warmup, progressEvery: o.warmup });
  if (lemur.distributed) await lemur.traffic({ reset: true });
  const r = await lemur.fit({ steps: o.steps, progressEvery: o.steps });
  const p = r.progress.at(-1);
  const traffic = lemur.distributed ? await lemur.traffic() : {};
  const out = { rank: Number(process.env.RANK ?? 0), samplesPerSecond: (o.steps * o.batch) / r.seconds, times: p.seconds, traffic: Object.fromEntries(Object.entries(traffic).map(([k, v]) => [k, v / o.steps])) };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

const args = parseArgs(process.argv.slice(2), { workers: 2, steps: 60, batch: 256, warmup: 5 });
const dir = await cachedDatasetDir(DATA);
const cores = availableParallelism();
const self = fileURLToPath(import.meta.url);

function job(n, layout = 'sharded', overlap = true) {
  const threads = Math.max(1, Math.floor(cores / n));
  const port = String(29900 + Math.floor(Math.random() * 500));
  const spec = { dir, threads, batch: Number(args.batch), steps: Number(args.steps), warmup: Number(args.warmup) };
  return Promise.all(
    Array.from({ length: n }, (_, r) =>
      new Promise((resolve, reject) => {
        const env = { ...process.env, LEMUR_BENCH_WORKER: JSON.stringify(spec), ...(n > 1 ? { RANK: String(r), WORLD_SIZE: String(n), MASTER_PORT: port, LEMUR_DIST_TABLES: layout, LEMUR_DIST_BANK: layout, LEMUR_DIST_OVERLAP: overlap ? '1' : '0' } : {}) };
        const c = spawn(process.execPath, [self], { env, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`worker ${r} exited ${code}`))));
      }),
    ),
  ).then((ranks) => ({ n, threads, layout: n > 1 ? layout : '-', overlap: n > 1 ? (overlap ? 'yes' : 'no') : '-', ranks }));
}

const n = Number(args.workers);
const runs = [await job(1), await job(n, 'sharded'), await job(n, 'sharded', false), await job(n, 'replicated')];
const m = machine();
console.log(`${m.date} · lemur ${m.lemur} · LibTorch ${m.torch} · ${cores} cores · lemur preset, global batch ${args.batch}, ${args.steps} steps after ${args.warmup} warm-up`);
console.log();
const ms = (s) => (s * 1000).toFixed(1);
console.log(
  table(
    ['workers', 'tables and bank', 'overlap', 'threads each', 'samples/s', 'data', 'encoder', 'bank', 'backbone', 'backward', 'communication', 'optimizer', 'step (ms)'],
    runs.map(({ n, threads, layout, overlap, ranks }) => {
      const t = ranks[0].times;
      return [n, layout, overlap, threads, ranks[0].samplesPerSecond.toFixed(0), ms(t.data), ms(t.encoder), ms(t.bank), ms(t.backbone), ms(t.backward), ms(t.communication), ms(t.optimizer), ms(t.total)];
    }),
  ),
);
console.log('(step breakdown: rank 0, mean ms per step; communication = the exchanges after backward; the lookups\' and bank reads\' all-to-alls are inside encoder / bank / backbone)');

// Bytes per rank per step, at a fixed per-rank batch (the global batch grows with N):
//   ring allreduce (dense gradients): 2 (N-1)/N of the gradients, flat in N;
//   all-to-all (sharded tables and bank, the dedup's rows): each rank sends the rows it needs
//     from, or serves to, the others, (N-1)/N of its own traffic: flat in N;
//   all-gather (replicated tables and bank, SQDC's negatives, the dedup's id lists,
//     evaluation scores): (N-1) x this rank's part, linear in N;
//   SQDC's backward: an allreduce of the world's [N x B, e] gradients, linear in N.
const scale = (kind, layout, N) => {
  if (kind === 'dense') return (2 * (N - 1)) / N;
  if (kind === 'sqdc backward') return 2 * (N - 1);
  const allToAll = kind.startsWith('dedup rows') || ((kind.startsWith('tables') || kind.startsWith('bank')) && layout === 'sharded');
  return allToAll ? (N - 1) / N : N - 1;
};
const mb = (b) => (b / 1e6).toFixed(b < 1e5 ? 3 : 2);
for (const run of [runs[1], runs[3]]) {
  const measured = run.ranks[0].traffic;
  const kinds = Object.keys(measured).filter((k) => !['start-up', 'stats', 'checkpoint', 'evaluation'].includes(k));
  const at = (k, N) => (measured[k] / scale(k, run.layout, n)) * scale(k, run.layout, N);
  const total = (N) => kinds.reduce((a, k) => a + at(k, N), 0);
  console.log();
  console.log(`${run.layout} tables and bank: MB sent by one rank per step`);
  console.log(table(['kind', `${n} (measured)`, '8 (modelled)', '64 (modelled)', '512 (modelled)'], [...kinds.map((k) => [k, mb(measured[k]), ...[8, 64, 512].map((N) => mb(at(k, N)))]), ['total', mb(total(n)), ...[8, 64, 512].map((N) => mb(total(N)))]]));
}
console.log(`(per-rank batch ${Number(args.batch) / n} held fixed in the model)`);
if (args.json) writeFileSync(String(args.json), JSON.stringify({ machine: m, args, runs }, null, 2));
