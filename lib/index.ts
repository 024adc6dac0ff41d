/**
 * lemur: LEMUR end-to-end multimodal ranking, with RankMixer, LONGER and HyFormer
 * backbones, trained from Node.js over a native LibTorch core.
 */
export { info, memoryStats, releaseMemory, setThreads, type Info, type MemoryStats, type ThreadOptions } from './info.js';
export { tensor, bridgeStats, type Tensor, type TensorOptions, type DType, type TypedArrayOf } from './tensor.js';
export { native, type NativeAddon, type NativeQueue } from './native.js';
export { LemurError, NativeLoadError, ConfigError, DataError, AbortError } from './errors.js';
export { Lemur, nativeModelConfig, type CreateOptions } from './model.js';
export { checkCollectives, distributedFromEnv, resolveDistributed, type CollectivesReport, type DistributedOptions, type ResolvedDistributed } from './distributed.js';
export type {
  ModelDataset,
  ModelDatasetManifest,
  Progress,
  FitOptions,
  FitResult,
  Evaluation,
  Prediction,
  BankStats,
  StepTimes,
} from './model.js';
export { resolveConfig, validateConfig, sequence, DEFAULTS } from './config.js';
export type { LemurConfig, LemurConfigInput, SequenceConfig, EncoderConfig, Device, DeepPartial } from './config.js';
export { PRESETS, LADDER, type PresetName } from './presets.js';
export { auc, groupedAuc, logLoss, rankingMetrics, retrievalMetrics } from './metrics.js';
export type { GroupedAuc, RankingMetrics } from './metrics.js';
export { writeCheckpoint, resolveCheckpoint, verifyCheckpoint, type CheckpointVerification } from './checkpoint.js';
export type { DocumentColumns, SampleColumns, SequenceColumns } from './data/columns.js';
export * from './data/index.js';
