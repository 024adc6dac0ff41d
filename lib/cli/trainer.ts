/**
 * Trains (or resumes) one model of a run with progress, periodic evaluations, checkpoints and
 * a history that survives resumes; then evaluates it. Shared by `train` and `demo`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { LemurConfig } from '../config.js';
import type { Dataset } from '../data/dataset.js';
import { AbortError } from '../errors.js';
import { distributedFromEnv } from '../distributed.js';
import { Lemur, type Evaluation, type FitResult, type Progress } from '../model.js';
import type { ModelReport } from '../report/types.js';
import { count, duration, Interrupted } from './common.js';
import type { ProgressView } from './progress.js';
import { emptyHistory, readHistory, writeHistory, type FitRecord, type History } from './run-folder.js';

export interface TrainJob {
  name: string;
  dataset: Dataset;
  /** A fresh model from this config... */
  config: LemurConfig;
  /** ...or this model checkpoint folder, when it holds one (resume). */
  resume?: boolean;
  checkpointDir?: string;
  /** Train to this many epochs / global steps in total. */
  epochs?: number;
  steps?: number;
  /**
   * Evaluate on evalSplit every N steps; 0: only at the end; undefined: about four times, or
   * only at the end when early stopping evaluates on the validation split during training.
   */
  evalEvery?: number;
  evalSplit: string;
  progressEvery?: number;
  keep?: number;
  /** Also checkpoint every N steps (fit's checkpoint.every). */
  checkpointEvery?: number;
  signal: AbortSignal;
  view: ProgressView;
  /** With --seeds: the model this run is one seed of, and its seed. */
  group?: string;
  seed?: number;
}

/** Whether fit() will early-stop this model on its validation split. */
export function earlyStoppingActive(config: LemurConfig, dataset: Dataset): boolean {
  const es = config.train.earlyStopping;
  return es.enabled === true || (es.enabled === 'auto' && dataset.splits[es.split] !== undefined);
}

/** Evaluations per model when --eval-every is not given (the last one at the end). */
export const AUTO_EVALUATIONS = 4;

export function autoEvery(planned: number, evaluations = AUTO_EVALUATIONS): number {
  return planned > 0 ? Math.max(1, Math.ceil(planned / evaluations)) : 0;
}

/**
 * Steps between progress reports when --progress-every is not given: about 50 reports per
 * fit, at least every 10 steps so the bar moves. Each report measures bank staleness on a
 * probe (memoryBank.stalenessProbe documents encoded), a few percent of a step.
 */
export function autoProgressEvery(planned: number): number {
  return Math.min(10, Math.max(1, Math.ceil(planned / 50)));
}

