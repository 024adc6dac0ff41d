/** Builds the report object and writes the report folder atomically (temp folder + rename). */
import { writeFileSync } from 'node:fs';
import { arch, cpus, platform, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

import type { Dataset } from '../data/dataset.js';
import { buildFolderAtomically } from '../data/files.js';
import { info } from '../info.js';
import { renderHtml } from './html.js';
import { REPORT_FORMAT, REPORT_VERSION, type ComparisonReport, type DatasetSummary, type ModelReport, type Report } from './types.js';

export function datasetSummary(dataset: Dataset): DatasetSummary {
  const m = dataset.manifest;
  return {
    dir: dataset.dir,
    name: m.name,
    createdBy: m.createdBy,
    numDocuments: m.numDocuments,
    numUsers: m.numUsers,
    numQueries: m.numQueries,
    textFields: m.textFields,
    image: m.image,
    sequences: m.sequences,
    stats: m.stats,
    sourceStats: m.sourceStats,
  };
}

export function buildReport(o: {
  command: string;
  split: string;
  dataset: Dataset;
  models: ModelReport[];
  comparison?: ComparisonReport;
  startedAt: number;
  argv?: string[];
}): Report {
  const i = info();
  const c = cpus();
  return {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    command: o.command,
    argv: o.argv ?? process.argv.slice(2),
    createdAt: new Date().toISOString(),
    wallSeconds: (performance.now() - o.startedAt) / 1000,
    split: o.split,
    dataset: datasetSummary(o.dataset),
    models: o.models,
    ...(o.comparison ? { comparison: o.comparison } : {}),
    versions: { lemur: i.version, torch: i.torch.version, torchSource: i.torch.source, node: i.node },
    machine: {
      platform: platform(),
      arch: arch(),
      cpu: c[0]?.model?.trim() ?? 'unknown',
      cores: c.length,
      memoryBytes: totalmem(),
      threads: { intraOp: i.threads.intraOp, interOp: i.threads.interOp, blas: i.threads.blas, blasLibrary: i.threads.blasLibrary },
      devices: [...new Set(o.models.map((m) => m.device))],
      cuda: i.cuda.devices,
    },
  };
}

/** JSON with NaN and infinities as null (JSON.stringify does that) and typed arrays as lists. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v), 2) + '\n';
}

/** Writes `<dir>/metrics.json` and `<dir>/index.html`; an existing report folder is replaced. */
export async function writeReport(dir: string, report: Report): Promise<string> {
  const target = resolve(dir);
  const html = renderHtml(report);
  await buildFolderAtomically(target, { overwrite: true }, async (tmp) => {
    writeFileSync(join(tmp, 'metrics.json'), toJson(report));
    writeFileSync(join(tmp, 'index.html'), html);
  });
  return target;
}
