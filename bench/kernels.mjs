#!/usr/bin/env node
// Kernel benchmarks of the op layer against libtorch:
//   - ragged attention (forward; forward + backward) vs the padded composite (matmul + masked
//     softmax) and, on libtorch >= 2.0, scaled_dot_product_attention with a padding mask;
//   - memory-bank gather vs index_select; the gradient scatter (expand_rows backward,
//     deterministic) vs index_add_.
// Each figure is milliseconds per call, measured natively (bench.* in the addon): warm-up runs,
// then `iters` runs, then a device synchronize. "valid bytes" counts only real (unpadded) data
// read and written once; the ratio compares the time with what those bytes need at the
// bandwidth measured by a large copy on the same device.
//
//   npm run bench:kernels                      # CUDA when available, full sizes
//   npm run bench:kernels -- --device cpu --small
//   options: --device cpu|cuda  --small  --dtype float32|bfloat16|float16  --iters N  --json FILE
import { writeFileSync } from 'node:fs';
import os from 'node:os';

import { info, native } from '../dist/index.js';

function parseArgs(argv) {
  const args = { small: false, iters: undefined, device: undefined, dtype: undefined, json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--small') args.small = true;
    else if (a === '--device') args.device = argv[++i];
    else if (a === '--dtype') args.dtype = argv[++i];
    else if (a === '--iters') args.iters = Number(argv[++i]);
    else if (a === '--json') args.json = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log('usage: node bench/kernels.mjs [--device cpu|cuda] [--small] [--dtype float32|bfloat16|float16] [--iters N] [--json FILE]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const lib = native();
const bench = lib.bench;
const meta = info();
const device = args.device ?? (meta.cuda.available ? 'cuda' : 'cpu');
if (device.startsWith('cuda') && !meta.cuda.available) throw new Error('--device cuda: no CUDA device (or this build has no CUDA kernels)');
const small = args.small || device === 'cpu';
const iters = args.iters ?? (small ? 5 : 20);
const attnDtypes = args.dtype ? [args.dtype] : device === 'cpu' ? ['float32'] : ['bfloat16'];
const bankDtypes = args.dtype ? [args.dtype] : ['float32', 'bfloat16'];

const attentionShapes = small
  ? [
      // the lemur preset's own: a document encoder's self-attention (about 32 tokens), LONGER
      // (10 queries over 50 history events), a decoder (4 queries); 4 heads of 16
      { batch: 225, nq: 32, maxLen: 36, heads: 4, dim: 16 },
      { batch: 256, nq: 10, maxLen: 50, heads: 4, dim: 16 },
      { batch: 256, nq: 4, maxLen: 50, heads: 4, dim: 16 },
      { batch: 32, nq: 16, maxLen: 128, heads: 8, dim: 64 },
      { batch: 16, nq: 32, maxLen: 512, heads: 8, dim: 64 },
      { batch: 8, nq: 64, maxLen: 1024, heads: 8, dim: 64 },
    ]
  : [
      { batch: 512, nq: 16, maxLen: 1024, heads: 8, dim: 64 },
      { batch: 256, nq: 32, maxLen: 4096, heads: 8, dim: 64 },
      { batch: 128, nq: 64, maxLen: 8192, heads: 8, dim: 64 },
    ];
const bank = small ? { rows: 200_000, width: 128, ids: 100_000 } : { rows: 10_000_000, width: 128, ids: 1_000_000 };

const fmt = (x, d = 3) => (x === undefined ? 'n/a' : x.toFixed(d));
const gbs = (bytes, ms) => bytes / (ms * 1e-3) / 1e9;

const results = { device, small, iters, date: new Date().toISOString(), machine: {}, bandwidth: {}, attention: [], gather: [], gradScatter: [] };
results.machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  threads: meta.threads,
  torch: meta.torch.version,
  gpu: meta.cuda.devices.map((d) => `${d.name} (${(d.memoryBytes / 2 ** 30).toFixed(0)} GiB, sm ${d.computeCapability})`).join(', ') || 'none',
  node: process.version,
};

console.log(`# lemur kernel benchmark: ${device}${small ? ' (reduced sizes)' : ''}, ${iters} iterations`);
console.log(`machine: ${results.machine.cpu}, ${results.machine.cores} cores; GPU: ${results.machine.gpu}; libtorch ${results.machine.torch}; node ${process.version}`);

const copy = bench.copy({ device, bytes: small ? 2 ** 28 : 2 ** 31, iters: small ? 5 : 20 });
results.bandwidth = copy;
const bw = copy.bytesPerSec;
console.log(`measured bandwidth (copy, read + write): ${(bw / 1e9).toFixed(1)} GB/s\n`);

console.log('## Ragged attention (key lengths uniform in [L/8, L])\n');
console.log('| shape B/Nq/L/H/d | dtype | keys valid/padded | lemur fwd ms | composite fwd ms | sdpa fwd ms | fwd speedup | fwd eff. GB/s | fwd / valid-bytes time | lemur fwd+bwd ms | composite fwd+bwd ms | sdpa fwd+bwd ms | fwd+bwd speedup | lemur op fwd ms |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const dtype of attnDtypes) {
  for (const s of attentionShapes) {
    const r = bench.attention({ device, dtype, iters, warmup: 2, ...s });
    const base = r.sdpaFwd ?? r.compositeFwd;
    const baseFB = r.sdpaFwdBwd ?? r.compositeFwdBwd;
    const row = {
      ...s, dtype, ...r,
      fwdSpeedup: base / r.lemurFwd,
      fwdBwdSpeedup: baseFB / r.lemurFwdBwd,
      fwdEffGBs: gbs(r.validBytesFwd, r.lemurFwd),
      fwdRatio: r.lemurFwd / ((r.validBytesFwd / bw) * 1e3),
      speedupVs: r.sdpaFwd !== undefined ? 'sdpa' : 'composite',
    };
    results.attention.push(row);
    console.log(
      `| ${s.batch}/${s.nq}/${s.maxLen}/${s.heads}/${s.dim} | ${dtype} | ${r.totalKeys}/${r.paddedKeys} | ${fmt(r.lemurFwd)} | ${fmt(r.compositeFwd)} | ${fmt(r.sdpaFwd)} | ${fmt(row.fwdSpeedup, 2)}x vs ${row.speedupVs} | ${fmt(row.fwdEffGBs, 1)} | ${fmt(row.fwdRatio, 2)} | ${fmt(r.lemurFwdBwd)} | ${fmt(r.compositeFwdBwd)} | ${fmt(r.sdpaFwdBwd)} | ${fmt(row.fwdBwdSpeedup, 2)}x | ${fmt(r.lemurOpFwd)} |`,
    );
  }
}

console.log(`\n## Memory-bank gather (${bank.rows} x ${bank.width} bank, ${bank.ids} ids)\n`);
console.log('| dtype | ids | unique | lemur ms | lemur op ms (with id check) | index_select ms | speedup | lemur eff. GB/s | time / valid-bytes time |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const dtype of bankDtypes) {
  for (const dist of ['uniform', 'zipf']) {
    const r = bench.gather({ device, dtype, dist, iters, warmup: 2, ...bank });
    const row = { dtype, dist, ...bank, ...r, speedup: r.indexSelect / r.lemur, effGBs: gbs(r.validBytes, r.lemur), ratio: r.lemur / ((r.validBytes / bw) * 1e3) };
    results.gather.push(row);
    console.log(`| ${dtype} | ${dist} | ${r.uniqueIds} | ${fmt(r.lemur)} | ${fmt(r.lemurOp)} | ${fmt(r.indexSelect)} | ${fmt(row.speedup, 2)}x | ${fmt(row.effGBs, 1)} | ${fmt(row.ratio, 2)} |`);
  }
}

console.log(`\n## Gradient scatter (expand_rows backward: ${bank.ids} gradient rows into the unique ids)\n`);
console.log('| dtype | ids | unique | lemur segment_sum ms | index_add_ ms | speedup | lemur eff. GB/s |');
console.log('|---|---|---|---|---|---|---|');
for (const dtype of bankDtypes) {
  for (const dist of ['uniform', 'zipf']) {
    const r = bench.gradScatter({ device, dtype, dist, iters, warmup: 2, ...bank });
    const row = { dtype, dist, ...bank, ...r, speedup: r.indexAdd / r.lemur, effGBs: gbs(r.validBytes, r.lemur) };
    results.gradScatter.push(row);
    console.log(`| ${dtype} | ${dist} | ${r.uniqueIds} | ${fmt(r.lemur)} | ${fmt(r.indexAdd)} | ${fmt(row.speedup, 2)}x | ${fmt(row.effGBs, 1)} |`);
  }
}

if (args.json) {
  writeFileSync(args.json, JSON.stringify(results, null, 2));
  console.log(`\nwrote ${args.json}`);
}
