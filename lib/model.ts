/**
 * `Lemur`: configure, train, evaluate, predict, save and load a model. Every heavy call is
 * one native call on the model's own worker thread (a training step is one call); this
 * class only orchestrates and reports.
 */
import { EventEmitter } from 'node:events';
import { existsSync, rmSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  assertCheckpointIntact,
  checkpointName,
  checksumFiles,
  readCheckpointJson,
  readCheckpointMeta,
  resolveCheckpoint,
  writeCheckpoint,
  type CheckpointMeta,
  type CheckpointPosition,
} from './checkpoint.js';
import { resolveConfig, show, validateConfig, type EarlyStoppingConfig, type LemurConfig, type LemurConfigInput, type SelectionMetric, type SequenceConfig } from './config.js';
import type { DocumentColumns, SampleColumns } from './data/columns.js';
import { distributedFromEnv, rankDevice, resolveDistributed, trainingFingerprint, type DistributedOptions, type ResolvedDistributed } from './distributed.js';
import { AbortError, ConfigError, LemurError } from './errors.js';
import { info } from './info.js';
import { rankingMetrics, retrievalMetrics, undefinedMetrics, type RankingMetrics } from './metrics.js';
import { native, type NativeTensor } from './native.js';
import type { PresetName } from './presets.js';
import { newSelectionState, recordSelection, selectionValue, type SelectionPoint, type SelectionState } from './selection.js';

/** The parts of a dataset's manifest the model needs (docs/data-format.md). */
export interface ModelDatasetManifest {
  name: string;
  numDocuments: number;
  numUsers: number;
  vocabSize: number;
  documentTokens: number;
  queryTokens: number;
  textFields: { name: string; maxTokens: number }[];
  image: { height: number; width: number; channels: number } | null;
  categorical: { name: string; cardinality: number }[];
  documentCategorical?: { name: string; cardinality: number }[];
  dense: string[];
  sequences: { name: string; maxLength: number; action: boolean; age: boolean }[];
  tokenizer?: string;
}

/** An opened dataset (see openDataset()). */
export interface ModelDataset {
  dir: string;
  manifest: ModelDatasetManifest;
  documents: DocumentColumns;
  splits: Record<string, SampleColumns>;
}

export interface StepTimes {
  data: number;
  encoder: number;
  bank: number;
  backbone: number;
  backward: number;
  /** Data-parallel: the gradient, ID-row and bank exchanges between ranks after backward. */
  communication: number;
  optimizer: number;
  total: number;
}

export interface BankStats {
  rows: number;
  /** Rows this process holds: all of them, or its shard when the bank is sharded across ranks. */
  rowsHeld: number;
  written: number;
  /** Mean steps since each written row was last written. */
  meanAge: number;
  /** Fraction of looked-up ids present in the bank since the last report: target docs and history. */
  targetCoverage: number;
  historyCoverage: number;
  /** Mean cosine between bank rows and fresh encodings of a probe sample (when measured). */
  staleness?: number;
}

export interface Progress {
  /** Steps of this phase taken so far: ranking steps, or pre-training steps during 'pretrain'. */
  step: number;
  epoch: number;
  /** Batch index within the epoch (of the next batch). */
  batch: number;
  batchesPerEpoch: number;
  phase: 'pretrain' | 'train';
  /** Means over the steps since the last report. */
  loss: number;
  /** BCE (undefined while pre-training: there is no ranker loss then). */
  bce?: number;
  sqdc: number;
  /** Gradient norm reaching the content encoders (before clipping). */
  encoderGradNorm: number;
  /** The same for each tower: the query encoder (or request tower) and the document encoder. */
  encoderGradNorms?: { query: number; document: number };
  samplesPerSecond: number;
  lr: number;
  seconds: StepTimes;
  /**
   * Encoder sampling, means per step: distinct candidate documents in the batch, how many ran
   * the document encoder forward (sampled, plus those the bank lacks) and how many backward.
   */
  encoder?: { uniqueDocs: number; forward: number; backward: number };
  /** Steps since the last report whose loss or gradient was not finite (optim.nonFinite: 'skip'). */
  skippedSteps: number;
  bank?: BankStats;
  /** Estimated seconds to the end of this fit() call. */
  eta: number;
}

export interface Evaluation {
  split: string;
  step: number;
  all: RankingMetrics;
  /** Rows whose candidate document never occurs in training (when the split marks them). */
  coldStart?: RankingMetrics;
  warm?: RankingMetrics;
  /** Candidate documents missing from the bank (encoded on the fly unless predicting). */
  bankMisses: number;
  /**
   * Two-tower retrieval quality of the query and document embeddings (when asked for): each
   * positive row's query embedding ranks every document; HR@K and NDCG@K of its document.
   */
  retrieval?: { k: number; hr: number; ndcg: number; n: number };
  /** The scores of every row, in the split's order (with `evaluate(split, { scores: true })`). */
  scores?: Float32Array;
  /** Why a metric is undefined (NaN) here, in words, e.g. a split with a single class. */
  notes?: string[];
}

export interface EvaluateOptions {
  retrieval?: { k: number; queries?: number };
  /** Keep the per-row scores in the result (for paired comparisons). */
  scores?: boolean;
  signal?: AbortSignal;
}

export interface FitOptions {
  /** Train until this many epochs are complete in total (a resumed model continues). Default: config.train.epochs. */
  epochs?: number;
  /** At most this many ranking steps in this call (pre-training has its own budget, twoStage.pretrainSteps). */
  steps?: number;
  split?: string;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Steps between progress reports (default 20). */
  progressEvery?: number;
  /** Evaluate on `split` every `every` steps (and at the end): monitoring only, nothing is selected on it. */
  evaluate?: { split: string; every: number };
  /**
   * Early stopping on a validation split (default: config.train.earlyStopping, which is on
   * when the dataset has its split). Fields given here override the config's; false: off.
   */
  earlyStopping?: Partial<Omit<EarlyStoppingConfig, 'enabled'>> | false;
  /** Save a checkpoint into `dir` every `every` steps, at the end, and when aborted. */
  checkpoint?: { dir: string; every?: number; keep?: number };
}

export interface EarlyStoppingResult {
  metric: SelectionMetric;
  split: string;
  /** The best validation evaluation (the model ends in this state when restoreBest). */
  best?: SelectionPoint;
  /** Step at which patience ran out; undefined: the epoch budget ended first. */
  stoppedAt?: number;
  /** Whether the model was restored to the best evaluation's state at the end. */
  restored: boolean;
  history: SelectionPoint[];
}

export interface FitResult {
  /** Ranking steps taken in this call. */
  steps: number;
  /** Two-stage pre-training steps taken in this call. */
  pretrainSteps: number;
  /** Steps whose update was skipped (non-finite loss or gradient, optim.nonFinite: 'skip'). */
  skippedSteps: number;
  samples: number;
  seconds: number;
  epoch: number;
  progress: Progress[];
  evaluations: Evaluation[];
  earlyStopping?: EarlyStoppingResult;
}

export interface Prediction {
  split: string;
  /** Click probabilities, in the split's row order. */
  scores: Float32Array;
  labels: Float32Array;
  bankMisses: number;
}

