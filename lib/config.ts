/**
 * The model and training configuration: typed, with defaults, validated before any native
 * work. `resolveConfig(input)` merges a (partial) input over the defaults of its preset and
 * returns a complete LemurConfig, or throws a ConfigError naming the field.
 */
import { ConfigError } from './errors.js';
import { PRESETS, type PresetName } from './presets.js';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
export type SequenceEncoderKind = 'longer' | 'swiglu' | 'transformer';

export interface EncoderConfig {
  /** Run this encoder (documents: the content tower; queries: only when the data has query text). */
  enabled: boolean;
  layers: number;
  width: number;
  heads: number;
  /** FFN hidden size as a multiple of width. */
  ffnMult: number;
  /** Dropout on the token embeddings and on each residual branch, while training. */
  dropout: number;
}

export interface DocumentEncoderConfig extends EncoderConfig {
  /** Use the documents' images (as patch tokens) when the dataset has them. */
  images: boolean;
  /** Image patch size in pixels (the image size must be divisible by it). */
  patch: number;
}

export interface SequenceConfig {
  /** Name of this view of a history (unique), e.g. "short". */
  name: string;
  /** The dataset's sequence column (`seq.<column>`); default: the dataset's first one. */
  column?: string;
  /** Keep the most recent events only. */
  maxLength: number;
  /** ID path: events as document-ID embeddings through this encoder, or 'none'. */
  idEncoder: SequenceEncoderKind | 'none';
  /** Multimodal path: events as memory-bank rows through the LEMUR decoder. */
  bank: boolean;
  /** Similarity features: cosine(target, each recent event) and its sorted copy. */
  similarity: boolean;
  /**
   * Per-event side info of the column: the action type (e.g. a rating, click or skip) and the
   * age (time before the request), embedded and added to each event. 'auto': used when the
   * dataset's column has it.
   */
  action: boolean | 'auto';
  age: boolean | 'auto';
}

