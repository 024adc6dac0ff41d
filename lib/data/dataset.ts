/**
 * Dataset folders (docs/data-format.md): openDataset() reads dataset.json and the Arrow files,
 * validates them and views their columns zero-copy; writeDatasetFiles() is the one writer the
 * importers and the generator share, so what they write is always what openDataset accepts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { DataError } from '../errors.js';
import {
  fixedSizeListColumn,
  fixedSizeListView,
  float32Column,
  int32Column,
  int64Column,
  isFloat32,
  isInt32,
  isInt64,
  isUint8,
  listColumn,
  listView,
  primitiveView,
  readArrowFile,
  uint8Column,
  utf8Column,
  utf8View,
  writeArrowFile,
  type ArrowFile,
  type ColumnData,
} from './arrow.js';
import type { DocumentColumns, SampleColumns, SequenceColumns } from './columns.js';
import { checksumOf, verifyChecksum, type FileChecksum } from './checksum.js';
import { writeFileAtomic } from './files.js';
import { checkManifest, documentTokenWidth, MANIFEST_FILE, type DatasetManifest, type SplitStats } from './manifest.js';
import type { ImageStats } from './images.js';
import type { ImportReport } from './import-report.js';
import type { Tokenizer } from './tokenizer.js';
import { validateDocuments, validateSamples } from './validate.js';

/** An opened dataset: the manifest and zero-copy typed-array views of every column. */
export interface Dataset {
  dir: string;
  manifest: DatasetManifest;
  documents: DocumentColumns;
  splits: Record<string, SampleColumns>;
  /** What openDataset checked against the manifest's checksums, and what it cost. */
  verification: DatasetVerification;
}

export interface DatasetVerification {
  /** Every file read was checked (false: verify was off, or the manifest has no checksums). */
  verified: boolean;
  /** Bytes hashed. */
  bytes: number;
  /** Time spent reading and checking the verified files (the bench compares it with verify: false). */
  seconds: number;
  /** Why nothing was checked, when verified is false. */
  reason?: string;
}

export interface OpenOptions {
  /** Splits to read (default: all in the manifest). */
  splits?: string[];
  /**
   * Check each file's size and SHA-256 against the manifest (default true): about 0.6 s per GB
   * on a CPU with SHA extensions, on bytes already read. false skips it.
   */
  verify?: boolean;
}

// ---------------------------------------------------------------------------------------
// Reading

function readManifest(dir: string): DatasetManifest {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(`cannot read: ${(e as Error).message}`, path);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DataError(`not valid JSON: ${(e as Error).message}`, path);
  }
  return checkManifest(value, path);
}

function readDocuments(file: ArrowFile, m: DatasetManifest): DocumentColumns {
  const docId = primitiveView<BigInt64Array>(file, 'docId', isInt64, 'int64');
  const text: Record<string, (row: number) => string> = {};
  for (const f of m.textFields) text[f.name] = utf8View(file, f.name);
  const tokens = fixedSizeListView<Int32Array>(file, 'tokens', m.documentTokens, isInt32, `fixed_size_list<int32>[${m.documentTokens}]`, false).values;
  const d: DocumentColumns = { rows: file.rows, docId, tokens, tokenWidth: m.documentTokens, categorical: [], text };
  if (m.image) {
    const size = m.image.height * m.image.width * m.image.channels;
    const { values, valid } = fixedSizeListView<Uint8Array>(file, 'image', size, isUint8, `fixed_size_list<uint8>[${size}] (nullable)`, true);
    d.images = values;
    d.hasImage = valid;
    d.imageShape = [m.image.height, m.image.width, m.image.channels];
  }
  for (const c of m.documentCategorical) d.categorical.push({ name: c.name, values: primitiveView<Int32Array>(file, `cat.${c.name}`, isInt32, 'int32') });
  validateDocuments(file.path, d, m);
  return d;
}