interface NativeStep {
  done: boolean;
  skipped: boolean;
  /** Some rank of the job was aborted: every rank stops after this step. */
  stop: boolean;
  step: number;
  samples: number;
  loss: number;
  bce: number;
  sqdc: number;
  lr: number;
  encoderGradNorm: number;
  queryGradNorm: number;
  documentGradNorm: number;
  phase: 'pretrain' | 'train';
  uniqueDocs: number;
  encoded: number;
  encodedWithGrad: number;
  targetMisses: number;
  seconds: StepTimes;
}

interface NativePredict {
  done: boolean;
  scores: Float32Array;
  labels: Float32Array;
  rows: BigInt64Array;
  query: BigInt64Array;
  user: BigInt64Array;
  doc: BigInt64Array;
  cold?: Uint8Array;
  queryEmbeddings?: Float32Array;
  targetMisses: number;
}

interface NativeBank {
  rows: number;
  held: number;
  written: number;
  meanAge: number;
  targetLookups: number;
  targetHits: number;
  historyLookups: number;
  historyHits: number;
}

interface NativeLoader {
  readonly position: { epoch: number; batch: number };
  readonly batchesPerEpoch: number;
  close(): void;
}

interface NativeModel {
  ready(): Promise<{ parameters: number; idTableParameters: number }>;
  close(): Promise<void>;
  trainStep(loader: NativeLoader, stop?: boolean): Promise<NativeStep>;
  pretrainStep(loader: NativeLoader, stop?: boolean): Promise<NativeStep>;
  predictStep(loader: NativeLoader, encodeMissing: boolean): Promise<NativePredict>;
  bankStats(reset: boolean): Promise<NativeBank>;
  staleness(probe: number): Promise<number>;
  indexDocuments(ids?: BigInt64Array): Promise<void>;
  documentEmbeddings(ids: BigInt64Array, fromBank: boolean): Promise<NativeTensor>;
  save(path: string): Promise<void>;
  saveShard(path: string): Promise<void>;
  load(path: string): Promise<void>;
  joinGroup(options: { backend: 'auto' | 'gloo' | 'nccl'; rank: number; worldSize: number; masterAddr: string; masterPort: number; timeoutMs: number; globalNegatives: boolean; overlap: boolean; fingerprint: string }): Promise<void>;
  barrier(what: string): Promise<void>;
  traffic(reset: boolean): Promise<Record<string, number>>;
  allgather(rows: Float64Array, width: number): Promise<Float64Array>;
  parameterDigest(): Promise<string>;
  readonly step: number;
  readonly pretrainSteps: number;
}

type NativeCtor<T> = new (...args: unknown[]) => T;

type Position = CheckpointPosition;

/** A sequence view with its column and side info resolved against the dataset. */
export type ResolvedSequence = Omit<Required<SequenceConfig>, 'action' | 'age'> & { action: boolean; age: boolean };

/** The sequence views of a config, with columns and 'auto' side info resolved against the dataset. */
function resolveSequences(config: LemurConfig, manifest: ModelDatasetManifest): ResolvedSequence[] {
  return config.sequences.map((s, i) => {
    const column = s.column ?? manifest.sequences[0]?.name;
    if (!column) throw new ConfigError(`sequences[${i}].column`, `the dataset '${manifest.name}' has no sequence columns`);
    const col = manifest.sequences.find((m) => m.name === column);
    if (!col)
      throw new ConfigError(
        `sequences[${i}].column`,
        `the dataset has no sequence '${column}' (it has: ${manifest.sequences.map((m) => m.name).join(', ') || 'none'})`,
      );
    if (s.action === true && !col.action) throw new ConfigError(`sequences[${i}].action`, `sequence '${column}' has no action side info`);
    if (s.age === true && !col.age) throw new ConfigError(`sequences[${i}].age`, `sequence '${column}' has no age side info`);
    return { ...s, column, action: s.action === 'auto' ? col.action : s.action, age: s.age === 'auto' ? col.age : s.age };
  });
}

function maxActionType(dataset: ModelDataset): number {
  let m = 0;
  for (const split of Object.values(dataset.splits))
    for (const s of split.sequences) if (s.action) for (const a of s.action) if (a > m) m = a;
  return m + 1;
}

/** The flat configuration the native Model reads (native/bindings/model_binding.cpp). */
export function nativeModelConfig(config: LemurConfig, dataset: ModelDataset): Record<string, unknown> {
  const m = dataset.manifest;
  const f = config.features;
  const content = config.docEncoder.enabled;
  const buckets = (cardinality: number) => Math.max(1, Math.min(cardinality || f.maxCategoricalBuckets, f.maxCategoricalBuckets));
  return {
    numDocuments: m.numDocuments,
    numUsers: m.numUsers,
    vocabSize: m.vocabSize,
    docTokens: m.documentTokens,
    queryTokens: m.queryTokens,
    textFields: Math.max(1, m.textFields.length),
    image: content && config.docEncoder.images && m.image ? m.image : null,
    categorical: m.categorical.map((c) => ({ name: c.name, buckets: buckets(c.cardinality) })),
    docCategorical: (m.documentCategorical ?? []).map((c) => ({ name: c.name, buckets: buckets(c.cardinality) })),
    dense: f.dense ? m.dense.length : 0,
    actionTypes: Math.max(2, maxActionType(dataset)),
    embeddingDim: config.embeddingDim,
    idDim: f.idDim,
    userId: f.userId,
    docId: f.docId,
    queryDocSimilarity: f.queryDocSimilarity,
    docIdDropout: f.docIdDropout,
    userBuckets: f.userBuckets,
    docBuckets: f.docBuckets,
    queryEncoder: { ...config.queryEncoder, enabled: content && config.queryEncoder.enabled && m.queryTokens > 0 },
    docEncoder: config.docEncoder,
    encodeForward: config.encoderSampling.forward,
    encodeBackward: config.encoderSampling.backward,
    stopGradient: config.stopGradient,
    freshInBatch: config.memoryBank.freshInBatch,
    bankDtype: config.memoryBank.dtype,
    bank: config.memoryBank.enabled,
    historySource: config.memoryBank.history,
    similarityLength: config.similarityLength,
    sequences: resolveSequences(config, m),
    decoder: config.decoder,
    longer: config.longer,
    backbone: config.backbone,
    loss: config.loss,
    optim: config.optim,
    pretrainSteps: config.twoStage.pretrainSteps,
    device: config.device,
    bf16: config.bf16,
    seed: config.seed,
  };
}

/** `over` applied on top of a complete configuration (objects merged, the rest replaced). */
function mergeInput(base: LemurConfig, over: LemurConfigInput): LemurConfigInput {
  const merge = (a: unknown, b: unknown): unknown => {
    if (b === undefined) return a;
    if (typeof a === 'object' && a && !Array.isArray(a) && typeof b === 'object' && b && !Array.isArray(b)) {
      const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
      for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v);
      return out;
    }
    return b;
  };
  return merge(base, over) as LemurConfigInput;
}

function checkDevice(config: LemurConfig): void {
  if (config.device === 'cpu') return;
  const i = info();
  if (!i.build.cudaKernels)
    throw new ConfigError('device', `'${config.device}' requested, but this lemur build has no CUDA (LibTorch ${i.torch.version}, ${i.torch.cuda ? 'CUDA' : 'CPU only'}); rebuild against a CUDA LibTorch`);
  const index = config.device === 'cuda' ? 0 : Number(config.device.slice(5));
  if (!i.cuda.available || index >= i.cuda.devices.length)
    throw new ConfigError('device', `'${config.device}' requested, but ${i.cuda.devices.length} CUDA device(s) are visible`);
}

