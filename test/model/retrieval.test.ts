// The two towers trained with SQDC retrieve: HR@K / NDCG@K of each positive's document among
// all documents, ranked by its query embedding, well above chance (generated data).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { generateDataset, Lemur, openDataset } from '../../dist/index.js';
import { TINY } from '../synthetic.js';

describe('two-tower retrieval metrics', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lemur-ret-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('HR@20 and NDCG@20 beat chance after a short run', async () => {
    await generateDataset(dir + '/data', { numDocuments: 600, numUsers: 120, numSamples: 8000, historyLength: 20, seed: 1, overwrite: true });
    const data = await openDataset(dir + '/data');
    const m = await Lemur.create(data, { ...TINY, preset: 'lemur', train: { batchSize: 128, epochs: 2 } });
    const fit = await m.fit({ progressEvery: 10, earlyStopping: false }); // two whole epochs
    expect(fit.progress.at(-1)!.sqdc).toBeLessThan(fit.progress[0]!.sqdc); // SQDC learns
    const ev = await m.evaluate('test', { retrieval: { k: 20, queries: 500 } });
    const chance = 20 / data.manifest.numDocuments;
    expect(ev.retrieval!.n).toBe(500);
    expect(ev.retrieval!.hr).toBeGreaterThan(3 * chance);
    expect(ev.retrieval!.ndcg).toBeGreaterThan(0);
    expect(ev.retrieval!.ndcg).toBeLessThanOrEqual(ev.retrieval!.hr);
  });
});
