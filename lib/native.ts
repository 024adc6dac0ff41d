/**
 * Loading the native addon, and the types of what it exports. Everything heavy in lemur
 * runs in this addon (LibTorch); the rest of lib/ configures it, feeds it and reports.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { NativeLoadError } from './errors.js';
import { choosePrebuilt, findPrebuilts, type InstallRecord } from './install/prebuilt.js';
import { probeTorch } from './install/torch-probe.js';

const require = createRequire(import.meta.url);
/** The package root (dist/.. or lib/..). */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export type DType =
  | 'float32'
  | 'float64'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'int8'
  | 'int16'
  | 'bfloat16'
  | 'float16'
  | 'bool';

/** A torch tensor held by the native side. */
export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: DType;
  readonly device: string;
  readonly isContiguous: boolean;
  /** The tensor's memory as a TypedArray, without copying where JS can address it. */
  view(): TypedArrayOf;
  /** A fresh copy of the data as a TypedArray. */
  copy(): TypedArrayOf;
  /** A copy on another device ('cpu', 'cuda', 'cuda:1') or converted to another dtype. */
  to(deviceOrDtype: string): NativeTensor;
  transpose(dim0: number, dim1: number): NativeTensor;
  fill_(value: number): this;
  add_(value: number): this;
  sum(): number;
}

export type TypedArrayOf =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array;

export interface NativeTensorClass {
  fromTypedArray(array: TypedArrayOf, options?: { shape?: number[]; dtype?: DType }): NativeTensor;
  bridgeStats(): { borrowed: number; exported: number; wrapped: number };
}

export interface TraceEntry {
  id: number;
  label: string;
  startMs: number;
  endMs: number;
  failed: boolean;
}

export interface NativeQueue {
  raggedMeanPool(values: NativeTensor | Float32Array, offsets: NativeTensor | BigInt64Array | Int32Array): Promise<NativeTensor>;
  matmul(size: number, repeats: number): Promise<{ seconds: number; gflops: number }>;
  trace(): TraceEntry[];
  readonly pending: number;
}

export interface NativeInfo {
  torch: { version: string; source: string; library: string; cxx11Abi: boolean; cuda: boolean };
  /** distributed: "gloo" when c10d's Gloo backend was found at build time (multi-process training), "gloo+nccl" when NCCL too (a CUDA LibTorch), else "none". */
  build: { cudaKernels: boolean; cudaKernelsCompiled: boolean; cudaArchs: string; builtAt: string; distributed: "gloo" | "gloo+nccl" | "none" };
  threads: {
    cores: number;
    intraOp: number;
    interOp: number;
    blas: number;
    blasLibrary: string;
    /** What the dense layers' CPU float32 products run on: "oneDNN 2.6.3" (the oneDNN LibTorch links; its threads follow intraOp) or "BLAS" (LibTorch's BLAS; also with LEMUR_CPU_GEMM=blas). */
    cpuGemm: string;
    parallelBackend: string;
    /** Threads lemur's own CPU kernels (attention, LayerNorm, GELU, memory bank) split their work over, measured: intraOp, or 1 in a build that missed LibTorch's OpenMP runtime. */
    kernelThreads: number;
  };
  cuda: {
    available: boolean;
    devices: { index: number; name: string; memoryBytes: number; computeCapability: string }[];
  };
}

/** The host allocator's view (glibc malloc); only `allocator` where it is another one. */
export interface NativeMemoryStats {
  allocator: 'glibc' | 'unknown';
  /** Bytes handed out to LibTorch and lemur (CPU tensors live here). */
  inUse?: number;
  arena?: number;
  mmapped?: number;
  /** Bytes malloc holds that are free (fragmentation); returned to the system every 100 steps. */
  free?: number;
  releasable?: number;
  /**
   * The cache of CPU tensor blocks (>= 16 KB) between LibTorch and malloc; absent with
   * LEMUR_CPU_ALLOCATOR=system. Its free blocks (`cached`) count in `inUse` above.
   */
  tensorCache?: {
    /** Bytes of live tensor blocks handed out through the cache (size-class rounded). */
    inUse: number;
    peakInUse: number;
    /** Bytes of free blocks kept for reuse; emptied every 100 training steps and by releaseMemory(). */
    cached: number;
    /** Allocations served from the cache / from the system. */
    hits: number;
    misses: number;
  };
}

