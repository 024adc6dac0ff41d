#!/usr/bin/env node
// Data pipeline throughput: the native loader's batches/s, samples/s and history events/s on
// a large generated dataset (shuffled, histories truncated per view), with nothing consuming
// but the timer. A training step must never wait on this.
//
//   node bench/data.mjs [--samples 1000000 --history 200 --batch 2048 --batches 200]
import { native, openDataset } from '../dist/index.js';
import { cachedDatasetDir, machine, parseArgs, table } from './common.mjs';

const args = parseArgs(process.argv.slice(2), { samples: 1_000_000, docs: 20000, users: 10000, history: 200, batch: 2048, batches: 200 });
const dir = await cachedDatasetDir({ numDocuments: args.docs, numUsers: args.users, numSamples: args.samples, historyLength: args.history, seed: 1 });
let t0 = performance.now();
const data = await openDataset(dir);
const openSeconds = (performance.now() - t0) / 1000;
const addon = native();
t0 = performance.now();
const samples = new addon.Samples(data.splits.train, data.manifest.numDocuments, 'train');
const checkSeconds = (performance.now() - t0) / 1000;
const rows = [];
for (const prefetch of [1, 4]) {
  const loader = new addon.Loader(samples, {
    batchSize: args.batch,
    shuffle: true,
    seed: 1,
    prefetch,
    views: data.manifest.sequences.map((s) => ({ name: s.name, column: s.name, maxLength: s.maxLength, action: s.action, age: s.age })),
  });
  const r = await loader.drain(args.batches);
  loader.close();
  rows.push([args.batch, prefetch, (r.batches / r.seconds).toFixed(0), (r.samples / r.seconds / 1e6).toFixed(2) + ' M', (r.events / r.seconds / 1e6).toFixed(1) + ' M', ((r.seconds / r.batches) * 1000).toFixed(2)]);
}
const m = machine();
console.log(`\n${m.date} · lemur ${m.lemur} · ${m.threads} · ${data.splits.train.rows} train rows, histories <= ${args.history}`);
console.log(`openDataset (read + validate): ${openSeconds.toFixed(2)} s, native column checks: ${checkSeconds.toFixed(2)} s\n`);
console.log(table(['batch', 'prefetch', 'batches/s', 'samples/s', 'history events/s', 'ms/batch'], rows));
