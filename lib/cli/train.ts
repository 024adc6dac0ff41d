/** `lemur train`: one model, or several one after the other (a comparison run). */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { Command } from 'commander';

import { openDataset, type Dataset } from '../data/dataset.js';
import { LemurError } from '../errors.js';
import { setThreads } from '../info.js';
import { writeReport, buildReport } from '../report/write.js';
import type { ComparisonReport, ModelReport } from '../report/types.js';
import { collect, collectList, device, integer, Interrupted, print, say, setQuiet, timestamp, UsageError } from './common.js';
import { onInterrupt } from './interrupt.js';
import { buildComparison, comparisonTable } from './comparison.js';
import { modelSpecs, withSeeds, type ModelSpec } from './models.js';
import { progressView, type ProgressView } from './progress.js';
import { clearRun, isCheckpoint, readPlan, writePlan, type RunPlan } from './run-folder.js';
import { resultsTable } from './summary.js';
import { trainModel } from './trainer.js';
import { launchIfAsked, launchOptions, type LaunchFlags } from './launch.js';
import { distributedFromEnv } from '../distributed.js';

export interface RunOptions {
  command: string;
  dataset: Dataset;
  specs: ModelSpec[];
  /** The run's checkpoint folder (a sub-folder per model), if any. */
  checkpointDir?: string;
  resume: boolean;
  epochs?: number;
  steps?: number;
  evalEvery?: number;
  evalSplit: string;
  progressEvery?: number;
  keep?: number;
  checkpointEvery?: number;
  /** Report folder; undefined: none. */
  reportDir?: string;
  startedAt: number;
  view?: ProgressView;
  /** How to continue after Ctrl-C (added to the message). */
  resumeHint?: string;
}

export interface RunResult {
  models: ModelReport[];
  comparison?: ComparisonReport;
  reportDir?: string;
}

/** Trains the models in turn, prints the table and writes the report. */
export async function runTraining(o: RunOptions): Promise<RunResult> {
  if (!o.dataset.splits[o.evalSplit])
    throw new LemurError(`the dataset has no split '${o.evalSplit}' to evaluate on (it has: ${Object.keys(o.dataset.splits).join(', ')})`);
  if (!o.dataset.splits.train) throw new LemurError(`the dataset has no 'train' split (it has: ${Object.keys(o.dataset.splits).join(', ')})`);
  const view = o.view ?? progressView();
  const interrupt = onInterrupt(
    () =>
      o.checkpointDir
        ? `lemur: stopping after this step and saving a checkpoint in ${o.checkpointDir} (Ctrl-C again to quit at once)`
        : 'lemur: stopping after this step; no --checkpoint folder, so nothing will be saved (Ctrl-C again to quit at once)',
    (line) => view.note(line),
  );
  const models: ModelReport[] = [];
  const scores: Float32Array[] = [];
  try {
    for (const spec of o.specs) {
      if (interrupt.signal.aborted) throw new Interrupted(`interrupted before training ${spec.name}`);
      const dir = o.checkpointDir ? join(o.checkpointDir, spec.name) : undefined;
      const report = await trainModel({
          name: spec.name,
          group: spec.group,
          seed: spec.seed,
          dataset: o.dataset,
          config: spec.config,
          resume: o.resume,
          checkpointDir: dir,
          epochs: o.epochs,
          steps: o.steps,
          evalEvery: o.evalEvery,
          evalSplit: o.evalSplit,
          progressEvery: o.progressEvery,
          keep: o.keep,
          checkpointEvery: o.checkpointEvery,
          signal: interrupt.signal,
          view,
        });
      scores.push(report.final.scores!);
      delete report.final.scores;
      models.push(report);
    }
    if (interrupt.signal.aborted) throw new Interrupted(`interrupted after ${models.at(-1)?.name ?? 'the last model'} finished`);
  } catch (e) {
    view.end();
    if (e instanceof Interrupted && o.checkpointDir && o.resumeHint) throw new Interrupted(`${e.message}\nlemur: continue with: ${o.resumeHint}`);
    throw e;
  } finally {
    interrupt.dispose();
  }
  print();
  print(resultsTable(models, (m) => m.timings.trainSeconds, 'train time'));
  const comparison = buildComparison(models, scores, o.dataset, o.evalSplit);
  if (comparison && (comparison.models.length > 1 || comparison.models.some((m) => m.runs.length > 1))) {
    print();
    print(comparisonTable(comparison));
  }
  let reportDir: string | undefined;
  if (o.reportDir) {
    const report = buildReport({ command: o.command, split: o.evalSplit, dataset: o.dataset, models, comparison, startedAt: o.startedAt });
    reportDir = await writeReport(o.reportDir, report);
    print();
    print(`report: ${join(reportDir, 'index.html')}`);
  }
  return { models, comparison, reportDir };
}

