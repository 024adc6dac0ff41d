import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { tableFromIPC } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';

import {
  fixedSizeListColumn,
  int32Column,
  listColumn,
  readArrowFile,
  utf8Column,
  writeArrowFile,
  type DatasetManifest,
  type SampleColumns,
} from '../../dist/index.js';
// Internal views and checks, tested directly.
import { fixedSizeListView, isInt32, isUint8, listView, primitiveView, utf8View } from '../../dist/data/arrow.js';
import { validateSamples } from '../../dist/data/validate.js';
import { tempDir } from './fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('Arrow files', () => {
  it('round-trips columns through one uncompressed record batch, viewed zero-copy', async () => {
    const path = join(tmp.dir, 'a.arrow');
    const ids = Int32Array.from({ length: 1001 }, (_, i) => i * 3);
    const offsets = Int32Array.from({ length: 1002 }, (_, i) => Math.floor(i / 2));
    const values = Int32Array.from({ length: 500 }, (_, i) => 7 * i);
    const pixels = Uint8Array.from({ length: 1001 * 6 }, (_, i) => i & 255);
    const valid = Uint8Array.from({ length: 1001 }, (_, i) => (i % 3 ? 1 : 0));
    const text = Array.from({ length: 1001 }, (_, i) => (i % 2 ? `row ${i} ✓ 東京` : ''));
    const { bytes: size, sha256 } = await writeArrowFile(path, [int32Column('id', ids), listColumn('seq', offsets, values), fixedSizeListColumn('img', pixels, 6, valid), utf8Column('text', text)]);
    expect(readdirSync(tmp.dir)).toEqual(['a.arrow']); // the temporary name was renamed away
    expect(readFileSync(path).length).toBe(size);
    expect(sha256).toBe(createHash('sha256').update(readFileSync(path)).digest('hex')); // hashed while writing
    expect(tableFromIPC(readFileSync(path)).batches.length).toBe(1);

    const file = readArrowFile(path);
    expect(file.rows).toBe(1001);
    const id = primitiveView<Int32Array>(file, 'id', isInt32, 'int32');
    expect(id).toEqual(ids);
    expect(id.buffer).toBe(file.bytes.buffer); // a view of the file's bytes, not a copy
    const seq = listView<Int32Array>(file, 'seq', isInt32, 'list<int32>');
    expect(seq.offsets).toEqual(offsets);
    expect(seq.values).toEqual(values);
    expect(seq.values.buffer).toBe(file.bytes.buffer);
    const img = fixedSizeListView<Uint8Array>(file, 'img', 6, isUint8, 'fixed_size_list<uint8>[6]', true);
    expect(img.values).toEqual(pixels);
    expect(img.valid).toEqual(valid);
    const t = utf8View(file, 'text');
    expect(t(0)).toBe('');
    expect(t(1001 - 2)).toBe(text[999]);
  });

  it('validates millions of rows in well under a second', () => {
    const rows = 2_000_000;
    const hist = 10;
    const m = {
      numDocuments: 100_000,
      numUsers: 50_000,
      numQueries: 50_000,
      queryTokens: 0,
      vocabSize: 1000,
      categorical: [{ name: 'hour', cardinality: 24 }],
      dense: ['x'],
      sequences: [{ name: 'h', maxLength: hist, action: true, age: true }],
    } as unknown as DatasetManifest;
    const c: SampleColumns = {
      rows,
      label: Float32Array.from({ length: rows }, (_, i) => i & 1),
      doc: Int32Array.from({ length: rows }, (_, i) => i % 100_000),
      user: Int32Array.from({ length: rows }, (_, i) => i % 50_000),
      query: Int32Array.from({ length: rows }, (_, i) => i % 50_000),
      timestamp: new BigInt64Array(rows),
      queryTokenWidth: 0,
      categorical: [{ name: 'hour', values: new Int32Array(rows) }],
      dense: [{ name: 'x', values: new Float32Array(rows) }],
      sequences: [
        {
          name: 'h',
          offsets: Int32Array.from({ length: rows + 1 }, (_, i) => i * hist),
          values: new Int32Array(rows * hist),
          action: new Int32Array(rows * hist),
          age: new Float32Array(rows * hist),
        },
      ],
    };
    const started = performance.now();
    validateSamples('bench.arrow', c, m);
    const ms = performance.now() - started;
    console.log(`validated ${rows} rows with ${rows * hist} history items in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1500); // typically ~100-200 ms; generous for a loaded 2-core machine
  });
});
