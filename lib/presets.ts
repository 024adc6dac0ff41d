/**
 * Named presets: the paper's ladder (each rung one switch on top of the previous) and the
 * HyFormer alternative. Ablations are single config fields on top of any of them:
 * `stopGradient`, `loss.sqdcWeight: 0`, `loss.sameQueryMask: false`, a sequence's
 * `similarity: false`, or leaving out the `short` / `long` sequence.
 */
import type { DeepPartial, LemurConfig, SequenceConfig } from './config.js';

export type PresetName = 'dlrm-mlp' | 'rankmixer' | 'longer' | 'two-stage' | 'end-to-end' | 'lemur' | 'hyformer';

const seq = (s: Partial<SequenceConfig> & { name: string }): SequenceConfig => ({
  maxLength: 50,
  idEncoder: 'none',
  bank: false,
  similarity: false,
  action: 'auto',
  age: 'auto',
  ...s,
});

/** ID sequence through LONGER (the production baseline's sequence model). */
const ids = seq({ name: 'ids', maxLength: 50, idEncoder: 'longer' });
/** Short and long multimodal sequences: memory-bank rows through the LEMUR decoder. */
const short = seq({ name: 'short', maxLength: 16, bank: true, similarity: true });
const long = seq({ name: 'long', maxLength: 200, bank: true });

const content = {
  docEncoder: { enabled: true },
  memoryBank: { enabled: true },
} satisfies DeepPartial<LemurConfig>;

export const PRESETS: Record<PresetName, DeepPartial<LemurConfig>> = {
  /** DLRM-style MLP over ID and request features. */
  'dlrm-mlp': { backbone: { type: 'mlp' } },
  /** + RankMixer backbone. */
  rankmixer: { backbone: { type: 'rankmixer' } },
  /** + LONGER over the ID history (the paper's production baseline). */
  longer: { backbone: { type: 'rankmixer' }, sequences: [ids] },
  /** + content encoders pre-trained with SQDC, then frozen (embeddings as features). */
  'two-stage': { backbone: { type: 'rankmixer' }, sequences: [ids], ...content, twoStage: { pretrainSteps: 300 } },
  /** + encoders trained end to end with the ranker, plus SQDC. */
  'end-to-end': { backbone: { type: 'rankmixer' }, sequences: [ids], ...content },
  /** + memory-bank multimodal sequences (short and long): full LEMUR. */
  lemur: { backbone: { type: 'rankmixer' }, sequences: [ids, short, long], ...content },
  /** LEMUR with HyFormer as the backbone instead of LONGER + RankMixer. */
  hyformer: {
    backbone: { type: 'hyformer', nsTokens: 5, queriesPerSequence: 1 },
    sequences: [ids, short, long],
    ...content,
  },
};

/** The ladder in the paper's order, for comparison tables. */
export const LADDER: PresetName[] = ['dlrm-mlp', 'rankmixer', 'longer', 'two-stage', 'end-to-end', 'lemur'];