/** Zeroed step-time sums. */
export interface CreateOptions {
  /**
   * Join a data-parallel job (see DistributedOptions): `'env'` reads torchrun's variables and
   * is a plain single-process model where WORLD_SIZE is unset. The ID tables are sharded
   * row-wise across the ranks unless `tables: 'replicated'`.
   */
  distributed?: DistributedOptions | 'env';
}

function distributedOption(o: DistributedOptions | 'env' | undefined): ResolvedDistributed | undefined {
  if (o === undefined) return undefined;
  return o === 'env' ? distributedFromEnv() : resolveDistributed(o);
}

/** Private best-weights folders of this process's models, removed when it exits. */
const privateDirs = new Set<string>();

const noTimes = (): StepTimes => ({ data: 0, encoder: 0, bank: 0, backbone: 0, backward: 0, communication: 0, optimizer: 0, total: 0 });

/** Sums of one progress window. */
interface Window {
  n: number;
  loss: number;
  bce: number;
  sqdc: number;
  encGrad: number;
  queryGrad: number;
  docGrad: number;
  samples: number;
  lr: number;
  skipped: number;
  uniqueDocs: number;
  forward: number;
  backward: number;
  times: StepTimes;
  started: number;
}

const newWindow = (): Window => ({ n: 0, loss: 0, bce: 0, sqdc: 0, encGrad: 0, queryGrad: 0, docGrad: 0, samples: 0, lr: 0, skipped: 0, uniqueDocs: 0, forward: 0, backward: 0, times: noTimes(), started: performance.now() });

/** A count argument: a non-negative integer or Infinity, else a LemurError naming it. */
function checkCount(name: string, v: number | undefined, allowInfinity = true): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0 || (!Number.isInteger(v) && !(allowInfinity && v === Infinity)))
    throw new LemurError(`${name} must be a non-negative integer${allowInfinity ? ' (or Infinity)' : ''}, got ${show(v)}`);
}

/** An options object: unknown keys are typos, named with the known ones. */
function checkKeys(what: string, o: unknown, known: readonly string[]): void {
  if (o === undefined) return;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new LemurError(`${what} must be an object, got ${show(o)}`);
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new LemurError(`${what}: unknown option '${k}' (known: ${known.join(', ')})`);
}

function checkSignal(what: string, signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new LemurError(`${what} must be an AbortSignal, got ${show(signal)}`);
}

function checkPositive(what: string, v: unknown): void {
  if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 1)) throw new LemurError(`${what} must be a positive integer, got ${show(v)}`);
}

/** A checkpoint folder argument: a non-empty path that is not a file. */
function checkFolder(what: string, dir: unknown): void {
  if (typeof dir !== 'string' || dir.length === 0) throw new LemurError(`${what} must be a folder path, got ${show(dir)}`);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new LemurError(`${what}: ${dir} is a file, not a folder`);
}

const FIT_OPTIONS = ['epochs', 'steps', 'split', 'signal', 'onProgress', 'progressEvery', 'evaluate', 'earlyStopping', 'checkpoint'] as const;
const EARLY_STOPPING_OPTIONS = ['split', 'metric', 'patience', 'every', 'minDelta', 'restoreBest'] as const;

function checkFitOptions(o: FitOptions): void {
  checkKeys('fit(options)', o, FIT_OPTIONS);
  checkCount('fit({ epochs })', o.epochs, false);
  checkCount('fit({ steps })', o.steps);
  if (o.split !== undefined && (typeof o.split !== 'string' || !o.split)) throw new LemurError(`fit({ split }) must be a split name, got ${show(o.split)}`);
  checkSignal('fit({ signal })', o.signal);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new LemurError(`fit({ onProgress }) must be a function, got ${show(o.onProgress)}`);
  checkPositive('fit({ progressEvery })', o.progressEvery);
  if (o.evaluate !== undefined) {
    checkKeys('fit({ evaluate })', o.evaluate, ['split', 'every']);
    if (typeof o.evaluate.split !== 'string' || !o.evaluate.split) throw new LemurError(`fit({ evaluate: { split } }) must be a split name, got ${show(o.evaluate.split)}`);
    if (o.evaluate.every === undefined) throw new LemurError('fit({ evaluate: { every } }) is required: evaluate every how many steps?');
    checkPositive('fit({ evaluate: { every } })', o.evaluate.every);
  }
  if (o.earlyStopping !== undefined && o.earlyStopping !== false) checkKeys('fit({ earlyStopping })', o.earlyStopping, EARLY_STOPPING_OPTIONS);
  if (o.checkpoint !== undefined) {
    checkKeys('fit({ checkpoint })', o.checkpoint, ['dir', 'every', 'keep']);
    checkFolder('fit({ checkpoint: { dir } })', o.checkpoint.dir);
    checkCount('fit({ checkpoint: { every } })', o.checkpoint.every, false);
    checkPositive('fit({ checkpoint: { keep } })', o.checkpoint.keep);
  }
}

function checkEvaluateOptions(split: unknown, o: EvaluateOptions): void {
  if (typeof split !== 'string' || !split) throw new LemurError(`evaluate(split) must be a split name, got ${show(split)}`);
  checkKeys('evaluate(split, options)', o, ['retrieval', 'scores', 'signal']);
  if (o.retrieval !== undefined) {
    checkKeys('evaluate({ retrieval })', o.retrieval, ['k', 'queries']);
    if (o.retrieval.k === undefined) throw new LemurError('evaluate({ retrieval: { k } }) is required: HR@k and NDCG@k of which k?');
    checkPositive('evaluate({ retrieval: { k } })', o.retrieval.k);
    checkPositive('evaluate({ retrieval: { queries } })', o.retrieval.queries);
  }
  if (o.scores !== undefined && typeof o.scores !== 'boolean') throw new LemurError(`evaluate({ scores }) must be true or false, got ${show(o.scores)}`);
  checkSignal('evaluate({ signal })', o.signal);
}

function abortError(what: string, signal: AbortSignal): AbortError {
  const reason = signal.reason instanceof Error ? `: ${signal.reason.message}` : '';
  return new AbortError(`${what} aborted${reason}`);
}

export class Lemur extends EventEmitter {
  /** Dense parameters (the ID tables are counted apart). */
  parameters = 0;
  idTableParameters = 0;
  /** Where the next training batch comes from: (epoch, batch index within it). */
  position: Position = { epoch: 0, batch: 0 };
  /** Where the next two-stage pre-training batch comes from. */
  pretrainPosition: Position = { epoch: 0, batch: 0 };
  /** Early-stopping state (best validation evaluation so far), kept across resumes. */
  selection?: SelectionState;
  private samples = new Map<string, unknown>();
  private readonly sequences: ResolvedSequence[];
  /** The operation running on this model, if any (one at a time). */
  private running?: { what: string; since: number };
  /** Set by joinGroup(): this process is one rank of a data-parallel job. */
  distributed?: ResolvedDistributed;
  /** Built with sharded ID tables or bank (each rank holds its rows only). */
  private sharded = false;
  /** close() has run: the native model is gone. */
  private closed = false;

