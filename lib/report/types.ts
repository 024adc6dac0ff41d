/** The report a `train`, `eval` or `demo` run writes (metrics.json; index.html renders it). */
import type { LemurConfig } from '../config.js';
import type { DatasetManifest } from '../data/manifest.js';
import type { Evaluation, Progress } from '../model.js';

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
  /** Evaluations over training (every --eval-every steps and at the end). */
  evaluations: Evaluation[];
  config: LemurConfig;
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