/** What `checkCollectives` reports, per rank (see lib/distributed.ts). */
export interface CollectivesReport {
  /** The backend that carried the device's tensors: 'gloo' or 'nccl'. */
  backend: 'gloo' | 'nccl';
  device: string;
  rank: number;
  worldSize: number;
  seconds: number;
  /** Every collective lemur uses, in order; the first failure ends the list. */
  checks: { name: string; ok: boolean; maxError: number; detail: string }[];
}

export interface NativeAddon {
  info(): NativeInfo;
  checkCollectives(options: { rank: number; worldSize: number; masterAddr: string; masterPort: number; timeoutMs: number; backend: string; device: string }): Promise<CollectivesReport>;
  setThreads(options: { intraOp?: number; blas?: number }): void;
  memoryStats(): NativeMemoryStats;
  releaseMemory(): void;
  Tensor: NativeTensorClass;
  Queue: new (name?: string) => NativeQueue;
  ops: {
    raggedMeanPool(
      values: NativeTensor | TypedArrayOf,
      offsets: NativeTensor | TypedArrayOf,
      gradOut?: NativeTensor | TypedArrayOf,
    ): { out: NativeTensor; gradValues?: NativeTensor };
    /**
     * The dense layers' product y = x W^T + b over x's last dimension (x [..., in], weight
     * [out, in], bias [out] or null), on oneDNN's GEMM for CPU float32 (see info().threads.cpuGemm),
     * else at::linear. With gradOut, also the gradients of sum(y * gradOut).
     */
    linear(
      x: NativeTensor | TypedArrayOf,
      weight: NativeTensor | TypedArrayOf,
      bias: NativeTensor | TypedArrayOf | null,
      gradOut?: NativeTensor | TypedArrayOf,
    ): { out: NativeTensor; gradX?: NativeTensor; gradWeight?: NativeTensor; gradBias?: NativeTensor };
    /**
     * The exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as the models' feed-forward layers run it
     * (fused on CPU float32 with AVX-512, else at::gelu). With gradOut, also the gradient of
     * sum(y * gradOut).
     */
    gelu(x: NativeTensor | TypedArrayOf, gradOut?: NativeTensor | TypedArrayOf): { out: NativeTensor; gradX?: NativeTensor };
    /**
     * LayerNorm over x's last dimension with an elementwise affine (x [..., N], weight and
     * bias [N]): fused rows for CPU float32 with N % 8 == 0 on AVX2, else at::layer_norm.
     * With gradOut, also the gradients of sum(y * gradOut).
     */
    layerNorm(
      x: NativeTensor | TypedArrayOf,
      weight: NativeTensor | TypedArrayOf,
      bias: NativeTensor | TypedArrayOf,
      eps: number,
      gradOut?: NativeTensor | TypedArrayOf,
    ): { out: NativeTensor; gradX?: NativeTensor; gradWeight?: NativeTensor; gradBias?: NativeTensor };
    /**
     * A linear layer per token: y[b, t] = x[b, t] W[t] + bias[t] (x [B, T, C], weight
     * [T, C, D], possibly a transposed view, bias [T, D] or null): RankMixer's per-token
     * layers. oneDNN's GEMM per token in place for CPU float32, else einsum. With gradOut,
     * also the gradients of sum(y * gradOut).
     */
    tokenLinear(
      x: NativeTensor | TypedArrayOf,
      weight: NativeTensor | TypedArrayOf,
      bias: NativeTensor | TypedArrayOf | null,
      gradOut?: NativeTensor | TypedArrayOf,
    ): { out: NativeTensor; gradX?: NativeTensor; gradWeight?: NativeTensor; gradBias?: NativeTensor };
    /**
     * Multi-head attention over ragged samples: q [Tq, H, D], k [Tk, H, D], v [Tk, H, Dv],
     * offsets [B+1]; keyMask [Tk] bool (false = masked) or null. With gradOut, also the
     * gradients of sum(out * gradOut) with respect to q, k and v.
     */
    raggedAttention(
      q: NativeTensor | TypedArrayOf,
      k: NativeTensor | TypedArrayOf,
      v: NativeTensor | TypedArrayOf,
      qOffsets: NativeTensor | TypedArrayOf,
      kOffsets: NativeTensor | TypedArrayOf,
      keyMask: NativeTensor | TypedArrayOf | null | undefined,
      scale: number,
      gradOut?: NativeTensor | TypedArrayOf,
    ): { out: NativeTensor; gradQ?: NativeTensor; gradK?: NativeTensor; gradV?: NativeTensor };
    /**
     * raggedAttention over a packed projection, as the document encoder's layers call it:
     * qkv [T, 3, H, D] (q, k, v along dim 1; self-attention, one offsets [B+1] for both), read
     * in place on CPU. With gradOut, the gradient of qkv, packed.
     */
    raggedSelfAttention(
      qkv: NativeTensor | TypedArrayOf,
      offsets: NativeTensor | TypedArrayOf,
      scale: number,
      gradOut?: NativeTensor | TypedArrayOf,
    ): { out: NativeTensor; gradQkv?: NativeTensor };
    /** raggedAttention with k and v packed: kv [Tk, 2, H, D]. With gradOut, the gradients of q and kv (packed). */
    raggedAttentionPackedKv(
      q: NativeTensor | TypedArrayOf,
      kv: NativeTensor | TypedArrayOf,
      qOffsets: NativeTensor | TypedArrayOf,
      kOffsets: NativeTensor | TypedArrayOf,
      scale: number,
      gradOut?: NativeTensor | TypedArrayOf,
    ): { out: NativeTensor; gradQ?: NativeTensor; gradKv?: NativeTensor };
    /**
     * Fused gather-attention: q [Tq, H, E] attends over bank rows bank[ids] ([N, E]; rows with
     * written[id] == 0 are skipped). With gradOut, also the gradient with respect to q.
     */
    bankAttention(
      q: NativeTensor | TypedArrayOf,
      bank: NativeTensor | TypedArrayOf,
      written: NativeTensor | TypedArrayOf,
      ids: NativeTensor | TypedArrayOf,
      qOffsets: NativeTensor | TypedArrayOf,
      kOffsets: NativeTensor | TypedArrayOf,
      scale: number,
      gradOut?: NativeTensor | TypedArrayOf,
    ): { out: NativeTensor; gradQ?: NativeTensor };
    /** rows [M, E] = bank[ids] (zeros for never-written rows), present [M] bool. */
    bankGather(
      bank: NativeTensor | TypedArrayOf,
      written: NativeTensor | TypedArrayOf,
      ids: NativeTensor | TypedArrayOf,
    ): { rows: NativeTensor; present: NativeTensor };
    /** In place: bank[ids] = rows, written[ids] = 1, lastStep[ids] = step; the last repeat wins. */
    bankScatter(
      bank: NativeTensor | TypedArrayOf,
      written: NativeTensor | TypedArrayOf,
      lastStep: NativeTensor | TypedArrayOf,
      ids: NativeTensor | TypedArrayOf,
      rows: NativeTensor | TypedArrayOf,
      step: number | bigint,
    ): void;
    /** unique [U] ascending and inverse [M] int64 with ids == unique[inverse]. */
    dedupIds(ids: NativeTensor | TypedArrayOf): { unique: NativeTensor; inverse: NativeTensor };
    /** out [M, D] = src[inverse]; with gradOut, also the gradient with respect to src. */
    expandRows(
      src: NativeTensor | TypedArrayOf,
      inverse: NativeTensor | TypedArrayOf,
      gradOut?: NativeTensor | TypedArrayOf,
    ): { out: NativeTensor; gradSrc?: NativeTensor };
    /** [numRows, D]: row u sums grad[i] over inverse[i] == u (fp32 accumulation, fixed order). */
    segmentSumRows(
      grad: NativeTensor | TypedArrayOf,
      inverse: NativeTensor | TypedArrayOf,
      numRows: number,
    ): NativeTensor;
  };
  // Model-level classes are declared next to their TypeScript wrappers.
  [key: string]: unknown;
}

