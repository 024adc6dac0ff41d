#!/usr/bin/env node
// `npm run bench [-- <name> [options]]`: the benchmarks of this repository, one command each.
// Without a name it lists them; `all` runs the quick CPU set (kernels, data, train) in turn.
// Results are recorded by hand in bench/RESULTS.md (machine, versions, date).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { benchDir } from './common.mjs';

const BENCHES = {
  kernels: { file: 'kernels.mjs', what: 'the op layer (ragged attention, bank gather/scatter, segment sums) against libtorch composites' },
  linear: { file: 'linear.mjs', what: "the dense layers' GEMMs on CPU: LibTorch's BLAS against oneDNN's, at the preset's shapes" },
  data: { file: 'data.mjs', what: 'the native loader alone: batches/s, samples/s, history events/s' },
  train: { file: 'train.mjs', what: 'training samples/s and step-time breakdown, history from the bank vs re-encoded' },
  quality: { file: 'quality.mjs', what: 'the ladder over seeds with early stopping (--data synthetic | movielens | <dir>; long)' },
  soak: { file: 'soak.mjs', what: 'a long lemur run: resident memory over steps, evaluation and checkpoint cycles (long)' },
  distributed: { file: 'distributed.mjs', what: 'data-parallel samples/s with 1 and N workers, step breakdown, bytes sent per step' },
  peer: { file: join('peer', 'run.mjs'), what: 'lemur against a plain-PyTorch port of the same model: quality, samples/s, peak memory' },
};
const QUICK = ['kernels', 'data', 'train'];

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === 'help') {
  console.log('usage: npm run bench -- <name> [options]   (options: see the top of bench/<file>)\n');
  for (const [k, b] of Object.entries(BENCHES)) console.log(`  ${k.padEnd(11)} bench/${b.file.padEnd(15)} ${b.what}`);
  console.log(`  ${'all'.padEnd(11)} ${''.padEnd(21)} ${QUICK.join(', ')} in turn`);
  process.exit(0);
}
const names = name === 'all' ? QUICK : [name];
for (const n of names) {
  const b = BENCHES[n];
  if (!b) {
    console.error(`unknown benchmark '${n}' (known: ${Object.keys(BENCHES).join(', ')}, all)`);
    process.exit(2);
  }
  console.error(`\n== ${n}: node bench/${b.file} ${rest.join(' ')}`);
  const r = spawnSync(process.execPath, [join(benchDir, b.file), ...rest], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
