// History paths that the main presets do not take: HyFormer with bank sequences (misses
// masked, re-encoded histories used, gradient freshness honoured) and the stop-gradient
// ablation on every path by which the ranking loss could reach the encoders.
import { describe, expect, it } from 'vitest';

import { Lemur, type LemurConfigInput } from '../../dist/index.js';
import { syntheticDataset, TINY } from '../synthetic.js';

const hyformer = (over: LemurConfigInput = {}): LemurConfigInput => ({
  ...TINY,
  preset: 'hyformer',
  features: { docId: false, idDim: 8 },
  // a bank-only sequence: without an ID path a miss carries nothing and must be masked
  sequences: [{ name: 'long', maxLength: 8, bank: true }],
  backbone: { type: 'hyformer', nsTokens: 3, queriesPerSequence: 1, width: 32, layers: 1 },
  ...over,
});

function withoutHistory<T extends ReturnType<typeof syntheticDataset>>(data: T): T {
  const empty = structuredClone(data.splits.test!);
  empty.sequences[0] = { name: 'clicks', offsets: new Int32Array(empty.rows + 1), values: new Int32Array(0) };
  return { ...data, splits: { ...data.splits, test: empty } };
}

const same = (a: Float32Array, b: Float32Array) => a.every((x, i) => Math.abs(x - b[i]!) < 1e-6);

describe('HyFormer history', () => {
  const data = syntheticDataset({ trainSamples: 300, testSamples: 120 });

  for (const encoder of ['longer', 'transformer', 'swiglu'] as const) {
    it(`masks bank misses (${encoder}): a history of never-written documents scores like no history`, async () => {
      const cfg = hyformer({ backbone: { type: 'hyformer', nsTokens: 3, width: 32, layers: 1, sequenceEncoder: encoder } });
      const a = await (await Lemur.create(data, cfg)).predict('test'); // empty bank: every event misses
      const b = await (await Lemur.create(withoutHistory(data), cfg)).predict('test');
      expect(same(a.scores, b.scores)).toBe(true);
    });
  }

  it("uses the re-encoded history with memoryBank.history: 'encode'", async () => {
    // same parameters (same seed); the bank is empty, so reading it gives nothing (all masked)
    const a = await (await Lemur.create(data, hyformer({ memoryBank: { history: 'encode', stalenessProbe: 0 } }))).predict('test');
    const b = await (await Lemur.create(data, hyformer({ memoryBank: { history: 'bank', stalenessProbe: 0 } }))).predict('test');
    const c = await (await Lemur.create(withoutHistory(data), hyformer())).predict('test');
    expect(same(b.scores, c.scores)).toBe(true);
    expect(same(a.scores, b.scores)).toBe(false); // the re-encoded events are what HyFormer reads
  });

  it("honours freshInBatch: 'gradient' (history events encoded this step pass gradient)", async () => {
    const self = syntheticDataset({ trainSamples: 128, testSamples: 32, selfHistory: true });
    const norm = async (freshInBatch: 'gradient' | 'detached') => {
      const m = await Lemur.create(self, hyformer({ loss: { sqdcWeight: 0 }, memoryBank: { freshInBatch, stalenessProbe: 0 }, train: { batchSize: 128 } }));
      const fit = await m.fit({ steps: 1, progressEvery: 1, earlyStopping: false });
      return fit.progress[0]!.encoderGradNorms!.document;
    };
    const g = await norm('gradient'), d = await norm('detached');
    expect(g).toBeGreaterThan(0);
    expect(Math.abs(g - d)).toBeGreaterThan(1e-6 * d);
  });
});

describe('stop-gradient', () => {
  const self = syntheticDataset({ trainSamples: 128, testSamples: 32, selfHistory: true });
  const cases: [string, LemurConfigInput][] = [
    ["freshInBatch 'gradient' (LEMUR decoder)", { memoryBank: { freshInBatch: 'gradient', stalenessProbe: 0 } }],
    ["history 'encode'", { memoryBank: { history: 'encode', stalenessProbe: 0 } }],
    ["freshInBatch 'gradient' (HyFormer)", hyformer({ memoryBank: { freshInBatch: 'gradient', stalenessProbe: 0 } })],
  ];
  for (const [name, over] of cases) {
    it(`lets no ranking gradient reach the encoders through ${name}`, async () => {
      const m = await Lemur.create(self, {
        ...TINY,
        preset: 'lemur',
        features: { docId: false, idDim: 8 },
        sequences: [{ name: 'short', maxLength: 4, bank: true, similarity: true }],
        ...over,
        stopGradient: true,
        loss: { sqdcWeight: 0 },
        train: { batchSize: 128 },
      });
      const fit = await m.fit({ steps: 2, progressEvery: 1, earlyStopping: false });
      for (const p of fit.progress) expect(p.encoderGradNorm).toBe(0);
    });
  }
});