export async function trainModel(job: TrainJob): Promise<ModelReport> {
  const resuming = job.resume && job.checkpointDir !== undefined && existsSync(join(job.checkpointDir, 'LATEST'));
  // A worker of a data-parallel job (lemur train --nproc, torchrun, a PyTorchJob) joins it.
  const distributed = distributedFromEnv();
  const lemur = resuming
    ? await Lemur.load(job.checkpointDir!, job.dataset, {}, { distributed })
    : await Lemur.create(job.dataset, job.config, { distributed });
  const startStep = lemur.step;
  const history: History = (resuming ? readHistory(job.checkpointDir!, startStep) : undefined) ?? emptyHistory(job.name);
  history.model = job.name;

  const config = lemur.config;
  const trainRows = job.dataset.splits.train?.rows ?? 0;
  const perEpochEstimate = Math.max(1, Math.ceil(trainRows / config.train.batchSize));
  const targetEpochs = job.epochs ?? config.train.epochs;
  const remainingSteps = (bpe: number, epoch: number, batch: number) => Math.max(0, (targetEpochs - epoch) * bpe - batch);
  const stepCap = job.steps !== undefined ? Math.max(0, job.steps - startStep) : Infinity;
  const planned = Math.min(stepCap, remainingSteps(perEpochEstimate, lemur.position.epoch, lemur.position.batch));
  let total = startStep + planned;
  const selecting = earlyStoppingActive(config, job.dataset);
  const evalEvery = job.evalEvery ?? (selecting ? 0 : autoEvery(planned));
  const progressEvery = job.progressEvery ?? autoProgressEvery(planned);

  const fit: FitRecord = { startStep, endStep: startStep, steps: 0, samples: 0, seconds: 0, startedAt: new Date().toISOString(), interrupted: false };
  history.fits.push(fit);
  const t0 = performance.now();
  let lastCheckpoint: string | undefined;
  let finished = false;
  const save = () => {
    if (!job.checkpointDir) return;
    fit.endStep = lemur.step;
    fit.steps = lemur.step - startStep;
    fit.seconds = (performance.now() - t0) / 1000;
    // Exact once fit() returns; an estimate while it runs or after Ctrl-C.
    if (!finished) fit.samples = fit.steps * config.train.batchSize;
    if (!distributed || distributed.rank === 0) writeHistory(job.checkpointDir, history);
  };
  lemur.on('checkpoint', (path: string) => {
    lastCheckpoint = path;
    save();
  });
  lemur.on('evaluation', (ev: Evaluation) => {
    history.evaluations.push(ev);
    job.view.evaluation(ev);
  });
  lemur.on('warning', (line: string) => job.view.note(`lemur: warning: ${line}`));
  lemur.on('selection', (s: { step: number; value: number; improved: boolean; sinceBest: number; stoppedAt?: number; best?: { step: number; value: number } }) => {
    const es = config.train.earlyStopping;
    job.view.note(
      `${job.name}: ${es.split} ${es.metric} ${s.value.toFixed(4)} at step ${s.step}` +
        (s.improved ? ' (best so far)' : ` (best ${s.best?.value.toFixed(4)} at step ${s.best?.step}; ${s.sinceBest}/${es.patience} without improvement)`) +
        (s.stoppedAt !== undefined ? `: stopping early, back to step ${s.best?.step}` : ''),
    );
  });

  const what = resuming
    ? `resuming ${job.name} at step ${startStep} (epoch ${lemur.position.epoch + 1})`
    : job.resume
      ? `training ${job.name} from scratch (no checkpoint of it yet)`
      : `training ${job.name}`;
  job.view.note(
    `${what}: ${count(lemur.parameters)} parameters + ${count(lemur.idTableParameters)} in ID tables, ${config.device}, batch ${config.train.batchSize}, ` +
      `${planned === Infinity ? '?' : count(planned)} steps to go`,
  );
  job.view.begin(job.name, startStep, total);
  let result: FitResult;
  try {
    result = await lemur.fit({
      epochs: targetEpochs,
      ...(Number.isFinite(stepCap) ? { steps: stepCap } : {}),
      signal: job.signal,
      progressEvery,
      onProgress: (p: Progress) => {
        history.progress.push(p);
        total = p.step + Math.min(stepCap - (p.step - startStep), remainingSteps(p.batchesPerEpoch, p.epoch, p.batch));
        job.view.progress(p, total);
      },
      ...(evalEvery > 0 ? { evaluate: { split: job.evalSplit, every: evalEvery } } : {}),
      ...(job.checkpointDir ? { checkpoint: { dir: job.checkpointDir, keep: job.keep ?? 2, ...(job.checkpointEvery ? { every: job.checkpointEvery } : {}) } } : {}),
    });
  } catch (e) {
    job.view.end();
    if (e instanceof AbortError) {
      fit.interrupted = true;
      save();
      throw new Interrupted(
        job.checkpointDir
          ? `interrupted at step ${lemur.step}; checkpoint saved in ${lastCheckpoint ?? job.checkpointDir}`
          : `interrupted at step ${lemur.step}; nothing was saved (no --checkpoint folder)`,
      );
    }
    throw e;
  }
  job.view.end();
  finished = true;
  fit.samples = result.samples;
  fit.steps = result.steps;
  fit.endStep = lemur.step;
  fit.seconds = result.seconds;

  // The final evaluation, with its per-row scores for the paired comparison of the run.
  const e0 = performance.now();
  const final = await lemur.evaluate(job.evalSplit, { scores: true });
  const evalSeconds = (performance.now() - e0) / 1000;
  const { scores: _scores, ...kept } = final;
  const last = history.evaluations.at(-1);
  if (!last || last.step !== final.step || last.split !== final.split) history.evaluations.push(kept);
  job.view.evaluation(final);
  if (result.earlyStopping) history.earlyStopping = result.earlyStopping;
  save();
  job.view.note(
    `${job.name}: ${count(result.steps)} steps in ${duration(result.seconds)} (${count(result.samples / Math.max(result.seconds, 1e-9))} samples/s)` +
      (lastCheckpoint ? `; checkpoint ${lastCheckpoint}` : ''),
  );
  const report = modelReport(job.name, lemur, history, final, { checkpoint: lastCheckpoint, evalSeconds });
  if (job.group !== undefined) report.group = job.group;
  if (job.seed !== undefined) report.seed = job.seed;
  if (result.pretrainSteps || lemur.pretrainStep) report.pretrainSteps = lemur.pretrainStep;
  // The next model of the run (another preset or seed) must not find this one's memory
  // still held: on a GPU, two models' banks and optimizer states may not fit.
  await lemur.close();
  return report;
}

