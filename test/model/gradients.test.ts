// Gradients from the ranking loss reach the content encoders, and do not under stop-gradient.
import { describe, expect, it } from 'vitest';

import { Lemur } from '../../dist/index.js';
import { syntheticDataset, TINY } from '../synthetic.js';

describe('encoder gradients from the ranking loss', () => {
  const data = syntheticDataset({ trainSamples: 600, testSamples: 100 });
  // SQDC off: any gradient in the encoders comes from BCE through the ranker.
  const base = { ...TINY, preset: 'lemur' as const, loss: { sqdcWeight: 0 } };

  it('reach the encoders end to end', async () => {
    const m = await Lemur.create(data, base);
    const fit = await m.fit({ steps: 3, progressEvery: 1 });
    for (const p of fit.progress) expect(p.encoderGradNorm).toBeGreaterThan(1e-6);
  });

  it('are cut by stopGradient', async () => {
    const m = await Lemur.create(data, { ...base, stopGradient: true });
    const fit = await m.fit({ steps: 3, progressEvery: 1 });
    for (const p of fit.progress) expect(p.encoderGradNorm).toBe(0);
  });

  it('SQDC alone still trains the encoders under stopGradient', async () => {
    const m = await Lemur.create(data, { ...base, stopGradient: true, loss: { sqdcWeight: 0.1 } });
    const fit = await m.fit({ steps: 2, progressEvery: 1 });
    expect(fit.progress.at(-1)!.encoderGradNorm).toBeGreaterThan(0);
  });
});
