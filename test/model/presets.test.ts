// Every preset (and the ablation switches) builds and trains on the same data.
import { describe, expect, it } from 'vitest';

import { LADDER, Lemur, PRESETS, resolveConfig, type PresetName } from '../../dist/index.js';
import { syntheticDataset, TINY } from '../synthetic.js';

describe('presets', () => {
  const data = syntheticDataset({ trainSamples: 512, testSamples: 128, images: true });

  it('each rung of the ladder differs from the previous by one switch', () => {
    const c = LADDER.map((p) => resolveConfig(p));
    expect(c[0]!.backbone.type).toBe('mlp');
    expect(c[1]!.backbone.type).toBe('rankmixer');
    expect(c[2]!.sequences.map((s) => s.name)).toEqual(['ids']);
    expect(c[3]!.docEncoder.enabled && c[3]!.twoStage.pretrainSteps > 0).toBe(true);
    expect(c[4]!.twoStage.pretrainSteps).toBe(0);
    expect(c[5]!.sequences.map((s) => s.name)).toEqual(['ids', 'short', 'long']);
    expect(resolveConfig('hyformer').backbone.type).toBe('hyformer');
  });

  for (const preset of Object.keys(PRESETS) as PresetName[]) {
    it(`${preset} trains and evaluates`, async () => {
      const m = await Lemur.create(data, {
        ...TINY,
        preset,
        twoStage: { pretrainSteps: preset === 'two-stage' ? 2 : 0 },
        train: { batchSize: 128, epochs: 1 },
      });
      const fit = await m.fit({ progressEvery: 1 });
      expect(fit.steps).toBe(4); // a whole epoch for the ranker, pre-training or not
      if (preset === 'two-stage') {
        // pre-training has its own budget, before the ranker's epoch
        expect(fit.pretrainSteps).toBe(2);
        expect(fit.progress.map((p) => p.phase)).toEqual(['pretrain', 'pretrain', 'train', 'train', 'train', 'train']);
        expect(fit.progress[0]!.bce).toBeUndefined();
        expect(fit.progress[2]!.encoderGradNorm).toBe(0); // frozen after pre-training
      }
      for (const p of fit.progress) expect(Number.isFinite(p.loss)).toBe(true);
      const ev = await m.evaluate('test');
      expect(ev.all.auc).toBeGreaterThan(0.3);
    });
  }

  it('the ablation switches train', async () => {
    for (const ablation of [
      { stopGradient: true },
      { loss: { sqdcWeight: 0 } },
      { loss: { sameQueryMask: false } },
      { sequences: [{ name: 'ids', maxLength: 50, idEncoder: 'longer' as const }, { name: 'short', maxLength: 16, bank: true }] },
      { decoder: { fused: false } },
      { memoryBank: { dtype: 'bfloat16' as const } },
      { backbone: { type: 'hyformer' as const, sequenceEncoder: 'transformer' as const, nsTokens: 5, width: 32 } },
      { backbone: { type: 'hyformer' as const, sequenceEncoder: 'swiglu' as const, nsTokens: 5, width: 32 } },
      { sequences: [{ name: 's', maxLength: 20, idEncoder: 'swiglu' as const }, { name: 't', maxLength: 20, idEncoder: 'transformer' as const }] },
      { encoderSampling: { forward: 0.5, backward: 0.2 } },
      { memoryBank: { history: 'encode' as const } },
    ]) {
      const m = await Lemur.create(data, { ...TINY, preset: 'lemur', ...ablation, train: { batchSize: 256, epochs: 1 } });
      const fit = await m.fit({ progressEvery: 1 });
      expect(fit.progress.every((p) => Number.isFinite(p.loss))).toBe(true);
    }
  });
});