interface TrainFlags extends LaunchFlags {
  data?: string;
  verify: boolean;
  preset?: string[];
  config?: string;
  set?: string[];
  device?: string;
  epochs?: number;
  steps?: number;
  batchSize?: number;
  checkpoint?: string;
  resume?: boolean;
  autoResume?: boolean;
  overwrite?: boolean;
  evalEvery?: number;
  evalSplit: string;
  progressEvery?: number;
  keep?: number;
  checkpointEvery?: number;
  report?: string | false;
  threads?: number;
  seeds?: number;
  earlyStopping?: boolean;
  patience?: number;
  selectOn?: string;
  replicate?: boolean;
  globalNegatives?: boolean;
}

export function trainCommand(): Command {
  return launchOptions(new Command('train')
    .description('train one model or compare several (--preset a b ...), evaluate them, and write a report')
    .option('--data <dir>', 'dataset folder (lemur generate / lemur import); with --resume, default: the run\'s')
    .option('--preset <name...>', 'preset(s): dlrm-mlp, rankmixer, longer, two-stage, end-to-end, lemur, hyformer; several train one after the other (default: lemur)', collectList)
    .option('--config <file>', 'a JSON config (fields of LemurConfig); with --preset, applied on top of each preset')
    .option('--set <key=value>', 'override one config field, e.g. --set backbone.width=32 --set sequences[2].maxLength=100 (repeatable)', collect)
    .option('--device <device>', 'cpu, cuda or cuda:N', device)
    .option('--epochs <n>', 'train to this many epochs in total; with early stopping, at most this many (default: the config\'s train.epochs)', integer(0))
    .option('--seeds <n>', 'train every model with n seeds (config seed, +1, ...) and compare them: mean ± std and paired bootstrap intervals against the first model', integer(1))
    .option('--no-early-stopping', 'train every epoch of the budget (default: early stopping on the valid split when the dataset has one)')
    .option('--patience <n>', 'validation evaluations without improvement before stopping (train.earlyStopping.patience)', integer(1))
    .option('--select-on <metric>', 'validation metric early stopping follows: qauc, qaucWeighted, uauc, auc or logLoss (train.earlyStopping.metric)')
    .option('--steps <n>', 'stop at this global step (a resumed model counts its earlier steps)', integer(0))
    .option('--batch-size <n>', 'training batch size (train.batchSize)', integer(1))
    .option('--checkpoint <dir>', 'save checkpoints here (a sub-folder per model) at the end, on Ctrl-C and every --checkpoint-every steps')
    .option('--resume', 'continue the run saved in --checkpoint')
    .option('--overwrite', 'replace a run already in --checkpoint')
    .option('--auto-resume', 'continue the run in --checkpoint when it has a checkpoint, else start it: one command for the first start and every restart (torchrun --max-restarts, Kubernetes)')
    .option('--keep <n>', 'checkpoints kept per model (default 2)', integer(1))
    .option('--checkpoint-every <n>', 'also save a checkpoint every n steps (a crash then loses at most n steps; default: at the end and on Ctrl-C)', integer(1))
    .option('--eval-every <n>', 'evaluate on --eval-split every N steps (0: only at the end; default: about 4 times per model, only at the end with early stopping)', integer(0))
    .option('--eval-split <name>', 'split to evaluate on', 'test')
    .option('--progress-every <n>', 'steps between progress reports (default: about 50 per model, at most 10 steps apart)', integer(1))
    .option('--report <dir>', 'report folder (default: reports/train-<time>)')
    .option('--no-report', 'write no report')
    .option('--threads <n>', 'torch intra-op threads (default: OMP_NUM_THREADS, else the cores shared among this machine\'s workers)', integer(1))
    .option('--no-verify', "skip the check of the dataset's files against their checksums in dataset.json")
    .option('--replicate', 'data-parallel: every rank holds all ID-table and bank rows (default: sharded across the ranks)')
    .option('--no-global-negatives', "data-parallel: SQDC contrasts each rank's own batch (default: the whole job's)"), 'train')
    .action(async (f: TrainFlags) => {
      const startedAt = performance.now();
      // the workers (started here or by another launcher) read these from the environment
      if (f.replicate) process.env.LEMUR_DIST_TABLES = process.env.LEMUR_DIST_BANK = 'replicated';
      if (f.globalNegatives === false) process.env.LEMUR_DIST_GLOBAL_NEGATIVES = '0';
      const launched = await launchIfAsked(f);
      if (launched !== undefined) {
        process.exitCode = launched;
        return;
      }
      // rank 0 alone writes the run folder and the report; the others train in lockstep
      const rank = distributedFromEnv()?.rank ?? 0;
      const leader = rank === 0;
      if (!leader) {
        f.report = false;
        setQuiet(true);  // one job's output, whichever launcher shows every worker's
      }
      if (f.threads) setThreads({ intraOp: f.threads });
      let specs: ModelSpec[];
      let data = f.data;
      let epochs = f.epochs;
      let steps = f.steps;
      let evalEvery = f.evalEvery;
      const ckdir = f.checkpoint ? resolve(f.checkpoint) : undefined;
      // The models a new run of these flags trains.
      const newSpecs = (): ModelSpec[] => {
        const sets = [...(f.set ?? [])];
        if (f.earlyStopping === false) sets.unshift('train.earlyStopping.enabled=false');
        if (f.patience !== undefined) sets.unshift(`train.earlyStopping.patience=${f.patience}`);
        if (f.selectOn !== undefined) sets.unshift(`train.earlyStopping.metric=${f.selectOn}`);
        return withSeeds(modelSpecs({ presets: f.preset, configFile: f.config, sets, device: f.device, batchSize: f.batchSize, epochs: f.epochs }), f.seeds ?? 1);
      };
      if (f.autoResume) {
        // For launchers that restart a failed job with the same command (torchrun
        // --max-restarts, a Kubernetes Job): resume when the run has a checkpoint, else start.
        // Every rank decides before the ranks meet, and none can write a checkpoint before
        // all have met, so they all decide alike.
        if (!ckdir) throw new UsageError('--auto-resume needs --checkpoint <dir>: where the run is kept');
        if (f.resume || f.overwrite) throw new UsageError('--auto-resume decides by itself whether to resume: drop --resume / --overwrite');
        const plan = readPlan(ckdir);
        if (plan && plan.models.some((m) => isCheckpoint(join(ckdir, m.name)))) {
          if (JSON.stringify(newSpecs()) !== JSON.stringify(plan.models) || (data !== undefined && resolve(data) !== resolve(plan.data)))
            throw new LemurError(`--auto-resume: ${ckdir} holds a run of another configuration or dataset than this command's: continue it with --resume, or start over with --overwrite`);
          say(`continuing the run in ${ckdir} (--auto-resume)`);
          f.resume = true;
          for (const k of ['config', 'set', 'device', 'batchSize', 'seeds', 'patience', 'selectOn', 'earlyStopping'] as const) delete f[k];
        } else if (plan) {
          f.overwrite = true;  // it never saved a checkpoint: start it again
        }
      }
      if (f.resume) {
        if (!ckdir) throw new UsageError('--resume needs --checkpoint <dir>: the run to continue');
        const flags = { config: '--config', set: '--set', device: '--device', batchSize: '--batch-size', seeds: '--seeds', patience: '--patience', selectOn: '--select-on' } as const;
        const changed: string[] = (Object.keys(flags) as (keyof typeof flags)[]).filter((k) => f[k] !== undefined).map((k) => flags[k]);
        if (f.earlyStopping === false) changed.push('--no-early-stopping');
        if (changed.length)
          throw new UsageError(`${changed.join(', ')}: a resumed run keeps the configuration it was started with (only --epochs, --steps, --eval-every change)`);
        const plan = readPlan(ckdir);
        if (!plan) {
          throw new LemurError(
            isCheckpoint(ckdir)
              ? `${ckdir} is a single model checkpoint; resume the run folder that holds it (its parent)`
              : `${ckdir}: no run to resume (no run.json; start one with lemur train --checkpoint ${f.checkpoint})`,
          );
        }
        specs = plan.models;
        if (f.preset?.length) {
          const unknown = f.preset.filter((p) => !plan.models.some((m) => m.name === p));
          if (unknown.length) throw new UsageError(`--preset ${unknown.join(', ')}: not in the run (it has: ${plan.models.map((m) => m.name).join(', ')})`);
          specs = plan.models.filter((m) => f.preset!.includes(m.name));
        }
        data ??= plan.data;
        epochs ??= plan.epochs;
        steps ??= plan.steps;
        evalEvery ??= plan.evalEvery;
        if (leader) writePlan(ckdir, { ...plan, epochs, steps, evalEvery });
      } else {
        if (!data) throw new UsageError("required option '--data <dir>' not specified");
        specs = newSpecs();
        if (ckdir && leader) {
          const existing = readPlan(ckdir);
          const taken = existing !== undefined || specs.some((s) => isCheckpoint(join(ckdir, s.name)));
          if (taken && !f.overwrite)
            throw new LemurError(`${ckdir} already holds a run${existing ? ` (${existing.models.map((m) => m.name).join(', ')})` : ''}: --resume continues it, --overwrite starts over`);
          if (taken) {
            clearRun(ckdir);
            for (const s of specs) rmSync(join(ckdir, s.name), { recursive: true, force: true });
          }
        }
      }
      const dataset = openDataset(data, { verify: f.verify });
      if (ckdir && !f.resume && leader) {
        mkdirSync(ckdir, { recursive: true });
        const plan: RunPlan = {
          format: 'lemur-run',
          version: 1,
          data: dataset.dir,
          models: specs,
          epochs,
          steps,
          evalEvery,
          evalSplit: f.evalSplit,
          ...(f.seeds && f.seeds > 1 ? { seeds: f.seeds } : {}),
          createdAt: new Date().toISOString(),
        };
        writePlan(ckdir, plan);
      }
      const reportDir = f.report === false ? undefined : (f.report ?? join('reports', `train-${timestamp()}`));
      await runTraining({
        command: 'train',
        dataset,
        specs,
        checkpointDir: ckdir,
        resume: !!f.resume,
        epochs,
        steps,
        evalEvery,
        evalSplit: f.evalSplit,
        progressEvery: f.progressEvery,
        keep: f.keep,
        checkpointEvery: f.checkpointEvery,
        reportDir,
        startedAt,
        resumeHint: ckdir ? `lemur train --resume --checkpoint ${f.checkpoint}` : undefined,
      });
    });
}
