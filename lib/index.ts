/**
 * lemur: LEMUR end-to-end multimodal ranking, with RankMixer, LONGER and HyFormer
 * backbones, trained from Node.js over a native LibTorch core.
 */
export { info, setThreads, type Info, type ThreadOptions } from './info.js';
export { tensor, bridgeStats, type Tensor, type TensorOptions, type DType, type TypedArrayOf } from './tensor.js';
export { native, type NativeAddon, type NativeQueue } from './native.js';
export { LemurError, NativeLoadError, ConfigError, DataError, AbortError } from './errors.js';
export * from './data/index.js';
