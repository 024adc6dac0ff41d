#!/usr/bin/env node
// lemur's side of the peer comparison, in its own process (so its peak memory is its own):
// trains the preset with Lemur.create(data, config).fit({ epochs, earlyStopping: false }) and
// evaluates on `test`, for each seed; writes per-step losses, the steady-state samples/s
// (steps after --warmup, each step's own time as lemur's progress reports measure it: from
// the end of the previous report to the step's end, so monitoring is left out) and maxRSS.
//
//   node bench/peer/lemur.mjs --dataset DIR [--seeds 0,1] [--epochs 1] [--threads N] [--blas-threads N] [--device cpu]
//        [--preset lemur] [--config '<json>'] [--warmup 20] [--max-steps N] [--json out.json] [--check]
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import { info, Lemur, openDataset, setThreads } from '../../dist/index.js';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? true : v;
}

const datasetDir = option('dataset');
if (!datasetDir) {
  console.error('usage: node bench/peer/lemur.mjs --dataset DIR [--seeds 0,1] [--epochs 1] [--threads N] [--json out.json]');
  process.exit(2);
}
const seeds = String(option('seeds', '0,1')).split(',').filter(Boolean).map(Number);
const epochs = Number(option('epochs', 1));
const threads = Number(option('threads', availableParallelism()));
const device = option('device', 'cpu');
const warmup = Number(option('warmup', 20));
const maxSteps = option('max-steps') === undefined ? undefined : Number(option('max-steps'));
const configInput = { preset: option('preset', 'lemur'), ...(option('config') ? JSON.parse(option('config')) : {}) };
const log = (...a) => console.error('[lemur]', ...a);

setThreads({ intraOp: threads, ...(option('blas-threads', undefined) ? { blas: Number(option('blas-threads')) } : {}) });
const data = openDataset(datasetDir);
const rows = data.splits.train.rows;
const result = { lemur: info().version, torch: info().torch.version, device, runs: [] };

for (const [k, seed] of (option('check') ? [0] : seeds).entries()) {
  const model = await Lemur.create(data, { ...configInput, seed, device });
  if (k === 0) {
    result.parameters = model.parameters;
    result.idTableParameters = model.idTableParameters;
    result.threads = info().threads;
    result.ompWaitPolicy = process.env.OMP_WAIT_POLICY; // lib/native.ts defaults it to PASSIVE
    result.config = model.config;
    log(`model: ${model.parameters.toLocaleString()} dense parameters, ${model.idTableParameters.toLocaleString()} in ID tables; ` +
      `LibTorch ${result.torch}, ${result.threads.intraOp} intra-op / ${result.threads.blas} BLAS threads, ${device}`);
  }
  if (option('check')) break;
  const bs = model.config.train.batchSize;
  const perEpoch = Math.ceil(rows / bs);
  const steps = [];
  log(`seed ${seed}: training ${epochs} epoch(s) of ${rows.toLocaleString()} samples, batch ${bs}`);
  const t0 = performance.now();
  const fit = await model.fit({
    epochs,
    ...(maxSteps !== undefined ? { steps: maxSteps } : {}),
    earlyStopping: false,
    progressEvery: 1, // one report per step: its loss, and its own time (samples / samplesPerSecond)
    onProgress: (p) => {
      // the epoch's last batch: after it the position reads (epoch, perEpoch), or (epoch + 1, 0)
      // where fit() moves the position on at once
      const last = (p.batch === perEpoch || p.batch === 0) && rows % bs !== 0;
      const samples = last ? rows % bs : bs;
      steps.push({ loss: p.loss, bce: p.bce, sqdc: p.sqdc, samples, seconds: samples / p.samplesPerSecond, coverage: p.bank ? [p.bank.targetCoverage, p.bank.historyCoverage] : null });
    },
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  const steady = steps.slice(Math.min(warmup, Math.max(steps.length - 1, 0)));
  const n = steady.reduce((a, s) => a + s.samples, 0);
  const t = steady.reduce((a, s) => a + s.seconds, 0);
  const t1 = performance.now();
  const ev = await model.evaluate('test');
  const cov = steps.filter((s) => s.coverage);
  result.runs.push({
    seed,
    steps: fit.steps,
    loss: steps.map((s) => s.loss),
    bce: steps.map((s) => s.bce),
    sqdc: steps.map((s) => s.sqdc),
    samplesPerSecond: n / t,
    steadySteps: steady.length,
    trainSeconds,
    evalSeconds: (performance.now() - t1) / 1000,
    evaluation: { all: ev.all, coldStart: ev.coldStart, warm: ev.warm },
    bankCoverage: cov.length ? { target: cov.reduce((a, s) => a + s.coverage[0], 0) / cov.length, history: cov.reduce((a, s) => a + s.coverage[1], 0) / cov.length } : null,
  });
  log(`seed ${seed}: ${fit.steps} steps, ${(n / t).toFixed(0)} samples/s; test AUC ${ev.all.auc.toFixed(4)}, QAUC ${ev.all.qauc.mean.toFixed(4)}` +
    (ev.coldStart ? `, cold-start AUC ${ev.coldStart.auc.toFixed(4)}` : ''));
}
result.maxRssKB = process.resourceUsage().maxRSS;
const text = JSON.stringify(result, null, 1);
if (option('json')) writeFileSync(option('json'), text);
else console.log(text);