/** Side info must have exactly its sequence's row lengths (offsets equal once rebased to 0). */
function sameOffsets(file: ArrowFile, column: string, seq: Int32Array, side: Int32Array): void {
  for (let r = 0; r + 1 < seq.length; r++)
    if (side[r + 1] - side[r] !== seq[r + 1] - seq[r])
      throw new DataError(`offsets differ from its sequence's (${side[r + 1] - side[r]} items, the sequence has ${seq[r + 1] - seq[r]})`, file.path, column, r);
}

function readSamples(file: ArrowFile, m: DatasetManifest): SampleColumns {
  const c: SampleColumns = {
    rows: file.rows,
    label: primitiveView<Float32Array>(file, 'label', isFloat32, 'float32'),
    doc: primitiveView<Int32Array>(file, 'doc', isInt32, 'int32'),
    user: primitiveView<Int32Array>(file, 'user', isInt32, 'int32'),
    query: primitiveView<Int32Array>(file, 'query', isInt32, 'int32'),
    timestamp: primitiveView<BigInt64Array>(file, 'timestamp', isInt64, 'int64'),
    queryTokenWidth: m.queryTokens,
    categorical: [],
    dense: [],
    sequences: [],
  };
  if (m.queryTokens > 0)
    c.queryTokens = fixedSizeListView<Int32Array>(file, 'queryTokens', m.queryTokens, isInt32, `fixed_size_list<int32>[${m.queryTokens}]`, false).values;
  for (const x of m.categorical) c.categorical.push({ name: x.name, values: primitiveView<Int32Array>(file, `cat.${x.name}`, isInt32, 'int32') });
  for (const name of m.dense) c.dense.push({ name, values: primitiveView<Float32Array>(file, `dense.${name}`, isFloat32, 'float32') });
  for (const spec of m.sequences) {
    const col = `seq.${spec.name}`;
    const { offsets, values } = listView<Int32Array>(file, col, isInt32, 'list<int32>');
    const s: SequenceColumns = { name: spec.name, offsets, values };
    if (spec.action) {
      const a = listView<Int32Array>(file, `${col}.action`, isInt32, 'list<int32>');
      sameOffsets(file, `${col}.action`, offsets, a.offsets);
      s.action = a.values;
    }
    if (spec.age) {
      const a = listView<Float32Array>(file, `${col}.age`, isFloat32, 'list<float32>');
      sameOffsets(file, `${col}.age`, offsets, a.offsets);
      s.age = a.values;
    }
    c.sequences.push(s);
  }
  c.coldStart = primitiveView<Uint8Array>(file, 'coldStart', isUint8, 'uint8', false);
  validateSamples(file.path, c, m);
  return c;
}

/**
 * Opens a dataset folder: reads dataset.json and each Arrow file into memory, checks them
 * (docs/data-format.md, "Validation") and returns typed arrays viewing the file buffers.
 * Throws DataError naming file, column and first bad row.
 */
export function openDataset(dir: string, options: OpenOptions = {}): Dataset {
  const root = resolve(dir);
  if (!existsSync(root)) throw new DataError('no such dataset folder', root);
  const manifest = readManifest(root);
  const verify = options.verify ?? true;
  const sums = verify ? manifest.checksums : undefined;
  const verification: DatasetVerification = { verified: sums !== undefined, bytes: 0, seconds: 0 };
  if (!verify) verification.reason = 'verify: false';
  else if (!sums) verification.reason = `${MANIFEST_FILE} has no checksums (written by an older lemur)`;
  // Each file is checked as it is read; a file the manifest names but has no sum for is a lie.
  const expected = (file: string) => {
    if (!sums) return undefined;
    const c = sums[file];
    if (!c) throw new DataError(`has checksums but none for '${file}'`, join(root, MANIFEST_FILE), 'checksums');
    verification.bytes += c.bytes;
    return c;
  };
  const read = (file: string) => {
    const c = expected(file);
    const t0 = performance.now();
    const f = readArrowFile(join(root, file), c);
    if (c) verification.seconds += (performance.now() - t0) / 1000;
    return f;
  };
  if (sums) {
    const tokenizerPath = join(root, manifest.tokenizer);
    const c = expected(manifest.tokenizer)!;
    let bytes: Buffer;
    try {
      bytes = readFileSync(tokenizerPath);
    } catch (e) {
      throw new DataError(`cannot read: ${(e as Error).message}`, tokenizerPath);
    }
    verifyChecksum(tokenizerPath, bytes, c);
  }
  const documents = readDocuments(read(manifest.documents), manifest);
  const names = options.splits ?? Object.keys(manifest.splits);
  const splits: Record<string, SampleColumns> = {};
  for (const name of names) {
    const file = manifest.splits[name];
    if (!file) throw new DataError(`no split '${name}' (the dataset has ${Object.keys(manifest.splits).join(', ')})`, join(root, MANIFEST_FILE), 'splits');
    splits[name] = readSamples(read(file), manifest);
  }
  return { dir: root, manifest, documents, splits, verification };
}

