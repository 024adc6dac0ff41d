import { describe, expect, it } from 'vitest';

import { Lemur } from '../../dist/index.js';
import { syntheticDataset, TINY } from '../synthetic.js';

describe('smoke', () => {
  it('trains and evaluates each preset', async () => {
    const data = syntheticDataset();
    for (const preset of ['dlrm-mlp', 'lemur'] as const) {
      const t0 = performance.now();
      const m = await Lemur.create(data, { ...TINY, preset, train: { batchSize: 128, epochs: 3 } });
      const fit = await m.fit({ progressEvery: 10 });
      const ev = await m.evaluate('test');
      console.log(preset, m.parameters, fit.steps, ((performance.now() - t0) / 1000).toFixed(1), 's', JSON.stringify(fit.progress.at(-1)), ev.all.auc, ev.coldStart?.auc, ev.warm?.auc);
      expect(ev.all.auc).toBeGreaterThan(0.5);
    }
  });
});
