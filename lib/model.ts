/**
 * `Lemur`: configure, train, evaluate, predict, save and load a model. Every heavy call is
 * one native call on the model's own worker thread (a training step is one call); this
 * class only orchestrates and reports.
 */
import { EventEmitter } from 'node:events';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { checkpointName, resolveCheckpoint, writeCheckpoint } from './checkpoint.js';
import { resolveConfig, type LemurConfig, type LemurConfigInput, type SequenceConfig } from './config.js';
import type { DocumentColumns, SampleColumns } from './data/columns.js';
import { AbortError, ConfigError, LemurError } from './errors.js';
import { info } from './info.js';
import { rankingMetrics, retrievalMetrics, type RankingMetrics } from './metrics.js';
import { native, type NativeTensor } from './native.js';
import type { PresetName } from './presets.js';

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
  optimizer: number;
  total: number;
}

export interface BankStats {
  rows: number;
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
  step: number;
  epoch: number;
  /** Batch index within the epoch (of the next batch). */
  batch: number;
  batchesPerEpoch: number;
  phase: 'pretrain' | 'train';
  /** Means over the steps since the last report. */
  loss: number;
  bce: number;
  sqdc: number;
  /** Gradient norm reaching the content encoders (before clipping). */
  encoderGradNorm: number;
  samplesPerSecond: number;
  lr: number;
  seconds: StepTimes;
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
}

export interface FitOptions {
  /** Train until this many epochs are complete in total (a resumed model continues). Default: config.train.epochs. */
  epochs?: number;
  /** At most this many steps in this call. */
  steps?: number;
  split?: string;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Steps between progress reports (default 20). */
  progressEvery?: number;
  /** Evaluate on `split` every `every` steps (and at the end). */
  evaluate?: { split: string; every: number };
  /** Save a checkpoint into `dir` every `every` steps, at the end, and when aborted. */
  checkpoint?: { dir: string; every?: number; keep?: number };
}

export interface FitResult {
  steps: number;
  samples: number;
  seconds: number;
  epoch: number;
  progress: Progress[];
  evaluations: Evaluation[];
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
  step: number;
  samples: number;
  loss: number;
  bce: number;
  sqdc: number;
  lr: number;
  encoderGradNorm: number;
  phase: 'pretrain' | 'train';
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
  trainStep(loader: NativeLoader): Promise<NativeStep>;
  predictStep(loader: NativeLoader, encodeMissing: boolean): Promise<NativePredict>;
  bankStats(reset: boolean): Promise<NativeBank>;
  staleness(probe: number): Promise<number>;
  indexDocuments(ids?: BigInt64Array): Promise<void>;
  documentEmbeddings(ids: BigInt64Array, fromBank: boolean): Promise<NativeTensor>;
  save(path: string): Promise<void>;
  load(path: string): Promise<void>;
  readonly step: number;
}

type NativeCtor<T> = new (...args: unknown[]) => T;

interface CheckpointMeta {
  format: 'lemur-checkpoint';
  version: 1;
  step: number;
  position: { epoch: number; batch: number };
  dataset: { dir: string; name: string; numDocuments: number };
  lemur: string;
  torch: string;
  createdAt: string;
}

