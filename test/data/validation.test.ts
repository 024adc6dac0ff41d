/**
 * openDataset refuses every bad input listed under "Validation" in docs/data-format.md with a
 * DataError naming file, column and first bad row. Bad files are crafted with apache-arrow
 * directly (not with lemur's writer) from a small valid generated dataset.
 */
import { cpSync, readFileSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  Data,
  Field,
  Float32,
  Int32,
  List,
  makeData,
  MetadataVersion,
  RecordBatch,
  RecordBatchReader,
  Schema,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
} from 'apache-arrow';
import { BodyCompression } from 'apache-arrow/fb/body-compression';
import { BodyCompressionMethod } from 'apache-arrow/fb/body-compression-method';
import { Buffer as FbBuffer } from 'apache-arrow/fb/buffer';
import { CompressionType } from 'apache-arrow/fb/compression-type';
import { FieldNode } from 'apache-arrow/fb/field-node';
import { Message } from 'apache-arrow/fb/message';
import { MessageHeader } from 'apache-arrow/fb/message-header';
import { RecordBatch as FbRecordBatch } from 'apache-arrow/fb/record-batch';
import { FileBlock, Footer } from 'apache-arrow/ipc/metadata/file';
import * as flatbuffers from 'flatbuffers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DataError, generateDataset, openDataset, type DatasetManifest } from '../../dist/index.js';
import { listView, readArrowFile, isInt32 } from '../../dist/data/arrow.js';
import { tempDir } from './fixtures.js';

const tmp = tempDir();
const base = join(tmp.dir, 'base');
let manifest: DatasetManifest;
let caseNo = 0;

beforeAll(async () => {
  ({ manifest } = await generateDataset(base, { numDocuments: 60, numUsers: 12, numSamples: 400, historyLength: 8, withQueries: true, withImages: true, imageSize: 4, vocabSize: 300 }));
  // These cases test the structural checks, which also guard files from other writers (no
  // checksums; test/data/checksums.test.ts covers those): without this the checksum fires first.
  const m = JSON.parse(readFileSync(join(base, 'dataset.json'), 'utf8'));
  delete m.checksums;
  writeFileSync(join(base, 'dataset.json'), JSON.stringify(m, null, 2));
});
afterAll(() => tmp.cleanup());

/** A copy of the valid dataset to break. */
function copy(): string {
  const dir = join(tmp.dir, `case-${caseNo++}`);
  cpSync(base, dir, { recursive: true });
  return dir;
}

type Columns = { name: string; data: Data; nullable: boolean }[];

function readColumns(path: string): Columns {
  const table = tableFromIPC(readFileSync(path));
  expect(table.batches.length).toBe(1);
  return table.schema.fields.map((f, i) => ({ name: f.name, data: table.batches[0].data.children[i], nullable: f.nullable }));
}

function toTable(cols: Columns, batches = 1): Table {
  const fields = cols.map((c) => new Field(c.name, c.data.type, c.nullable));
  const rows = cols[0].data.length;
  const batch = new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: rows, nullCount: 0, children: cols.map((c) => c.data) }));
  if (batches === 1) return new Table([batch]);
  const k = Math.floor(rows / 2);
  return new Table([batch.slice(0, k), batch.slice(k)]);
}

/** Rewrites one Arrow file of the copy after `edit` changed its columns. */
function rewrite(dir: string, file: string, edit: (cols: Columns) => void, batches = 1): void {
  const path = join(dir, file);
  const cols = readColumns(path);
  edit(cols);
  writeFileSync(path, tableToIPC(toTable(cols, batches), 'file'));
}

function col(cols: Columns, name: string): Data {
  const c = cols.find((x) => x.name === name);
  if (!c) throw new Error(`no column ${name}`);
  return c.data;
}

function replace(cols: Columns, name: string, data: Data): void {
  cols.find((x) => x.name === name)!.data = data;
}

/** A copy of a primitive column's values, edited, as a new Data. */
function editValues<T extends Float32Array | Int32Array>(cols: Columns, name: string, edit: (v: T) => void): void {
  const d = col(cols, name);
  const v = (d.values as T).slice(0, d.length) as T;
  edit(v);
  replace(cols, name, makeData({ type: d.type, length: v.length, nullCount: 0, data: v } as never) as Data);
}

function listParts(cols: Columns, name: string): { offsets: Int32Array; values: Int32Array | Float32Array; type: List } {
  const d = col(cols, name);
  const offsets = (d.valueOffsets as Int32Array).slice(0, d.length + 1);
  const c = d.children[0];
  return { offsets, values: (c.values as Int32Array).slice(0, c.length), type: d.type as List };
}