export interface LemurConfig {
  /** The preset this configuration started from (informative). */
  preset: PresetName;
  seed: number;
  device: Device;
  /** bf16 autocast on CUDA (ignored on CPU). */
  bf16: boolean;
  /** Width e of query and document embeddings and of memory-bank rows. */
  embeddingDim: number;
  features: {
    idDim: number;
    userId: boolean;
    docId: boolean;
    /**
     * Fraction of training samples whose candidate document-ID embedding is dropped, so the
     * ranker learns to score documents it has no trained ID for (cold start). At inference,
     * IDs never seen in training read as unknown (zeros) rather than random vectors.
     */
    docIdDropout: number;
    /** Rows of the user / document tables; 0: one per user / document. */
    userBuckets: number;
    docBuckets: number;
    /** Cap on the rows of a categorical table (larger cardinalities are hashed). */
    maxCategoricalBuckets: number;
    /** Use the dataset's dense features. */
    dense: boolean;
    /**
     * cos(query embedding, document embedding) as a ranking feature (models with content
     * encoders): the two-tower relevance SQDC trains, which the backbone cannot easily form
     * from the two vectors on its own.
     */
    queryDocSimilarity: boolean;
  };
  queryEncoder: EncoderConfig;
  docEncoder: DocumentEncoderConfig;
  /** Encoder sampling: fraction of documents encoded forward (p) and backward (q <= p) per step. */
  encoderSampling: { forward: number; backward: number };
  /** Ablation: no gradient from the ranking loss into the encoders. */
  stopGradient: boolean;
  memoryBank: {
    enabled: boolean;
    dtype: 'float32' | 'bfloat16';
    /** A history id encoded in the same step: its fresh vector ('detached', 'gradient'), or the stale row ('off'). */
    freshInBatch: 'detached' | 'gradient' | 'off';
    /** Documents re-encoded to measure staleness at each progress report (0: never). */
    stalenessProbe: number;
    /**
     * Where history events come from: 'bank' (looked up), or 'encode' (every event re-encoded
     * by the document encoder each step: what the bank avoids; for comparisons).
     */
    history: 'bank' | 'encode';
  };
  sequences: SequenceConfig[];
  /** Events per sequence in the similarity features. */
  similarityLength: number;
  decoder: {
    layers: number;
    heads: number;
    queries: number;
    width: number;
    ffnMult: number;
    /** Attend straight over the bank rows (no materialized history). */
    fused: boolean;
    /**
     * What the global query tokens are generated from: 'context' (request features, query and
     * target-document embeddings: target-aware attention) or 'request' (without the target).
     */
    queriesFrom: 'context' | 'request';
    /**
     * LayerNorm over each history row (with its side info) before attention (unit-norm bank rows
     * have entries of about 1/sqrt(e)). Forces the unfused path.
     */
    memoryNorm: boolean;
  };
  longer: { layers: number; heads: number; globalTokens: number; recent: number; width: number; ffnMult: number };
  backbone: {
    type: 'mlp' | 'rankmixer' | 'hyformer';
    tokens: number;
    width: number;
    layers: number;
    ffnMult: number;
    /** Hidden sizes of the MLP head (and of the whole 'mlp' backbone). */
    mlpHidden: number[];
    /** HyFormer */
    queriesPerSequence: number;
    nsTokens: number;
    sequenceEncoder: SequenceEncoderKind;
    recent: number;
  };
  loss: { sqdcWeight: number; temperature: number; sameQueryMask: boolean };
  optim: {
    lr: number;
    encoderLr: number;
    weightDecay: number;
    beta1: number;
    beta2: number;
    eps: number;
    warmupSteps: number;
    clipNorm: number;
    sparse: 'adagrad' | 'adam';
    sparseLr: number;
    sparseEps: number;
    /**
     * A step whose loss or gradient is not finite: 'error' stops training with an error naming
     * the step (nothing of it is applied); 'skip' applies nothing of it and counts it
     * (Progress.skippedSteps).
     */
    nonFinite: 'error' | 'skip';
  };
  /**
   * Two-stage baseline: the content encoders are first pre-trained with SQDC alone for
   * `pretrainSteps` steps (a budget of their own, before the ranker's epochs), then frozen;
   * every document is indexed into the bank with them before the ranker starts. 0: end to end.
   */
  twoStage: { pretrainSteps: number };
  train: {
    batchSize: number;
    /** Epochs to train (with early stopping: at most this many). */
    epochs: number;
    prefetch: number;
    evalBatchSize: number;
    earlyStopping: EarlyStoppingConfig;
  };
}

/** A validation metric that model selection can follow. */
export type SelectionMetric = 'qauc' | 'qaucWeighted' | 'uauc' | 'auc' | 'logLoss';

/**
 * Early stopping: evaluate on a validation split every `every` steps, stop after `patience`
 * evaluations without an improvement of more than `minDelta`, and (with `restoreBest`) end
 * with the parameters, bank and optimizer state of the best evaluation.
 */
export interface EarlyStoppingConfig {
  /** 'auto': on when the dataset has the split (importers and the generator write `valid`). */
  enabled: boolean | 'auto';
  split: string;
  metric: SelectionMetric;
  /** Evaluations without improvement before stopping. */
  patience: number;
  /** Steps between evaluations; 0: twice per epoch. */
  every: number;
  minDelta: number;
  restoreBest: boolean;
}

