#!/usr/bin/env node
// Training throughput: samples/s and the step-time breakdown (data, encoder, bank, backbone,
// backward, optimizer) of a preset, with history from the memory bank and with every
// history event re-encoded instead (what the bank saves).
//
//   node bench/train.mjs                       # default CPU config (the README's demo sizes)
//   node bench/train.mjs --device cuda --size gpu
//   options: --preset lemur --steps 30 --warmup 5 --batch 256 --history 50 --threads N --blas-threads N --json out.json
import { writeFileSync } from 'node:fs';

import { Lemur, setThreads } from '../dist/index.js';
import { cachedDataset, machine, parseArgs, table } from './common.mjs';

const args = parseArgs(process.argv.slice(2), {
  device: 'cpu',
  size: 'cpu',
  preset: 'lemur',
  steps: 30,
  warmup: 5,
  history: 50,
  sources: 'bank,encode',
});
if (args.threads || args.blasThreads) setThreads({ ...(args.threads ? { intraOp: args.threads } : {}), ...(args.blasThreads ? { blas: args.blasThreads } : {}) });

// Model sizes: 'cpu' = the library defaults; 'gpu' = closer to the paper's shapes.
const SIZES = {
  cpu: { batch: 256, docs: 3000, samples: 60000, config: {} },
  gpu: {
    batch: 2048,
    docs: 200000,
    samples: 400000,
    config: {
      embeddingDim: 128,
      docEncoder: { layers: 4, width: 256, heads: 8, ffnMult: 4 },
      queryEncoder: { layers: 2, width: 256, heads: 8, ffnMult: 4 },
      decoder: { layers: 2, heads: 8, queries: 4, width: 128 },
      longer: { layers: 2, heads: 8, width: 128 },
      backbone: { tokens: 16, width: 256, layers: 2 },
      encoderSampling: { forward: 0.2, backward: 0.2 },
      // bf16 bank rows: half the memory, and bank attention on tensor cores under bf16 autocast
      memoryBank: { dtype: 'bfloat16' },
    },
  },
};
const size = SIZES[args.size];
const batch = args.batch ?? size.batch;
const data = await cachedDataset({
  numDocuments: args.docs ?? size.docs,
  numSamples: args.samples ?? size.samples,
  historyLength: args.history,
  seed: 1,
});

const rows = [];
const results = [];
for (const history of String(args.sources).split(',')) {
  const model = await Lemur.create(data, {
    preset: args.preset,
    ...size.config,
    device: args.device,
    memoryBank: { ...size.config.memoryBank, history, stalenessProbe: 0 },
    train: { batchSize: batch, epochs: 1000 },
  });
  await model.fit({ steps: args.warmup, progressEvery: 1000 });
  const fit = await model.fit({ steps: args.steps, progressEvery: args.steps });
  const p = fit.progress.at(-1);
  const s = p.seconds;
  const ms = (x) => (x * 1000).toFixed(1);
  results.push({ preset: args.preset, history, device: args.device, batch, samplesPerSecond: p.samplesPerSecond, seconds: s });
  rows.push([args.preset, history, args.device, batch, p.samplesPerSecond.toFixed(0), ms(s.total), ms(s.data), ms(s.encoder), ms(s.bank), ms(s.backbone), ms(s.backward), ms(s.optimizer)]);
}
const m = machine();
console.log(`\n${m.date} · lemur ${m.lemur} · LibTorch ${m.torch} · ${m.threads} · CUDA: ${m.cuda} · ${data.manifest.numDocuments} docs, history <= ${args.history}\n`);
console.log(
  table(['preset', 'history', 'device', 'batch', 'samples/s', 'ms/step', 'data', 'encoder', 'bank', 'backbone', 'backward', 'optimizer'], rows),
);
const bank = results.find((r) => r.history === 'bank'), enc = results.find((r) => r.history === 'encode');
if (bank && enc) console.log(`\nmemory bank vs re-encoding every history event: ${(bank.samplesPerSecond / enc.samplesPerSecond).toFixed(2)}x samples/s`);
if (args.json) writeFileSync(args.json, JSON.stringify({ machine: m, results }, null, 2));
