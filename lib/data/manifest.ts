/**
 * dataset.json: the typed manifest of a dataset folder (docs/data-format.md) and its checks.
 * The manifest is the source of truth for which optional columns a dataset has.
 */
import { DataError } from '../errors.js';
import type { FileChecksum } from './checksum.js';

export const DATASET_FORMAT = 'lemur-dataset';
export const DATASET_VERSION = 1;
export const MANIFEST_FILE = 'dataset.json';

export interface TextFieldSpec {
  name: string;
  /** Tokens kept from this field (the field is cut, not the whole row). */
  maxTokens: number;
}

export interface ImageSpec {
  height: number;
  width: number;
  channels: number;
}

export interface CategoricalSpec {
  name: string;
  /** Number of distinct values the source can produce (informational: the model hashes). */
  cardinality: number;
}

export interface SequenceSpec {
  name: string;
  /** Longest history kept (the most recent events). */
  maxLength: number;
  /** Whether `seq.<name>.action` exists. */
  action: boolean;
  /** Whether `seq.<name>.age` exists. */
  age: boolean;
}

/** Figures about one split, computed when the dataset is written. */
export interface SplitStats {
  rows: number;
  /** Fraction of rows with label 1. */
  positives: number;
  /** Rows whose candidate never occurs in training (only where the split has `coldStart`). */
  coldStartRows?: number;
  distinctUsers: number;
  distinctDocuments: number;
  /** Mean history length per sequence. */
  meanHistory: Record<string, number>;
}

export interface DatasetManifest {
  format: typeof DATASET_FORMAT;
  version: typeof DATASET_VERSION;
  name: string;
  createdBy: string;
  numDocuments: number;
  numUsers: number;
  numQueries: number;
  /** Split name -> file name (relative to the dataset folder). */
  splits: Record<string, string>;
  documents: string;
  textFields: TextFieldSpec[];
  /** 1 + sum(maxTokens) + number of text fields. */
  documentTokens: number;
  /** Width of `queryTokens` (1 + query maxTokens); 0 = no query text. */
  queryTokens: number;
  /** Token ids are < vocabSize; counts the 4 reserved ids. */
  vocabSize: number;
  tokenizer: string;
  image: ImageSpec | null;
  categorical: CategoricalSpec[];
  documentCategorical: CategoricalSpec[];
  dense: string[];
  sequences: SequenceSpec[];
  /** Split name -> figures. */
  stats: Record<string, SplitStats>;
  /** Source-specific figures (counts of the raw input, images decoded/missing/corrupt, the split cut...). */
  sourceStats: Record<string, number | string | boolean | null>;
  /**
   * File name -> size and SHA-256, for every file the manifest names (written by lemur's
   * writers; absent in datasets written before checksums, which open unverified).
   */
  checksums?: Record<string, FileChecksum>;
}

