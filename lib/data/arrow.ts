/**
 * Arrow IPC files as lemur uses them: uncompressed, exactly one record batch, written
 * atomically, read into one Buffer whose column buffers are viewed zero-copy.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

import {
  Data,
  DataType,
  Field,
  FixedSizeList,
  Float32,
  Int32,
  Int64,
  List,
  makeData,
  Precision,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchReader,
  Schema,
  Struct,
  Uint8,
  Utf8,
} from 'apache-arrow';

import { DataError } from '../errors.js';
import { verifyChecksum, type FileChecksum } from './checksum.js';
import { fsyncDir, tempNameFor } from './files.js';

// ---------------------------------------------------------------------------------------
// Building columns (zero-copy over the given typed arrays)

/** One column to write: its name, its data and whether nulls are allowed. */
export interface ColumnData {
  name: string;
  data: Data;
  nullable: boolean;
}

export function int32Column(name: string, values: Int32Array): ColumnData {
  return { name, nullable: false, data: makeData({ type: new Int32(), length: values.length, nullCount: 0, data: values }) };
}

export function float32Column(name: string, values: Float32Array): ColumnData {
  return { name, nullable: false, data: makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values }) };
}

export function int64Column(name: string, values: BigInt64Array): ColumnData {
  return { name, nullable: false, data: makeData({ type: new Int64(), length: values.length, nullCount: 0, data: values }) };
}

export function uint8Column(name: string, values: Uint8Array): ColumnData {
  return { name, nullable: false, data: makeData({ type: new Uint8(), length: values.length, nullCount: 0, data: values }) };
}

/** utf8 column; strings are encoded once into one buffer (int32 offsets: < 2 GiB of text). */
export function utf8Column(name: string, strings: readonly string[]): ColumnData {
  const encoder = new TextEncoder();
  const offsets = new Int32Array(strings.length + 1);
  let size = 0;
  for (const s of strings) size += s.length * 3; // UTF-16 unit -> at most 3 UTF-8 bytes
  let bytes = new Uint8Array(Math.max(size, 1));
  let at = 0;
  for (let i = 0; i < strings.length; i++) {
    at += encoder.encodeInto(strings[i], bytes.subarray(at)).written;
    if (at > 0x7fffffff) throw new DataError('more than 2 GiB of text in one column', undefined, name);
    offsets[i + 1] = at;
  }
  bytes = bytes.slice(0, at);
  return { name, nullable: false, data: makeData({ type: new Utf8(), length: strings.length, nullCount: 0, valueOffsets: offsets, data: bytes }) };
}

/** Packs a 0/1 validity array into Arrow's LSB-first bitmap. */
function validityBitmap(valid: Uint8Array): { bitmap: Uint8Array; nulls: number } {
  const bitmap = new Uint8Array(Math.ceil(valid.length / 8));
  let nulls = 0;
  for (let i = 0; i < valid.length; i++) {
    if (valid[i]) bitmap[i >> 3] |= 1 << (i & 7);
    else nulls++;
  }
  return { bitmap, nulls };
}

/** fixed_size_list<int32|uint8>[width]; `valid` (0/1 per row) makes it nullable. */
export function fixedSizeListColumn(name: string, values: Int32Array | Uint8Array, width: number, valid?: Uint8Array): ColumnData {
  const rows = width > 0 ? values.length / width : 0;
  if (!Number.isInteger(rows)) throw new DataError(`${values.length} values are not a multiple of the width ${width}`, undefined, name);
  const childType = values instanceof Int32Array ? new Int32() : new Uint8();
  const child = makeData({ type: childType, length: values.length, nullCount: 0, data: values } as never) as Data;
  const type = new FixedSizeList(width, new Field('item', childType, false));
  if (valid) {
    const { bitmap, nulls } = validityBitmap(valid);
    return { name, nullable: true, data: makeData({ type, length: rows, nullCount: nulls, nullBitmap: bitmap, child } as never) as Data };
  }
  return { name, nullable: false, data: makeData({ type, length: rows, nullCount: 0, child } as never) as Data };
}

