/** The report a `train`, `eval` or `demo` run writes (metrics.json; index.html renders it). */
import type { LemurConfig } from '../config.js';
import type { DatasetManifest } from '../data/manifest.js';
import type { Difference, Spread } from '../compare.js';
import type { EarlyStoppingResult, Evaluation, Progress } from '../model.js';

export const REPORT_FORMAT = 'lemur-report';
export const REPORT_VERSION = 1;

export interface FitTiming {
  startStep: number;
  endStep: number;
  steps: number;
  samples: number;
  seconds: number;
  startedAt: string;
  interrupted: boolean;
}

export interface ModelReport {
  name: string;
  /** With --seeds: the model this run is one seed of, and its seed. */
  group?: string;
  seed?: number;
  preset: string;
  device: string;
  parameters: number;
  idTableParameters: number;
  /** Global step and epoch reached. */
  step: number;
  epoch: number;
  /** The checkpoint folder written last (train) or read (eval). */
  checkpoint?: string;
  /** The evaluation the comparison table shows. */
  final: Evaluation;
  timings: {
    /** Wall time of all fit() calls of this model (resumes included; periodic evaluations included). */
    trainSeconds: number;
    /** The final evaluation when it ran apart from fit(). */
    evalSeconds: number;
    samples: number;
    samplesPerSecond?: number;
    /** Mean seconds per step by phase: data, encoder, bank, backbone, backward, optimizer, total. */
    meanStep?: Record<string, number>;
    fits: FitTiming[];
  };
  /** Progress reports over all of the model's training, oldest first. */
  progress: Progress[];
  /** Evaluations over training (validation ones for early stopping, --eval-every ones, the final one). */
  evaluations: Evaluation[];
  /** Early stopping of the last fit: the best validation evaluation, where it stopped. */
  earlyStopping?: EarlyStoppingResult;
  /** Two-stage pre-training steps taken (before the ranker's steps). */
  pretrainSteps?: number;
  config: LemurConfig;
}

/** Metrics of one model over its seeds, and its difference to the baseline. */
export interface ComparedModel {
  name: string;
  runs: string[];
  seeds: number[];
  all: { auc: Spread; qauc: Spread; uauc: Spread; logLoss: Spread };
  coldStart?: { auc: Spread; qauc: Spread };
  /** Paired bootstrap of this model minus the baseline (absent for the baseline). */
  vsBaseline?: { all: Difference[]; coldStart?: Difference[] };
}

/** A comparison of several models (each over one or more seeds) on one split. */
export interface ComparisonReport {
  baseline: string;
  split: string;
  resamples: number;
  level: number;
  models: ComparedModel[];
}

export interface DatasetSummary {
  dir: string;
  name: string;
  createdBy: string;
  numDocuments: number;
  numUsers: number;
  numQueries: number;
  textFields: DatasetManifest['textFields'];
  image: DatasetManifest['image'];
  sequences: DatasetManifest['sequences'];
  stats: DatasetManifest['stats'];
  sourceStats: DatasetManifest['sourceStats'];
}

export interface Report {
  format: typeof REPORT_FORMAT;
  version: typeof REPORT_VERSION;
  /** train, eval or demo. */
  command: string;
  argv: string[];
  createdAt: string;
  /** Seconds from the start of the command to the report. */
  wallSeconds: number;
  split: string;
  dataset: DatasetSummary;
  models: ModelReport[];
  /** Mean ± std over seeds and paired bootstrap intervals against the first model. */
  comparison?: ComparisonReport;
  versions: { lemur: string; torch: string; torchSource: string; node: string };
  machine: {
    platform: string;
    arch: string;
    cpu: string;
    cores: number;
    memoryBytes: number;
    threads: { intraOp: number; interOp: number; blas: number; blasLibrary: string };
    devices: string[];
    cuda: { index: number; name: string; memoryBytes: number; computeCapability: string }[];
  };
}
