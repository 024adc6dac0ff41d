#!/usr/bin/env node
// Step time of the lemur preset (history from the bank) in chunks: best and median ms per
// step over `--chunks` runs of `--chunk` steps, after 5 warm-up steps. On a machine whose
// speed drifts (a shared VM), the spread of the chunks shows the drift instead of hiding it
// in a mean; run two settings alternately to compare them.
//
//   node bench/step-time.mjs [--threads N] [--blas-threads N] [--chunks 12] [--chunk 10] [--label X]
import { Lemur, info, setThreads } from '../dist/index.js';
import { cachedDataset, parseArgs } from './common.mjs';

const args = parseArgs(process.argv.slice(2), { chunks: 12, chunk: 10, label: '' });
if (args.threads || args.blasThreads) setThreads({ ...(args.threads ? { intraOp: args.threads } : {}), ...(args.blasThreads ? { blas: args.blasThreads } : {}) });
const data = await cachedDataset({ numDocuments: 3000, numSamples: 60000, historyLength: 50, seed: 1 });
const model = await Lemur.create(data, { preset: 'lemur', memoryBank: { history: 'bank', stalenessProbe: 0 }, train: { batchSize: 256, epochs: 1000 } });
await model.fit({ steps: 5, progressEvery: 1000 });
const ms = [];
for (let i = 0; i < args.chunks; i++) {
  const t = process.hrtime.bigint();
  await model.fit({ steps: args.chunk, progressEvery: 1000 });
  ms.push(Number(process.hrtime.bigint() - t) / 1e6 / args.chunk);
}
ms.sort((a, b) => a - b);
const t = info().threads;
console.log(`${args.label ? `${args.label}: ` : ''}best ${ms[0].toFixed(1)} ms, median ${ms[ms.length >> 1].toFixed(1)} ms per step ` +
  `(${t.intraOp} intra-op / ${t.blas} BLAS threads, kernels on ${t.kernelThreads}, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? 'PASSIVE'})`);
