#!/usr/bin/env node
// The dense layers' op (ops/linear) on LibTorch's BLAS and on oneDNN's GEMM, side by side:
// GFLOP/s of the forward and of forward + both gradients, at the shapes the lemur preset
// trains with (width 64, FFN 128, qkv 192, batch 256, a step's thousands of tokens). Each
// backend runs in its own process (LEMUR_CPU_GEMM is read once, at load).
//
//   node bench/linear.mjs [--threads 1] [--seconds 0.5]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { info, native, setThreads, tensor } from '../dist/index.js';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}
const threads = Number(option('threads', 1));
const seconds = Number(option('seconds', 0.5));
// [rows, in, out]: tokens x width -> qkv / FFN / output; the batch through the backbone's MLP
const shapes = [[2560, 64, 192], [2560, 64, 128], [2560, 128, 64], [2560, 64, 64], [16384, 64, 64], [256, 194, 256], [256, 512, 128]];

function measure() {
  setThreads({ intraOp: threads, blas: threads });
  const ops = native().ops;
  const rows = [];
  for (const [M, K, N] of shapes) {
    const x = tensor(Float32Array.from({ length: M * K }, (_, i) => Math.sin(i)), { shape: [M, K] });
    const w = tensor(Float32Array.from({ length: N * K }, (_, i) => Math.cos(i) / 8), { shape: [N, K] });
    const b = tensor(new Float32Array(N).fill(0.1), { shape: [N] });
    const g = tensor(Float32Array.from({ length: M * N }, (_, i) => Math.sin(3 * i)), { shape: [M, N] });
    const rate = (f, flops) => {
      for (let i = 0; i < 3; i++) f();
      let n = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < seconds * 1000) { f(); n++; }
      return (flops * n) / ((performance.now() - t0) / 1000) / 1e9;
    };
    const fwd = rate(() => ops.linear(x, w, b), 2 * M * K * N);
    const both = rate(() => ops.linear(x, w, b, g), 6 * M * K * N);
    rows.push({ shape: `${M} x ${K} -> ${N}`, fwd, both });
  }
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
  console.log('(GFLOP/s; fwd + bwd counts the forward and both gradients, 6 M K N flops, and includes the binding\'s copies of the inputs)');
}
