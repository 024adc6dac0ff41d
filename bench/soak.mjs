#!/usr/bin/env node
// Soak: a long `lemur`-preset run on small generated data, with evaluation and checkpoint
// cycles, sampling resident memory (RSS), the JS heap and the native allocator (glibc
// malloc: bytes in use, free bytes it holds; the CPU tensor cache's free blocks, counted in
// "in use") over time. After a warm-up, RSS and native
// bytes in use should be flat: the slope over the second half of the run is reported.
//
//   node bench/soak.mjs [--steps 20000 --batch 128 --every 500 --eval-every 5000 --checkpoint-every 5000]
//   options: --docs 1000 --samples 20000 --history 50 --threads N --json out.json
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Lemur, memoryStats, setThreads } from '../dist/index.js';
import { cachedDataset, machine, parseArgs, table } from './common.mjs';

const args = parseArgs(process.argv.slice(2), { steps: 20000, batch: 128, every: 500, evalEvery: 5000, checkpointEvery: 5000, docs: 1000, samples: 20000, history: 50 });
if (args.threads) setThreads({ intraOp: args.threads });
const data = await cachedDataset({ numDocuments: args.docs, numUsers: 300, numSamples: args.samples, historyLength: args.history, seed: 1 });
const model = await Lemur.create(data, { preset: 'lemur', train: { batchSize: args.batch, epochs: 1_000_000 } });
const ckdir = mkdtempSync(join(tmpdir(), 'lemur-soak-'));
const mb = (x) => x / 2 ** 20;

const samples = [];
const sample = (what) => {
  const m = process.memoryUsage();
  const n = memoryStats();
  const s = { step: model.step, what, seconds: (performance.now() - t0) / 1000, rss: mb(m.rss), heap: mb(m.heapUsed), external: mb(m.external), nativeInUse: mb(n.inUse ?? NaN), nativeFree: mb(n.free ?? NaN), tensorCache: mb(n.tensorCache?.cached ?? 0) };
  samples.push(s);
  console.error(`${String(s.step).padStart(6)} ${what.padEnd(10)} RSS ${s.rss.toFixed(0)} MB, native in use ${s.nativeInUse.toFixed(0)} MB (tensor cache ${s.tensorCache.toFixed(0)}; +${s.nativeFree.toFixed(0)} free), JS heap ${s.heap.toFixed(0)} MB, ${s.seconds.toFixed(0)} s`);
};

const t0 = performance.now();
sample('start');
let evaluations = 0;
let checkpoints = 0;
try {
  while (model.step < args.steps) {
    await model.fit({ steps: Math.min(args.every, args.steps - model.step), earlyStopping: false, progressEvery: 1_000_000 });
    sample('train');
    if (model.step % args.evalEvery === 0) {
      await model.evaluate('test');
      evaluations++;
      sample('evaluate');
    }
    if (model.step % args.checkpointEvery === 0) {
      await model.save(ckdir, { keep: 2 });
      checkpoints++;
      sample('checkpoint');
    }
  }
} finally {
  rmSync(ckdir, { recursive: true, force: true });
}

// Slope over the second half (after warm-up), MB per 1,000 steps, by least squares.
const half = samples.filter((s) => s.step >= args.steps / 2);
const slope = (key) => {
  const n = half.length;
  const mx = half.reduce((a, s) => a + s.step, 0) / n;
  const my = half.reduce((a, s) => a + s[key], 0) / n;
  const num = half.reduce((a, s) => a + (s.step - mx) * (s[key] - my), 0);
  const den = half.reduce((a, s) => a + (s.step - mx) ** 2, 0);
  return den > 0 ? (num / den) * 1000 : NaN;
};
const m = machine();
console.log(`\n${m.date} · lemur ${m.lemur} · LibTorch ${m.torch} · ${m.threads} · ${args.steps} steps of batch ${args.batch}, ${evaluations} evaluations, ${checkpoints} checkpoints, ${Math.round((performance.now() - t0) / 1000)} s\n`);
const pick = samples.filter((s, i) => i === 0 || s.step % Math.max(args.every, Math.round(args.steps / 10 / args.every) * args.every) === 0 || i === samples.length - 1);
console.log(table(['step', 'after', 'RSS MB', 'native in use MB', 'of it tensor cache MB', 'native free MB', 'JS heap MB'], pick.map((s) => [s.step, s.what, s.rss.toFixed(0), s.nativeInUse.toFixed(0), s.tensorCache.toFixed(0), s.nativeFree.toFixed(0), s.heap.toFixed(0)])));
console.log(`\nsecond half (steps ${args.steps / 2}..${args.steps}): RSS ${slope('rss').toFixed(2)} MB / 1,000 steps, native in use ${slope('nativeInUse').toFixed(2)} MB / 1,000 steps, JS heap ${slope('heap').toFixed(2)} MB / 1,000 steps`);
if (args.json) writeFileSync(args.json, JSON.stringify({ machine: m, args, samples, slopes: { rss: slope('rss'), nativeInUse: slope('nativeInUse'), heap: slope('heap') } }, null, 2));
