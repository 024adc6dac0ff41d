// Shared helpers of the benchmarks: argument parsing, cached generated datasets, tables.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { generateDataset, info, openDataset } from '../dist/index.js';

export const benchDir = fileURLToPath(new URL('.', import.meta.url));

/** --key value / --flag arguments into an object (numbers parsed). */
export function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const key = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[key] = true;
    else {
      out[key] = Number.isNaN(Number(next)) ? next : Number(next);
      i++;
    }
  }
  return out;
}

/** A generated dataset, built once per option set and kept in bench/.cache. */
export async function cachedDataset(options) {
  return openDataset(await cachedDatasetDir(options));
}

/** The folder of cachedDataset(options), generating it the first time. */
export async function cachedDatasetDir(options) {
  const name = Object.entries(options)
    .map(([k, v]) => `${k}-${v}`)
    .join('_');
  const dir = join(benchDir, '.cache', name);
  if (!existsSync(join(dir, 'dataset.json'))) {
    const t0 = performance.now();
    await generateDataset(dir, { ...options, overwrite: true });
    console.error(`generated ${name} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return dir;
}

export function machine() {
  const i = info();
  return {
    lemur: i.version,
    node: i.node,
    torch: `${i.torch.version} (${i.torch.source}${i.torch.cuda ? ', CUDA' : ', CPU'})`,
    threads: `${i.threads.intraOp} intra-op, ${i.threads.blas} BLAS (${i.threads.blasLibrary}), ${i.threads.cores} cores`,
    cuda: i.cuda.available ? i.cuda.devices.map((d) => d.name).join(', ') : 'none',
    date: new Date().toISOString().slice(0, 10),
  };
}

export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