/** list<int32|float32> with int32 offsets (a history or its side info). */
export function listColumn(name: string, offsets: Int32Array, values: Int32Array | Float32Array): ColumnData {
  const childType = values instanceof Int32Array ? new Int32() : new Float32();
  const child = makeData({ type: childType, length: values.length, nullCount: 0, data: values } as never) as Data;
  const type = new List(new Field('item', childType, false));
  return { name, nullable: false, data: makeData({ type, length: offsets.length - 1, nullCount: 0, valueOffsets: offsets, child } as never) as Data };
}

/** One record batch over the columns (all of the same length). */
export function recordBatch(columns: readonly ColumnData[]): RecordBatch {
  const rows = columns.length ? columns[0].data.length : 0;
  for (const c of columns)
    if (c.data.length !== rows) throw new DataError(`has ${c.data.length} rows, expected ${rows}`, undefined, c.name);
  const fields = columns.map((c) => new Field(c.name, c.data.type, c.nullable));
  const struct = makeData({ type: new Struct(fields), length: rows, nullCount: 0, children: columns.map((c) => c.data) });
  return new RecordBatch(new Schema(fields), struct);
}

// ---------------------------------------------------------------------------------------
// Writing

/**
 * Writes the columns as an uncompressed Arrow IPC file with exactly one record batch.
 * Atomic: the bytes go to a temporary name in the same folder, are fsynced, then renamed,
 * so a reader never sees a half-written file. Buffers are streamed to the file as the
 * writer emits them (no second in-memory copy of the table), hashed on the way. Returns the
 * file's size and SHA-256.
 */
export async function writeArrowFile(path: string, columns: readonly ColumnData[]): Promise<FileChecksum> {
  const batch = recordBatch(columns);
  const tmp = tempNameFor(path);
  const fd = openSync(tmp, 'w');
  let size = 0;
  const hash = createHash('sha256');
  try {
    const writer = new RecordBatchFileWriter();
    writer.write(batch);
    writer.finish(); // footer + close: the async iteration below then ends
    for await (const chunk of writer) {
      let at = 0;
      while (at < chunk.byteLength) at += writeSync(fd, chunk, at, chunk.byteLength - at);
      hash.update(chunk);
      size += chunk.byteLength;
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
  return { bytes: size, sha256: hash.digest('hex') };
}

// ---------------------------------------------------------------------------------------
// Reading

/** A validated Arrow file: one record batch, viewed over `bytes`. */
export interface ArrowFile {
  path: string;
  bytes: Buffer;
  schema: Schema;
  batch: RecordBatch;
  rows: number;
}

/** Reads the whole file into one Buffer (readFileSync stops at 2 GiB; this does not). */
function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafeSlow(size);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, buf, at, Math.min(size - at, 1 << 30), at);
      if (n === 0) break;
      at += n;
    }
    return at === size ? buf : buf.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

const MAGIC = 'ARROW1';
const MESSAGE_HEADER_RECORD_BATCH = 3;

