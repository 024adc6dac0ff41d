/**
 * RFC 4180 CSV, read in chunks (files larger than a JS string are fine): quoted fields with
 * commas, doubled quotes and line breaks inside them; LF or CRLF line ends; a UTF-8 BOM.
 * Records carry the 1-based line they start on (as editors count), for error messages.
 * Lines that are not valid UTF-8 are read as Windows-1252 (the usual encoding of older
 * exports, e.g. the MovieLens 10M files) and counted, instead of becoming U+FFFD mojibake.
 * What is not UTF-8 text at all (UTF-16, NUL bytes, CR-only line ends) is refused by name.
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
  /** The line being read (1-based). */
  line = 1;
  /** The line the current record started on. */
  private recordLine = 1;

  constructor(private readonly onRecord: (fields: string[], line: number) => void) {}

  private nextLine(): void {
    this.line++;
    this.recordLine = this.line;
  }

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
    this.onRecord(f, this.recordLine);
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
            this.nextLine();
          }
          break;
        case State.Quoted:
          if (c === QUOTE) {
            this.field += text.slice(start, i);
            this.state = State.QuoteInQuoted;
          } else if (c === LF) this.line++; // a line break inside the field
          break;
        case State.QuoteInQuoted:
          if (c === QUOTE) {
            this.field += '"';
            this.state = State.Quoted;
            start = i + 1;
          } else if (c === COMMA) this.endField();
          else if (c === LF) {
            this.endRecord();
            this.nextLine();
          }
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

  /** The line a quoted field still open (no closing quote yet) started on, if any. */
  get openQuoteLine(): number | undefined {
    return this.state === State.Quoted ? this.recordLine : undefined;
  }

  end(): void {
    if (this.state !== State.FieldStart || this.fields.length > 0) {
      if (this.field.endsWith('\r') && this.state === State.Unquoted) this.field = this.field.slice(0, -1);
      this.endRecord();
    }
  }
}

/** What readCsv saw besides the records. */
export interface CsvSummary {
  header: string[];
  /** Data records read (blank lines not counted). */
  records: number;
  /** Lines that were not valid UTF-8 and were read as Windows-1252. */
  nonUtf8Lines: number;
  /** The first few of them (1-based). */
  nonUtf8Examples: number[];
}

/**
 * Reads a CSV file with a header line naming at least `columns`. Calls
 * onRow(fields, row, index, line) for each data record (row counts from 0 after the header;
 * line is the 1-based line the record starts on; fields[index.name] is a column's value).
 * Checks the field count of every record.
 */
export function readCsv<K extends string>(
  path: string,
  columns: readonly K[],
  onRow: (fields: string[], row: number, index: Record<K, number>, line: number) => void,
  chunkBytes = 4 << 20,
): CsvSummary {
  let header: string[] | undefined;
  let index: Record<K, number> | undefined;
  let row = 0;
  const parser = new CsvParser((fields, line) => {
    if (!header) {
      header = fields.map((h) => h.trim());
      index = headerIndex(path, header, columns);
      return;
    }
    if (fields.length !== header.length) {
      // A record that spans lines has a quoted field with line breaks: usually an unbalanced quote.
      const spans = parser.line > line ? ` (the record runs to line ${parser.line} inside quotes: an unbalanced '"'?)` : '';
      throw new DataError(`has ${fields.length} fields, the header has ${header.length}${spans}`, path, undefined, row, line);
    }
    onRow(fields, row++, index!, line);
  });
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new DataError(`cannot read: ${(e as Error).message}`, path);
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const cp1252 = new TextDecoder('windows-1252');
  let nonUtf8Lines = 0;
  const nonUtf8Examples: number[] = [];
  // Whole lines only (a chunk ends after a LF), so no character is split across chunks and
  // a line that fails to decode can be decoded again on its own.
  const feedLines = (bytes: Buffer) => {
    // A NUL is never text: a binary file, or UTF-16 without its BOM.
    const nul = bytes.indexOf(0);
    if (nul >= 0) {
      let line = parser.line;
      for (let at = bytes.indexOf(LF); at >= 0 && at < nul; at = bytes.indexOf(LF, at + 1)) line++;
      throw new DataError(`holds a NUL byte: not a text CSV file (binary, or UTF-16 without a byte-order mark?); save it as UTF-8`, path, undefined, undefined, line);
    }
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      const parts: string[] = [];
      let line = parser.line;
      for (let at = 0; at < bytes.length; line++) {
        const lf = bytes.indexOf(LF, at);
        const end = lf < 0 ? bytes.length : lf + 1;
        const piece = bytes.subarray(at, end);
        try {
          parts.push(utf8.decode(piece));
        } catch {
          parts.push(cp1252.decode(piece));
          nonUtf8Lines++;
          if (nonUtf8Examples.length < 5) nonUtf8Examples.push(line);
        }
        at = end;
      }
      text = parts.join('');
    }
    parser.feed(text);
  };
  try {
    const buf = Buffer.allocUnsafe(chunkBytes);
    let carry = Buffer.alloc(0);
    let first = true;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, chunkBytes, null);
      } catch (e) {
        throw new DataError(`cannot read: ${(e as Error).message}`, path);
      }
      let bytes = n === 0 ? carry : carry.length ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
      if (first) {
        if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
        else if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)))
          throw new DataError(`is UTF-16 (${bytes[0] === 0xff ? 'little' : 'big'}-endian byte-order mark): save it as UTF-8`, path);
        // Classic Mac line ends: the whole first chunk is one "line" with CRs in it.
        const cr = bytes.indexOf(CR);
        if (cr >= 0 && bytes.indexOf(LF) < 0 && bytes[cr + 1] !== undefined)
          throw new DataError('uses CR-only line ends (classic Mac OS); convert them to LF or CRLF', path);
      }
      first = false;
      if (n === 0) {
        if (bytes.length) feedLines(bytes);
        break;
      }
      const lastLf = bytes.lastIndexOf(LF);
      if (lastLf < 0) {
        carry = Buffer.from(bytes); // a line longer than a chunk: read on
        continue;
      }
      feedLines(bytes.subarray(0, lastLf + 1));
      carry = Buffer.from(bytes.subarray(lastLf + 1));
    }
    const open = parser.openQuoteLine;
    if (open !== undefined)
      throw new DataError(`a quoted field (on the record from line ${open}) is never closed: an unbalanced '"' swallowed the rest of the file`, path, undefined, undefined, open);
    parser.end();
  } finally {
    closeSync(fd);
  }
  if (!header) throw new DataError('empty file (no header line)', path);
  return { header, records: row, nonUtf8Lines, nonUtf8Examples };
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
