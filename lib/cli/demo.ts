/**
 * `lemur demo`: the main job. Generates the default data (or reuses it), trains full LEMUR and
 * the ID-only baseline, prints the comparison and writes the report. Sizes: demo-settings.ts.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { Command } from 'commander';

import { openDataset } from '../data/dataset.js';
import { generateDataset } from '../data/generator.js';
import { MANIFEST_FILE, type DatasetManifest } from '../data/manifest.js';
import { setThreads } from '../info.js';
import { device, duration, integer, print, say } from './common.js';
import { DEMO, DEMO_QUICK, type DemoSettings } from './demo-settings.js';
import { describeDataset } from './generate.js';
import { modelSpecs } from './models.js';
import { clearRun, writePlan } from './run-folder.js';
import { runTraining } from './train.js';
import { autoEvery } from './trainer.js';

interface DemoFlags {
  out?: string;
  epochs?: number;
  quick?: boolean;
  device?: string;
  threads?: number;
}

/** Whether the data folder holds what these settings generate (then it is reused). */
function matches(dir: string, s: DemoSettings): boolean {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return false;
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as DatasetManifest;
    const rows = Object.values(m.stats).reduce((a, x) => a + x.rows, 0);
    return (
      m.createdBy === 'lemur generate' &&
      m.numDocuments === (s.data.numDocuments ?? 3000) &&
      m.numUsers === (s.data.numUsers ?? 600) &&
      rows === (s.data.numSamples ?? 60_000) &&
      m.sourceStats.seed === (s.data.seed ?? 1) &&
      (m.sequences[0]?.maxLength ?? 0) === (s.data.historyLength ?? 50)
    );
  } catch {
    return false;
  }
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('the main job: generate the default data, train full LEMUR and the ID-only baseline (dlrm-mlp), compare them, write a report')
    .option('--out <dir>', 'working folder: data/, checkpoints/, report/ (default: runs/demo, or runs/demo-quick with --quick)')
    .option('--epochs <n>', `epochs per model (default ${DEMO.epochs})`, integer(1))
    .option('--quick', 'small data and models: a smoke run of well under a minute')
    .option('--device <device>', 'cpu, cuda or cuda:N', device)
    .option('--threads <n>', 'torch intra-op threads (default: OMP_NUM_THREADS, else the cores shared among this machine\'s workers)', integer(1))
    .action(async (f: DemoFlags) => {
      const startedAt = performance.now();
      const s = f.quick ? DEMO_QUICK : DEMO;
      if (f.threads) setThreads({ intraOp: f.threads });
      const out = resolve(f.out ?? (f.quick ? 'runs/demo-quick' : 'runs/demo'));
      const dataDir = join(out, 'data');
      mkdirSync(out, { recursive: true });
      if (matches(dataDir, s)) {
        say(`using the demo data in ${dataDir}`);
      } else {
        say(`${existsSync(dataDir) ? 'regenerating' : 'generating'} the demo data in ${dataDir} (${s.data.numSamples ?? 60_000} impressions)...`);
        const r = await generateDataset(dataDir, { ...s.data, overwrite: true });
        say(`generated in ${duration(r.seconds)}: ${describeDataset(r)}`);
      }
      const dataset = openDataset(dataDir);
      const epochs = f.epochs ?? s.epochs;
      const specs = modelSpecs({ presets: s.models, base: s.config, device: f.device, epochs });
      const checkpointDir = join(out, 'checkpoints');
      mkdirSync(checkpointDir, { recursive: true });
      clearRun(checkpointDir);
      const trainRows = dataset.splits.train?.rows ?? 0;
      // The same number of evaluations for every model, whatever its batch size.
      const planned = Math.ceil(trainRows / (specs[0]?.config.train.batchSize ?? 256)) * epochs;
      const evalEvery = autoEvery(planned, s.evaluations);
      writePlan(checkpointDir, {
        format: 'lemur-run',
        version: 1,
        data: dataset.dir,
        models: specs,
        epochs,
        evalEvery,
        evalSplit: 'test',
        createdAt: new Date().toISOString(),
      });
      await runTraining({
        command: f.quick ? 'demo --quick' : 'demo',
        dataset,
        specs,
        checkpointDir,
        resume: false,
        epochs,
        evalEvery,
        evalSplit: 'test',
        reportDir: join(out, 'report'),
        startedAt,
        resumeHint: `lemur train --resume --checkpoint ${checkpointDir}`,
      });
      print(`demo finished in ${duration((performance.now() - startedAt) / 1000)}`);
    });
}
