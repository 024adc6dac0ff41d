/**
 * Value checks of dataset columns (docs/data-format.md, "Validation"). Plain loops over typed
 * arrays: a few milliseconds per million values. Each check names file, column and the first
 * bad row. Used both by openDataset and before writing, so lemur never writes what it refuses.
 */
import { DataError } from '../errors.js';
import type { DocumentColumns, SampleColumns, SequenceColumns } from './columns.js';
import type { DatasetManifest } from './manifest.js';

/** First index whose value lies outside [lo, hi), or -1. */
export function firstOutside(values: Int32Array | Uint8Array, lo: number, hi: number): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo || v >= hi) return i;
  }
  return -1;
}

/** First index whose value is not exactly 0 or 1 (NaN included), or -1. */
export function firstNotBinary(values: Float32Array | Uint8Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== 0 && v !== 1) return i;
  }
  return -1;
}

/** First index of a NaN or infinite value, or -1. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // v - v is NaN exactly for NaN and +-Infinity.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** Row of a ragged column that holds value index i (offsets start at 0 and never decrease). */
export function rowOfValue(offsets: Int32Array, i: number): number {
  let lo = 0;
  let hi = offsets.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= i) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Offsets that start at 0, never decrease and end at `values` (for columns built in memory). */
export function checkOffsets(file: string, column: string, offsets: Int32Array, values: number, rows: number): void {
  if (offsets.length !== rows + 1) throw new DataError(`${offsets.length} offsets for ${rows} rows`, file, column);
  if (offsets[0] !== 0) throw new DataError(`offsets start at ${offsets[0]}, not 0`, file, column, 0);
  for (let r = 0; r < rows; r++)
    if (offsets[r + 1] < offsets[r]) throw new DataError(`list offsets decrease (${offsets[r]} then ${offsets[r + 1]})`, file, column, r);
  if (offsets[rows] !== values) throw new DataError(`offsets end at ${offsets[rows]}, but there are ${values} values`, file, column, rows - 1);
}

function lengthIs(file: string, column: string, actual: number, expected: number): void {
  if (actual !== expected) throw new DataError(`has ${actual} values, expected ${expected}`, file, column);
}

function checkSequence(file: string, s: SequenceColumns, rows: number, numDocuments: number, maxLength: number, spec: { action: boolean; age: boolean }): void {
  const col = `seq.${s.name}`;
  checkOffsets(file, col, s.offsets, s.values.length, rows);
  for (let r = 0; r < rows; r++)
    if (s.offsets[r + 1] - s.offsets[r] > maxLength)
      throw new DataError(`history of ${s.offsets[r + 1] - s.offsets[r]} items, longer than maxLength ${maxLength}`, file, col, r);
  let i = firstOutside(s.values, 0, numDocuments);
  if (i >= 0) throw new DataError(`history document index ${s.values[i]} outside 0..${numDocuments - 1}`, file, col, rowOfValue(s.offsets, i));
  if (spec.action) {
    if (!s.action) throw new DataError('missing column (the manifest says this sequence has actions)', file, `${col}.action`);
    lengthIs(file, `${col}.action`, s.action.length, s.values.length);
    i = firstOutside(s.action, 0, 0x80000000);
    if (i >= 0) throw new DataError(`negative action ${s.action[i]}`, file, `${col}.action`, rowOfValue(s.offsets, i));
  }
  if (spec.age) {
    if (!s.age) throw new DataError('missing column (the manifest says this sequence has ages)', file, `${col}.age`);
    lengthIs(file, `${col}.age`, s.age.length, s.values.length);
    i = firstNonFinite(s.age);
    if (i >= 0) throw new DataError(`age ${s.age[i]} is not finite`, file, `${col}.age`, rowOfValue(s.offsets, i));
  }
}

