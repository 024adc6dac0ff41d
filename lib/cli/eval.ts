/** `lemur eval`: evaluate saved models (a run folder, or one checkpoint) and write a report. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Command } from 'commander';

import { resolveCheckpoint } from '../checkpoint.js';
import { openDataset } from '../data/dataset.js';
import { LemurError } from '../errors.js';
import { setThreads } from '../info.js';
import { buildReport, writeReport } from '../report/write.js';
import type { ModelReport } from '../report/types.js';
import { collectList, integer, print, say, timestamp, UsageError } from './common.js';
import { progressView } from './progress.js';
import { checkpointsIn } from './run-folder.js';
import { resultsTable } from './summary.js';
import { evaluateCheckpoint } from './trainer.js';

interface EvalFlags {
  checkpoint: string;
  data?: string;
  verify: boolean;
  split: string;
  model?: string[];
  report?: string | false;
  threads?: number;
}

async function datasetOfCheckpoint(dir: string): Promise<string> {
  const path = await resolveCheckpoint(dir);
  try {
    const meta = JSON.parse(readFileSync(join(path, 'meta.json'), 'utf8')) as { dataset?: { dir?: string } };
    if (meta.dataset?.dir) return meta.dataset.dir;
  } catch {
    // fall through
  }
  throw new UsageError(`${path} does not name its dataset folder: pass --data <dir>`);
}

export function evalCommand(): Command {
  return new Command('eval')
    .description('evaluate saved models: AUC, QAUC, UAUC, log-loss, on all rows and cold-start documents')
    .requiredOption('--checkpoint <dir>', 'a run folder of lemur train --checkpoint (every model in it), or one model\'s checkpoint folder')
    .option('--data <dir>', 'dataset folder (default: the one the checkpoint was trained on)')
    .option('--split <name>', 'split to evaluate', 'test')
    .option('--model <name...>', 'only these models of a run folder', collectList)
    .option('--report <dir>', 'report folder (default: reports/eval-<time>)')
    .option('--no-report', 'write no report')
    .option('--threads <n>', 'torch intra-op threads (default: OMP_NUM_THREADS, else the cores shared among this machine\'s workers)', integer(1))
    .option('--no-verify', "skip the check of the dataset's files against their checksums in dataset.json")
    .action(async (f: EvalFlags) => {
      const startedAt = performance.now();
      if (f.threads) setThreads({ intraOp: f.threads });
      let entries = checkpointsIn(f.checkpoint);
      const plan = entries[0]?.plan;
      const missing = plan?.models.filter((m) => !entries.some((e) => e.name === m.name)).map((m) => m.name) ?? [];
      if (missing.length && !f.model?.length) say(`skipping ${missing.join(', ')}: no checkpoint yet`);
      if (f.model?.length) {
        const unknown = f.model.filter((n) => !entries.some((e) => e.name === n));
        if (unknown.length) throw new UsageError(`--model ${unknown.join(', ')}: not in ${f.checkpoint} (it has: ${entries.map((e) => e.name ?? '?').join(', ')})`);
        entries = entries.filter((e) => f.model!.includes(e.name!));
      }
      const data = f.data ?? entries[0]!.plan?.data ?? (await datasetOfCheckpoint(entries[0]!.dir));
      const dataset = openDataset(data, { verify: f.verify });
      if (!dataset.splits[f.split]) throw new LemurError(`the dataset has no split '${f.split}' (it has: ${Object.keys(dataset.splits).join(', ')})`);
      const view = progressView();
      const models: ModelReport[] = [];
      for (const e of entries) models.push(await evaluateCheckpoint(e.name, e.dir, dataset, f.split, view));
      print();
      print(resultsTable(models, (m) => m.timings.evalSeconds, 'eval time'));
      if (f.report !== false) {
        const report = buildReport({ command: 'eval', split: f.split, dataset, models, startedAt });
        const dir = await writeReport(f.report ?? join('reports', `eval-${timestamp()}`), report);
        print();
        print(`report: ${join(dir, 'index.html')}`);
      }
    });
}
