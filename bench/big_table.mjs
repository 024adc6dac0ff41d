#!/usr/bin/env node
// An ID table larger than one would like in one process: dlrm-mlp with a user table of
// --rows rows (ids hashed into it), trained for a few steps by 1 process and by N workers
// with the table sharded row-wise. Reports each process's resident memory after training
// and the rows it holds: with N workers each holds 1/N of the table and its optimizer state.
//
//   node bench/big_table.mjs [--rows 20000000] [--workers 2] [--steps 20] [--sparse adam]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { Lemur, memoryStats, openDataset, setThreads } from '../dist/index.js';
import { cachedDatasetDir, machine, parseArgs, table } from './common.mjs';

if (process.env.LEMUR_BENCH_WORKER) {
  const o = JSON.parse(process.env.LEMUR_BENCH_WORKER);
  setThreads({ intraOp: 1 });
  const t0 = performance.now();
  const config = { preset: 'dlrm-mlp', features: { userBuckets: o.rows }, optim: { sparse: o.sparse }, train: { batchSize: 256, earlyStopping: { enabled: false } } };
  const lemur = await Lemur.create(openDataset(o.dir), config, { distributed: 'env' });
  const built = (performance.now() - t0) / 1000;
  const r = await lemur.fit({ steps: o.steps, progressEvery: o.steps });
  const out = { rank: Number(process.env.RANK ?? 0), idTableParameters: lemur.idTableParameters, rssMB: process.memoryUsage().rss / 2 ** 20, inUseMB: (memoryStats().inUse ?? 0) / 2 ** 20, buildSeconds: built, samplesPerSecond: r.samples / r.seconds };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

const args = parseArgs(process.argv.slice(2), { rows: 20_000_000, workers: 2, steps: 20, sparse: 'adam' });
const dir = await cachedDatasetDir({ numDocuments: 3000, numUsers: 600, numSamples: 60000, historyLength: 50, seed: 1 });
const self = fileURLToPath(import.meta.url);
const job = (n) => {
  const port = String(30500 + Math.floor(Math.random() * 400));
  const spec = { dir, rows: Number(args.rows), steps: Number(args.steps), sparse: String(args.sparse) };
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
  );
};
const n = Number(args.workers);
const one = await job(1);
const many = await job(n);
const m = machine();
console.log(`${m.date} · lemur ${m.lemur} · LibTorch ${m.torch} · dlrm-mlp, user table ${Number(args.rows).toLocaleString('en-US')} rows x 16, row-wise ${args.sparse}, ${args.steps} steps of batch 256`);
console.log();
console.log(
  table(
    ['processes', 'rank', 'ID-table parameters held', 'RSS MB', 'malloc in use MB', 'build s', 'samples/s'],
    [...one.map((r) => ['1', r.rank, r], ...[]), ...many.map((r) => [String(n), r.rank, r])].map(([p, rank, r]) => [
      p,
      rank,
      r.idTableParameters.toLocaleString('en-US'),
      r.rssMB.toFixed(0),
      r.inUseMB.toFixed(0),
      r.buildSeconds.toFixed(1),
      r.samplesPerSecond.toFixed(0),
    ]),
  ),
);