/** The few flatbuffer reads needed to inspect a RecordBatch message (Arrow JS ignores compression). */
class FlatTable {
  constructor(
    private readonly b: Buffer,
    private readonly pos: number,
    private readonly end: number,
  ) {}
  static root(b: Buffer, start: number, end: number): FlatTable {
    return new FlatTable(b, start + b.readUInt32LE(start), end);
  }
  private fieldPos(i: number): number {
    const vtable = this.pos - this.b.readInt32LE(this.pos);
    const vtSize = this.b.readUInt16LE(vtable);
    if (4 + 2 * i >= vtSize) return 0;
    const off = this.b.readUInt16LE(vtable + 4 + 2 * i);
    return off ? this.pos + off : 0;
  }
  has(i: number): boolean {
    return this.fieldPos(i) !== 0;
  }
  u8(i: number): number {
    const p = this.fieldPos(i);
    return p ? this.b.readUInt8(p) : 0;
  }
  table(i: number): FlatTable | null {
    const p = this.fieldPos(i);
    return p ? new FlatTable(this.b, p + this.b.readUInt32LE(p), this.end) : null;
  }
  /** A vector of 16-byte structs of two int64 (Buffer {offset, length}). */
  pairs(i: number): [number, number][] {
    const p = this.fieldPos(i);
    if (!p) return [];
    const v = p + this.b.readUInt32LE(p);
    const n = this.b.readUInt32LE(v);
    if (v + 4 + n * 16 > this.end) throw new RangeError('vector beyond the message');
    const out: [number, number][] = [];
    // The builder pads before the length prefix, so the structs start right after it.
    const start = v + 4;
    for (let k = 0; k < n; k++) out.push([Number(this.b.readBigInt64LE(start + 16 * k)), Number(this.b.readBigInt64LE(start + 16 * k + 8))]);
    return out;
  }
}

/**
 * Reads and checks an Arrow IPC file: magic at both ends (else truncated), a readable footer,
 * exactly one record batch lying inside the file, no body compression, buffers inside the body.
 */
export function readArrowFile(path: string, expected?: FileChecksum): ArrowFile {
  let bytes: Buffer;
  try {
    bytes = readWhole(path);
  } catch (e) {
    throw new DataError(`cannot read: ${(e as Error).message}`, path);
  }
  // Before any parsing: a damaged header is then reported as damage, not as a format error.
  if (expected) verifyChecksum(path, bytes, expected);
  const size = bytes.length;
  if (size < 6 || bytes.toString('latin1', 0, 6) !== MAGIC) {
    const stream = size >= 4 && bytes.readUInt32LE(0) === 0xffffffff;
    throw new DataError(stream ? 'an Arrow IPC stream, not a file (write the IPC file format)' : 'not an Arrow IPC file (no ARROW1 magic)', path);
  }
  if (size < 8 + 10 || bytes.toString('latin1', size - 6) !== MAGIC) throw new DataError(`truncated (${size} bytes, no footer magic at the end)`, path);
  const footerLength = bytes.readInt32LE(size - 10);
  const footerStart = size - 10 - footerLength;
  if (footerLength <= 0 || footerStart < 8) throw new DataError(`truncated or corrupt (footer length ${footerLength} in a ${size}-byte file)`, path);

  let reader;
  try {
    reader = RecordBatchReader.from(bytes);
    reader.open();
  } catch (e) {
    throw new DataError(`cannot read the Arrow footer: ${(e as Error).message}`, path);
  }
  if (!reader.isFile()) throw new DataError('not an Arrow IPC file', path);
  const n = reader.numRecordBatches;
  if (n !== 1) throw new DataError(`has ${n} record batches; lemur needs exactly one (write the table as a single batch)`, path);
  const footer = reader.footer;
  if (!footer) throw new DataError('cannot read the Arrow footer', path);
  if (footer.numDictionaries > 0) throw new DataError('has dictionary batches; lemur columns are never dictionary-encoded', path);
  const block = footer.getRecordBatch(0)!;
  if (block.offset < 8 || block.offset + block.metaDataLength + block.bodyLength > footerStart)
    throw new DataError(`truncated: the record batch (${block.offset}+${block.metaDataLength}+${block.bodyLength}) runs past the footer at ${footerStart}`, path);

  try {
    let meta = block.offset;
    if (bytes.readUInt32LE(meta) === 0xffffffff) meta += 8; // continuation marker + length
    else meta += 4; // pre-1.0 files: length only
    const metaEnd = block.offset + block.metaDataLength;
    const message = FlatTable.root(bytes, meta, metaEnd);
    if (message.u8(1) !== MESSAGE_HEADER_RECORD_BATCH) throw new DataError('the footer does not point at a record batch', path);
    const rb = message.table(2);
    if (!rb) throw new DataError('record batch message without a header', path);
    // RecordBatch field 3 is `compression` (BodyCompression): lemur views buffers as they are.
    if (rb.has(3)) throw new DataError('is compressed (LZ4/ZSTD body compression); write uncompressed IPC files', path);
    for (const [offset, length] of rb.pairs(2))
      if (offset < 0 || length < 0 || offset + length > block.bodyLength)
        throw new DataError(`truncated or corrupt: a buffer (${offset}+${length}) lies outside the ${block.bodyLength}-byte body`, path);
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(`corrupt record batch message: ${(e as Error).message}`, path);
  }

  let batch: RecordBatch;
  try {
    batch = reader.readRecordBatch(0)!;
  } catch (e) {
    throw new DataError(`cannot read the record batch: ${(e as Error).message}`, path);
  }
  if (!batch) throw new DataError('cannot read the record batch', path);
  return { path, bytes, schema: reader.schema, batch, rows: batch.numRows };
}

