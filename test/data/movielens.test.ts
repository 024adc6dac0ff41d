import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DataError, importMovielens, openDataset, type Dataset, type SampleColumns } from '../../dist/index.js';
import { movielensDir } from '../helpers.js';
import { tempDir, writeMiniMovielens } from './fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** The history rows of sample i as arrays. */
function history(c: SampleColumns, name: string, i: number): { docs: number[]; action?: number[]; age?: number[] } {
  const s = c.sequences.find((x) => x.name === name)!;
  const [a, b] = [s.offsets[i], s.offsets[i + 1]];
  return { docs: Array.from(s.values.subarray(a, b)), action: s.action && Array.from(s.action.subarray(a, b)), age: s.age && Array.from(s.age.subarray(a, b)) };
}

describe('importMovielens on a crafted folder', () => {
  let ds: Dataset;
  const warnings: string[] = [];

  beforeAll(async () => {
    const src = join(tmp.dir, 'mini');
    await writeMiniMovielens(src);
    // no validation split here: the expectations below are about train and test
    const r = await importMovielens(src, join(tmp.dir, 'mini-out'), { vocabSize: 300, validFraction: 0, image: { height: 8, width: 8 }, onWarning: (l) => warnings.push(l) });
    expect(r.images).toMatchObject({ total: 6, decoded: 2, corrupt: 2, missing: 2 });
    ds = openDataset(r.dir);
  });

  it('parses quoted CSV and builds one document per movie', () => {
    const d = ds.documents;
    expect(d.rows).toBe(6);
    expect(Array.from(d.docId, Number)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(d.text.title(1)).toBe('American President, The (1995)');
    expect(d.text.title(2)).toBe('11\'09"01 - September 11 (2002)');
    expect(d.text.title(4)).toBe('東京物語 (1953) 🎬');
    expect(d.text.genres(0)).toBe('Adventure Animation Children Comedy Fantasy');
    expect(d.text.genres(3)).toBe(''); // (no genres listed)
    expect(d.text.tags(0)).toBe('pixar, funny, clever'); // deduplicated case-insensitively, most used first
    expect(d.text.tags(1)).toBe('"politics"');
    expect(d.text.tags(5)).toBe('');
    expect(ds.manifest.sourceStats.tagsOfUnknownMovies).toBe(1);
    expect(Array.from(d.categorical[0].values)).toEqual([96, 96, 103, 0, 54, 102]); // year - 1899
  });

  it('counts corrupt and missing posters, stores them as null, and warns once', () => {
    const d = ds.documents;
    expect(ds.manifest.image).toEqual({ height: 8, width: 8, channels: 3 });
    expect(Array.from(d.hasImage!)).toEqual([1, 1, 0, 0, 0, 0]);
    expect(d.images!.subarray(0, 192).some((v) => v > 0)).toBe(true);
    expect(d.images!.subarray(2 * 192).every((v) => v === 0)).toBe(true);
    expect(ds.manifest.sourceStats).toMatchObject({ postersDecoded: 2, postersCorrupt: 2, postersMissing: 2 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/posters: 2 of 6 decoded, 2 missing, 2 corrupt/);
  });

  it('splits by a global time cut, flags cold start, builds strictly earlier histories', () => {
    const { train, test } = ds.splits;
    // 11 ratings, cut at the 80% quantile: time 1050 and later is test.
    expect(train.rows).toBe(8);
    expect(test.rows).toBe(3);
    expect(ds.manifest.sourceStats.splitTimestamp).toBe(1050);
    expect(Array.from(test.timestamp, Number)).toEqual([1050, 1060, 1070]);
    expect(Array.from(test.coldStart!)).toEqual([0, 1, 0]); // movie 5 is first rated in the test period
    expect(ds.manifest.stats.test.coldStartRows).toBe(1);
    expect(Array.from(train.label)).toEqual([1, 0, 1, 1, 1, 0, 0, 1]);
    expect(Array.from(train.user)).toEqual([0, 0, 1, 0, 1, 0, 1, 2]);
    expect(train.query).toEqual(train.user);
    // User 1 rated movies 1 and 2 in the same second: neither is in the other's history.
    expect(history(train, 'rated', 0).docs).toEqual([]);
    expect(history(train, 'rated', 1).docs).toEqual([]);
    // At 1010 user 1 has rated movies 1 (4.0) and 2 (3.0) at 1000; only movie 1 is liked.
    const rated = history(train, 'rated', 3);
    expect(rated.docs).toEqual([0, 1]);
    expect(rated.action).toEqual([8, 6]); // half stars
    expect(rated.age![0]).toBeCloseTo(Math.log1p(10 / 3600), 6);
    expect(history(train, 'liked', 3).docs).toEqual([0]);
    // Test histories include earlier test-period ratings (user 4 at 1070 saw movie 5 at 1060).
    expect(history(test, 'rated', 2).docs).toEqual([4]);
    expect(history(test, 'liked', 2).docs).toEqual([4]);
    expect(Array.from(test.dense[0].values)).toEqual([Math.fround(Math.log1p(1)), 0, Math.fround(Math.log1p(1))]); // earlier ratings
    expect(train.categorical.map((c) => c.values[0])).toEqual([0, 4]); // 00:16 UTC, a Thursday
  });

  it('cuts a validation split just before the test period (default 10%), cold start relative to train', async () => {
    const r = await importMovielens(join(tmp.dir, 'mini'), join(tmp.dir, 'mini-valid'), { posters: false, vocabSize: 300, validFraction: 0.2 });
    const v = openDataset(r.dir);
    const { train, valid, test } = v.splits;
    expect(Object.keys(v.manifest.splits)).toEqual(['train', 'valid', 'test']);
    // 11 ratings: test from the 80% quantile (time 1050), valid from the 60% one
    expect([train!.rows, valid!.rows, test!.rows]).toEqual([6, 2, 3]);
    const validCut = v.manifest.sourceStats.validTimestamp as number;
    expect(v.manifest.sourceStats.splitTimestamp).toBe(1050);
    expect(Math.max(...Array.from(train!.timestamp, Number))).toBeLessThan(validCut);
    expect(Array.from(valid!.timestamp, Number).every((t) => t >= validCut && t < 1050)).toBe(true);
    const inTrain = new Set(train!.doc);
    for (const split of [valid!, test!]) expect(Array.from(split.coldStart!)).toEqual(Array.from(split.doc, (d) => (inTrain.has(d) ? 0 : 1)));
    expect(v.manifest.stats.valid!.coldStartRows).toBeGreaterThanOrEqual(0);
    await expect(importMovielens(join(tmp.dir, 'mini'), join(tmp.dir, 'mini-bad'), { validFraction: 0.9 })).rejects.toThrow(/validFraction/);
  });

  it('keeps only the first users with maxUsers', async () => {
    const r = await importMovielens(join(tmp.dir, 'mini'), join(tmp.dir, 'mini-2users'), { maxUsers: 2, posters: false, vocabSize: 300, validFraction: 0 });
    const two = openDataset(r.dir);
    expect(two.manifest.numUsers).toBe(2);
    expect(two.manifest.image).toBeNull();
    expect(two.splits.train.rows + two.splits.test.rows).toBe(7);
    expect(Math.max(...two.splits.train.user, ...two.splits.test.user)).toBe(1);
  });

  it('leaves no partial output when it fails, and refuses to overwrite unless asked', async () => {
    const src = join(tmp.dir, 'bad');
    await writeMiniMovielens(src, { badMovieInRatings: true });
    const out = join(tmp.dir, 'bad-out');
    const err = await importMovielens(src, out, { vocabSize: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).message).toMatch(/ratings\.csv:13, column 'movieId': movieId not in movies\.csv: 999/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('bad-out'))).toEqual([]);

    const existing = join(tmp.dir, 'existing');
    mkdirSync(existing);
    writeFileSync(join(existing, 'keep.txt'), 'x');
    await expect(importMovielens(join(tmp.dir, 'mini'), existing, { posters: false })).rejects.toThrow(/already exists/);
    expect(readFileSync(join(existing, 'keep.txt'), 'utf8')).toBe('x');
    await importMovielens(join(tmp.dir, 'mini'), existing, { posters: false, vocabSize: 300, overwrite: true });
    expect(existsSync(join(existing, 'keep.txt'))).toBe(false);
    expect(openDataset(existing).manifest.numDocuments).toBe(6);
  });
});

describe.skipIf(!movielensDir)('importMovielens on the shared ml-latest-small', () => {
  const maxUsers = 60;
  let ds: Dataset;
  let seconds = 0;
  /** rating time and value of (user index, movieId). */
  const ratingOf = new Map<string, { time: number; rating: number }>();

  beforeAll(async () => {
    const r = await importMovielens(movielensDir!, join(tmp.dir, 'ml'), { maxUsers, historyLength: 50, onWarning: () => {} });
    seconds = r.seconds;
    ds = openDataset(r.dir);
    const lines = readFileSync(join(movielensDir!, 'ratings.csv'), 'utf8').trim().split('\n').slice(1);
    const users = [...new Set(lines.map((l) => Number(l.split(',')[0])))].sort((a, b) => a - b).slice(0, maxUsers);
    const userIndex = new Map(users.map((u, i) => [u, i]));
    for (const l of lines) {
      const [u, m, rating, t] = l.split(',').map(Number);
      if (userIndex.has(u)) ratingOf.set(`${userIndex.get(u)}:${m}`, { time: t, rating });
    }
  }, 300_000);

  it('imports all movies, the users subset and the posters', () => {
    const m = ds.manifest;
    expect(m.numDocuments).toBe(9742);
    expect(m.numUsers).toBe(maxUsers);
    expect(m.sourceStats.postersDecoded).toBe(2863);
    expect(m.sourceStats.postersCorrupt).toBe(0);
    expect(ds.splits.train.rows + ds.splits.valid!.rows + ds.splits.test.rows).toBe(ratingOf.size);
    const row = Array.from(ds.documents.docId, Number).indexOf(11);
    expect(ds.documents.text.title(row)).toBe('American President, The (1995)');
    console.log(`movielens import (${maxUsers} users, ${ratingOf.size} ratings, 9742 movies, 2863 posters): ${seconds.toFixed(1)} s`);
  });

  it('every history item was rated strictly before its sample, newest last', () => {
    const docId = Array.from(ds.documents.docId, Number);
    let checked = 0;
    let bad = 0;
    for (const c of Object.values(ds.splits)) {
      for (const seq of c.sequences) {
        for (let i = 0; i < c.rows; i++) {
          const t = Number(c.timestamp[i]);
          let previous = -Infinity;
          for (let k = seq.offsets[i]; k < seq.offsets[i + 1]; k++) {
            const r = ratingOf.get(`${c.user[i]}:${docId[seq.values[k]]}`);
            if (!r || r.time >= t || r.time < previous || (seq.name === 'liked' && r.rating < 4)) bad++;
            previous = r?.time ?? previous;
            checked++;
          }
          if (seq.offsets[i + 1] - seq.offsets[i] > 50) bad++;
        }
      }
    }
    expect(bad).toBe(0);
    expect(checked).toBeGreaterThan(100_000);
  });

  it('splits chronologically (train, valid = the 10% before the last 20%, test) with correct cold-start flags', () => {
    const { train, valid, test } = ds.splits;
    const cut = ds.manifest.sourceStats.splitTimestamp as number;
    const validCut = ds.manifest.sourceStats.validTimestamp as number;
    expect(Math.max(...Array.from(train.timestamp, Number))).toBeLessThan(validCut);
    expect(Math.min(...Array.from(valid!.timestamp, Number))).toBeGreaterThanOrEqual(validCut);
    expect(Math.max(...Array.from(valid!.timestamp, Number))).toBeLessThan(cut);
    expect(Math.min(...Array.from(test.timestamp, Number))).toBeGreaterThanOrEqual(cut);
    const total = train.rows + valid!.rows + test.rows;
    expect(test.rows / total).toBeCloseTo(0.2, 1);
    expect(valid!.rows / total).toBeCloseTo(0.1, 1);
    const inTrain = new Set(train.doc);
    let wrong = 0;
    for (const [name, split] of [['valid', valid!], ['test', test]] as const) {
      let cold = 0;
      for (let i = 0; i < split.rows; i++) {
        if (split.coldStart![i] !== (inTrain.has(split.doc[i]) ? 0 : 1)) wrong++;
        cold += split.coldStart![i];
      }
      expect(cold).toBeGreaterThan(0);
      expect(ds.manifest.stats[name]!.coldStartRows).toBe(cold);
    }
    expect(wrong).toBe(0);
    for (let i = 0; i < train.rows; i++) {
      const r = ratingOf.get(`${train.user[i]}:${Number(ds.documents.docId[train.doc[i]])}`)!;
      if (train.label[i] !== (r.rating >= 4 ? 1 : 0)) wrong++;
    }
    expect(wrong).toBe(0);
  });
});