/** The sequence views of a config, with columns resolved against the dataset. */
function resolveSequences(config: LemurConfig, manifest: ModelDatasetManifest): Required<SequenceConfig>[] {
  return config.sequences.map((s, i) => {
    const column = s.column ?? manifest.sequences[0]?.name;
    if (!column) throw new ConfigError(`sequences[${i}].column`, `the dataset '${manifest.name}' has no sequence columns`);
    const col = manifest.sequences.find((m) => m.name === column);
    if (!col)
      throw new ConfigError(
        `sequences[${i}].column`,
        `the dataset has no sequence '${column}' (it has: ${manifest.sequences.map((m) => m.name).join(', ') || 'none'})`,
      );
    if (s.action && !col.action) throw new ConfigError(`sequences[${i}].action`, `sequence '${column}' has no action side info`);
    if (s.age && !col.age) throw new ConfigError(`sequences[${i}].age`, `sequence '${column}' has no age side info`);
    return { ...s, column };
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

export class Lemur extends EventEmitter {
  /** Dense parameters (the ID tables are counted apart). */
  parameters = 0;
  idTableParameters = 0;
  /** Where the next training batch comes from: (epoch, batch index within it). */
  position = { epoch: 0, batch: 0 };
  private samples = new Map<string, unknown>();
  private readonly sequences: Required<SequenceConfig>[];

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
  static async create(dataset: ModelDataset, config: LemurConfigInput | PresetName = {}): Promise<Lemur> {
    const resolved = resolveConfig(config);
    checkDevice(resolved);
    const nativeConfig = nativeModelConfig(resolved, dataset); // validates sequences against the data
    const addon = native();
    const documents = new (addon.Documents as NativeCtor<unknown>)(dataset.documents);
    const model = new (addon.Model as NativeCtor<NativeModel>)(nativeConfig, documents);
    const sizes = await model.ready();
    const lemur = new Lemur(resolved, dataset, model, documents);
    lemur.parameters = sizes.parameters;
    lemur.idTableParameters = sizes.idTableParameters;
    return lemur;
  }

  /** Steps taken so far. */
  get step(): number {
    return this.model.step;
  }

  /** Training batches in one epoch of a split (the last one may be smaller). */
  batchesPerEpoch(split = 'train'): number {
    const rows = this.dataset.splits[split]?.rows;
    if (rows === undefined) throw new LemurError(`the dataset has no split '${split}'`);
    return Math.ceil(rows / this.config.train.batchSize);
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

  private loader(split: string, options: { shuffle: boolean; batchSize: number; epoch?: number; startBatch?: number }): NativeLoader {
    return new (native().Loader as NativeCtor<NativeLoader>)(this.samplesOf(split), {
      batchSize: options.batchSize,
      shuffle: options.shuffle,
      seed: this.config.seed,
      epoch: options.epoch ?? 0,
      startBatch: options.startBatch ?? 0,
      prefetch: this.config.train.prefetch,
      views: this.sequences.map((s) => ({ name: s.name, column: s.column, maxLength: s.maxLength, action: s.action, age: s.age })),
    });
  }

  /** Memory-bank statistics; coverage counts since the last call with reset. */
  async bankStats(options: { reset?: boolean; stalenessProbe?: number } = {}): Promise<BankStats | undefined> {
    if (!this.config.memoryBank.enabled) return undefined;
    const b = await this.model.bankStats(options.reset ?? false);
    const out: BankStats = {
      rows: b.rows,
      written: b.written,
      meanAge: b.meanAge,
      targetCoverage: b.targetLookups ? b.targetHits / b.targetLookups : NaN,
      historyCoverage: b.historyLookups ? b.historyHits / b.historyLookups : NaN,
    };
    const probe = options.stalenessProbe ?? 0;
    if (probe > 0 && b.written > 0) out.staleness = await this.model.staleness(probe);
    return out;
  }

  /** Trains; see FitOptions. Resolves when done; rejects with AbortError when aborted. */
  async fit(options: FitOptions = {}): Promise<FitResult> {
    const split = options.split ?? 'train';
    const targetEpochs = options.epochs ?? this.config.train.epochs;
    const maxSteps = options.steps ?? Infinity;
    const every = Math.max(1, options.progressEvery ?? 20);
    const loader = this.loader(split, {
      shuffle: true,
      batchSize: this.config.train.batchSize,
      epoch: this.position.epoch,
      startBatch: this.position.batch,
    });
    const result: FitResult = { steps: 0, samples: 0, seconds: 0, epoch: this.position.epoch, progress: [], evaluations: [] };
    const started = performance.now();
    const stepsToGo = () => {
      const perEpoch = loader.batchesPerEpoch;
      const remaining = Math.max(0, (targetEpochs - this.position.epoch) * perEpoch - this.position.batch);
      return Math.min(remaining, maxSteps - result.steps);
    };
    const plannedSteps = stepsToGo();
    let acc = { n: 0, loss: 0, bce: 0, sqdc: 0, encGrad: 0, samples: 0, lr: 0, phase: 'train' as Progress['phase'] };
    let times: StepTimes = { data: 0, encoder: 0, bank: 0, backbone: 0, backward: 0, optimizer: 0, total: 0 };
    let windowStart = performance.now();
    try {
      while (this.position.epoch < targetEpochs && result.steps < maxSteps) {
        if (options.signal?.aborted) {
          if (options.checkpoint) await this.save(options.checkpoint.dir, { keep: options.checkpoint.keep });
          result.seconds = (performance.now() - started) / 1000;
          result.epoch = this.position.epoch;
          throw new AbortError(
            `training aborted at step ${this.step}${options.checkpoint ? ` (checkpoint saved in ${options.checkpoint.dir})` : ''}`,
            result,
          );
        }
        const st = await this.model.trainStep(loader);
        if (st.done) {
          this.position = { epoch: this.position.epoch + 1, batch: 0 };
          continue;
        }
        this.position = { epoch: this.position.epoch, batch: this.position.batch + 1 };
        result.steps++;
        result.samples += st.samples;
        acc = {
          n: acc.n + 1,
          loss: acc.loss + st.loss,
          bce: acc.bce + st.bce,
          sqdc: acc.sqdc + st.sqdc,
          encGrad: acc.encGrad + st.encoderGradNorm,
          samples: acc.samples + st.samples,
          lr: st.lr,
          phase: st.phase,
        };
        for (const k of Object.keys(times) as (keyof StepTimes)[]) times[k] += st.seconds[k];
        const last = this.position.epoch >= targetEpochs - 1 && this.position.batch >= loader.batchesPerEpoch;
        if (acc.n >= every || result.steps >= plannedSteps || last) {
          const now = performance.now();
          const elapsed = (now - windowStart) / 1000;
          const bank = await this.bankStats({ reset: true, stalenessProbe: this.config.memoryBank.stalenessProbe });
          const rate = acc.samples / Math.max(elapsed, 1e-9);
          const p: Progress = {
            step: this.step,
            epoch: this.position.epoch,
            batch: this.position.batch,
            batchesPerEpoch: loader.batchesPerEpoch,
            phase: acc.phase,
            loss: acc.loss / acc.n,
            bce: acc.bce / acc.n,
            sqdc: acc.sqdc / acc.n,
            encoderGradNorm: acc.encGrad / acc.n,
            samplesPerSecond: rate,
            lr: acc.lr,
            seconds: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v / acc.n])) as unknown as StepTimes,
            ...(bank ? { bank } : {}),
            eta: ((plannedSteps - result.steps) * elapsed) / acc.n,
          };
          result.progress.push(p);
          options.onProgress?.(p);
          this.emit('progress', p);
          acc = { n: 0, loss: 0, bce: 0, sqdc: 0, encGrad: 0, samples: 0, lr: 0, phase: acc.phase };
          times = { data: 0, encoder: 0, bank: 0, backbone: 0, backward: 0, optimizer: 0, total: 0 };
          windowStart = performance.now();
        }
        if (options.evaluate && result.steps % options.evaluate.every === 0) {
          const ev = await this.evaluate(options.evaluate.split);
          result.evaluations.push(ev);
          this.emit('evaluation', ev);
        }
        if (options.checkpoint?.every && result.steps % options.checkpoint.every === 0)
          await this.save(options.checkpoint.dir, { keep: options.checkpoint.keep });
      }
      if (options.evaluate && result.evaluations.at(-1)?.step !== this.step) {
        const ev = await this.evaluate(options.evaluate.split);
        result.evaluations.push(ev);
        this.emit('evaluation', ev);
      }
      if (options.checkpoint) await this.save(options.checkpoint.dir, { keep: options.checkpoint.keep });
    } finally {
      loader.close();
    }
    result.seconds = (performance.now() - started) / 1000;
    result.epoch = this.position.epoch;
    return result;
  }

  private async collect(split: string, encodeMissing: boolean, keepQueries = 0) {
    const loader = this.loader(split, { shuffle: false, batchSize: this.config.train.evalBatchSize });
    const cols = this.dataset.splits[split]!;
    const n = cols.rows;
    const scores = new Float32Array(n);
    const e = this.config.embeddingDim;
    // the query embeddings of up to `keepQueries` positive rows, spread over the split
    const stride = keepQueries > 0 ? Math.max(1, Math.floor(cols.label.reduce((a, l) => a + l, 0) / keepQueries)) : 0;
    const queries: { q: Float32Array; doc: number }[] = [];
    let positives = 0;
    let misses = 0;
    try {
      for (;;) {
        const r = await this.model.predictStep(loader, encodeMissing);
        if (r.done) break;
        for (let i = 0; i < r.scores.length; i++) {
          scores[Number(r.rows[i])] = r.scores[i]!;
          if (stride && r.queryEmbeddings && r.labels[i]! > 0.5 && positives++ % stride === 0 && queries.length < keepQueries)
            queries.push({ q: r.queryEmbeddings.slice(i * e, (i + 1) * e), doc: Number(r.doc[i]) });
        }
        misses += r.targetMisses;
      }
    } finally {
      loader.close();
    }
    return { scores, cols, misses, queries };
  }

  /**
   * Ranking metrics on a split: AUC, QAUC and UAUC (unweighted and impression-weighted),
   * log-loss; on all rows and, when the split marks them, on cold-start and warm rows.
   * Documents missing from the bank are encoded for the evaluation (nothing is written).
   */
  async evaluate(split = 'test', options: { retrieval?: { k: number; queries?: number } } = {}): Promise<Evaluation> {
    const wanted = options.retrieval && this.config.docEncoder.enabled ? (options.retrieval.queries ?? 1000) : 0;
    const { scores, cols, misses, queries } = await this.collect(split, true, wanted);
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
      const docs = await this.documentEmbeddings(all);
      const q = new Float32Array(queries.length * e);
      queries.forEach((x, i) => q.set(x.q, i * e));
      const k = options.retrieval.k;
      ev.retrieval = { k, ...retrievalMetrics(q, docs, e, queries.map((x) => x.doc), k) };
    }
    return ev;
  }

  /** Scores as served online: target documents from the bank only, the encoder never runs. */
  async predict(split = 'test'): Promise<Prediction> {
    const { scores, cols, misses } = await this.collect(split, false);
    return { split, scores, labels: cols.label, bankMisses: misses };
  }

  /** Encodes documents (all by default) into the bank, as a serving indexer would. */
  async indexDocuments(ids?: ArrayLike<number>): Promise<void> {
    if (!this.config.memoryBank.enabled) throw new LemurError('this model has no memory bank');
    await this.model.indexDocuments(ids ? BigInt64Array.from(Array.from(ids), BigInt) : undefined);
  }

  /** Document embeddings [n, embeddingDim], from the encoder or as stored in the bank. */
  async documentEmbeddings(ids: ArrayLike<number>, options: { from?: 'encoder' | 'bank' } = {}): Promise<Float32Array> {
    const t = await this.model.documentEmbeddings(BigInt64Array.from(Array.from(ids), BigInt), options.from === 'bank');
    return t.copy() as Float32Array;
  }

  /**
   * Saves a checkpoint into `dir` (atomically; see checkpoint.ts): parameters, ID tables,
   * memory bank, optimizer state, step and data position, configuration, tokenizer.
   */
  async save(dir: string, options: { keep?: number } = {}): Promise<string> {
    const meta: CheckpointMeta = {
      format: 'lemur-checkpoint',
      version: 1,
      step: this.step,
      position: this.position,
      dataset: { dir: this.dataset.dir, name: this.dataset.manifest.name, numDocuments: this.dataset.manifest.numDocuments },
      lemur: info().version,
      torch: info().torch.version,
      createdAt: new Date().toISOString(),
    };
    const path = await writeCheckpoint(
      dir,
      checkpointName(this.step),
      async (tmp) => {
        await this.model.save(join(tmp, 'model.pt'));
        await writeFile(join(tmp, 'config.json'), JSON.stringify(this.config, null, 2));
        await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta, null, 2));
        if (this.dataset.manifest.tokenizer) {
          await copyFile(join(this.dataset.dir, this.dataset.manifest.tokenizer), join(tmp, 'tokenizer.json')).catch(() => undefined);
        }
      },
      options.keep ?? 2,
    );
    this.emit('checkpoint', path);
    return path;
  }

  /**
   * Loads a checkpoint (a folder written by save(), or one of its step folders) for a
   * dataset; training resumes where it stopped. `overrides` change how the model runs
   * (e.g. `{ device: 'cuda', train: { batchSize: 1024 } }`).
   */
  static async load(dir: string, dataset: ModelDataset, overrides: LemurConfigInput = {}): Promise<Lemur> {
    const path = await resolveCheckpoint(dir);
    const meta = JSON.parse(await readFile(join(path, 'meta.json'), 'utf8')) as CheckpointMeta;
    if (meta.format !== 'lemur-checkpoint') throw new LemurError(`${path}: not a lemur checkpoint`);
    if (meta.dataset.numDocuments !== dataset.manifest.numDocuments)
      throw new LemurError(
        `${path} was trained on '${meta.dataset.name}' with ${meta.dataset.numDocuments} documents; the dataset given has ${dataset.manifest.numDocuments}`,
      );
    const saved = JSON.parse(await readFile(join(path, 'config.json'), 'utf8')) as LemurConfigInput;
    // Overrides for how to run (device, batch sizes...); a change of architecture fails to
    // load the weights, with the mismatch named.
    const config = resolveConfig(saved);
    const lemur = await Lemur.create(dataset, overrides ? mergeInput(config, overrides) : config);
    await lemur.model.load(join(path, 'model.pt'));
    lemur.position = meta.position;
    return lemur;
  }
}