// ---------------------------------------------------------------------------------------
// Viewing columns (typed arrays over the file's buffer; checks type, nulls and lengths)

type Check = (t: DataType) => boolean;
export const isInt32: Check = (t) => DataType.isInt(t) && t.bitWidth === 32 && t.isSigned;
export const isInt64: Check = (t) => DataType.isInt(t) && t.bitWidth === 64 && t.isSigned;
export const isUint8: Check = (t) => DataType.isInt(t) && t.bitWidth === 8 && !t.isSigned;
export const isFloat32: Check = (t) => DataType.isFloat(t) && t.precision === Precision.SINGLE;

/** The column's single Data chunk, or a DataError naming what is missing or mistyped. */
export function columnData(file: ArrowFile, name: string, check: Check, expected: string, required = true): Data | undefined {
  const index = file.schema.fields.findIndex((f) => f.name === name);
  if (index < 0) {
    if (!required) return undefined;
    throw new DataError(`missing column (expected ${expected})`, file.path, name);
  }
  const data = file.batch.data.children[index];
  if (!check(data.type)) throw new DataError(`has type ${data.type}, expected ${expected}`, file.path, name);
  return data;
}

/** First null row of a Data, or -1. */
function firstNull(data: Data): number {
  if (!data.nullCount) return -1;
  for (let i = 0; i < data.length; i++) if (!data.getValid(i)) return i;
  return -1;
}

function noNulls(file: ArrowFile, name: string, data: Data): void {
  const r = firstNull(data);
  if (r >= 0) throw new DataError('is null (this column is not nullable)', file.path, name, r);
}

type Primitive = Int32Array | Float32Array | BigInt64Array | Uint8Array;

/**
 * values[start .. start+length). Arrow JS applies a slice's offset to the buffers themselves
 * (`data.offset` then only indexes the validity bitmap), so a Data's values begin at its first
 * row; `data.values` may carry alignment padding past the end, hence the explicit length.
 */
function slicePrimitive<T extends Primitive>(file: ArrowFile, name: string, data: Data, start: number, length: number): T {
  const values = data.values as T;
  if (!values || values.length < start + length)
    throw new DataError(`truncated: ${values?.length ?? 0} values, ${start + length} needed`, file.path, name);
  return values.subarray(start, start + length) as T;
}

export function primitiveView<T extends Primitive>(file: ArrowFile, name: string, check: Check, expected: string): T;
export function primitiveView<T extends Primitive>(file: ArrowFile, name: string, check: Check, expected: string, required: false): T | undefined;
export function primitiveView<T extends Primitive>(file: ArrowFile, name: string, check: Check, expected: string, required = true): T | undefined {
  const data = columnData(file, name, check, expected, required);
  if (!data) return undefined;
  noNulls(file, name, data);
  return slicePrimitive<T>(file, name, data, 0, data.length);
}

