/**
 * RFC 4180 CSV, read in chunks (files larger than a JS string are fine): quoted fields with
 * commas, doubled quotes and line breaks inside them; LF or CRLF line ends; a UTF-8 BOM.
 */
import { closeSync, openSync, readSync } from 'node:fs';

import { DataError } from '../errors.js';

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

const enum State {
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote inside a quoted field: the end of the field, or the first half of "". */
  QuoteInQuoted,
}

/** Incremental parser: feed() text pieces, end() once; records come out whole. */
export class CsvParser {
  private fields: string[] = [];
  private field = '';
  private state = State.FieldStart;

  constructor(private readonly onRecord: (fields: string[]) => void) {}

  private endField(): void {
    this.fields.push(this.field);
    this.field = '';
    this.state = State.FieldStart;
  }

  private endRecord(): void {
    this.endField();
    const f = this.fields;
    this.fields = [];
    if (f.length === 1 && f[0] === '') return; // blank line
    this.onRecord(f);
  }

  feed(text: string): void {
    let start = 0; // first character of `text` not yet appended to `field`
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      switch (this.state) {
        case State.FieldStart:
          if (c === QUOTE) {
            this.state = State.Quoted;
            start = i + 1;
            break;
          }
          // The character starts an unquoted field: read it again in that state.
          this.state = State.Unquoted;
          start = i--;
          break;
        case State.Unquoted:
          if (c === COMMA) {
            this.field += text.slice(start, i);
            this.endField();
          } else if (c === LF) {
            this.field += text.slice(start, i > start && text.charCodeAt(i - 1) === CR ? i - 1 : i);
            if (this.field.endsWith('\r')) this.field = this.field.slice(0, -1); // CR at the end of the previous chunk
            this.endRecord();
          }
          break;
        case State.Quoted:
          if (c === QUOTE) {
            this.field += text.slice(start, i);
            this.state = State.QuoteInQuoted;
          }
          break;
        case State.QuoteInQuoted:
          if (c === QUOTE) {
            this.field += '"';
            this.state = State.Quoted;
            start = i + 1;
          } else if (c === COMMA) this.endField();
          else if (c === LF) this.endRecord();
          else if (c !== CR) {
            // Text after a closing quote (not RFC 4180): keep it, as most readers do.
            this.state = State.Unquoted;
            start = i;
          }
          break;
      }
    }
    if (this.state === State.Unquoted || this.state === State.Quoted) this.field += text.slice(start);
  }

  end(): void {
    if (this.state !== State.FieldStart || this.fields.length > 0) {
      if (this.field.endsWith('\r') && this.state === State.Unquoted) this.field = this.field.slice(0, -1);
      this.endRecord();
    }
  }
}

/**
 * Reads a CSV file with a header line naming at least `columns`. Calls
 * onRow(fields, row, index) for each data record (row counts from 0 after the header;
 * fields[index.name] is a column's value) and returns the header. Checks the field count.
 */
export function readCsv<K extends string>(
  path: string,
  columns: readonly K[],
  onRow: (fields: string[], row: number, index: Record<K, number>) => void,
  chunkBytes = 4 << 20,
): string[] {
  let header: string[] | undefined;
  let index: Record<K, number> | undefined;
  let row = 0;
  const parser = new CsvParser((fields) => {
    if (!header) {
      header = fields;
      index = headerIndex(path, header, columns);
      return;
    }
    if (fields.length !== header.length)
      throw new DataError(`has ${fields.length} fields, the header has ${header.length}`, path, undefined, row);
    onRow(fields, row++, index!);
  });
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new DataError(`cannot read: ${(e as Error).message}`, path);
  }
  try {
    const decoder = new TextDecoder('utf-8');
    const buf = Buffer.allocUnsafe(chunkBytes);
    let first = true;
    for (;;) {
      const n = readSync(fd, buf, 0, chunkBytes, null);
      if (n === 0) break;
      let text = decoder.decode(buf.subarray(0, n), { stream: true });
      if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
      parser.feed(text);
    }
    parser.feed(decoder.decode());
    parser.end();
  } finally {
    closeSync(fd);
  }
  if (!header) throw new DataError('empty file (no header line)', path);
  return header;
}

/** Index of each required column in the header, or a DataError naming the missing one. */
export function headerIndex<K extends string>(path: string, header: readonly string[], names: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const n of names) {
    const i = header.indexOf(n);
    if (i < 0) throw new DataError(`missing column (header: ${header.join(',')})`, path, n);
    out[n] = i;
  }
  return out;
}
