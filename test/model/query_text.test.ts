// The query-text Transformer on search-like generated data (withQueries: each impression has
// a query drawn from a topic, and clicks favour documents of the query's topic): it receives
// gradient from the ranking loss alone and from SQDC, and reading the query text makes the
// query embeddings retrieve the clicked documents far better than a request tower can.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateDataset, Lemur, openDataset, type Dataset } from '../../dist/index.js';
import { TINY } from '../synthetic.js';

describe('query text', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lemur-query-'));
  let data: Dataset;
  beforeAll(async () => {
    await generateDataset(join(dir, 'data'), { numDocuments: 600, numUsers: 120, numSamples: 8000, historyLength: 20, seed: 3, withQueries: true });
    data = openDataset(join(dir, 'data'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the data has query tokens and a query id per distinct query string', () => {
    expect(data.manifest.queryTokens).toBeGreaterThan(1);
    expect(data.manifest.numQueries).toBeGreaterThan(data.manifest.numUsers);
    expect(data.splits.train!.queryTokens!.length).toBe(data.splits.train!.rows * data.manifest.queryTokens);
  });

  it('the query encoder receives gradient from BCE alone and from SQDC', async () => {
    for (const sqdcWeight of [0, 0.1]) {
      const m = await Lemur.create(data, { ...TINY, preset: 'end-to-end', loss: { sqdcWeight } });
      const fit = await m.fit({ steps: 3, progressEvery: 1, earlyStopping: false });
      for (const p of fit.progress) expect(p.encoderGradNorms!.query).toBeGreaterThan(1e-6);
    }
    // stop-gradient with SQDC off: nothing reaches it
    const m = await Lemur.create(data, { ...TINY, preset: 'end-to-end', stopGradient: true, loss: { sqdcWeight: 0 } });
    const fit = await m.fit({ steps: 2, progressEvery: 1, earlyStopping: false });
    for (const p of fit.progress) expect(p.encoderGradNorms!.query).toBe(0);
  });

  it('reading the query text retrieves clicked documents far better, and ranks better per query', async () => {
    const run = async (enabled: boolean) => {
      const m = await Lemur.create(data, { ...TINY, preset: 'end-to-end', queryEncoder: { ...TINY.queryEncoder, enabled }, train: { batchSize: 128, epochs: 5 } });
      await m.fit({ earlyStopping: false });
      return m.evaluate('test', { retrieval: { k: 20, queries: 500 } });
    };
    const withText = await run(true);
    const tower = await run(false); // the request tower over user and request features instead
    console.log(`HR@20 ${withText.retrieval!.hr} vs ${tower.retrieval!.hr}; QAUC ${withText.all.qauc.mean.toFixed(4)} vs ${tower.all.qauc.mean.toFixed(4)}`);
    // 0.23 vs 0.14 here since 10% of the samples went to the validation split; the tower's HR
    // over configurations tried spans 0.10-0.18, the text model's 0.19-0.29
    expect(withText.retrieval!.hr).toBeGreaterThan(1.5 * tower.retrieval!.hr);
    expect(withText.all.qauc.mean).toBeGreaterThan(tower.all.qauc.mean);
  });
});
