/**
 * The sizes of `lemur demo` (the README's main job), in one place. The full demo should run
 * in a few minutes on a 2-core CPU; `--quick` is a smoke run of well under a minute.
 *
 * data:   generateDataset() options (lib/data/generator.ts)
 * models: presets trained one after the other (the first is the comparison baseline)
 * config: config fields applied to every model (on top of its preset), like --set
 * epochs: training epochs per model
 */
import type { GeneratorOptions } from '../data/generator.js';
import type { PresetName } from '../presets.js';

export interface DemoSettings {
  data: GeneratorOptions;
  models: PresetName[];
  config: Record<string, unknown>;
  epochs: number;
  /** Evaluations per model over training (the last one at the end). */
  evaluations: number;
}

export const DEMO: DemoSettings = {
  data: { numDocuments: 3000, numUsers: 600, numSamples: 60_000, historyLength: 50, seed: 1 },
  models: ['dlrm-mlp', 'lemur'],
  config: {},
  epochs: 1,
  evaluations: 4,
};

export const DEMO_QUICK: DemoSettings = {
  data: { numDocuments: 600, numUsers: 120, numSamples: 8_000, historyLength: 20, seed: 1 },
  models: ['dlrm-mlp', 'lemur'],
  config: {
    embeddingDim: 32,
    docEncoder: { layers: 1, width: 32, heads: 2 },
    queryEncoder: { layers: 1, width: 32, heads: 2 },
    decoder: { layers: 1, heads: 2, queries: 2, width: 32 },
    longer: { layers: 1, heads: 2, width: 32 },
    backbone: { tokens: 4, width: 32, layers: 1, mlpHidden: [64, 32] },
    memoryBank: { stalenessProbe: 64 },
    train: { batchSize: 128 },
  },
  epochs: 1,
  evaluations: 2,
};
