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
    const run = async (enabled: boolean, seed: number) => {
      const m = await Lemur.create(data, { ...TINY, seed, preset: 'end-to-end', queryEncoder: { ...TINY.queryEncoder, enabled }, train: { batchSize: 128, epochs: 8 } });
      await m.fit({ earlyStopping: false });
      const ev = await m.evaluate('test', { retrieval: { k: 20, queries: 1000 } });
      await m.close();
      return { hr: ev.retrieval!.hr, qauc: ev.all.qauc.mean };
    };
    // One seed is not enough: over seeds 0-2 the text model's HR@20 spans 0.15-0.36 and the
    // request tower's 0.06-0.16 (ratios 1.5-2.5), and either may win QAUC at one seed. The
    // means over three seeds: HR 0.250 vs 0.131 and QAUC 0.753 vs 0.735 with OpenBLAS's
    // Haswell kernels, 0.250 vs 0.125 and 0.757 vs 0.730 with its AVX-512 ones.
    const seeds = [0, 1, 2];
    const withText: { hr: number; qauc: number }[] = [];
    const tower: { hr: number; qauc: number }[] = [];
    for (const seed of seeds) {
      withText.push(await run(true, seed));
      tower.push(await run(false, seed)); // the request tower over user and request features instead
    }
    const mean = (xs: { hr: number; qauc: number }[], k: 'hr' | 'qauc') => xs.reduce((a, x) => a + x[k], 0) / xs.length;
    console.log(`HR@20 ${withText.map((r) => r.hr).join(' ')} vs ${tower.map((r) => r.hr).join(' ')}; QAUC ${withText.map((r) => r.qauc.toFixed(4)).join(' ')} vs ${tower.map((r) => r.qauc.toFixed(4)).join(' ')}`);
    expect(mean(withText, 'hr')).toBeGreaterThan(1.5 * mean(tower, 'hr'));
    expect(mean(withText, 'qauc')).toBeGreaterThan(mean(tower, 'qauc'));
  });
});
