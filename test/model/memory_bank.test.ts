// Memory-bank semantics through the model: write, read, fresh-in-batch, miss masking,
// coverage and staleness on constructed cases.
import { describe, expect, it } from 'vitest';

import { Lemur, type LemurConfigInput } from '../../dist/index.js';
import { syntheticDataset, TINY } from '../synthetic.js';

const bankOnly = (fresh: 'detached' | 'off' | 'gradient'): LemurConfigInput => ({
  ...TINY,
  preset: 'lemur',
  features: { docId: false, idDim: 8 },
  sequences: [{ name: 'short', maxLength: 4, bank: true, similarity: true }],
  memoryBank: { freshInBatch: fresh, stalenessProbe: 0 },
});

describe('memory bank', () => {
  // Each sample's history is its own candidate document: only in-batch freshness can hit.
  const selfData = syntheticDataset({ trainSamples: 256, testSamples: 64, selfHistory: true });

  it('reads fresh in-batch vectors for ids encoded in the same step', async () => {
    const m = await Lemur.create(selfData, { ...bankOnly('detached'), train: { batchSize: 256 } });
    const fit = await m.fit({ steps: 1, progressEvery: 1 });
    const bank = fit.progress[0]!.bank!;
    expect(bank.targetCoverage).toBe(0); // empty bank before the first step
    expect(bank.historyCoverage).toBe(1); // every history id was encoded in this step
  });

  it('reads the stale bank (here: misses) with freshness off', async () => {
    const m = await Lemur.create(selfData, { ...bankOnly('off'), train: { batchSize: 256 } });
    const fit = await m.fit({ steps: 1, progressEvery: 1 });
    expect(fit.progress[0]!.bank!.historyCoverage).toBe(0);
  });

  it('trains with gradient freshness', async () => {
    const m = await Lemur.create(selfData, { ...bankOnly('gradient'), train: { batchSize: 128 } });
    const fit = await m.fit({ steps: 2, progressEvery: 1 });
    expect(fit.progress[0]!.bank!.historyCoverage).toBe(1);
    expect(Number.isFinite(fit.progress[1]!.loss)).toBe(true);
  });

  it('writes exactly the documents encoded, and coverage counts hits', async () => {
    const data = syntheticDataset({ trainSamples: 400, testSamples: 50 });
    const distinct = new Set(data.splits.train!.doc).size;
    const m = await Lemur.create(data, { ...bankOnly('detached'), train: { batchSize: 400 } });
    await m.fit({ steps: 1, progressEvery: 1 });
    let stats = (await m.bankStats())!;
    expect(stats.written).toBe(distinct);
    expect(stats.meanAge).toBe(1); // all written at step 0, now at step 1
    // Second pass over the same single batch: every target is in the bank.
    const fit = await m.fit({ epochs: 2, progressEvery: 1 });
    expect(fit.progress[0]!.bank!.targetCoverage).toBe(1);
    stats = (await m.bankStats())!;
    expect(stats.written).toBe(distinct);
  });

  it('staleness is 1 right after indexing and drops as the encoder trains', async () => {
    const data = syntheticDataset({ trainSamples: 512, testSamples: 50 });
    const m = await Lemur.create(data, { ...bankOnly('detached'), train: { batchSize: 128 } });
    await m.indexDocuments();
    const fresh = (await m.bankStats({ stalenessProbe: 64 }))!;
    expect(fresh.written).toBe(data.manifest.numDocuments);
    expect(fresh.staleness).toBeCloseTo(1, 5);
    await m.fit({ steps: 4, progressEvery: 4 });
    const later = (await m.bankStats({ stalenessProbe: 64 }))!;
    expect(later.staleness).toBeLessThan(0.99999);
    expect(later.staleness).toBeGreaterThan(0);
  });

  it('masks misses: a history of never-written documents scores like no history', async () => {
    const data = syntheticDataset({ trainSamples: 200, testSamples: 120 });
    const m = await Lemur.create(data, bankOnly('detached'));
    // Fresh model: the bank is empty, so every history id misses. Predict serves from the
    // bank only (no encoding, nothing written).
    const withHistory = await m.predict('test');
    const empty = structuredClone(data.splits.test!);
    empty.sequences[0] = { name: 'clicks', offsets: new Int32Array(empty.rows + 1), values: new Int32Array(0) };
    const m2 = await Lemur.create({ ...data, splits: { ...data.splits, test: empty } }, bankOnly('detached'));
    const noHistory = await m2.predict('test');
    expect(Array.from(withHistory.scores)).toEqual(Array.from(noHistory.scores));
    expect(withHistory.bankMisses).toBeGreaterThan(0);
  });
});