  private constructor(
    readonly config: LemurConfig,
    readonly dataset: ModelDataset,
    private readonly model: NativeModel,
    private readonly documents: unknown,
  ) {
    super();
    this.sequences = resolveSequences(config, dataset.manifest);
  }

  /** Builds a model for `dataset` from a preset name or a (partial) configuration. */
  static async create(dataset: ModelDataset, config: LemurConfigInput | PresetName = {}, options: CreateOptions = {}): Promise<Lemur> {
    const d = distributedOption(options.distributed);
    const lemur = await Lemur.build(dataset, config, d);
    if (d) await lemur.joinGroup(d);
    return lemur;
  }

  /** The model without joining a group; with `d`, its ID tables sharded for that rank. */
  private static async build(dataset: ModelDataset, config: LemurConfigInput | PresetName, d?: ResolvedDistributed): Promise<Lemur> {
    const resolved = resolveConfig(config);
    checkDevice(resolved);
    const nativeConfig = nativeModelConfig(resolved, dataset); // validates sequences against the data
    if (d && d.worldSize > 1 && d.tables === 'sharded') nativeConfig.tableShards = { rank: d.rank, count: d.worldSize };
    if (d && d.worldSize > 1 && d.bank === 'sharded') nativeConfig.bankShards = { rank: d.rank, count: d.worldSize };
    // as torchrun users expect; the configuration keeps 'cuda', so every rank's fingerprint agrees
    if (d) nativeConfig.device = rankDevice(resolved.device, d);
    const addon = native();
    const documents = new (addon.Documents as NativeCtor<unknown>)(dataset.documents);
    const model = new (addon.Model as NativeCtor<NativeModel>)(nativeConfig, documents);
    const sizes = await model.ready();
    const lemur = new Lemur(resolved, dataset, model, documents);
    lemur.sharded = nativeConfig.tableShards !== undefined || nativeConfig.bankShards !== undefined;
    lemur.parameters = sizes.parameters;
    lemur.idTableParameters = sizes.idTableParameters;
    return lemur;
  }

  /** Ranking steps taken so far. */
  get step(): number {
    return this.model.step;
  }

  /** Two-stage pre-training steps taken so far. */
  get pretrainStep(): number {
    return this.model.pretrainSteps;
  }

  /** Training batches in one epoch of a split (the last one may be smaller). */
  batchesPerEpoch(split = 'train'): number {
    const rows = this.dataset.splits[split]?.rows;
    if (rows === undefined) throw new LemurError(`the dataset has no split '${split}'`);
    const bs = this.config.train.batchSize;
    const rest = rows % bs;
    // data-parallel: a last batch with fewer rows than ranks is dropped (every rank needs one)
    return Math.ceil(rows / bs) - (this.distributed && rest > 0 && rest < this.distributed.worldSize ? 1 : 0);
  }

  /**
   * Joins a data-parallel job (see DistributedOptions; `'env'` reads torchrun's variables).
   * Every rank must call it, with the same configuration and dataset (checked), before
   * fit(). From then on each rank trains on its shard of every global batch of
   * train.batchSize rows, gradients are averaged, ID-table rows and bank writes are merged, so
   * all ranks hold the same model after every step; rank 0 alone writes checkpoints.
   * A world of size 1 is a plain run.
   */
  async joinGroup(options: DistributedOptions | 'env' = 'env'): Promise<ResolvedDistributed> {
    const d = options === 'env' ? distributedFromEnv() : resolveDistributed(options);
    if (!d) throw new LemurError('joinGroup(\'env\'): WORLD_SIZE is not set (start the workers with lemur train --nproc N or torchrun, or pass the options)');
    if (this.distributed) throw new LemurError(`this model already joined a group as rank ${this.distributed.rank} of ${this.distributed.worldSize}`);
    if (d.worldSize > 1 && info().build.distributed === 'none')
      throw new LemurError('distributed training needs c10d\'s Gloo backend, which this build of lemur lacks (the gloo headers were missing at build time): apt-get install -y libgloo-dev, then npm rebuild lemur --build-from-source');
    if (this.config.train.batchSize < d.worldSize)
      throw new ConfigError('train.batchSize', `${this.config.train.batchSize} is smaller than the world size ${d.worldSize}: every rank needs rows of each batch`);
    await this.exclusive('joinGroup()', () =>
      this.model.joinGroup({
        backend: d.backend,
        rank: d.rank,
        worldSize: d.worldSize,
        masterAddr: d.masterAddr,
        masterPort: d.masterPort,
        timeoutMs: Math.round(d.timeoutSeconds * 1000),
        globalNegatives: d.globalNegatives,
        overlap: d.overlap,
        fingerprint: trainingFingerprint({ config: this.config, position: this.position, pretrainPosition: this.pretrainPosition, globalNegatives: d.globalNegatives, tables: d.tables, bank: d.bank }, this.dataset.manifest),
      }),
    );
    this.distributed = d;
    return d;
  }

  /**
   * A digest (FNV-1a) of the dense parameters' bytes: in a data-parallel job every rank has
   * the same one after every step. Queued behind the running step, so it may be called
   * from a progress callback.
   */
  parameterDigest(): Promise<string> {
    return this.model.parameterDigest();
  }

  /** Bytes this rank sent to the others since the last reset, by kind (dense, tables, bank, sqdc, ...). */
  async traffic(options: { reset?: boolean } = {}): Promise<Record<string, number>> {
    return this.exclusive('traffic()', () => this.model.traffic(options.reset ?? false));
  }

  /**
   * Runs `work` as this model's one operation: a second call while one runs is rejected at
   * once, naming what runs (the native side would serialize them, but two fits interleaved
   * would train the same batches twice and leave the data position wrong).
   */
  private async exclusive<T>(what: string, work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new LemurError(`${what} was called on a closed model (close() freed it): create or load a model to go on`);
    if (this.running) {
      const secs = ((performance.now() - this.running.since) / 1000).toFixed(1);
      throw new LemurError(
        `${what} was called while ${this.running.what} is running on this model (for ${secs} s): one operation at a time per model; ` +
          `await it (or abort it through its AbortSignal) first`,
      );
    }
    this.running = { what, since: performance.now() };
    try {
      return await work();
    } finally {
      this.running = undefined;
    }
  }

  /**
   * Frees the model's native memory now: parameters, optimizer state, the memory bank (on the
   * GPU too), its process group. Without it that memory goes only when the garbage collector
   * finalizes the model, which V8, blind to native memory, may never do: a process that
   * trains several models one after another (a comparison over presets and seeds) should
   * close each when done. The model cannot be used afterwards; closing twice is a no-op.
   * Also `await using model = await Lemur.create(...)`.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.exclusive('close()', () => this.model.close());
    this.closed = true;
    this.samples.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The operation running on this model ('fit()', 'evaluate()', ...), or undefined. */
  get busy(): string | undefined {
    return this.running?.what;
  }

  private samplesOf(split: string): unknown {
    let s = this.samples.get(split);
    if (!s) {
      const cols = this.dataset.splits[split];
      if (!cols) throw new LemurError(`the dataset has no split '${split}' (it has: ${Object.keys(this.dataset.splits).join(', ')})`);
      const used = this.config.features.dense ? cols : { ...cols, dense: [] };
      s = new (native().Samples as NativeCtor<unknown>)(used, this.dataset.manifest.numDocuments, `${this.dataset.dir}/${split}`);
      this.samples.set(split, s);
    }
    return s;
  }