export type DeepPartial<T> = T extends (infer U)[]
  ? DeepPartial<U>[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export type LemurConfigInput = DeepPartial<LemurConfig> & { preset?: PresetName };

/** A sequence view with only the fields that differ from the defaults. */
export function sequence(name: string, fields: Partial<SequenceConfig> = {}): SequenceConfig {
  return { name, maxLength: 50, idEncoder: 'none', bank: false, similarity: false, action: 'auto', age: 'auto', ...fields };
}

export const DEFAULTS: Omit<LemurConfig, 'preset'> = {
  seed: 0,
  device: 'cpu',
  bf16: true,
  embeddingDim: 64,
  features: { idDim: 16, userId: true, docId: true, docIdDropout: 0, userBuckets: 0, docBuckets: 0, maxCategoricalBuckets: 100_000, dense: true, queryDocSimilarity: true },
  queryEncoder: { enabled: true, layers: 2, width: 64, heads: 4, ffnMult: 2, dropout: 0 },
  docEncoder: { enabled: false, layers: 2, width: 64, heads: 4, ffnMult: 2, dropout: 0, images: true, patch: 8 },
  encoderSampling: { forward: 1, backward: 1 },
  stopGradient: false,
  memoryBank: { enabled: false, dtype: 'float32', freshInBatch: 'detached', stalenessProbe: 128, history: 'bank' },
  sequences: [],
  similarityLength: 16,
  decoder: { layers: 2, heads: 4, queries: 4, width: 64, ffnMult: 2, fused: true, queriesFrom: 'context', memoryNorm: false },
  longer: { layers: 2, heads: 4, globalTokens: 2, recent: 8, width: 64, ffnMult: 2 },
  backbone: {
    type: 'mlp',
    tokens: 8,
    width: 64,
    layers: 2,
    ffnMult: 2,
    mlpHidden: [128, 64],
    queriesPerSequence: 1,
    nsTokens: 6,
    sequenceEncoder: 'longer',
    recent: 8,
  },
  loss: { sqdcWeight: 0.1, temperature: 50, sameQueryMask: true },
  optim: {
    lr: 2e-3,
    encoderLr: 1e-3,
    weightDecay: 0.01,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    warmupSteps: 50,
    clipNorm: 1,
    sparse: 'adagrad',
    sparseLr: 0.05,
    sparseEps: 1e-8,
    nonFinite: 'error',
  },
  twoStage: { pretrainSteps: 0 },
  train: {
    batchSize: 256,
    epochs: 10,
    prefetch: 4,
    evalBatchSize: 1024,
    earlyStopping: { enabled: 'auto', split: 'valid', metric: 'qauc', patience: 3, every: 0, minDelta: 0, restoreBest: true },
  },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: objects merge key by key, arrays and scalars replace. Unknown keys are errors. */
function merge(base: unknown, over: unknown, path: string): unknown {
  if (over === undefined) return structuredClone(base);
  if (isObject(base)) {
    if (!isObject(over)) throw new ConfigError(path, `expected an object, got ${show(over)}`);
    const out: Record<string, unknown> = structuredClone(base);
    for (const [k, v] of Object.entries(over)) {
      if (!(k in base)) throw new ConfigError(path ? `${path}.${k}` : k, `unknown field (known: ${Object.keys(base).join(', ')})`);
      out[k] = merge(base[k], v, path ? `${path}.${k}` : k);
    }
    return out;
  }
  return structuredClone(over);
}

/** The complete configuration: the preset's (default 'lemur') merged with `input`, validated. */
export function resolveConfig(input: LemurConfigInput | PresetName = {}): LemurConfig {
  const given: LemurConfigInput = typeof input === 'string' ? { preset: input } : input;
  const preset = given.preset === undefined ? 'lemur' : given.preset;
  if (typeof preset !== 'string' || !Object.hasOwn(PRESETS, preset))
    throw new ConfigError('preset', `unknown preset ${show(preset)} (known: ${Object.keys(PRESETS).join(', ')})`);
  const base = merge({ ...DEFAULTS, preset }, PRESETS[preset], '') as LemurConfig;
  const { preset: _p, ...rest } = given;
  const config = merge(base, rest, '') as LemurConfig;
  if (!Array.isArray(config.sequences)) throw new ConfigError('sequences', `expected an array of sequence views, got ${show(config.sequences)}`);
  const known = [...Object.keys(sequence('x')), 'column'];
  config.sequences = (config.sequences as SequenceConfig[]).map((s, i) => {
    if (!isObject(s)) throw new ConfigError(`sequences[${i}]`, `expected an object, got ${show(s)}`);
    for (const k of Object.keys(s))
      if (!known.includes(k)) throw new ConfigError(`sequences[${i}].${k}`, `unknown field (known: ${known.join(', ')})`);
    return { ...sequence(String(s.name ?? '')), ...s };
  });
  validateConfig(config);
  return config;
}

const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v);

/** A value as an error message shows it: JSON, except what JSON cannot say (NaN, Infinity, undefined). */
export function show(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (v === undefined) return 'undefined';
  if (typeof v === 'bigint') return `${v}n`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Throws a ConfigError for the first invalid field. */
export function validateConfig(c: LemurConfig): void {
  const positiveInt = (field: string, v: number) => {
    if (!int(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${show(v)}`);
  };
  const nonNegInt = (field: string, v: number) => {
    if (!int(v) || v < 0) throw new ConfigError(field, `must be a non-negative integer, got ${show(v)}`);
  };
  const positive = (field: string, v: number) => {
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new ConfigError(field, `must be a positive number, got ${show(v)}`);
  };
  const fraction = (field: string, v: number) => {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new ConfigError(field, `must be in [0, 1], got ${show(v)}`);
  };
  const oneOf = <T>(field: string, v: T, options: readonly T[]) => {
    if (!options.includes(v)) throw new ConfigError(field, `must be one of ${options.map((o) => `'${o}'`).join(', ')}, got ${show(v)}`);
  };
  const divisible = (field: string, width: number, by: number, what: string) => {
    if (width % by !== 0) throw new ConfigError(field, `${width} must be divisible by ${what} (${by})`);
  };

  // Booleans first: the cross-field checks below read them.
  const bool = (field: string, v: unknown) => {
    if (typeof v !== 'boolean') throw new ConfigError(field, `must be true or false, got ${show(v)}`);
  };
  bool('bf16', c.bf16);
  for (const k of ['userId', 'docId', 'dense', 'queryDocSimilarity'] as const) bool(`features.${k}`, c.features[k]);
  bool('queryEncoder.enabled', c.queryEncoder.enabled);
  bool('docEncoder.enabled', c.docEncoder.enabled);
  bool('docEncoder.images', c.docEncoder.images);
  bool('stopGradient', c.stopGradient);
  bool('memoryBank.enabled', c.memoryBank.enabled);
  bool('loss.sameQueryMask', c.loss.sameQueryMask);
  c.sequences.forEach((s, i) => {
    bool(`sequences[${i}].bank`, s.bank);
    bool(`sequences[${i}].similarity`, s.similarity);
    if (s.column !== undefined && (typeof s.column !== 'string' || !s.column))
      throw new ConfigError(`sequences[${i}].column`, `must be the name of a sequence column of the dataset, got ${show(s.column)}`);
  });
  const nonNeg = (field: string, v: number, note = '') => {
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new ConfigError(field, `must be a finite number >= 0${note}, got ${show(v)}`);
  };

  nonNegInt('seed', c.seed);
  if (typeof c.device !== 'string' || !/^(cpu|cuda(:\d+)?)$/.test(c.device))
    throw new ConfigError('device', `must be 'cpu', 'cuda' or 'cuda:N', got ${show(c.device)}`);
  positiveInt('embeddingDim', c.embeddingDim);
  positiveInt('features.idDim', c.features.idDim);
  fraction('features.docIdDropout', c.features.docIdDropout);
  nonNegInt('features.userBuckets', c.features.userBuckets);
  nonNegInt('features.docBuckets', c.features.docBuckets);
  positiveInt('features.maxCategoricalBuckets', c.features.maxCategoricalBuckets);
  for (const [name, e] of [['queryEncoder', c.queryEncoder], ['docEncoder', c.docEncoder]] as const) {
    positiveInt(`${name}.layers`, e.layers);
    positiveInt(`${name}.width`, e.width);
    positiveInt(`${name}.heads`, e.heads);
    positiveInt(`${name}.ffnMult`, e.ffnMult);
    divisible(`${name}.width`, e.width, e.heads, `${name}.heads`);
    if (typeof e.dropout !== 'number' || !(e.dropout >= 0 && e.dropout < 1)) throw new ConfigError(`${name}.dropout`, `must be in [0, 1), got ${show(e.dropout)}`);
  }
  positiveInt('docEncoder.patch', c.docEncoder.patch);
  fraction('encoderSampling.forward', c.encoderSampling.forward);
  fraction('encoderSampling.backward', c.encoderSampling.backward);
  if (c.encoderSampling.backward > c.encoderSampling.forward)
    throw new ConfigError('encoderSampling.backward', `must not exceed encoderSampling.forward (${c.encoderSampling.forward}): only encoded documents can pass gradients`);
  oneOf('memoryBank.dtype', c.memoryBank.dtype, ['float32', 'bfloat16'] as const);
  oneOf('memoryBank.freshInBatch', c.memoryBank.freshInBatch, ['detached', 'gradient', 'off'] as const);
  nonNegInt('memoryBank.stalenessProbe', c.memoryBank.stalenessProbe);
  oneOf('memoryBank.history', c.memoryBank.history, ['bank', 'encode'] as const);
  if (c.memoryBank.enabled && !c.docEncoder.enabled)
    throw new ConfigError('memoryBank.enabled', 'the memory bank holds document-encoder outputs: enable docEncoder too');
  positiveInt('similarityLength', c.similarityLength);
  const names = new Set<string>();
  c.sequences.forEach((s, i) => {
    const f = `sequences[${i}]`;
    if (typeof s.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.name))
      throw new ConfigError(`${f}.name`, `must be an identifier, got ${show(s.name)}`);
    if (names.has(s.name)) throw new ConfigError(`${f}.name`, `'${s.name}' is used twice`);
    names.add(s.name);
    positiveInt(`${f}.maxLength`, s.maxLength);
    oneOf(`${f}.idEncoder`, s.idEncoder, ['none', 'longer', 'swiglu', 'transformer'] as const);
    if ((s.bank || s.similarity) && !c.memoryBank.enabled)
      throw new ConfigError(`${f}.${s.bank ? 'bank' : 'similarity'}`, 'reads the memory bank, which is disabled (memoryBank.enabled)');
    if (s.idEncoder === 'none' && !s.bank && !s.similarity)
      throw new ConfigError(f, 'uses the sequence for nothing: set idEncoder, bank or similarity');
    oneOf(`${f}.action`, s.action, [true, false, 'auto'] as const);
    oneOf(`${f}.age`, s.age, [true, false, 'auto'] as const);
  });
  const d = c.decoder;
  for (const k of ['layers', 'heads', 'queries', 'width', 'ffnMult'] as const) positiveInt(`decoder.${k}`, d[k]);
  divisible('decoder.width', d.width, d.heads, 'decoder.heads');
  oneOf('decoder.queriesFrom', d.queriesFrom, ['context', 'request'] as const);
  if (typeof d.fused !== 'boolean') throw new ConfigError('decoder.fused', `must be true or false, got ${show(d.fused)}`);
  if (typeof d.memoryNorm !== 'boolean') throw new ConfigError('decoder.memoryNorm', `must be true or false, got ${show(d.memoryNorm)}`);
  const l = c.longer;
  for (const k of ['layers', 'heads', 'globalTokens', 'recent', 'width', 'ffnMult'] as const) positiveInt(`longer.${k}`, l[k]);
  divisible('longer.width', l.width, l.heads, 'longer.heads');
  const b = c.backbone;
  oneOf('backbone.type', b.type, ['mlp', 'rankmixer', 'hyformer'] as const);
  for (const k of ['tokens', 'width', 'layers', 'ffnMult', 'queriesPerSequence', 'nsTokens', 'recent'] as const) positiveInt(`backbone.${k}`, b[k]);
  if (!Array.isArray(b.mlpHidden)) throw new ConfigError('backbone.mlpHidden', `must be an array of positive integers, got ${show(b.mlpHidden)}`);
  b.mlpHidden.forEach((h, i) => positiveInt(`backbone.mlpHidden[${i}]`, h));
  oneOf('backbone.sequenceEncoder', b.sequenceEncoder, ['longer', 'swiglu', 'transformer'] as const);
  if (b.type === 'rankmixer') divisible('backbone.width', b.width, b.tokens, 'backbone.tokens (token mixing splits each token into T parts)');
  if (b.type === 'hyformer') {
    if (c.sequences.length === 0) throw new ConfigError('sequences', 'the HyFormer backbone needs at least one sequence');
    const t = c.sequences.length * b.queriesPerSequence + b.nsTokens;
    divisible('backbone.width', b.width, t, 'HyFormer\'s token count = sequences x queriesPerSequence + nsTokens');
    if (b.width < 16) throw new ConfigError('backbone.width', 'HyFormer uses width/16 attention heads: width must be >= 16');
  }
  nonNeg('loss.sqdcWeight', c.loss.sqdcWeight);
  positive('loss.temperature', c.loss.temperature);
  positive('optim.lr', c.optim.lr);
  positive('optim.encoderLr', c.optim.encoderLr);
  nonNeg('optim.weightDecay', c.optim.weightDecay);
  fraction('optim.beta1', c.optim.beta1);
  fraction('optim.beta2', c.optim.beta2);
  positive('optim.eps', c.optim.eps);
  nonNegInt('optim.warmupSteps', c.optim.warmupSteps);
  nonNeg('optim.clipNorm', c.optim.clipNorm, ' (0: no clipping)');
  oneOf('optim.sparse', c.optim.sparse, ['adagrad', 'adam'] as const);
  positive('optim.sparseLr', c.optim.sparseLr);
  positive('optim.sparseEps', c.optim.sparseEps);
  oneOf('optim.nonFinite', c.optim.nonFinite, ['error', 'skip'] as const);
  nonNegInt('twoStage.pretrainSteps', c.twoStage.pretrainSteps);
  if (c.twoStage.pretrainSteps > 0 && !c.docEncoder.enabled)
    throw new ConfigError('twoStage.pretrainSteps', 'pre-trains the content encoders: enable docEncoder');
  positiveInt('train.batchSize', c.train.batchSize);
  nonNegInt('train.epochs', c.train.epochs);
  positiveInt('train.prefetch', c.train.prefetch);
  positiveInt('train.evalBatchSize', c.train.evalBatchSize);
  const es = c.train.earlyStopping;
  if (!isObject(es)) throw new ConfigError('train.earlyStopping', `expected an object, got ${show(es)}`);
  oneOf('train.earlyStopping.enabled', es.enabled, [true, false, 'auto'] as const);
  if (typeof es.split !== 'string' || !es.split) throw new ConfigError('train.earlyStopping.split', `must be a split name, got ${show(es.split)}`);
  oneOf('train.earlyStopping.metric', es.metric, SELECTION_METRICS);
  positiveInt('train.earlyStopping.patience', es.patience);
  nonNegInt('train.earlyStopping.every', es.every);
  if (typeof es.minDelta !== 'number' || !(es.minDelta >= 0) || !Number.isFinite(es.minDelta))
    throw new ConfigError('train.earlyStopping.minDelta', `must be a finite number >= 0, got ${show(es.minDelta)}`);
  if (typeof es.restoreBest !== 'boolean') throw new ConfigError('train.earlyStopping.restoreBest', `must be true or false, got ${show(es.restoreBest)}`);
}

export const SELECTION_METRICS: readonly SelectionMetric[] = ['qauc', 'qaucWeighted', 'uauc', 'auc', 'logLoss'];