/** What the build recorded about the LibTorch it compiled against (build/Release/lemur-build.json). */
export interface BuildRecord {
  torchVersion: string;
  torchSource: string;
  torchLib: string;
  torchLibSize: number;
  cxx11Abi: number;
  torchHasCuda: string;
}

const REBUILD_HINT =
  'Rebuild the addon: `npm rebuild lemur --build-from-source` (inside the lemur repository: `npm run build:native`).';

/** Throws NativeLoadError when the LibTorch recorded next to `binary` is gone or changed. */
export function checkBuildRecord(binary: string): void {
  const recordFile = join(dirname(binary), 'lemur-build.json');
  if (!existsSync(recordFile)) return;
  const record = JSON.parse(readFileSync(recordFile, 'utf8')) as BuildRecord;
  if (!existsSync(record.torchLib)) {
    throw new NativeLoadError(
      `lemur's native addon was built against LibTorch ${record.torchVersion} (${record.torchSource}) at ` +
        `${record.torchLib}, which is no longer there. ${REBUILD_HINT}`,
    );
  }
  const size = statSync(record.torchLib).size;
  if (size !== record.torchLibSize) {
    throw new NativeLoadError(
      `lemur's native addon was built against LibTorch ${record.torchVersion} at ${record.torchLib}, ` +
        `and that library has changed since (size ${record.torchLibSize} -> ${size} bytes). ${REBUILD_HINT}`,
    );
  }
}

