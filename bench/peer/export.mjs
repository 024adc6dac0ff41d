#!/usr/bin/env node
// Exports a lemur dataset for the PyTorch peer: every typed array of the documents table and
// of each split as a .npy file, plus meta.json with the manifest, the file list (dtype,
// shape), the resolved lemur configuration and the flat configuration lemur's native model
// receives for this dataset (nativeModelConfig), so the peer builds the same model.
//
//   node bench/peer/export.mjs <datasetDir> <outDir> [--preset lemur] [--config '<json overrides>']
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { nativeModelConfig, openDataset, resolveConfig } from '../../dist/index.js';

const DESCR = new Map([
  [Int32Array, '<i4'],
  [Float32Array, '<f4'],
  [Uint8Array, '|u1'],
  [BigInt64Array, '<i8'],
]);

/** One typed array as a .npy (format 1.0) file: magic, header dict padded to 64 bytes, data. */
export function writeNpy(path, array, shape = [array.length]) {
  const descr = DESCR.get(array.constructor);
  if (!descr) throw new Error(`${path}: no .npy dtype for ${array.constructor.name}`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== array.length) throw new Error(`${path}: shape [${shape}] does not hold ${array.length} values`);
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const data = Buffer.from(array.buffer, array.byteOffset, array.byteLength);
  writeFileSync(path, Buffer.concat([head, Buffer.from(header, 'latin1'), data]));
  return { file: path.split('/').at(-1), dtype: descr, shape };
}

/**
 * Writes `dataset` (an openDataset() result) into `outDir` for the peer. `config` is the lemur
 * configuration input (e.g. { preset: 'lemur', ... }); it is resolved here with lemur's own
 * resolveConfig, so the peer follows the library's defaults and presets.
 */
export function exportForPeer(dataset, outDir, config = { preset: 'lemur' }) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const files = {};
  const put = (key, array, shape) => (files[key] = writeNpy(join(outDir, `${key}.npy`), array, shape));
  const d = dataset.documents;
  put('documents.tokens', d.tokens, [d.rows, d.tokenWidth]);
  if (d.images) {
    put('documents.images', d.images, [d.rows, ...d.imageShape]);
    put('documents.hasImage', d.hasImage ?? new Uint8Array(d.rows).fill(1));
  }
  for (const c of d.categorical) put(`documents.cat.${c.name}`, c.values);
  for (const [name, s] of Object.entries(dataset.splits)) {
    const p = `${name}.`;
    put(p + 'label', s.label);
    put(p + 'doc', s.doc);
    put(p + 'user', s.user);
    put(p + 'query', s.query);
    put(p + 'timestamp', s.timestamp);
    if (s.queryTokens) put(p + 'queryTokens', s.queryTokens, [s.rows, s.queryTokenWidth]);
    for (const c of s.categorical) put(`${p}cat.${c.name}`, c.values);
    for (const c of s.dense) put(`${p}dense.${c.name}`, c.values);
    for (const q of s.sequences) {
      put(`${p}seq.${q.name}.offsets`, q.offsets);
      put(`${p}seq.${q.name}.values`, q.values);
      if (q.action) put(`${p}seq.${q.name}.action`, q.action);
      if (q.age) put(`${p}seq.${q.name}.age`, q.age);
    }
    if (s.coldStart) put(p + 'coldStart', s.coldStart);
  }
  const resolved = resolveConfig(config);
  const meta = {
    dataset: dataset.dir,
    manifest: dataset.manifest,
    splits: Object.fromEntries(Object.entries(dataset.splits).map(([k, s]) => [k, s.rows])),
    documents: {
      rows: d.rows,
      tokenWidth: d.tokenWidth,
      imageShape: d.imageShape ?? null,
      categorical: d.categorical.map((c) => c.name),
    },
    samples: Object.fromEntries(
      Object.entries(dataset.splits).map(([k, s]) => [
        k,
        {
          categorical: s.categorical.map((c) => c.name),
          dense: s.dense.map((c) => c.name),
          sequences: s.sequences.map((q) => ({ name: q.name, action: !!q.action, age: !!q.age })),
          queryTokenWidth: s.queryTokenWidth,
          coldStart: !!s.coldStart,
        },
      ]),
    ),
    files,
    configInput: config,
    config: resolved,
    native: nativeModelConfig(resolved, dataset),
  };
  writeFileSync(join(outDir, 'meta.json'), JSON.stringify(meta, null, 2));
  return meta;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir, out, ...rest] = process.argv.slice(2);
  if (!dir || !out) {
    console.error("usage: node bench/peer/export.mjs <datasetDir> <outDir> [--preset lemur] [--config '<json>']");
    process.exit(2);
  }
  const opt = (k) => {
    const i = rest.indexOf(k);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const config = { preset: opt('--preset') ?? 'lemur', ...(opt('--config') ? JSON.parse(opt('--config')) : {}) };
  const meta = exportForPeer(openDataset(dir), out, config);
  console.log(`exported ${Object.keys(meta.files).length} arrays to ${out}`);
}
