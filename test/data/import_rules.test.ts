// The importer's rules for raw rows: out-of-range values are errors naming file:line and
// value (or, with invalidRows: 'skip', dropped and counted); decimal ids are repaired and
// counted; lines that are not UTF-8 are read as Windows-1252 and counted; exact duplicate
// rows are dropped and reported. Nothing changes without a count in the summary.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CsvParser, DataError, importMovielens, openDataset, readCsv, Tokenizer, type MovielensOptions } from '../../dist/index.js';
import { tempDir, writeMiniMovielens } from './fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let tokenizer: string;
let n = 0;

beforeAll(async () => {
  tokenizer = join(tmp.dir, 'tokenizer.json');
  (await Tokenizer.train(['Toy Story Drama Comedy pixar'], { vocabSize: 280 })).save(tokenizer);
});

/** A mini MovieLens folder with `edit` applied to its files, imported; returns the result or the error. */
async function importEdited(edit: (dir: string) => void, options: MovielensOptions = {}) {
  const src = join(tmp.dir, `src-${++n}`);
  await writeMiniMovielens(src);
  edit(src);
  const warnings: string[] = [];
  try {
    const r = await importMovielens(src, join(tmp.dir, `out-${n}`), { posters: false, tokenizer, validFraction: 0, onWarning: (l) => warnings.push(l), ...options });
    return { r, warnings, src };
  } catch (e) {
    return { error: e as Error, warnings, src };
  }
}

const ratings = (dir: string) => join(dir, 'ratings.csv');
/** Ratings file lines are: 1 header, 2..12 the 11 fixture ratings, 13.. appended ones. */
const addRating = (line: string) => (dir: string) => appendFileSync(ratings(dir), line + '\n');