/** Evaluates a saved model (the `eval` command). */
export async function evaluateCheckpoint(name: string | undefined, dir: string, dataset: Dataset, split: string, view: ProgressView): Promise<ModelReport> {
  const lemur = await Lemur.load(dir, dataset);
  const history = readHistory(dir) ?? emptyHistory(name ?? lemur.config.preset);
  const label = name ?? (history.model || lemur.config.preset);
  view.note(`evaluating ${label} (step ${lemur.step}) on ${split}...`);
  const e0 = performance.now();
  const ev = await lemur.evaluate(split);
  const evalSeconds = (performance.now() - e0) / 1000;
  view.note(`${label}: ${split}: AUC ${ev.all.auc.toFixed(4)} in ${duration(evalSeconds)}`);
  const report = modelReport(label, lemur, history, ev, { checkpoint: dir, evalSeconds });
  await lemur.close();
  return report;
}

/** Mean step times of the ranking steps (pre-training steps are another kind of step). */
function meanStepTimes(all: Progress[]): Record<string, number> | undefined {
  const progress = all.filter((p) => p.phase !== 'pretrain');
  if (!progress.length) return undefined;
  const out: Record<string, number> = {};
  let weight = 0;
  let prev = 0;
  for (const p of progress) {
    // Each report holds means over the steps since the previous one.
    const w = Math.max(1, p.step - prev);
    prev = p.step;
    weight += w;
    for (const [k, v] of Object.entries(p.seconds)) out[k] = (out[k] ?? 0) + v * w;
  }
  for (const k of Object.keys(out)) out[k]! /= weight;
  return out;
}

function modelReport(
  name: string,
  lemur: Lemur,
  history: History,
  final: Evaluation,
  extra: { checkpoint?: string; evalSeconds: number },
): ModelReport {
  const fits = history.fits;
  const trainSeconds = fits.reduce((s, f) => s + f.seconds, 0);
  const samples = fits.reduce((s, f) => s + f.samples, 0);
  return {
    name,
    preset: lemur.config.preset,
    device: lemur.config.device,
    parameters: lemur.parameters,
    idTableParameters: lemur.idTableParameters,
    step: lemur.step,
    epoch: lemur.position.epoch,
    checkpoint: extra.checkpoint,
    final,
    timings: {
      trainSeconds,
      evalSeconds: extra.evalSeconds,
      samples,
      samplesPerSecond: trainSeconds > 0 ? samples / trainSeconds : undefined,
      meanStep: meanStepTimes(history.progress),
      fits,
    },
    progress: history.progress,
    evaluations: history.evaluations,
    ...(history.earlyStopping ? { earlyStopping: history.earlyStopping } : {}),
    config: lemur.config,
  };
}
