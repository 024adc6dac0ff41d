// Encoder sampling (spec 2.3): each sample draws whether its target document runs the
// encoder forward (p) and backward (q); a document is encoded once per step however many
// samples it has (dedup), when any of its samples drew it. Checked statistically on batches
// where every document occurs exactly r times, with the bank pre-filled so that no document
// is encoded for lack of a bank row.
import { describe, expect, it } from 'vitest';

import { Lemur } from '../../dist/index.js';
import { syntheticDataset, TINY } from '../synthetic.js';

const D = 240;

function repeatedData(r: number) {
  const data = syntheticDataset({ docs: D, trainSamples: D * r, testSamples: 64, coldFraction: 0, seed: 21 });
  const train = data.splits.train!;
  for (let i = 0; i < train.rows; i++) train.doc[i] = i % D; // each document exactly r times
  return data;
}

async function measure(r: number, p: number, q: number, steps: number) {
  const data = repeatedData(r);
  const m = await Lemur.create(data, {
    ...TINY,
    preset: 'lemur',
    encoderSampling: { forward: p, backward: q },
    train: { batchSize: D * r, epochs: steps }, // one batch = the whole split
  });
  await m.indexDocuments(); // every target is in the bank: only the sampling decides
  const fit = await m.fit({ progressEvery: 1, earlyStopping: false });
  expect(fit.progress.length).toBe(steps);
  const mean = (f: (x: { uniqueDocs: number; forward: number; backward: number }) => number) =>
    fit.progress.reduce((a, x) => a + f(x.encoder!), 0) / fit.progress.length;
  return { unique: mean((x) => x.uniqueDocs), forward: mean((x) => x.forward) / D, backward: mean((x) => x.backward) / D };
}

describe('encoder sampling', () => {
  it('encodes a fraction p forward and q backward when each document has one sample', async () => {
    const s = await measure(1, 0.3, 0.1, 24);
    const tol = (x: number) => 4 * Math.sqrt((x * (1 - x)) / (D * 24)); // 4 standard errors
    expect(s.unique).toBe(D);
    expect(Math.abs(s.forward - 0.3)).toBeLessThan(tol(0.3));
    expect(Math.abs(s.backward - 0.1)).toBeLessThan(tol(0.1));
  });

  it('draws per sample: a document with r samples is encoded with probability 1 - (1 - p)^r, once', async () => {
    const r = 3;
    const s = await measure(r, 0.3, 0.1, 16);
    const pf = 1 - 0.7 ** r, pb = 1 - 0.9 ** r;
    const tol = (x: number) => 4 * Math.sqrt((x * (1 - x)) / (D * 16));
    expect(s.unique).toBe(D); // the batch has 3 x 240 samples, 240 distinct documents
    expect(Math.abs(s.forward - pf)).toBeLessThan(tol(pf));
    expect(Math.abs(s.backward - pb)).toBeLessThan(tol(pb));
  });

  it('with p = q = 1 encodes every distinct document once per step, not once per sample', async () => {
    const s = await measure(3, 1, 1, 2);
    expect(s.forward).toBe(1);
    expect(s.backward).toBe(1);
  });

  it('always encodes documents the bank lacks, whatever p', async () => {
    const data = repeatedData(1);
    const m = await Lemur.create(data, { ...TINY, preset: 'lemur', encoderSampling: { forward: 0.1, backward: 0.05 }, train: { batchSize: D, epochs: 1 } });
    const fit = await m.fit({ progressEvery: 1, earlyStopping: false });
    expect(fit.progress[0]!.encoder!.forward).toBe(D); // empty bank: all misses are encoded
    expect(fit.progress[0]!.encoder!.backward).toBeLessThan(D * 0.2); // only sampled ones pass gradients
  });
});