// ---------------------------------------------------------------------------------------
// Writing

/** What an importer or the generator returns. */
export interface ImportResult {
  dir: string;
  manifest: DatasetManifest;
  /** Wall time of the import. */
  seconds: number;
  /** Image decoding figures, where images were imported. */
  images?: ImageStats;
  /** Rows the importer dropped and values it repaired, per reason (importers of raw files). */
  report?: ImportReport;
}

/** Documents as an importer holds them before writing. */
export interface DocumentInput {
  docId: BigInt64Array;
  /** Raw text per text field, one string per document. */
  text: Record<string, readonly string[]>;
  /** [rows * documentTokens] packed token ids. */
  tokens: Int32Array;
  /** [rows * H*W*C] HWC pixels (zeros where missing). */
  images?: Uint8Array;
  /** 1 where the document has an image; 0 is written as null. */
  hasImage?: Uint8Array;
  categorical: { name: string; values: Int32Array }[];
}

/** The manifest fields an importer decides; the rest is derived when writing. */
export type ManifestInput = Omit<DatasetManifest, 'format' | 'version' | 'splits' | 'documents' | 'tokenizer' | 'documentTokens' | 'vocabSize' | 'stats'>;

export interface DatasetContent {
  manifest: ManifestInput;
  documents: DocumentInput;
  /** Split name -> samples; written as `<name>.arrow`. */
  splits: Record<string, SampleColumns>;
  tokenizer: Tokenizer;
}

/** Figures of one split for the manifest. */
export function splitStats(c: SampleColumns, numUsers: number, numDocuments: number): SplitStats {
  let positives = 0;
  for (let i = 0; i < c.rows; i++) positives += c.label[i];
  const seenUser = new Uint8Array(numUsers);
  const seenDoc = new Uint8Array(numDocuments);
  let users = 0;
  let docs = 0;
  for (let i = 0; i < c.rows; i++) {
    if (!seenUser[c.user[i]]) (seenUser[c.user[i]] = 1), users++;
    if (!seenDoc[c.doc[i]]) (seenDoc[c.doc[i]] = 1), docs++;
  }
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  const s: SplitStats = {
    rows: c.rows,
    positives: c.rows ? round(positives / c.rows) : 0,
    distinctUsers: users,
    distinctDocuments: docs,
    meanHistory: Object.fromEntries(c.sequences.map((q) => [q.name, c.rows ? round(q.values.length / c.rows) : 0])),
  };
  if (c.coldStart) {
    let cold = 0;
    for (let i = 0; i < c.rows; i++) cold += c.coldStart[i];
    s.coldStartRows = cold;
  }
  return s;
}

function sampleColumns(c: SampleColumns): ColumnData[] {
  const cols = [float32Column('label', c.label), int32Column('doc', c.doc), int32Column('user', c.user), int32Column('query', c.query), int64Column('timestamp', c.timestamp)];
  if (c.queryTokens) cols.push(fixedSizeListColumn('queryTokens', c.queryTokens, c.queryTokenWidth));
  for (const x of c.categorical) cols.push(int32Column(`cat.${x.name}`, x.values));
  for (const x of c.dense) cols.push(float32Column(`dense.${x.name}`, x.values));
  for (const s of c.sequences) {
    cols.push(listColumn(`seq.${s.name}`, s.offsets, s.values));
    if (s.action) cols.push(listColumn(`seq.${s.name}.action`, s.offsets, s.action));
    if (s.age) cols.push(listColumn(`seq.${s.name}.age`, s.offsets, s.age));
  }
  if (c.coldStart) cols.push(uint8Column('coldStart', c.coldStart));
  return cols;
}