/** A fixed_size_list column: its flat values and, where nullable, a 0/1 validity per row. */
export function fixedSizeListView<T extends Int32Array | Uint8Array>(
  file: ArrowFile,
  name: string,
  width: number,
  child: Check,
  expected: string,
  nullable: boolean,
): { values: T; valid?: Uint8Array } {
  const data = columnData(file, name, (t) => DataType.isFixedSizeList(t) && t.listSize === width && child(t.children[0].type), expected)!;
  if (!nullable) noNulls(file, name, data);
  const c = data.children[0];
  if (c.nullCount) throw new DataError('has null list items', file.path, name, Math.floor(firstNull(c) / width));
  // A sliced fixed_size_list has its child sliced too: the child's values start at row 0.
  const values = slicePrimitive<T>(file, name, c, 0, data.length * width);
  if (!nullable) return { values };
  const valid = new Uint8Array(data.length);
  if (!data.nullCount) valid.fill(1);
  else for (let i = 0; i < data.length; i++) valid[i] = data.getValid(i) ? 1 : 0;
  return { values, valid };
}

/**
 * A list<int32|float32> column as offsets (rebased to start at 0) and values. Checks that the
 * offsets never decrease and stay inside the values, naming the first bad row.
 */
export function listView<T extends Int32Array | Float32Array>(
  file: ArrowFile,
  name: string,
  child: Check,
  expected: string,
): { offsets: Int32Array; values: T } {
  const data = columnData(file, name, (t) => DataType.isList(t) && child(t.children[0].type), expected)!;
  noNulls(file, name, data);
  const c = data.children[0];
  if (c.nullCount) throw new DataError('has null list items', file.path, name);
  // A sliced list has its offsets sliced (not rebased) and its child untouched.
  const raw = data.valueOffsets as Int32Array;
  // Some writers leave the offsets buffer of an empty list column empty.
  if (data.length === 0) return { offsets: Int32Array.of(0), values: new (isInt32(c.type) ? Int32Array : Float32Array)(0) as T };
  if (!raw || raw.length < data.length + 1) throw new DataError('truncated offsets', file.path, name);
  let offsets = raw.subarray(0, data.length + 1);
  const first = offsets[0];
  if (first < 0) throw new DataError(`negative list offset ${first}`, file.path, name, 0);
  for (let r = 0; r < data.length; r++)
    if (offsets[r + 1] < offsets[r]) throw new DataError(`list offsets decrease (${offsets[r]} then ${offsets[r + 1]})`, file.path, name, r);
  const last = offsets[data.length];
  if (last > c.length) throw new DataError(`list offsets end at ${last}, past the ${c.length} list items`, file.path, name, data.length - 1);
  const values = slicePrimitive<T>(file, name, c, first, last - first);
  if (first !== 0) {
    // A sliced list: the native side expects offsets from 0.
    const rebased = new Int32Array(offsets.length);
    for (let i = 0; i < offsets.length; i++) rebased[i] = offsets[i] - first;
    offsets = rebased;
  }
  return { offsets, values };
}

/** A utf8 column as a row -> string accessor (decoded on demand). */
export function utf8View(file: ArrowFile, name: string): (row: number) => string {
  const data = columnData(file, name, (t) => DataType.isUtf8(t), 'utf8')!;
  noNulls(file, name, data);
  // Offsets already start at the first row (sliced, not rebased); the bytes are untouched.
  const offsets = data.valueOffsets as Int32Array;
  const bytes = data.values as Uint8Array;
  const decoder = new TextDecoder();
  const rows = data.length;
  if (rows > 0 && (!offsets || offsets.length < rows + 1 || offsets[rows] > bytes.length)) throw new DataError('truncated text', file.path, name);
  return (row: number) => {
    if (row < 0 || row >= rows) throw new RangeError(`row ${row} outside 0..${rows - 1}`);
    return decoder.decode(bytes.subarray(offsets[row], offsets[row + 1]));
  };
}