  private loader(split: string, options: { shuffle: boolean; batchSize: number; seed?: number; epoch?: number; startBatch?: number; sharded?: boolean; pad?: boolean }): NativeLoader {
    const shard = options.sharded && this.distributed ? { shardRank: this.distributed.rank, shardCount: this.distributed.worldSize, shardPad: options.pad ?? false } : {};
    return new (native().Loader as NativeCtor<NativeLoader>)(this.samplesOf(split), {
      ...shard,
      batchSize: options.batchSize,
      shuffle: options.shuffle,
      seed: options.seed ?? this.config.seed,
      epoch: options.epoch ?? 0,
      startBatch: options.startBatch ?? 0,
      prefetch: this.config.train.prefetch,
      views: this.sequences.map((s) => ({ name: s.name, column: s.column, maxLength: s.maxLength, action: s.action, age: s.age })),
    });
  }

  /** Memory-bank statistics; coverage counts since the last call with reset. */
  async bankStats(options: { reset?: boolean; stalenessProbe?: number } = {}): Promise<BankStats | undefined> {
    return this.exclusive('bankStats()', () => this.bankStatsNow(options));
  }

  private async bankStatsNow(options: { reset?: boolean; stalenessProbe?: number }): Promise<BankStats | undefined> {
    if (!this.config.memoryBank.enabled) return undefined;
    const b = await this.model.bankStats(options.reset ?? false);
    const out: BankStats = {
      rows: b.rows,
      rowsHeld: b.held,
      written: b.written,
      meanAge: b.meanAge,
      targetCoverage: b.targetLookups ? b.targetHits / b.targetLookups : NaN,
      historyCoverage: b.historyLookups ? b.historyHits / b.historyLookups : NaN,
    };
    const probe = options.stalenessProbe ?? 0;
    if (probe > 0 && b.written > 0) out.staleness = await this.model.staleness(probe);
    return out;
  }

  /** The early-stopping settings in force for a fit() call, or undefined when off. */
  private earlyStoppingFor(options: FitOptions): EarlyStoppingConfig | undefined {
    const base = this.config.train.earlyStopping;
    if (options.earlyStopping === false) return undefined;
    const given = options.earlyStopping;
    const es: EarlyStoppingConfig = { ...base, ...(given ?? {}), enabled: given ? true : base.enabled };
    if (given) validateConfig({ ...this.config, train: { ...this.config.train, earlyStopping: es } });
    if (es.enabled === false) return undefined;
    const has = this.dataset.splits[es.split] !== undefined;
    if (!has) {
      if (es.enabled === true)
        throw new LemurError(
          `early stopping evaluates on split '${es.split}', which the dataset does not have (it has: ${Object.keys(this.dataset.splits).join(', ')}); ` +
            `import or generate it with a validation split (validFraction), or set train.earlyStopping.enabled: false`,
        );
      return undefined;
    }
    return es;
  }

  /**
   * Trains; see FitOptions. Two-stage pre-training (twoStage.pretrainSteps) runs first, on a
   * budget of its own; then the ranker trains for the epoch budget, with early stopping on the
   * validation split when it is on (config.train.earlyStopping). Resolves when done; rejects
   * with AbortError when aborted, or with a LemurError naming the step when the loss or
   * gradient is not finite (optim.nonFinite: 'error').
   */
  async fit(options: FitOptions = {}): Promise<FitResult> {
    checkFitOptions(options);
    const es = this.earlyStoppingFor(options);
    return this.exclusive('fit()', () => this.fitNow(options, es));
  }

