/**
 * MovieLens CSV imports: a valid mini MovieLens folder (test/data/fixtures.ts), mutated one
 * way per case: a bad value in each column of seeded rows, missing / extra / reordered
 * columns, rows with too many or too few fields, empty and header-only files, missing files,
 * truncation at seeded offsets, an unbalanced quote, line-end styles, byte-order marks,
 * UTF-16, NUL bytes, Windows-1252 text, binary garbage, duplicates and bad importer options.
 * Errors must name the file and, for a row, its line and column.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { importMovielens, Tokenizer, type MovielensOptions } from '../../../dist/index.js';
import { writeMiniMovielens } from '../../data/fixtures.js';
import { Rand, type FaultCase, type Outcome } from './harness.js';

const RATING_COLUMNS = ['userId', 'movieId', 'rating', 'timestamp'] as const;
/** Data lines of the fixture's ratings.csv (line 1 is the header). */
const FIRST = 2;
const LAST = 12;

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export async function csvCases(root: string): Promise<FaultCase[]> {
  mkdirSync(root, { recursive: true });
  const template = join(root, 'template');
  await writeMiniMovielens(template);
  rmSync(join(template, 'posters'), { recursive: true, force: true });
  const tokenizer = join(root, 'tokenizer.json');
  (await Tokenizer.train(['Toy Story Drama Comedy pixar'], { vocabSize: 280 })).save(tokenizer);

  let n = 0;
  // What the clean fixture already warns about (an orphan tag...), so a case's warnings are its own.
  const normalize = (line: string, src: string) => line.split(src).join('<src>');
  let baseline = new Set<string>();
  const importEdited = async (edit: (src: string) => void, options: MovielensOptions = {}) => {
    const src = join(root, `src-${++n}`);
    const out = join(root, `out-${n}`);
    cpSync(template, src, { recursive: true });
    const warnings: string[] = [];
    try {
      edit(src);
      await importMovielens(src, out, { posters: false, tokenizer, validFraction: 0, onWarning: (l) => warnings.push(normalize(l, src)), ...options });
      return { warnings: warnings.filter((w) => !baseline.has(w)) };
    } finally {
      rmSync(src, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  };
  baseline = new Set((await importEdited(() => {})).warnings);

  const cases: FaultCase[] = [];
  const add = (group: string, name: string, expect: Outcome | Outcome[], edit: (src: string) => void, match?: RegExp, options?: MovielensOptions) =>
    cases.push({ group: `csv: ${group}`, name, expect, match, run: () => importEdited(edit, options) });

  const lines = (src: string, file: string) => readFileSync(join(src, file), 'utf8').split('\n');
  const editLines = (file: string, f: (ls: string[]) => string[]) => (src: string) => writeFileSync(join(src, file), f(lines(src, file)).join('\n'));
  const setField = (line: number, col: number, value: string) =>
    editLines('ratings.csv', (ls) => {
      const fields = ls[line - 1]!.split(',');
      fields[col] = value;
      ls[line - 1] = fields.join(',');
      return ls;
    });
  const writeBytes = (file: string, f: (b: Buffer) => Buffer) => (src: string) => writeFileSync(join(src, file), f(readFileSync(join(src, file))));

  // 1. A bad value in each column, on seeded lines; with invalidRows: 'skip' it is dropped and warned.
  let seed = 12345;
  const rand = new Rand(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31));
  const badByColumn: Record<(typeof RATING_COLUMNS)[number], string[]> = {
    userId: ['-1', 'abc', '', '1.5', '99999999999999999999', 'NaN', '0x10', '1e3x'],
    movieId: ['-1', 'abc', '', '2.5', '999', '99999999999999999999', 'Infinity'],
    rating: ['7.5', '0', '-1', 'abc', '', 'NaN', '4.25', '1e400', 'Infinity', '5.5'],
    timestamp: ['-5', 'abc', '', 'NaN', '1e400', '-Infinity'],
  };
  RATING_COLUMNS.forEach((column, col) => {
    for (const bad of badByColumn[column]) {
      const line = rand.int(FIRST, LAST);
      const match = new RegExp(`ratings\\.csv:${line}, column '${column}'`);
      add('bad values', `ratings.csv:${line} ${column} = ${JSON.stringify(bad)}`, 'error', setField(line, col, bad), match);
      add('bad values skipped', `ratings.csv:${line} ${column} = ${JSON.stringify(bad)}, invalidRows 'skip'`, 'warning', setField(line, col, bad), undefined, { invalidRows: 'skip' });
    }
  });
  // Repairable values: decimal ids are repaired and counted.
  for (const col of [0, 1]) {
    const line = rand.int(FIRST, LAST);
    add('repaired values', `ratings.csv:${line} ${RATING_COLUMNS[col]} written as a decimal (N.0)`, 'warning', (src) => {
      const fields = lines(src, 'ratings.csv')[line - 1]!.split(',');
      setField(line, col, `${fields[col]}.0`)(src);
    });
  }
  for (const [what, value] of [['a bad movieId', 'abc'], ['a negative movieId', '-3'], ['an empty movieId', '']] as const)
    add('bad values', `movies.csv:3 ${what}`, 'error', editLines('movies.csv', (ls) => ((ls[2] = `${value}${ls[2]!.slice(ls[2]!.indexOf(','))}`), ls)), /movies\.csv:3, column 'movieId'/);
  add('bad values', 'movies.csv: a movieId twice', 'error', editLines('movies.csv', (ls) => [...ls.slice(0, -1), '2,Again (2000),Drama', '']), /movies\.csv:8.*movieId.*already on line 3/);
  add('bad values', 'tags.csv:2 a bad userId', ['error', 'warning'], editLines('tags.csv', (ls) => ((ls[1] = 'x' + ls[1]!.slice(1)), ls)), /tags\.csv:2/);

  // 2. Columns and rows.
  const mapColumns = (file: string, f: (fields: string[]) => string[]) => editLines(file, (ls) => ls.map((l) => (l ? f(l.split(',')).join(',') : l)));
  for (const [i, column] of RATING_COLUMNS.entries())
    add('columns', `ratings.csv without column '${column}'`, 'error', mapColumns('ratings.csv', (fs) => fs.filter((_, j) => j !== i)), new RegExp(`ratings\\.csv, column '${column}': missing column`));
  add('columns', 'ratings.csv with columns reordered', 'works', mapColumns('ratings.csv', (fs) => [fs[3]!, fs[2]!, fs[0]!, fs[1]!]));
  add('columns', 'ratings.csv with an extra column', 'works', mapColumns('ratings.csv', (fs) => [...fs, fs[0] === 'userId' ? 'extra' : 'x']));
  add('columns', "movies.csv without column 'title'", 'error', (src) => writeFileSync(join(src, 'movies.csv'), 'movieId,genres\n1,Drama\n'), /movies\.csv, column 'title': missing column/);
  add('columns', 'ratings.csv header with spaces around names', 'works', editLines('ratings.csv', (ls) => ((ls[0] = ' userId , movieId,rating , timestamp'), ls)));
  for (const line of [rand.int(FIRST, LAST), rand.int(FIRST, LAST)]) {
    add('rows', `ratings.csv:${line} with an extra field`, 'error', editLines('ratings.csv', (ls) => ((ls[line - 1] += ',9'), ls)), new RegExp(`ratings\\.csv:${line}: has 5 fields, the header has 4`));
    add('rows', `ratings.csv:${line} with a field missing`, 'error', editLines('ratings.csv', (ls) => ((ls[line - 1] = ls[line - 1]!.split(',').slice(0, 3).join(',')), ls)), new RegExp(`ratings\\.csv:${line}: has 3 fields, the header has 4`));
  }
  add('rows', 'ratings.csv with blank lines between rows', 'works', editLines('ratings.csv', (ls) => ls.flatMap((l) => [l, ''])));
  add('rows', 'ratings.csv: one rating repeated exactly', 'warning', editLines('ratings.csv', (ls) => [...ls.slice(0, -1), ls[4]!, '']));
  add('rows', 'ratings.csv: header only', 'error', (src) => writeFileSync(join(src, 'ratings.csv'), 'userId,movieId,rating,timestamp\n'), /ratings\.csv: no ratings/);
  add('rows', 'movies.csv: header only', 'error', (src) => writeFileSync(join(src, 'movies.csv'), 'movieId,title,genres\n'), /movies\.csv/);
  add('rows', 'ratings.csv: one row', 'error', editLines('ratings.csv', (ls) => [ls[0]!, ls[1]!, '']), /ratings\.csv/);

  // 3. Files: empty, missing, truncated.
  for (const file of ['ratings.csv', 'movies.csv'])
    add('files', `${file} empty`, 'error', (src) => writeFileSync(join(src, file), ''), new RegExp(`${esc(file)}: empty file`));
  add('files', 'tags.csv empty', ['error', 'warning'], (src) => writeFileSync(join(src, 'tags.csv'), ''), /tags\.csv/);
  for (const file of ['ratings.csv', 'movies.csv']) add('files', `${file} missing`, 'error', (src) => unlinkSync(join(src, file)), new RegExp(`${esc(file)}: cannot read`));
  add('files', 'tags.csv missing (optional)', ['works', 'warning'], (src) => unlinkSync(join(src, 'tags.csv')));
  add('files', 'a source folder that does not exist', 'error', (src) => rmSync(src, { recursive: true }), /ratings\.csv|movies\.csv|no such/);
  add('files', 'ratings.csv is a directory', 'error', (src) => (unlinkSync(join(src, 'ratings.csv')), mkdirSync(join(src, 'ratings.csv'))), /ratings\.csv/);
  for (const file of ['ratings.csv', 'movies.csv', 'tags.csv']) {
    const size = readFileSync(join(template, file)).length;
    for (let k = 0; k < 8; k++) {
      const at = rand.int(1, size - 1);
      // Any outcome but a crash: a cut at a line end is a valid, shorter file.
      add('truncation', `${file} cut at byte ${at} of ${size}`, ['works', 'warning', 'error'], writeBytes(file, (b) => b.subarray(0, at)), new RegExp(esc(file)));
    }
  }

  // 4. Quoting, line ends and encodings.
  add('encoding', "movies.csv: an unbalanced '\"' in a title", 'error', editLines('movies.csv', (ls) => ((ls[1] = '1,"Toy Story (1995),Animation'), ls)), /movies\.csv:2: .*unbalanced '"'/);
  add('encoding', "ratings.csv: a '\"' opened on the last line and never closed", 'error', editLines('ratings.csv', (ls) => [...ls.slice(0, -1), '4,2,"3.0,1090', '']), /ratings\.csv:13: a quoted field .* never closed/);
  add('encoding', 'ratings.csv with CRLF line ends', 'works', writeBytes('ratings.csv', (b) => Buffer.from(b.toString().replace(/\n/g, '\r\n'))));
  add('encoding', 'ratings.csv with mixed LF / CRLF line ends', 'works', writeBytes('ratings.csv', (b) => Buffer.from(b.toString().split('\n').map((l, i) => (i % 2 ? l + '\r' : l)).join('\n'))));
  add('encoding', 'ratings.csv with CR-only line ends', 'error', writeBytes('ratings.csv', (b) => Buffer.from(b.toString().replace(/\n/g, '\r'))), /ratings\.csv: uses CR-only line ends/);
  for (const file of ['ratings.csv', 'movies.csv'])
    add('encoding', `${file} with a UTF-8 byte-order mark`, 'works', writeBytes(file, (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b])));
  const utf16be = (s: string) => Buffer.from(s, 'utf16le').swap16();
  add('encoding', 'ratings.csv in UTF-16 LE with a BOM', 'error', writeBytes('ratings.csv', (b) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(b.toString(), 'utf16le')])), /ratings\.csv: is UTF-16 \(little-endian/);
  add('encoding', 'movies.csv in UTF-16 BE with a BOM', 'error', writeBytes('movies.csv', (b) => Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(b.toString())])), /movies\.csv: is UTF-16 \(big-endian/);
  add('encoding', 'ratings.csv in UTF-16 LE without a BOM', 'error', writeBytes('ratings.csv', (b) => Buffer.from(b.toString(), 'utf16le')), /ratings\.csv:1: holds a NUL byte/);
  const nulLine = rand.int(FIRST, LAST);
  add('encoding', `ratings.csv:${nulLine} with a NUL byte`, 'error', editLines('ratings.csv', (ls) => ((ls[nulLine - 1] = ls[nulLine - 1]!.replace(',', ',\0')), ls)), new RegExp(`ratings\\.csv:${nulLine}: holds a NUL byte`));
  add('encoding', 'movies.csv: a title in Windows-1252', 'warning', (src) => {
    const b = readFileSync(join(src, 'movies.csv'));
    writeFileSync(join(src, 'movies.csv'), Buffer.concat([b, Buffer.from('7,Am\xe9lie (2001),Comedy\n', 'latin1')]));
  });
  for (let k = 0; k < 4; k++) {
    let s = 1000 + k;
    const bytes = Buffer.from(Array.from({ length: 2048 }, () => (s = (s * 16807) % 2147483647) & 255));
    const file = k % 2 ? 'movies.csv' : 'ratings.csv';
    add('encoding', `${file} replaced by 2 KiB of random bytes (#${k})`, 'error', (src) => writeFileSync(join(src, file), bytes), new RegExp(esc(file)));
  }
  add('encoding', 'ratings.csv: a field inside quotes', 'works', setField(3, 2, '"3.0"'));

  // 5. Importer options.
  const badOptions: [string, MovielensOptions, RegExp][] = [
    ['testFraction 0', { testFraction: 0 }, /testFraction/],
    ['testFraction 1.5', { testFraction: 1.5 }, /testFraction/],
    ['testFraction NaN', { testFraction: NaN }, /testFraction/],
    ['validFraction -0.1', { validFraction: -0.1 }, /validFraction/],
    ['validFraction + testFraction = 1', { validFraction: 0.5, testFraction: 0.5 }, /validFraction/],
    ['historyLength 0', { historyLength: 0 }, /historyLength/],
    ['historyLength 2.5', { historyLength: 2.5 }, /historyLength/],
    ['maxUsers 0', { maxUsers: 0 }, /maxUsers/],
    ['maxUsers -2', { maxUsers: -2 }, /maxUsers/],
    ['ratingScale min > max', { ratingScale: { min: 5, max: 1 } }, /ratingScale/],
    ['ratingScale NaN', { ratingScale: { min: NaN, max: 5 } }, /ratingScale/],
    ["invalidRows 'ignore'", { invalidRows: 'ignore' as never }, /invalidRows/],
    ['a tokenizer file that does not exist', { tokenizer: '/nonexistent/tokenizer.json' }, /tokenizer/],
    ['a posters folder that does not exist', { posters: '/nonexistent/posters' }, /posters/],
  ];
  for (const [name, options, match] of badOptions) add('options', name, 'error', () => {}, match, options);
  return cases;
}