/** Checks the shape of a parsed dataset.json; throws DataError naming the bad field. */
export function checkManifest(value: unknown, file: string): DatasetManifest {
  const fail = (field: string, message: string): never => {
    throw new DataError(message, file, field);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('(root)', 'not a JSON object');
  const m = value as Record<string, unknown>;
  if (m.format !== DATASET_FORMAT) fail('format', `expected "${DATASET_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (m.version !== DATASET_VERSION) fail('version', `unsupported version ${JSON.stringify(m.version)} (this lemur reads ${DATASET_VERSION})`);

  const str = (k: string) => typeof m[k] === 'string' || fail(k, 'expected a string');
  const count = (v: unknown, k: string, min = 0) =>
    (Number.isSafeInteger(v) && (v as number) >= min) || fail(k, `expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  const array = (k: string) => Array.isArray(m[k]) || fail(k, 'expected an array');
  const fileName = (v: unknown, k: string) =>
    (typeof v === 'string' && v.length > 0 && !v.includes('/') && !v.includes('\\') && v !== '..') ||
    fail(k, `expected a file name inside the dataset folder, got ${JSON.stringify(v)}`);

  for (const k of ['name', 'createdBy']) str(k);
  count(m.numDocuments, 'numDocuments');
  count(m.numUsers, 'numUsers');
  count(m.numQueries, 'numQueries');
  fileName(m.documents, 'documents');
  fileName(m.tokenizer, 'tokenizer');
  if (typeof m.splits !== 'object' || m.splits === null || Array.isArray(m.splits)) fail('splits', 'expected an object');
  const splits = m.splits as Record<string, unknown>;
  if (Object.keys(splits).length === 0) fail('splits', 'no split');
  for (const [k, v] of Object.entries(splits)) fileName(v, `splits.${k}`);

  array('textFields');
  const fields = m.textFields as unknown[];
  if (fields.length === 0) fail('textFields', 'at least one text field is needed');
  let width = 1;
  fields.forEach((f, i) => {
    const t = f as TextFieldSpec;
    if (typeof t?.name !== 'string' || t.name.length === 0) fail(`textFields[${i}].name`, 'expected a name');
    count(t.maxTokens, `textFields[${i}].maxTokens`, 1);
    width += t.maxTokens + 1;
  });
  count(m.documentTokens, 'documentTokens', 1);
  if (m.documentTokens !== width) fail('documentTokens', `expected 1 + sum(maxTokens) + fields = ${width}, got ${m.documentTokens}`);
  count(m.queryTokens, 'queryTokens');
  if (m.queryTokens === 1) fail('queryTokens', 'a query row holds [CLS] and at least one token (0 = no query text)');
  count(m.vocabSize, 'vocabSize', 5);

  if (m.image !== null) {
    const im = m.image as ImageSpec;
    if (typeof im !== 'object') fail('image', 'expected {height, width, channels} or null');
    count(im.height, 'image.height', 1);
    count(im.width, 'image.width', 1);
    count(im.channels, 'image.channels', 1);
  }
  for (const k of ['categorical', 'documentCategorical']) {
    array(k);
    (m[k] as unknown[]).forEach((c, i) => {
      const s = c as CategoricalSpec;
      if (typeof s?.name !== 'string' || s.name.length === 0) fail(`${k}[${i}].name`, 'expected a name');
      count(s.cardinality, `${k}[${i}].cardinality`, 1);
    });
  }
  array('dense');
  (m.dense as unknown[]).forEach((d, i) => typeof d === 'string' || fail(`dense[${i}]`, 'expected a name'));
  array('sequences');
  (m.sequences as unknown[]).forEach((q, i) => {
    const s = q as SequenceSpec;
    if (typeof s?.name !== 'string' || s.name.length === 0) fail(`sequences[${i}].name`, 'expected a name');
    count(s.maxLength, `sequences[${i}].maxLength`, 1);
    if (typeof s.action !== 'boolean') fail(`sequences[${i}].action`, 'expected true or false');
    if (typeof s.age !== 'boolean') fail(`sequences[${i}].age`, 'expected true or false');
  });
  if (m.checksums !== undefined) {
    if (typeof m.checksums !== 'object' || m.checksums === null || Array.isArray(m.checksums)) fail('checksums', 'expected an object of file name -> { bytes, sha256 }');
    for (const [name, c] of Object.entries(m.checksums as Record<string, unknown>)) {
      const x = c as FileChecksum;
      if (typeof x !== 'object' || x === null) fail(`checksums.${name}`, 'expected { bytes, sha256 }');
      count(x.bytes, `checksums.${name}.bytes`);
      if (typeof x.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(x.sha256)) fail(`checksums.${name}.sha256`, `expected 64 lowercase hex digits, got ${JSON.stringify(x.sha256)}`);
    }
  }
  // Older writers may lack the figures; they are informational only.
  if (m.stats === undefined) m.stats = {};
  if (m.sourceStats === undefined) m.sourceStats = {};
  return m as unknown as DatasetManifest;
}

/** Token width of a document row: [CLS], then each field and its [SEP]. */
export function documentTokenWidth(fields: readonly TextFieldSpec[]): number {
  return fields.reduce((w, f) => w + f.maxTokens + 1, 1);
}