  private async fitNow(options: FitOptions, es: EarlyStoppingConfig | undefined): Promise<FitResult> {
    const split = options.split ?? 'train';
    const targetEpochs = options.epochs ?? this.config.train.epochs;
    const maxSteps = options.steps ?? Infinity;
    const every = Math.max(1, options.progressEvery ?? 20);
    const result: FitResult = { steps: 0, pretrainSteps: 0, skippedSteps: 0, samples: 0, seconds: 0, epoch: this.position.epoch, progress: [], evaluations: [] };
    const started = performance.now();
    if (!this.dataset.splits[split]) throw new LemurError(`the dataset has no split '${split}' (it has: ${Object.keys(this.dataset.splits).join(', ')})`);
    const perEpoch = this.batchesPerEpoch(split);
    const pretrainLeft = Math.max(0, this.config.docEncoder.enabled ? this.config.twoStage.pretrainSteps - this.pretrainStep : 0);
    if (es && (!this.selection || this.selection.metric !== es.metric || this.selection.split !== es.split)) this.selection = newSelectionState(es);
    const stopped = () => es !== undefined && this.selection?.stoppedAt !== undefined;
    const rankingLeft = () => (stopped() ? 0 : Math.min(Math.max(0, (targetEpochs - this.position.epoch) * perEpoch - this.position.batch), maxSteps - result.steps));
    const plannedSteps = pretrainLeft + rankingLeft();
    // Without a checkpoint folder the best weights go to a private folder of this model (per
    // rank when distributed) that outlives the fit() call: a later call whose best is still
    // one of an earlier call's evaluations restores it from there.
    const temporaryBest = !!es?.restoreBest && !options.checkpoint;
    const bestDir = es?.restoreBest ? (options.checkpoint ? join(options.checkpoint.dir, 'best') : await this.privateBestDir()) : undefined;
    const saveCheckpoint = () => (options.checkpoint ? this.saveNow(options.checkpoint.dir, { keep: options.checkpoint.keep }) : Promise.resolve(undefined));
    const abort = async () => {
      await saveCheckpoint();
      result.seconds = (performance.now() - started) / 1000;
      result.epoch = this.position.epoch;
      throw new AbortError(
        `training aborted at ${this.pretrainStep < this.config.twoStage.pretrainSteps && this.step === 0 ? `pre-training step ${this.pretrainStep}` : `step ${this.step}`}` +
          `${options.checkpoint ? ` (checkpoint saved in ${options.checkpoint.dir})` : ''}`,
        result,
      );
    };

    // One phase's loop: pre-training (SQDC on the encoders) or ranking.
    const runPhase = async (phase: 'pretrain' | 'train', budget: () => number, onStep: () => Promise<void>) => {
      const pos = phase === 'pretrain' ? this.pretrainPosition : this.position;
      const loader = this.loader(split, {
        shuffle: true,
        batchSize: this.config.train.batchSize,
        // pre-training sees its own order of the data
        seed: phase === 'pretrain' ? this.config.seed + 7919 : this.config.seed,
        epoch: pos.epoch,
        startBatch: pos.batch,
        sharded: true,
      });
      let w = newWindow();
      try {
        // In a job an abort on any rank is agreed inside the next step, so that every rank
        // stops after the same one (a rank stopping alone would leave the others waiting).
        const job = (this.distributed?.worldSize ?? 1) > 1;
        while (budget() > 0) {
          if (!job && options.signal?.aborted) await abort();
          const stop = job && !!options.signal?.aborted;
          const st = phase === 'pretrain' ? await this.model.pretrainStep(loader, stop) : await this.model.trainStep(loader, stop);
          const p = phase === 'pretrain' ? this.pretrainPosition : this.position;
          if (st.done) {
            // the loader's end-of-epoch marker; the position already moved on when the
            // epoch's last batch was taken
            if (p.batch > 0) Object.assign(p, { epoch: p.epoch + 1, batch: 0 });
            continue;
          }
          // a finished epoch is the start of the next one: a checkpoint or a fit() that ends
          // here resumes at (epoch + 1, 0)
          Object.assign(p, p.batch + 1 >= perEpoch ? { epoch: p.epoch + 1, batch: 0 } : { batch: p.batch + 1 });
          if (phase === 'pretrain') result.pretrainSteps++;
          else result.steps++;
          result.samples += st.samples;
          if (st.skipped) result.skippedSteps++;
          w.n++;
          w.loss += st.loss;
          w.bce += st.bce;
          w.sqdc += st.sqdc;
          w.encGrad += st.encoderGradNorm;
          w.queryGrad += st.queryGradNorm;
          w.docGrad += st.documentGradNorm;
          w.samples += st.samples;
          w.lr = st.lr;
          w.skipped += st.skipped ? 1 : 0;
          w.uniqueDocs += st.uniqueDocs;
          w.forward += st.encoded;
          w.backward += st.encodedWithGrad;
          for (const k of Object.keys(w.times) as (keyof StepTimes)[]) w.times[k] += st.seconds[k];
          if (w.n >= every || budget() === 0) {
            const p = await this.report(phase, w, loader, plannedSteps - result.steps - result.pretrainSteps);
            result.progress.push(p);
            this.emit('progress', p);
            options.onProgress?.(p);
            w = newWindow();
          }
          await onStep();
          if (job && st.stop) await abort();
        }
      } finally {
        loader.close();
      }
    };

    try {
      if (pretrainLeft > 0) {
        await runPhase('pretrain', () => this.config.twoStage.pretrainSteps - this.pretrainStep, async () => {
          if (options.checkpoint?.every && this.pretrainStep % options.checkpoint.every === 0) await saveCheckpoint();
        });
      }
      const esEvery = es ? es.every || Math.max(1, Math.ceil(perEpoch / 2)) : 0;
      const validate = async () => {
        const ev = await this.evaluateNow(es!.split, {});
        this.emit('evaluation', ev);
        const state = this.selection!;
        const improved = recordSelection(state, es!, { step: this.step, epoch: this.position.epoch, value: selectionValue(es!.metric, ev.all) }, this.position);
        result.evaluations.push(ev);
        if (improved && bestDir) await this.saveNow(bestDir, { keep: 1, everyRank: temporaryBest });
        this.emit('selection', { ...state.history.at(-1)!, improved, best: state.best, sinceBest: state.sinceBest, stoppedAt: state.stoppedAt });
      };
      await runPhase('train', rankingLeft, async () => {
        if (options.evaluate && this.step % options.evaluate.every === 0) {
          const ev = await this.evaluateNow(options.evaluate.split, {});
          result.evaluations.push(ev);
          this.emit('evaluation', ev);
        }
        if (es && this.step % esEvery === 0) await validate();
        if (options.checkpoint?.every && this.step % options.checkpoint.every === 0) await saveCheckpoint();
      });
      // The end of the budget: a last validation where the last one is older than this step.
      if (es && !stopped() && this.selection!.history.at(-1)?.step !== this.step && this.step > 0) await validate();
      if (options.evaluate && result.evaluations.at(-1)?.step !== this.step) {
        const ev = await this.evaluateNow(options.evaluate.split, {});
        result.evaluations.push(ev);
        this.emit('evaluation', ev);
      }
      let restored = false;
      const best = this.selection?.best;
      if (es && bestDir && best && best.step !== this.step) {
        await this.restoreFrom(bestDir);
        restored = true;
      }
      if (es)
        result.earlyStopping = {
          metric: es.metric,
          split: es.split,
          ...(best ? { best: { step: best.step, epoch: best.epoch, value: best.value } } : {}),
          ...(this.selection!.stoppedAt !== undefined ? { stoppedAt: this.selection!.stoppedAt } : {}),
          restored,
          history: [...this.selection!.history],
        };
      await saveCheckpoint();
    } finally {
      // the private best folder stays for later fit() calls; it goes when the process exits
    }
    result.seconds = (performance.now() - started) / 1000;
    result.epoch = this.position.epoch;
    return result;
  }