let loaded: NativeAddon | undefined;
let loadedFrom: string | undefined;
let loadedRecord: Omit<InstallRecord, 'installedAt'> | undefined;

/** The file the addon was loaded from (after native() succeeded). */
export function nativeBinaryPath(): string | undefined {
  return loadedFrom;
}

/** How the loader chose the binary when it was not the install step's (see runTimePrebuilt). */
export function nativeBinaryRecord(): Omit<InstallRecord, 'installedAt'> | undefined {
  return loadedRecord;
}

/**
 * No binary in build/Release: the install step did not run (`npm install --ignore-scripts`,
 * a package manager that skips dependencies' scripts). The variant package that matches this
 * machine's LibTorch exactly is loaded where npm put it, as the install step would have
 * chosen it; otherwise why none fits.
 */
function runTimePrebuilt(): { binary?: string; why: string } {
  const packages = findPrebuilts(packageRoot);
  if (packages.length === 0) return { why: 'and no prebuilt variant package (@lemur-node/...) is installed' };
  let here;
  try {
    here = probeTorch();
  } catch (e) {
    return { why: `and the LibTorch to match a prebuilt against could not be read: ${(e as Error).message}` };
  }
  if (!here) return { why: 'and no LibTorch was found to match a prebuilt against ($LIBTORCH, python3 torch, the system)' };
  const choice = choosePrebuilt(packages, here);
  if (!choice.chosen) {
    const reasons = choice.rejected.map((r) => `${r.name}: ${r.reasons.join('; ')}`).join('. ');
    return { why: `and no installed prebuilt fits this machine (it wants ${choice.wanted}): ${reasons}` };
  }
  const p = choice.chosen;
  loadedRecord = {
    binary: 'prebuilt',
    package: `${p.name}@${p.version}`,
    reason: `exact match, chosen at load time (the install step did not run): LibTorch ${here.torchVersion} (${here.source}), C++11 ABI ${here.cxx11Abi}, ${here.cuda === null ? 'CPU' : `CUDA ${here.cuda}`}, ${here.platform}`,
    torch: { version: here.torchVersion, source: here.source, cxx11Abi: here.cxx11Abi, cuda: here.cuda },
  };
  return { binary: join(p.dir, 'lemur.node'), why: '' };
}

/** The native addon, loaded on first use. Throws NativeLoadError with the fix when it cannot load. */
export function native(): NativeAddon {
  if (loaded) return loaded;
  const gypBuild = require('node-gyp-build') as { (dir: string): unknown; resolve(dir: string): string };
  let binary: string;
  try {
    binary = gypBuild.resolve(packageRoot);
    checkBuildRecord(binary);
  } catch (e) {
    if (e instanceof NativeLoadError) throw e;
    const prebuilt = runTimePrebuilt();
    if (!prebuilt.binary)
      throw new NativeLoadError(
        `lemur's native addon is not built (no build/Release/lemur.node under ${packageRoot}), ${prebuilt.why}. ` +
          `Run \`npm rebuild lemur\` (its install step picks a prebuilt or builds with cmake-js), or ${REBUILD_HINT}`,
      );
    binary = prebuilt.binary;
  }
  // OpenMP (LibTorch's intra-op pool) reads this when the addon loads. Spinning workers
  // (the default) make every parallel region crawl as soon as anything else competes for
  // the cores (5-20x slower steps seen on a busy 2-core machine); sleeping costs little.
  // An explicit setting wins.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    loaded = require(binary) as NativeAddon;
    loadedFrom = binary;
  } catch (e) {
    const msg = (e as Error).message;
    const why = /undefined symbol|version `.*' not found|cannot open shared object/.test(msg)
      ? 'it does not match the LibTorch (or C++ runtime) on this machine'
      : 'it failed to load';
    throw new NativeLoadError(`lemur's native addon at ${binary}: ${why}: ${msg.split('\n')[0]}. ${REBUILD_HINT}`);
  }
  return loaded;
}