/**
 * Writes a complete dataset into `dir` (an empty folder, normally the temporary folder of
 * buildFolderAtomically): validates every column first, then the Arrow files, tokenizer.json
 * and dataset.json last. Returns the manifest written.
 */
export async function writeDatasetFiles(dir: string, content: DatasetContent): Promise<DatasetManifest> {
  const { documents: d, tokenizer } = content;
  const rows = d.docId.length;
  const m = content.manifest;
  // Built field by field: the JSON keeps the format's key order.
  const ordered: DatasetManifest = {
    format: 'lemur-dataset',
    version: 1,
    name: m.name,
    createdBy: m.createdBy,
    numDocuments: m.numDocuments,
    numUsers: m.numUsers,
    numQueries: m.numQueries,
    splits: Object.fromEntries(Object.keys(content.splits).map((s) => [s, `${s}.arrow`])),
    documents: 'documents.arrow',
    textFields: m.textFields,
    documentTokens: documentTokenWidth(m.textFields),
    queryTokens: m.queryTokens,
    vocabSize: tokenizer.vocabSize,
    tokenizer: 'tokenizer.json',
    image: m.image,
    categorical: m.categorical,
    documentCategorical: m.documentCategorical,
    dense: m.dense,
    sequences: m.sequences,
    stats: {},
    sourceStats: m.sourceStats,
  };
  checkManifest(ordered, join(dir, MANIFEST_FILE));

  const docColumns: DocumentColumns = {
    rows,
    docId: d.docId,
    tokens: d.tokens,
    tokenWidth: ordered.documentTokens,
    images: d.images,
    hasImage: d.hasImage,
    imageShape: ordered.image ? [ordered.image.height, ordered.image.width, ordered.image.channels] : undefined,
    categorical: d.categorical,
    text: {},
  };
  const docFile = join(dir, ordered.documents);
  for (const f of ordered.textFields)
    if (d.text[f.name]?.length !== rows) throw new DataError(`text field '${f.name}' has ${d.text[f.name]?.length ?? 0} rows, expected ${rows}`, docFile, f.name);
  validateDocuments(docFile, docColumns, ordered);
  for (const [name, c] of Object.entries(content.splits)) {
    validateSamples(join(dir, ordered.splits[name]), c, ordered);
    ordered.stats[name] = splitStats(c, ordered.numUsers, ordered.numDocuments);
  }

  const cols: ColumnData[] = [int64Column('docId', d.docId)];
  for (const f of ordered.textFields) cols.push(utf8Column(f.name, d.text[f.name]));
  cols.push(fixedSizeListColumn('tokens', d.tokens, ordered.documentTokens));
  if (ordered.image && d.images) {
    const { height, width, channels } = ordered.image;
    cols.push(fixedSizeListColumn('image', d.images, height * width * channels, d.hasImage));
  }
  for (const x of d.categorical) cols.push(int32Column(`cat.${x.name}`, x.values));
  const checksums: Record<string, FileChecksum> = {};
  checksums[ordered.documents] = await writeArrowFile(docFile, cols);
  for (const [name, c] of Object.entries(content.splits)) checksums[ordered.splits[name]] = await writeArrowFile(join(dir, ordered.splits[name]), sampleColumns(c));
  tokenizer.save(join(dir, ordered.tokenizer));
  checksums[ordered.tokenizer] = checksumOf(readFileSync(join(dir, ordered.tokenizer)));
  ordered.checksums = checksums;
  writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(ordered, null, 2) + '\n');
  return ordered;
}