  private bestTmp?: string;
  private async privateBestDir(): Promise<string> {
    if (!this.bestTmp) {
      const dir = await mkdtemp(join(tmpdir(), 'lemur-best-'));
      this.bestTmp = dir;
      if (privateDirs.size === 0) process.once('exit', () => privateDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
      privateDirs.add(dir);
    }
    return this.bestTmp;
  }

  /** A progress report from a window of steps. */
  private async report(phase: 'pretrain' | 'train', w: Window, loader: NativeLoader, remaining: number): Promise<Progress> {
    const elapsed = (performance.now() - w.started) / 1000;
    const bank = phase === 'train' ? await this.bankStatsNow({ reset: true, stalenessProbe: this.config.memoryBank.stalenessProbe }) : undefined;
    const pos = phase === 'pretrain' ? this.pretrainPosition : this.position;
    const p: Progress = {
      step: phase === 'pretrain' ? this.pretrainStep : this.step,
      epoch: pos.epoch,
      batch: pos.batch,
      batchesPerEpoch: loader.batchesPerEpoch,
      phase,
      loss: w.loss / w.n,
      ...(phase === 'train' ? { bce: w.bce / w.n } : {}),
      sqdc: w.sqdc / w.n,
      encoderGradNorm: w.encGrad / w.n,
      ...(this.config.docEncoder.enabled ? { encoderGradNorms: { query: w.queryGrad / w.n, document: w.docGrad / w.n } } : {}),
      samplesPerSecond: w.samples / Math.max(elapsed, 1e-9),
      lr: w.lr,
      seconds: Object.fromEntries(Object.entries(w.times).map(([k, v]) => [k, v / w.n])) as unknown as StepTimes,
      ...(this.config.docEncoder.enabled ? { encoder: { uniqueDocs: w.uniqueDocs / w.n, forward: w.forward / w.n, backward: w.backward / w.n } } : {}),
      skippedSteps: w.skipped,
      ...(bank ? { bank } : {}),
      eta: (remaining * elapsed) / w.n,
    };
    return p;
  }

  private async collect(split: string, encodeMissing: boolean, keepQueries: number, signal?: AbortSignal, what = 'evaluation') {
    const cols = this.dataset.splits[split];
    if (!cols) throw new LemurError(`the dataset has no split '${split}' (it has: ${Object.keys(this.dataset.splits).join(', ')})`);
    // Data-parallel: each rank scores its shard of every batch, then the ranks exchange their
    // scores, so every rank computes the same metrics in 1/worldSize of the time.
    const world = this.distributed?.worldSize ?? 1;
    const batchSize = Math.max(this.config.train.evalBatchSize, world);
    const loader = this.loader(split, { shuffle: false, batchSize, sharded: world > 1, pad: true });
    const n = cols.rows;
    const mine: number[] = [];  // [row, score] pairs of this rank (distributed)
    const myQueries: number[] = [];  // [doc, q...] rows of this rank (distributed)
    const scores = new Float32Array(n);
    const e = this.config.embeddingDim;
    // the query embeddings of up to `keepQueries` positive rows, spread over the split
    const stride = keepQueries > 0 ? Math.max(1, Math.floor(cols.label.reduce((a, l) => a + l, 0) / keepQueries)) : 0;
    const queries: { q: Float32Array; doc: number }[] = [];
    let positives = 0;
    let misses = 0;
    let nonFinite = 0;
    let firstBad = -1;
    try {
      for (;;) {
        if (signal?.aborted) throw abortError(`${what} of split '${split}'`, signal);
        const r = await this.model.predictStep(loader, encodeMissing);
        if (r.done) break;
        for (let i = 0; i < r.scores.length; i++) {
          const row = Number(r.rows[i]);
          const v = r.scores[i]!;
          scores[row] = v;
          if (world > 1) mine.push(row, v);
          if (!Number.isFinite(v)) {
            nonFinite++;
            if (firstBad < 0 || row < firstBad) firstBad = row;
          }
          if (stride && r.queryEmbeddings && r.labels[i]! > 0.5 && positives++ % stride === 0 && queries.length < keepQueries) {
            queries.push({ q: r.queryEmbeddings.slice(i * e, (i + 1) * e), doc: Number(r.doc[i]) });
            if (world > 1) myQueries.push(Number(r.doc[i]), ...r.queryEmbeddings.slice(i * e, (i + 1) * e));
          }
        }
        misses += r.targetMisses;
      }
    } finally {
      loader.close();
    }
    if (world > 1) {
      const all = (await this.model.allgather(Float64Array.from(mine), 2)) as unknown as Float64Array;
      nonFinite = 0;
      firstBad = -1;
      for (let i = 0; i < all.length; i += 2) {
        const row = all[i]!;
        const v = all[i + 1]!;
        scores[row] = v;
        if (!Number.isFinite(v)) {
          nonFinite++;
          if (firstBad < 0 || row < firstBad) firstBad = row;
        }
      }
      const counts = (await this.model.allgather(Float64Array.of(misses, nonFinite), 2)) as unknown as Float64Array;
      misses = 0;
      for (let i = 0; i < counts.length; i += 2) misses += counts[i]!;
      if (stride) {
        const q = (await this.model.allgather(Float64Array.from(myQueries), e + 1)) as unknown as Float64Array;
        queries.length = 0;
        for (let i = 0; i + e < q.length && queries.length < keepQueries; i += e + 1)
          queries.push({ doc: q[i]!, q: Float32Array.from(q.subarray(i + 1, i + 1 + e)) });
      }
    }
    if (nonFinite > 0)
      throw new LemurError(
        `${what} of split '${split}' at step ${this.step}: ${nonFinite} of ${n} scores are not finite (first at row ${firstBad}); ` +
          `the model's parameters have diverged, so no metric is computed from them`,
      );
    return { scores, cols, misses, queries };
  }

  /**
   * Ranking metrics on a split: AUC, QAUC and UAUC (unweighted and impression-weighted),
   * log-loss; on all rows and, when the split marks them, on cold-start and warm rows.
   * Documents missing from the bank are encoded for the evaluation (nothing is written).
   */
  async evaluate(split = 'test', options: EvaluateOptions = {}): Promise<Evaluation> {
    checkEvaluateOptions(split, options);
    return this.exclusive('evaluate()', () => this.evaluateNow(split, options));
  }

  private async evaluateNow(split: string, options: EvaluateOptions): Promise<Evaluation> {
    const wanted = options.retrieval && this.config.docEncoder.enabled ? (options.retrieval.queries ?? 1000) : 0;
    const { scores, cols, misses, queries } = await this.collect(split, true, wanted, options.signal);
    const ev: Evaluation = {
      split,
      step: this.step,
      all: rankingMetrics(scores, cols.label, cols.query, cols.user),
      bankMisses: misses,
    };
    if (cols.coldStart) {
      const cold: number[] = [];
      const warm: number[] = [];
      cols.coldStart.forEach((c, i) => (c ? cold : warm).push(i));
      if (cold.length) ev.coldStart = rankingMetrics(scores, cols.label, cols.query, cols.user, cold);
      if (warm.length) ev.warm = rankingMetrics(scores, cols.label, cols.query, cols.user, warm);
    }
    if (queries.length && options.retrieval) {
      const e = this.config.embeddingDim;
      const all = Array.from({ length: this.dataset.manifest.numDocuments }, (_, i) => i);
      const docs = (await this.model.documentEmbeddings(BigInt64Array.from(all, BigInt), false)).copy() as Float32Array;
      const q = new Float32Array(queries.length * e);
      queries.forEach((x, i) => q.set(x.q, i * e));
      const k = options.retrieval.k;
      ev.retrieval = { k, ...retrievalMetrics(q, docs, e, queries.map((x) => x.doc), k) };
    }
    const notes = [
      ...undefinedMetrics(ev.all, `split '${split}'`),
      ...(ev.coldStart ? undefinedMetrics(ev.coldStart, `cold-start rows of '${split}'`) : []),
    ];
    if (notes.length) ev.notes = notes;
    if (options.scores) ev.scores = scores;
    return ev;
  }

  /** Scores as served online: target documents from the bank only, the encoder never runs. */
  async predict(split = 'test', options: { signal?: AbortSignal } = {}): Promise<Prediction> {
    if (typeof split !== 'string' || !split) throw new LemurError(`predict(split) must be a split name, got ${show(split)}`);
    checkKeys('predict(split, options)', options, ['signal']);
    checkSignal('predict({ signal })', options.signal);
    return this.exclusive('predict()', async () => {
      const { scores, cols, misses } = await this.collect(split, false, 0, options.signal, 'prediction');
      return { split, scores, labels: cols.label, bankMisses: misses };
    });
  }

  /** Encodes documents (all by default) into the bank, as a serving indexer would. */
  async indexDocuments(ids?: ArrayLike<number>): Promise<void> {
    if (!this.config.memoryBank.enabled) throw new LemurError('this model has no memory bank');
    const t = ids ? BigInt64Array.from(Array.from(ids), BigInt) : undefined;
    await this.exclusive('indexDocuments()', () => this.model.indexDocuments(t));
  }

  /** Document embeddings [n, embeddingDim], from the encoder or as stored in the bank. */
  async documentEmbeddings(ids: ArrayLike<number>, options: { from?: 'encoder' | 'bank' } = {}): Promise<Float32Array> {
    const t = BigInt64Array.from(Array.from(ids), BigInt);
    return this.exclusive('documentEmbeddings()', async () => (await this.model.documentEmbeddings(t, options.from === 'bank')).copy() as Float32Array);
  }

  /**
   * Saves a checkpoint into `dir` (atomically; see checkpoint.ts): parameters, ID tables,
   * memory bank, optimizer state, steps and data positions, early-stopping state,
   * configuration, tokenizer.
   */
  async save(dir: string, options: { keep?: number } = {}): Promise<string> {
    checkFolder('save(dir)', dir);
    checkKeys('save(dir, options)', options, ['keep']);
    checkPositive('save(dir, { keep })', options.keep);
    return this.exclusive('save()', () => this.saveNow(dir, options));
  }

  private async saveNow(dir: string, options: { keep?: number; everyRank?: boolean }): Promise<string> {
    // Data-parallel: rank 0 writes the checkpoint (into a folder every rank can read, for
    // resumes across machines) and the others wait for it. Sharded tables and bank: every
    // rank writes its rows as shard-<r>-of-<n>.pt, staged beside the checkpoint and moved
    // into it by rank 0 before the atomic rename; model.pt holds the rest.
    // everyRank: each rank writes its own checkpoint (early stopping's private best), with
    // only its own shard (it resumes at the same rank).
    const shards = this.sharded ? this.distributed!.worldSize : 0;
    const shardFile = (r: number) => `shard-${String(r).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.pt`;
    const d = this.distributed && this.distributed.worldSize > 1 && !options.everyRank ? this.distributed : undefined;
    const name = this.step === 0 && this.pretrainStep > 0 && this.pretrainStep < this.config.twoStage.pretrainSteps ? checkpointName(this.pretrainStep, 'pretrain') : checkpointName(this.step);
    const staging = join(dir, `.shards-${name}`);
    if (d && d.rank !== 0) {
      if (shards) {
        await mkdir(staging, { recursive: true });
        await this.model.saveShard(join(staging, shardFile(d.rank)));
        await this.model.barrier('checkpoint shards');
      }
      await this.model.barrier('checkpoint');
      return join(dir, name);
    }
    const path = await this.writeCheckpointNow(dir, options, async (tmp) => {
      if (!shards) return;
      const rank = this.distributed!.rank;
      await this.model.saveShard(join(tmp, shardFile(rank)));
      if (!d) return;
      await this.model.barrier('checkpoint shards');
      for (let r = 1; r < shards; r++) await rename(join(staging, shardFile(r)), join(tmp, shardFile(r)));
      await rm(staging, { recursive: true, force: true });
    });
    if (d) await this.model.barrier('checkpoint');
    return path;
  }

  private async writeCheckpointNow(dir: string, options: { keep?: number }, addShards?: (tmp: string) => Promise<void>): Promise<string> {
    const meta: CheckpointMeta = {
      format: 'lemur-checkpoint',
      version: 1,
      step: this.step,
      pretrainStep: this.pretrainStep,
      position: this.position,
      pretrainPosition: this.pretrainPosition,
      ...(this.selection ? { selection: this.selection } : {}),
      dataset: { dir: this.dataset.dir, name: this.dataset.manifest.name, numDocuments: this.dataset.manifest.numDocuments },
      tokenizer: { copied: false, reason: 'the dataset names no tokenizer' },
      lemur: info().version,
      torch: info().torch.version,
      createdAt: new Date().toISOString(),
    };
    const inPretraining = this.step === 0 && this.pretrainStep > 0 && this.pretrainStep < this.config.twoStage.pretrainSteps;
    const path = await writeCheckpoint(
      dir,
      inPretraining ? checkpointName(this.pretrainStep, 'pretrain') : checkpointName(this.step),
      async (tmp) => {
        await this.model.save(join(tmp, 'model.pt'));
        await addShards?.(tmp);
        await writeFile(join(tmp, 'config.json'), JSON.stringify(this.config, null, 2));
        if (this.dataset.manifest.tokenizer) {
          const source = join(this.dataset.dir, this.dataset.manifest.tokenizer);
          try {
            await copyFile(source, join(tmp, 'tokenizer.json'));
            meta.tokenizer = { copied: true };
          } catch (e) {
            // The model is saved without it rather than not at all; the meta and a warning say so.
            meta.tokenizer = { copied: false, reason: `${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
            this.emit('warning', `checkpoint ${dir}: the dataset's tokenizer was not copied (${meta.tokenizer.reason}); the checkpoint has no tokenizer.json`);
          }
        }
        // Hashed from the folder, as written: what a later load will read.
        const shardFiles = (await readdir(tmp)).filter((f) => /^shard-\d+-of-\d+\.pt$/.test(f)).sort();
        meta.files = await checksumFiles(tmp, ['model.pt', ...shardFiles, 'config.json', ...(meta.tokenizer.copied ? ['tokenizer.json'] : [])]);
        await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta, null, 2));
      },
      options.keep ?? 2,
    );
    this.emit('checkpoint', path);
    return path;
  }

