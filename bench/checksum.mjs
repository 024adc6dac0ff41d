#!/usr/bin/env node
// The cost of openDataset's checksum verification (docs/data-format.md, "Checksums") on a
// large generated dataset: opening with verify (default) against verify: false, best of
// --runs, files in the page cache (the first open warms it).
//
//   node bench/checksum.mjs [--samples 500000 --history 200 --runs 3]
import { statSync } from 'node:fs';
import { join } from 'node:path';

import { openDataset } from '../dist/index.js';
import { cachedDatasetDir, machine, parseArgs, table } from './common.mjs';

const args = parseArgs(process.argv.slice(2), { samples: 500_000, docs: 20000, users: 10000, history: 200, runs: 3 });
const dir = await cachedDatasetDir({ numDocuments: args.docs, numUsers: args.users, numSamples: args.samples, historyLength: args.history, seed: 1 });
const first = openDataset(dir, { verify: false });
const files = [first.manifest.documents, ...Object.values(first.manifest.splits), first.manifest.tokenizer];
const bytes = files.reduce((s, f) => s + statSync(join(dir, f)).size, 0);

const best = (verify) => {
  let seconds = Infinity;
  for (let r = 0; r < args.runs; r++) {
    const t0 = performance.now();
    const ds = openDataset(dir, { verify });
    seconds = Math.min(seconds, (performance.now() - t0) / 1000);
    if (verify && !ds.verification.verified) throw new Error(`${dir} has no checksums: delete it and run again`);
  }
  return seconds;
};
const off = best(false);
const on = best(true);
const m = machine();
console.log(`\n${m.date} · lemur ${m.lemur} · ${(bytes / 1e6).toFixed(0)} MB in ${files.length} files (${dir})\n`);
console.log(
  table(
    ['openDataset', 'seconds', 'GB/s'],
    [
      ['verify: false', off.toFixed(3), (bytes / 1e9 / off).toFixed(2)],
      ['verify (default)', on.toFixed(3), (bytes / 1e9 / on).toFixed(2)],
      ['cost of the check', (on - off).toFixed(3), (bytes / 1e9 / (on - off)).toFixed(2)],
    ],
  ),
);
