#!/usr/bin/env node
// Data-parallel throughput and traffic: the lemur preset with 1 worker and with N workers
// on this machine (torch threads split so the cores are not oversubscribed), the step
// breakdown with its communication column, and the bytes each rank sends per step by kind
// (dense gradients, ID-table rows, bank writes, SQDC's gathered embeddings), measured at N
// and modelled for 8, 64 and 512 workers.
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
  const lemur = await Lemur.create(openDataset(o.dir), { preset: 'lemur', train: { batchSize: o.batch, earlyStopping: { enabled: false } } });
  if (process.env.WORLD_SIZE) await lemur.joinGroup('env');
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

function job(n) {
  const threads = Math.max(1, Math.floor(cores / n));
  const port = String(29900 + Math.floor(Math.random() * 500));
  const spec = { dir, threads, batch: Number(args.batch), steps: Number(args.steps), warmup: Number(args.warmup) };
  return Promise.all(
    Array.from({ length: n }, (_, r) =>
      new Promise((resolve, reject) => {
        const env = { ...process.env, LEMUR_BENCH_WORKER: JSON.stringify(spec), ...(n > 1 ? { RANK: String(r), WORLD_SIZE: String(n), MASTER_PORT: port } : {}) };
        const c = spawn(process.execPath, [self], { env, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`worker ${r} exited ${code}`))));
      }),
    ),
  ).then((ranks) => ({ n, threads, ranks }));
}

const n = Number(args.workers);
const runs = [await job(1), await job(n)];
const m = machine();
console.log(`${m.date} · lemur ${m.lemur} · LibTorch ${m.torch} · ${cores} cores · lemur preset, global batch ${args.batch}, ${args.steps} steps after ${args.warmup} warm-up`);
console.log();
const ms = (s) => (s * 1000).toFixed(1);
console.log(
  table(
    ['workers', 'threads each', 'samples/s', 'data', 'encoder', 'bank', 'backbone', 'backward', 'communication', 'optimizer', 'step (ms)'],
    runs.map(({ n, threads, ranks }) => {
      const t = ranks[0].times;
      return [n, threads, ranks[0].samplesPerSecond.toFixed(0), ms(t.data), ms(t.encoder), ms(t.bank), ms(t.backbone), ms(t.backward), ms(t.communication), ms(t.optimizer), ms(t.total)];
    }),
  ),
);
console.log('(step breakdown: rank 0, mean ms per step)');

// Bytes per rank per step. Dense: a ring allreduce sends 2 (N-1)/N of the gradients, so it
// stays flat as N grows. Tables, bank, SQDC: all-gathers of each rank's part, (N-1) x that
// part, at a fixed per-rank batch (weak scaling: the global batch grows with N).
const measured = runs[1].ranks[0].traffic;
const kinds = Object.keys(measured).filter((k) => !['start-up', 'stats'].includes(k));
const model = (kind, bytes, N) => {
  if (N === n) return bytes;
  if (kind === 'dense') return (bytes / ((2 * (n - 1)) / n)) * ((2 * (N - 1)) / N);
  if (kind === 'sqdc backward') return (bytes / ((2 * (n - 1)) / n) / n) * N * ((2 * (N - 1)) / N);  // allreduce of the world's [N B, e]
  return (bytes / (n - 1)) * (N - 1);
};
const mb = (b) => (b / 1e6).toFixed(b < 1e5 ? 3 : 2);
console.log();
console.log(table(['kind', `MB sent per step at ${n} (measured)`, '8 (modelled)', '64 (modelled)', '512 (modelled)'], kinds.map((k) => [k, mb(measured[k]), ...[8, 64, 512].map((N) => mb(model(k, measured[k], N)))])));
console.log(`(per-rank batch ${Number(args.batch) / n} held fixed in the model; replicated tables and bank)`);
if (args.json) writeFileSync(String(args.json), JSON.stringify({ machine: m, args, runs }, null, 2));