  /** Back to the state saved in a checkpoint folder of this model (early stopping's best). */
  private async restoreFrom(dir: string): Promise<void> {
    const path = await resolveCheckpoint(dir);
    const meta = await readCheckpointMeta(path);
    await assertCheckpointIntact(path, meta, 'train.earlyStopping.restoreBest: false (keeping the last weights)');
    await loadWeights(this.model, path);
    this.position = { ...meta.position };
    this.pretrainPosition = { ...(meta.pretrainPosition ?? { epoch: 0, batch: 0 }) };
  }

  /**
   * Loads a checkpoint (a folder written by save(), or one of its step folders) for a
   * dataset; training resumes where it stopped. `overrides` change how the model runs
   * (e.g. `{ device: 'cuda', train: { batchSize: 1024 } }`).
   *
   * Before reading anything but meta.json, the folder's files are checked against the sizes
   * and SHA-256 sums meta.json recorded (see verifyCheckpoint()); a mismatch is a LemurError
   * listing each damaged file. `{ verify: false }` skips the check, for a user who knows the
   * damage is harmless. Checkpoints of older lemur versions record no checksums and load
   * unchecked, without a warning (there is no model yet to emit one): verifyCheckpoint()
   * reports them as unverifiable.
   */
  static async load(dir: string, dataset: ModelDataset, overrides: LemurConfigInput = {}, options: { verify?: boolean } & CreateOptions = {}): Promise<Lemur> {
    const d = distributedOption(options.distributed);
    const path = await resolveCheckpoint(dir);
    const meta = await readCheckpointMeta(path);
    if (meta.dataset.numDocuments !== dataset.manifest.numDocuments)
      throw new LemurError(
        `${path} was trained on '${meta.dataset.name}' with ${meta.dataset.numDocuments} documents; the dataset given has ${dataset.manifest.numDocuments}`,
      );
    if (options.verify !== false) await assertCheckpointIntact(path, meta, 'Lemur.load(dir, dataset, overrides, { verify: false })');
    const configFile = join(path, 'config.json');
    const saved = await readCheckpointJson<LemurConfigInput>(configFile);
    // Overrides for how to run (device, batch sizes...); a change of architecture fails to
    // load the weights, with the mismatch named.
    let config: LemurConfig;
    try {
      config = resolveConfig(saved);
    } catch (e) {
      if (e instanceof ConfigError) throw new LemurError(`${configFile}: ${e.message}: the checkpoint's configuration is damaged or from another lemur`, { cause: e });
      throw e;
    }
    const lemur = await Lemur.build(dataset, overrides ? mergeInput(config, overrides) : config, d);
    await loadWeights(lemur.model, path);  // whole tables in the file; a sharded model keeps its block
    lemur.position = { ...meta.position };
    lemur.pretrainPosition = { ...(meta.pretrainPosition ?? { epoch: 0, batch: 0 }) };
    if (meta.selection) lemur.selection = meta.selection;
    if (d) await lemur.joinGroup(d);
    return lemur;
  }
}

/** Loads model.pt of checkpoint folder `path`; torch's refusal (a damaged file, another architecture) becomes a LemurError. */
async function loadWeights(model: { load(file: string): Promise<void> }, path: string): Promise<void> {
  try {
    await model.load(join(path, 'model.pt'));
  } catch (e) {
    if (e instanceof LemurError) throw e;
    throw new LemurError((e as Error).message ?? String(e), { cause: e });
  }
}
