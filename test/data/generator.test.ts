import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLS, generateDataset, openDataset, SEP, type Dataset, type ImportResult } from '../../dist/index.js';
import { tempDir } from './fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const small = { numDocuments: 400, numUsers: 80, numSamples: 8000, historyLength: 20, seed: 3 };
let plain: ImportResult;
let ds: Dataset;

beforeAll(async () => {
  plain = await generateDataset(join(tmp.dir, 'plain'), small);
  ds = openDataset(plain.dir);
});

/** AUC of scores against 0/1 labels (ties count one half). */
function auc(scores: number[], labels: number[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let rankSum = 0;
  for (let k = 0; k < idx.length; ) {
    let j = k;
    while (j < idx.length && scores[idx[j]] === scores[idx[k]]) j++;
    const mid = (k + 1 + j) / 2;
    for (let t = k; t < j; t++) if (labels[idx[t]]) (rankSum += mid), pos++;
    k = j;
  }
  const neg = idx.length - pos;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

describe('generateDataset', () => {
  it('writes the documented schema with consistent ranges and stats', () => {
    const m = ds.manifest;
    expect(m.numDocuments).toBe(400);
    expect(m.numUsers).toBe(80);
    expect(m.numQueries).toBe(80); // no query text: the user is the query
    expect(m.queryTokens).toBe(0);
    expect(m.textFields.map((f) => f.name)).toEqual(['title', 'description']);
    expect(m.documentTokens).toBe(1 + 8 + 24 + 2);
    expect(m.image).toEqual({ height: 16, width: 16, channels: 3 });
    expect(m.sequences).toEqual([
      { name: 'clicks', maxLength: 20, action: false, age: true },
      { name: 'recent', maxLength: 10, action: true, age: false },
    ]);
    const { train, valid, test } = ds.splits;
    expect(Object.keys(m.splits)).toEqual(['train', 'valid', 'test']);
    expect(train.rows + valid!.rows + test.rows).toBe(8000);
    expect(test.rows).toBe(1600);
    expect(valid!.rows).toBe(800);
    expect(m.stats.valid!.coldStartRows).toBeGreaterThan(20); // cold documents appear from the valid period on
    expect(m.stats.train.rows).toBe(train.rows);
    expect(m.stats.test.coldStartRows).toBeGreaterThan(50);
    expect(m.stats.train.positives).toBeGreaterThan(0.2);
    expect(m.stats.train.positives).toBeLessThan(0.6);
    expect(train.query).toEqual(train.user);
    // Chronology: the split is a time cut; every history item lies strictly before its sample.
    expect(train.timestamp[train.rows - 1]).toBeLessThan(valid!.timestamp[0]);
    expect(valid!.timestamp[valid!.rows - 1]).toBeLessThan(test.timestamp[0]);
    for (const split of [train, test]) {
      const clicks = split.sequences.find((s) => s.name === 'clicks')!;
      let bad = 0; // plain loops: one expect per value would dominate the test's time
      for (let i = 0; i < split.rows; i++) {
        if (clicks.offsets[i + 1] - clicks.offsets[i] > 20) bad++;
        for (let k = clicks.offsets[i]; k < clicks.offsets[i + 1]; k++) if (!(clicks.age![k] > 0)) bad++;
      }
      expect(bad).toBe(0);
      const recent = split.sequences.find((s) => s.name === 'recent')!;
      expect(recent.action!.every((a) => a === 0 || a === 1)).toBe(true);
    }
    // Documents: packed tokens start with [CLS] and hold one [SEP] per field; ~95% have images.
    const d = ds.documents;
    let badRows = 0;
    for (let r = 0; r < d.rows; r++) {
      const row = d.tokens.subarray(r * d.tokenWidth, (r + 1) * d.tokenWidth);
      if (row[0] !== CLS || row.filter((t) => t === SEP).length !== 2) badRows++;
    }
    expect(badRows).toBe(0);
    const withImage = d.hasImage!.reduce((a, b) => a + b, 0);
    expect(withImage).toBeGreaterThan(0.85 * d.rows);
    expect(withImage).toBeLessThan(d.rows);
    expect(d.text.title(0).split(' ').length).toBeGreaterThanOrEqual(3);
  });

  it('cold-start documents are candidates only in the test split', () => {
    const { train, test } = ds.splits;
    const inTrain = new Uint8Array(ds.manifest.numDocuments);
    for (const d of train.doc) inTrain[d] = 1;
    let cold = 0;
    let wrong = 0;
    for (let i = 0; i < test.rows; i++) {
      if (test.coldStart![i] !== (inTrain[test.doc[i]] ? 0 : 1)) wrong++;
      cold += test.coldStart![i];
    }
    expect(wrong).toBe(0);
    expect(cold).toBe(ds.manifest.stats.test.coldStartRows);
    expect(ds.manifest.sourceStats.coldDocuments).toBe(40);
  });

  it('is deterministic: the same seed gives byte-identical files', async () => {
    const again = await generateDataset(join(tmp.dir, 'again'), small);
    const files = readdirSync(plain.dir).sort();
    expect(readdirSync(again.dir).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(again.dir, f)).equals(readFileSync(join(plain.dir, f))), f).toBe(true);
    const other = await generateDataset(join(tmp.dir, 'other'), { ...small, seed: 4 });
    expect(readFileSync(join(other.dir, 'train.arrow')).equals(readFileSync(join(plain.dir, 'train.arrow')))).toBe(false);
  });

  it('text carries the signal on cold-start documents (a content profile beats ID-only)', () => {
    // Content model: a user's profile is the token bag of documents clicked minus skipped in
    // training; a candidate scores its overlap with it. An ID-only model knows nothing of a
    // cold document (its id never occurs in training), so per user it ranks them at random:
    // UAUC 0.5 by construction. Its best global score is the user's training click rate.
    const { documents: d } = ds;
    const { train, test } = ds.splits;
    const bags: Map<number, number>[] = [];
    for (let r = 0; r < d.rows; r++) {
      const bag = new Map<number, number>();
      const row = d.tokens.subarray(r * d.tokenWidth, (r + 1) * d.tokenWidth);
      const real = row.filter((t) => t >= 4);
      for (const t of real) bag.set(t, (bag.get(t) ?? 0) + 1 / real.length);
      bags.push(bag);
    }
    const profiles = Array.from({ length: ds.manifest.numUsers }, () => new Map<number, number>());
    const clicks = new Float64Array(ds.manifest.numUsers);
    const shown = new Float64Array(ds.manifest.numUsers);
    for (let i = 0; i < train.rows; i++) {
      const p = profiles[train.user[i]];
      const w = train.label[i] ? 1 : -0.7;
      for (const [t, v] of bags[train.doc[i]]) p.set(t, (p.get(t) ?? 0) + w * v);
      clicks[train.user[i]] += train.label[i];
      shown[train.user[i]]++;
    }
    const content: number[] = [];
    const idOnly: number[] = [];
    const labels: number[] = [];
    const perUser = new Map<number, { s: number[]; y: number[] }>();
    for (let i = 0; i < test.rows; i++) {
      if (!test.coldStart![i]) continue;
      let s = 0;
      for (const [t, v] of bags[test.doc[i]]) s += v * (profiles[test.user[i]].get(t) ?? 0);
      content.push(s);
      idOnly.push(clicks[test.user[i]] / Math.max(1, shown[test.user[i]]));
      labels.push(test.label[i]);
      const g = perUser.get(test.user[i]) ?? { s: [], y: [] };
      g.s.push(s);
      g.y.push(test.label[i]);
      perUser.set(test.user[i], g);
    }
    let sum = 0;
    let users = 0;
    for (const g of perUser.values())
      if (g.y.some((y) => y === 1) && g.y.some((y) => y === 0)) {
        sum += auc(g.s, g.y);
        users++;
      }
    expect(labels.length).toBeGreaterThan(100);
    expect(sum / users).toBeGreaterThan(0.62); // content UAUC on cold documents (ID-only: 0.5)
    expect(auc(content, labels)).toBeGreaterThan(auc(idOnly, labels) + 0.03);
  });

  it('adds query text with a query id per distinct string', async () => {
    const r = await generateDataset(join(tmp.dir, 'queries'), { ...small, numSamples: 3000, withQueries: true, withImages: false });
    const q = openDataset(r.dir);
    expect(q.manifest.queryTokens).toBe(7);
    expect(q.manifest.image).toBeNull();
    expect(q.documents.images).toBeUndefined();
    const { train } = q.splits;
    expect(train.queryTokens!.length).toBe(train.rows * 7);
    // Same query id <=> same token row.
    const rowOf = new Map<number, string>();
    const ids = new Map<string, number>();
    for (let i = 0; i < train.rows; i++) {
      const key = train.queryTokens!.subarray(i * 7, i * 7 + 7).join(',');
      expect(train.queryTokens![i * 7]).toBe(CLS);
      const known = rowOf.get(train.query[i]);
      if (known !== undefined) expect(key).toBe(known);
      rowOf.set(train.query[i], key);
      const id = ids.get(key);
      if (id !== undefined) expect(train.query[i]).toBe(id);
      ids.set(key, train.query[i]);
    }
    expect(q.manifest.numQueries).toBeGreaterThan(20);
    expect(q.manifest.numQueries).toBeLessThan(3000);
  });

  it('generates long histories (up to 10,000) and refuses bad options', async () => {
    const r = await generateDataset(join(tmp.dir, 'long'), { numDocuments: 300, numUsers: 5, numSamples: 400, historyLength: 10000, shortHistoryLength: 0, withImages: false, seed: 9 });
    const long = openDataset(r.dir);
    const clicks = long.splits.test.sequences[0];
    let longest = 0;
    for (let i = 0; i < long.splits.test.rows; i++) longest = Math.max(longest, clicks.offsets[i + 1] - clicks.offsets[i]);
    expect(longest).toBeGreaterThan(2500);
    expect(longest).toBeLessThanOrEqual(10000);
    expect(long.manifest.sequences.map((s) => s.name)).toEqual(['clicks']);
    await expect(generateDataset(join(tmp.dir, 'bad'), { historyLength: 20000 })).rejects.toThrow(/historyLength/);
    await expect(generateDataset(join(tmp.dir, 'bad'), { coldStartFraction: 1 })).rejects.toThrow(/coldStartFraction/);
  });
});