describe('importer rules for raw rows', () => {
  it('a rating off the scale is an error naming file:line, column and value', async () => {
    const { error, src } = await importEdited(addRating('4,2,7.5,1080'));
    expect(error).toBeInstanceOf(DataError);
    expect(error!.message).toContain(`${ratings(src)}:13`);
    expect(error!.message).toMatch(/column 'rating'.*outside the scale 0.5 to 5.*7\.5/);
    expect((error as DataError).line).toBe(13);
  });

  it("with invalidRows: 'skip' the row is dropped, warned and counted in the summary and the manifest", async () => {
    const { r, warnings } = await importEdited((d) => (addRating('4,2,7.5,1080')(d), addRating('4,3,0,1081')(d)), { invalidRows: 'skip' });
    expect(r!.manifest.sourceStats.ratings).toBe(11);
    expect(r!.manifest.sourceStats.ratingsInFile).toBe(13);
    expect(r!.report!.droppedRows).toBe(2);
    expect(r!.report!.dropped[0]).toMatchObject({ reason: expect.stringContaining('outside the scale'), count: 2, examples: ['line 13: 7.5', 'line 14: 0'] });
    expect(warnings.join('\n')).toMatch(/ratings\.csv: 2 rows dropped \(rating outside the scale.*line 13: 7\.5/);
    expect(Object.entries(r!.manifest.sourceStats).find(([k]) => k.startsWith('dropped ratings.csv'))?.[1]).toBe(2);
  });

  it('a custom ratingScale accepts another scale', async () => {
    const { r } = await importEdited(addRating('4,2,7.5,1080'), { ratingScale: { min: 0, max: 10 } });
    expect(r!.manifest.sourceStats.ratings).toBe(12);
  });

  it('a rating between half stars, a negative timestamp, a fractional or huge id are errors', async () => {
    const cases: [string, RegExp][] = [
      ['4,2,3.7,1080', /:13, column 'rating'.*3\.7/],
      ['4,2,3,-5', /:13, column 'timestamp'.*negative timestamp.*-5/],
      ['4.5,2,3,1080', /:13, column 'userId'.*non-negative integer.*4\.5/],
      ['4,99999999999999999999,3,1080', /:13, column 'movieId'.*larger than 2\^53/],
      ['4,2,,1080', /:13, column 'rating'.*expected a number/],
      ['4,2,abc,1080', /:13, column 'rating'.*"abc"/],
      ['4,888,3,1080', /:13, column 'movieId'.*not in movies\.csv.*888/],
    ];
    for (const [line, want] of cases) {
      const { error } = await importEdited(addRating(line));
      expect(error, line).toBeInstanceOf(DataError);
      expect(error!.message, line).toMatch(want);
    }
  });

  it('ids written with a decimal point (1.0) are read as integers and counted as repaired', async () => {
    const { r, warnings } = await importEdited(addRating('4.0,2.00,3,1080'));
    expect(r!.manifest.sourceStats.ratings).toBe(12);
    expect(r!.report!.repairedValues).toBe(2);
    expect(warnings.join('\n')).toMatch(/ratings\.csv: 1 value repaired \(userId written with a decimal point.*line 13: 4\.0/);
    const ds = openDataset(r!.dir);
    expect(ds.manifest.numUsers).toBe(4); // user "4.0" is user 4, not a fifth user
  });

  it('exact duplicate rows are dropped and reported with the line of the first', async () => {
    const { r, warnings } = await importEdited(addRating('1,1,4,1000'));
    expect(r!.manifest.sourceStats.ratings).toBe(11);
    expect(r!.report!.dropped).toEqual([expect.objectContaining({ reason: 'exact duplicate of an earlier row', count: 1, examples: ['line 13: same as line 2'] })]);
    expect(warnings.some((w) => w.includes('exact duplicate'))).toBe(true);
  });

  it('a line that is not UTF-8 is read as Windows-1252 and counted, not turned into mojibake', async () => {
    const { r, warnings } = await importEdited((d) => {
      const file = join(d, 'movies.csv');
      writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from('7,Caf'), Buffer.from([0xe9]), Buffer.from(' Society (2016),Drama\n')]));
    });
    const ds = openDataset(r!.dir);
    const titles = Array.from({ length: ds.documents.rows }, (_, i) => ds.documents.text.title(i));
    expect(titles).toContain('Café Society (2016)');
    expect(titles.join('')).not.toContain('\ufffd');
    expect(titles).toContain('東京物語 (1953) 🎬'); // valid UTF-8 lines stay as they are
    expect(r!.report!.repaired).toEqual([expect.objectContaining({ reason: 'not valid UTF-8, read as Windows-1252', count: 1, examples: ['line 8'] })]);
    expect(warnings.join('\n')).toMatch(/movies\.csv: 1 value repaired \(not valid UTF-8/);
  });

  it('a duplicate movieId is an error naming both lines; with skip the later one is dropped', async () => {
    const dup = (d: string) => appendFileSync(join(d, 'movies.csv'), '3,Again (2000),Drama\n');
    const { error } = await importEdited(dup);
    expect(error!.message).toMatch(/movies\.csv:8, column 'movieId'.*already on line 4/);
    const { r } = await importEdited(dup, { invalidRows: 'skip' });
    expect(r!.manifest.numDocuments).toBe(6);
  });

  it('a record with the wrong number of fields names its line, after quoted line breaks', async () => {
    const { error } = await importEdited((d) => writeFileSync(join(d, 'movies.csv'), 'movieId,title,genres\n1,"Two\nlines (1999)",Drama\n2,Short,Drama,extra\n'));
    expect(error!.message).toMatch(/movies\.csv:4: has 4 fields, the header has 3/);
  });

  it('rejects a bad policy or scale up front', async () => {
    await expect(importMovielens(tmp.dir, join(tmp.dir, 'x'), { invalidRows: 'drop' as never })).rejects.toThrow(/invalidRows must be 'error' or 'skip'/);
    await expect(importMovielens(tmp.dir, join(tmp.dir, 'x'), { ratingScale: { min: 5, max: 1 } })).rejects.toThrow(/ratingScale/);
  });
});

describe('CSV line numbers', () => {
  it('each record carries the line it starts on (LF, CRLF, blank lines, quoted breaks)', () => {
    const got: [string, number][] = [];
    const p = new CsvParser((f, line) => got.push([f[0], line]));
    p.feed('a,1\r\n\r\n"b\nb",2\nc,3\n\n"d""\r\n",4');
    p.end();
    expect(got).toEqual([
      ['a', 1],
      ['b\nb', 3],
      ['c', 5],
      ['d"\r\n', 7],
    ]);
  });

  it('counts lines across chunk boundaries and keeps a multi-byte character split by a chunk whole', () => {
    const file = join(tmp.dir, 'chunks.csv');
    const rows = Array.from({ length: 200 }, (_, i) => `${i},é東${i}`);
    writeFileSync(file, 'id,name\n' + rows.join('\n') + '\n');
    const seen: [string, number][] = [];
    const summary = readCsv(file, ['id', 'name'], (f, _row, ix, line) => seen.push([f[ix.name], line]), 7);
    expect(summary.records).toBe(200);
    expect(summary.nonUtf8Lines).toBe(0);
    expect(seen[0]).toEqual(['é東0', 2]);
    expect(seen[199]).toEqual(['é東199', 201]);
  });
});
