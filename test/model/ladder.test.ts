// The point of LEMUR: content learned end to end generalizes to documents never seen in
// training, where an ID-only model cannot. Short runs on content-driven synthetic data.
import { describe, expect, it } from 'vitest';

import { Lemur, type PresetName } from '../../dist/index.js';
import { syntheticDataset, TINY } from '../synthetic.js';

describe('the ladder on cold-start documents', () => {
  const data = syntheticDataset({ trainSamples: 3000, testSamples: 1500, seed: 11 });
  const coldAuc = async (preset: PresetName) => {
    const m = await Lemur.create(data, { ...TINY, preset, train: { batchSize: 128, epochs: 4 } });
    await m.fit();
    const ev = await m.evaluate('test', { retrieval: { k: 10 } });
    return { cold: ev.coldStart!.auc, warm: ev.warm!.auc, all: ev.all.auc, retrieval: ev.retrieval };
  };

  it('LEMUR beats the ID-only preset clearly on cold-start documents', async () => {
    const idOnly = await coldAuc('dlrm-mlp');
    const lemur = await coldAuc('lemur');
    console.log(`cold-start AUC: ID-only ${idOnly.cold.toFixed(3)}, LEMUR ${lemur.cold.toFixed(3)}`);
    expect(idOnly.cold).toBeLessThan(0.58); // an unseen document id carries no signal
    expect(lemur.cold).toBeGreaterThan(idOnly.cold + 0.08);
    expect(lemur.all).toBeGreaterThan(idOnly.all);
    expect(idOnly.retrieval).toBeUndefined(); // no towers to retrieve with
  });
});