function listData(type: List, offsets: Int32Array, values: Int32Array | Float32Array): Data {
  const childType = values instanceof Int32Array ? new Int32() : new Float32();
  const child = makeData({ type: childType, length: values.length, nullCount: 0, data: values } as never) as Data;
  return makeData({ type, length: offsets.length - 1, nullCount: 0, valueOffsets: offsets, child } as never) as Data;
}

/** A row whose history `seq.clicks` has at least `n` items. */
function rowWithHistory(cols: Columns, n: number, from = 0): number {
  const { offsets } = listParts(cols, 'seq.clicks');
  for (let r = from; r + 1 < offsets.length; r++) if (offsets[r + 1] - offsets[r] >= n) return r;
  throw new Error('no such row');
}

/** Expects openDataset to throw a DataError naming file, column and row. */
function expectDataError(dir: string, match: { file: string; column?: string; row?: number; message: RegExp }): DataError {
  let error: unknown;
  try {
    openDataset(dir);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(DataError);
  const e = error as DataError;
  expect(e.file).toContain(match.file);
  expect(e.message).toContain(match.file);
  if (match.column !== undefined) {
    expect(e.column).toBe(match.column);
    expect(e.message).toContain(`column '${match.column}'`);
  }
  if (match.row !== undefined) {
    expect(e.row).toBe(match.row);
    expect(e.message).toContain(`row ${match.row}`);
  }
  expect(e.message).toMatch(match.message);
  return e;
}

/** Re-encodes the record batch message of an Arrow file with an LZ4 BodyCompression entry. */
function markCompressed(path: string): void {
  const bytes = readFileSync(path);
  const reader = RecordBatchReader.from(bytes);
  reader.open();
  const block = reader.footer!.getRecordBatch(0)!;
  const meta = bytes.subarray(block.offset + 8, block.offset + block.metaDataLength);
  const message = Message.getRootAsMessage(new flatbuffers.ByteBuffer(meta));
  const rb = message.header(new FbRecordBatch()) as FbRecordBatch;
  const b = new flatbuffers.Builder(1024);
  FbRecordBatch.startNodesVector(b, rb.nodesLength());
  for (let i = rb.nodesLength() - 1; i >= 0; i--) FieldNode.createFieldNode(b, rb.nodes(i)!.length(), rb.nodes(i)!.nullCount());
  const nodes = b.endVector();
  FbRecordBatch.startBuffersVector(b, rb.buffersLength());
  for (let i = rb.buffersLength() - 1; i >= 0; i--) FbBuffer.createBuffer(b, rb.buffers(i)!.offset(), rb.buffers(i)!.length());
  const buffers = b.endVector();
  const compression = BodyCompression.createBodyCompression(b, CompressionType.LZ4_FRAME, BodyCompressionMethod.BUFFER);
  FbRecordBatch.startRecordBatch(b);
  FbRecordBatch.addLength(b, rb.length());
  FbRecordBatch.addNodes(b, nodes);
  FbRecordBatch.addBuffers(b, buffers);
  FbRecordBatch.addCompression(b, compression);
  const header = FbRecordBatch.endRecordBatch(b);
  Message.startMessage(b);
  Message.addVersion(b, message.version());
  Message.addHeaderType(b, MessageHeader.RecordBatch);
  Message.addHeader(b, header);
  Message.addBodyLength(b, message.bodyLength());
  b.finish(Message.endMessage(b));
  const flat = b.asUint8Array();
  const padded = Math.ceil(flat.length / 8) * 8;
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(0xffffffff, 0);
  prefix.writeInt32LE(padded, 4);
  const body = bytes.subarray(block.offset + block.metaDataLength, block.offset + block.metaDataLength + block.bodyLength);
  const footer = Footer.encode(new Footer(reader.schema, MetadataVersion.V5, [new FileBlock(8 + padded, block.bodyLength, block.offset)], []));
  const tail = Buffer.alloc(4);
  tail.writeInt32LE(footer.length, 0);
  writeFileSync(
    path,
    Buffer.concat([bytes.subarray(0, block.offset), prefix, flat, Buffer.alloc(padded - flat.length), body, footer, tail, Buffer.from('ARROW1')]),
  );
}

describe('openDataset validation', () => {
  it('opens the valid dataset', () => {
    const ds = openDataset(base);
    expect(Object.values(ds.splits).reduce((a, c) => a + c.rows, 0)).toBe(400);
    expect(ds.manifest).toEqual({ ...manifest, checksums: undefined });
  });

  it('missing column', () => {
    const dir = copy();
    rewrite(dir, 'train.arrow', (cols) => cols.splice(cols.findIndex((c) => c.name === 'user'), 1));
    expectDataError(dir, { file: 'train.arrow', column: 'user', message: /missing column/ });
  });

  it('mistyped column', () => {
    const dir = copy();
    rewrite(dir, 'train.arrow', (cols) => {
      const d = col(cols, 'doc');
      replace(cols, 'doc', makeData({ type: new Float32(), length: d.length, nullCount: 0, data: Float32Array.from(d.values as Int32Array) }));
    });
    expectDataError(dir, { file: 'train.arrow', column: 'doc', message: /has type Float32, expected int32/ });
  });

  it('mistyped list item type', () => {
    const dir = copy();
    rewrite(dir, 'test.arrow', (cols) => {
      const { offsets, values } = listParts(cols, 'seq.clicks');
      replace(cols, 'seq.clicks', listData(new List(new Field('item', new Float32(), false)), offsets, Float32Array.from(values)));
    });
    expectDataError(dir, { file: 'test.arrow', column: 'seq.clicks', message: /expected list<int32>/ });
  });

  it('more than one record batch', () => {
    const dir = copy();
    rewrite(dir, 'train.arrow', () => {}, 2);
    expectDataError(dir, { file: 'train.arrow', message: /2 record batches/ });
  });

  it('compressed file', () => {
    const dir = copy();
    markCompressed(join(dir, 'train.arrow'));
    expectDataError(dir, { file: 'train.arrow', message: /compressed/ });
  });

  it('truncated file (cut in half)', () => {
    const dir = copy();
    const path = join(dir, 'documents.arrow');
    truncateSync(path, Math.floor(statSync(path).size / 2));
    expectDataError(dir, { file: 'documents.arrow', message: /truncated/ });
  });

  it('an IPC stream instead of a file', () => {
    const dir = copy();
    const path = join(dir, 'test.arrow');
    writeFileSync(path, tableToIPC(toTable(readColumns(path)), 'stream'));
    expectDataError(dir, { file: 'test.arrow', message: /stream, not a file/ });
  });

  it('NaN label', () => {
    const dir = copy();
    rewrite(dir, 'train.arrow', (cols) => editValues<Float32Array>(cols, 'label', (v) => (v[3] = NaN)));
    expectDataError(dir, { file: 'train.arrow', column: 'label', row: 3, message: /label NaN is not 0 or 1/ });
  });

  it('label that is not 0 or 1', () => {
    const dir = copy();
    rewrite(dir, 'test.arrow', (cols) => editValues<Float32Array>(cols, 'label', (v) => (v[5] = 0.5)));
    expectDataError(dir, { file: 'test.arrow', column: 'label', row: 5, message: /label 0.5 is not 0 or 1/ });
  });

  it('document index out of range', () => {
    const dir = copy();
    rewrite(dir, 'train.arrow', (cols) => editValues<Int32Array>(cols, 'doc', (v) => (v[7] = 60)));
    expectDataError(dir, { file: 'train.arrow', column: 'doc', row: 7, message: /document index 60 outside 0..59/ });
  });

  it('user index out of range', () => {
    const dir = copy();
    rewrite(dir, 'train.arrow', (cols) => editValues<Int32Array>(cols, 'user', (v) => (v[2] = -1)));
    expectDataError(dir, { file: 'train.arrow', column: 'user', row: 2, message: /user index -1 outside/ });
  });

  it('query id out of range', () => {
    const dir = copy();
    rewrite(dir, 'test.arrow', (cols) => editValues<Int32Array>(cols, 'query', (v) => (v[1] = manifest.numQueries)));
    expectDataError(dir, { file: 'test.arrow', column: 'query', row: 1, message: /query id/ });
  });

  it('history index out of range', () => {
    const dir = copy();
    let row = -1;
    rewrite(dir, 'train.arrow', (cols) => {
      row = rowWithHistory(cols, 2, 10);
      const { offsets, values, type } = listParts(cols, 'seq.clicks');
      values[offsets[row] + 1] = 1000;
      replace(cols, 'seq.clicks', listData(type, offsets, values));
    });
    expectDataError(dir, { file: 'train.arrow', column: 'seq.clicks', row, message: /history document index 1000 outside/ });
  });

  it('decreasing list offsets', () => {
    const dir = copy();
    let row = -1;
    rewrite(dir, 'train.arrow', (cols) => {
      const { offsets, values, type } = listParts(cols, 'seq.clicks');
      for (row = 20; offsets[row] === 0; row++);
      offsets[row + 1] = offsets[row] - 1; // row `row` ends before it starts
      replace(cols, 'seq.clicks', listData(type, offsets, values));
    });
    expectDataError(dir, { file: 'train.arrow', column: 'seq.clicks', row, message: /list offsets decrease/ });
  });

  it('side-info offsets that differ from their sequence', () => {
    const dir = copy();
    let row = -1;
    rewrite(dir, 'train.arrow', (cols) => {
      const r = rowWithHistory(cols, 2, 30);
      row = r - 1; // row r-1 gains the first item of row r
      const { offsets, values, type } = listParts(cols, 'seq.clicks.age');
      offsets[r] += 1;
      replace(cols, 'seq.clicks.age', listData(type, offsets, values));
    });
    expectDataError(dir, { file: 'train.arrow', column: 'seq.clicks.age', row, message: /offsets differ from its sequence/ });
  });

  it('non-finite dense value', () => {
    const dir = copy();
    rewrite(dir, 'train.arrow', (cols) => editValues<Float32Array>(cols, 'dense.activity', (v) => (v[8] = Infinity)));
    expectDataError(dir, { file: 'train.arrow', column: 'dense.activity', row: 8, message: /dense value Infinity is not finite/ });
  });

  it('negative categorical value (request and document)', () => {
    let dir = copy();
    rewrite(dir, 'test.arrow', (cols) => editValues<Int32Array>(cols, 'cat.hour', (v) => (v[9] = -3)));
    expectDataError(dir, { file: 'test.arrow', column: 'cat.hour', row: 9, message: /negative categorical value -3/ });
    dir = copy();
    rewrite(dir, 'documents.arrow', (cols) => editValues<Int32Array>(cols, 'cat.source', (v) => (v[4] = -1)));
    expectDataError(dir, { file: 'documents.arrow', column: 'cat.source', row: 4, message: /negative categorical value -1/ });
  });

  it('token id outside the vocabulary', () => {
    const dir = copy();
    rewrite(dir, 'documents.arrow', (cols) => {
      const d = col(cols, 'tokens');
      const c = d.children[0];
      const v = (c.values as Int32Array).slice();
      v[manifest.documentTokens * 6 + 2] = manifest.vocabSize;
      replace(cols, 'tokens', makeData({ type: d.type, length: d.length, nullCount: 0, child: makeData({ type: new Int32(), length: v.length, nullCount: 0, data: v }) } as never) as Data);
    });
    expectDataError(dir, { file: 'documents.arrow', column: 'tokens', row: 6, message: /token id/ });
  });

  it('a bad manifest', () => {
    let dir = copy();
    const path = join(dir, 'dataset.json');
    const m = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...m, version: 2 }));
    expectDataError(dir, { file: 'dataset.json', column: 'version', message: /unsupported version/ });
    dir = copy();
    writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ ...m, documentTokens: m.documentTokens + 1 }));
    expectDataError(dir, { file: 'dataset.json', column: 'documentTokens', message: /1 \+ sum\(maxTokens\)/ });
    dir = copy();
    writeFileSync(join(dir, 'dataset.json'), '{ not json');
    expectDataError(dir, { file: 'dataset.json', message: /not valid JSON/ });
  });

  it('views a sliced list column with offsets rebased to 0', () => {
    const file = readArrowFile(join(base, 'train.arrow'));
    const whole = listView<Int32Array>(file, 'seq.clicks', isInt32, 'list<int32>');
    const from = rowWithHistory(readColumns(join(base, 'train.arrow')), 1, 5);
    const sliced = { ...file, batch: file.batch.slice(from), rows: file.rows - from };
    const part = listView<Int32Array>(sliced, 'seq.clicks', isInt32, 'list<int32>');
    expect(part.offsets[0]).toBe(0);
    expect(part.offsets.length).toBe(file.rows - from + 1);
    for (let r = 0; r < 5; r++) {
      expect(part.offsets[r + 1] - part.offsets[r]).toBe(whole.offsets[from + r + 1] - whole.offsets[from + r]);
      expect(part.values[part.offsets[r]]).toBe(whole.values[whole.offsets[from + r]]);
    }
    expect(part.values.length).toBe(whole.values.length - whole.offsets[from]);
  });
});
