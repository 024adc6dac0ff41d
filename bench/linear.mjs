#!/usr/bin/env node
// The dense layers' op (ops/linear) on LibTorch's BLAS and on oneDNN's GEMM, side by side:
// GFLOP/s of the forward and of forward + both gradients, at the shapes the lemur preset
// trains with (width 64, FFN 128, qkv 192, batch 256, a step's thousands of tokens). Each
// backend runs in its own process (LEMUR_CPU_GEMM is read once, at load).
//
//   node bench/linear.mjs [--threads 1] [--iters 200]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { info, native, setThreads } from '../dist/index.js';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}
const threads = Number(option('threads', 1));
const iters = Number(option('iters', 200));
// [rows, in, out]: tokens x width -> qkv / FFN / output; the batch through the backbone's MLP
const shapes = [[2560, 64, 192], [2560, 64, 128], [2560, 128, 64], [2560, 64, 64], [16384, 64, 64], [256, 194, 256], [256, 512, 128]];

function measure() {
  setThreads({ intraOp: threads, blas: threads });
  const bench = native().bench;
  const rows = shapes.map(([M, K, N]) => {
    const r = bench.linear({ rows: M, in: K, out: N, iters });
    return { shape: `${M} x ${K} -> ${N}`, fwd: (2 * M * K * N) / r.forwardMs / 1e6, both: (6 * M * K * N) / r.trainMs / 1e6 };
  });
  return { gemm: info().threads.cpuGemm, rows };
}

if (process.env.LEMUR_BENCH_CHILD) {
  console.log(JSON.stringify(measure()));
} else {
  const run = (gemm) => JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    encoding: 'utf8', env: { ...process.env, LEMUR_CPU_GEMM: gemm, LEMUR_BENCH_CHILD: '1' },
  }));
  const blas = run('blas'), fast = run('onednn');
  const i = info();
  console.log(`${new Date().toISOString().slice(0, 10)} · LibTorch ${i.torch.version} · ${threads} thread(s) · BLAS: ${i.threads.blasLibrary}` +
    `${process.env.OPENBLAS_CORETYPE ? ` (OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE})` : ''} · ${fast.gemm}`);
  console.log('\n| rows x in -> out | BLAS forward | oneDNN forward | BLAS fwd + bwd | oneDNN fwd + bwd | speed-up fwd + bwd |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  blas.rows.forEach((r, k) => {
    const f = fast.rows[k];
    console.log(`| ${r.shape} | ${r.fwd.toFixed(0)} | ${f.fwd.toFixed(0)} | ${r.both.toFixed(0)} | ${f.both.toFixed(0)} | ${(f.both / r.both).toFixed(2)}x |`);
  });
  console.log('(GFLOP/s, timed natively; fwd + bwd: the forward and both gradients, 6 M K N flops, plus the bias gradient)');
}