/** Checks every value of a split against the manifest. */
export function validateSamples(file: string, c: SampleColumns, m: DatasetManifest): void {
  const rows = c.rows;
  lengthIs(file, 'label', c.label.length, rows);
  lengthIs(file, 'doc', c.doc.length, rows);
  lengthIs(file, 'user', c.user.length, rows);
  lengthIs(file, 'query', c.query.length, rows);
  lengthIs(file, 'timestamp', c.timestamp.length, rows);
  let i = firstNotBinary(c.label);
  if (i >= 0) throw new DataError(`label ${c.label[i]} is not 0 or 1`, file, 'label', i);
  i = firstOutside(c.doc, 0, m.numDocuments);
  if (i >= 0) throw new DataError(`document index ${c.doc[i]} outside 0..${m.numDocuments - 1}`, file, 'doc', i);
  i = firstOutside(c.user, 0, m.numUsers);
  if (i >= 0) throw new DataError(`user index ${c.user[i]} outside 0..${m.numUsers - 1}`, file, 'user', i);
  i = firstOutside(c.query, 0, m.numQueries);
  if (i >= 0) throw new DataError(`query id ${c.query[i]} outside 0..${m.numQueries - 1}`, file, 'query', i);
  if (m.queryTokens > 0) {
    if (!c.queryTokens) throw new DataError('missing column (the manifest has queryTokens)', file, 'queryTokens');
    if (c.queryTokenWidth !== m.queryTokens) throw new DataError(`width ${c.queryTokenWidth}, expected ${m.queryTokens}`, file, 'queryTokens');
    lengthIs(file, 'queryTokens', c.queryTokens.length, rows * m.queryTokens);
    i = firstOutside(c.queryTokens, 0, m.vocabSize);
    if (i >= 0) throw new DataError(`token id ${c.queryTokens[i]} outside 0..${m.vocabSize - 1}`, file, 'queryTokens', Math.floor(i / m.queryTokens));
  }
  for (const spec of m.categorical) {
    const f = c.categorical.find((x) => x.name === spec.name);
    if (!f) throw new DataError('missing column (listed in the manifest)', file, `cat.${spec.name}`);
    lengthIs(file, `cat.${spec.name}`, f.values.length, rows);
    i = firstOutside(f.values, 0, 0x80000000);
    if (i >= 0) throw new DataError(`negative categorical value ${f.values[i]}`, file, `cat.${spec.name}`, i);
  }
  for (const name of m.dense) {
    const f = c.dense.find((x) => x.name === name);
    if (!f) throw new DataError('missing column (listed in the manifest)', file, `dense.${name}`);
    lengthIs(file, `dense.${name}`, f.values.length, rows);
    i = firstNonFinite(f.values);
    if (i >= 0) throw new DataError(`dense value ${f.values[i]} is not finite`, file, `dense.${name}`, i);
  }
  for (const spec of m.sequences) {
    const s = c.sequences.find((x) => x.name === spec.name);
    if (!s) throw new DataError('missing column (listed in the manifest)', file, `seq.${spec.name}`);
    checkSequence(file, s, rows, m.numDocuments, spec.maxLength, spec);
  }
  if (c.coldStart) {
    lengthIs(file, 'coldStart', c.coldStart.length, rows);
    i = firstNotBinary(c.coldStart);
    if (i >= 0) throw new DataError(`coldStart ${c.coldStart[i]} is not 0 or 1`, file, 'coldStart', i);
  }
}

/** Checks the documents table against the manifest. */
export function validateDocuments(file: string, d: DocumentColumns, m: DatasetManifest): void {
  if (d.rows !== m.numDocuments) throw new DataError(`has ${d.rows} rows, the manifest says numDocuments = ${m.numDocuments}`, file);
  lengthIs(file, 'docId', d.docId.length, d.rows);
  if (d.tokenWidth !== m.documentTokens) throw new DataError(`width ${d.tokenWidth}, expected documentTokens = ${m.documentTokens}`, file, 'tokens');
  lengthIs(file, 'tokens', d.tokens.length, d.rows * d.tokenWidth);
  const i = firstOutside(d.tokens, 0, m.vocabSize);
  if (i >= 0) throw new DataError(`token id ${d.tokens[i]} outside 0..${m.vocabSize - 1}`, file, 'tokens', Math.floor(i / d.tokenWidth));
  if (m.image) {
    const { height, width, channels } = m.image;
    if (!d.images || !d.hasImage) throw new DataError('missing column (the manifest has an image)', file, 'image');
    lengthIs(file, 'image', d.images.length, d.rows * height * width * channels);
    lengthIs(file, 'image', d.hasImage.length, d.rows);
  }
  for (const spec of m.documentCategorical) {
    const f = d.categorical.find((x) => x.name === spec.name);
    if (!f) throw new DataError('missing column (listed in the manifest)', file, `cat.${spec.name}`);
    lengthIs(file, `cat.${spec.name}`, f.values.length, d.rows);
    const j = firstOutside(f.values, 0, 0x80000000);
    if (j >= 0) throw new DataError(`negative categorical value ${f.values[j]}`, file, `cat.${spec.name}`, j);
  }
}
