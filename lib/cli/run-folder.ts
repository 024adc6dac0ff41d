/**
 * The checkpoint folder of a `lemur train` run:
 *
 *   <dir>/run.json          the plan: data folder, models (name + full config), epochs/steps
 *   <dir>/<model>/          that model's checkpoints (LATEST, step-NNNNNNNNN folders; see checkpoint.ts)
 *   <dir>/<model>/history.json   progress and evaluations so far, rewritten at each checkpoint
 *
 * `--resume` reads run.json and continues every model: from its checkpoint when it has one,
 * from scratch otherwise (a comparison run stopped during its second model).
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import type { LemurConfig } from '../config.js';
import { writeFileAtomic } from '../data/files.js';
import { LemurError } from '../errors.js';
import type { EarlyStoppingResult, Evaluation, Progress } from '../model.js';
import type { FitTiming } from '../report/types.js';

export const RUN_FILE = 'run.json';
export const HISTORY_FILE = 'history.json';

export interface RunPlan {
  format: 'lemur-run';
  version: 1;
  data: string;
  models: { name: string; config: LemurConfig; group?: string; seed?: number }[];
  /** Train to this many epochs / global steps in total (undefined: the config's epochs). */
  epochs?: number;
  steps?: number;
  evalEvery?: number;
  evalSplit: string;
  /** Runs per model (--seeds); the models above already list each seed. */
  seeds?: number;
  createdAt: string;
}

/** One fit() call of a model, as its history records it (the report shows the same). */
export type FitRecord = FitTiming;

export interface History {
  format: 'lemur-history';
  version: 1;
  model: string;
  progress: Progress[];
  evaluations: Evaluation[];
  fits: FitRecord[];
  earlyStopping?: EarlyStoppingResult;
}

export function emptyHistory(model: string): History {
  return { format: 'lemur-history', version: 1, model, progress: [], evaluations: [], fits: [] };
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new LemurError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export function readPlan(dir: string): RunPlan | undefined {
  const path = join(dir, RUN_FILE);
  if (!existsSync(path)) return undefined;
  const plan = readJson(path) as RunPlan;
  if (plan?.format !== 'lemur-run' || !Array.isArray(plan.models)) throw new LemurError(`${path}: not a lemur run file`);
  return plan;
}

export function writePlan(dir: string, plan: RunPlan): void {
  writeFileAtomic(join(dir, RUN_FILE), JSON.stringify(plan, null, 2) + '\n');
}

/** A model checkpoint folder (with LATEST), or one of its step folders (with meta.json). */
export function isCheckpoint(dir: string): boolean {
  return existsSync(join(dir, 'LATEST')) || existsSync(join(dir, 'meta.json'));
}

/** The history next to a checkpoint: in the folder itself, or in the parent of a step folder. */
export function readHistory(checkpointDir: string, upToStep = Infinity): History | undefined {
  const candidates = [join(checkpointDir, HISTORY_FILE), join(dirname(checkpointDir), HISTORY_FILE)];
  const path = candidates.find((p) => existsSync(p));
  if (!path) return undefined;
  const h = readJson(path) as History;
  if (h?.format !== 'lemur-history') return undefined;
  // A crash after a checkpoint can leave entries past the step a resume starts from.
  return {
    ...h,
    // pre-training reports count their own steps (they all come before ranking step 1)
    progress: h.progress.filter((p) => p.phase === 'pretrain' || p.step <= upToStep),
    evaluations: h.evaluations.filter((e) => e.step <= upToStep),
    fits: h.fits.filter((f) => f.startStep <= upToStep).map((f) => (f.endStep > upToStep ? { ...f, endStep: upToStep, steps: upToStep - f.startStep } : f)),
  };
}

export function writeHistory(checkpointDir: string, history: History): void {
  writeFileAtomic(join(checkpointDir, HISTORY_FILE), JSON.stringify(history) + '\n');
}

/** Removes what an earlier run left in `dir` (its plan and model folders), nothing else. */
export function clearRun(dir: string): void {
  const plan = readPlan(dir);
  for (const m of plan?.models ?? []) {
    const sub = join(dir, m.name);
    if (isCheckpoint(sub) || existsSync(join(sub, HISTORY_FILE))) rmSync(sub, { recursive: true, force: true });
  }
  rmSync(join(dir, RUN_FILE), { force: true });
}

/** What `eval --checkpoint <dir>` evaluates: every model of a run folder, or one checkpoint. */
export function checkpointsIn(dir: string): { name?: string; dir: string; plan?: RunPlan }[] {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new LemurError(`${root}: no such checkpoint folder`);
  const plan = readPlan(root);
  if (plan) {
    const found = plan.models.filter((m) => isCheckpoint(join(root, m.name))).map((m) => ({ name: m.name, dir: join(root, m.name), plan }));
    if (!found.length) throw new LemurError(`${root}: the run has no checkpoints yet (models: ${plan.models.map((m) => m.name).join(', ')})`);
    return found;
  }
  if (isCheckpoint(root)) return [{ dir: root }];
  // A folder of model checkpoint folders without a plan.
  const subs = readdirSync(root)
    .map((e) => join(root, e))
    .filter((p) => statSync(p).isDirectory() && existsSync(join(p, 'LATEST')));
  if (subs.length) return subs.map((p) => ({ name: basename(p), dir: p }));
  throw new LemurError(`${root}: not a checkpoint folder (no run.json, LATEST or meta.json)`);
}
