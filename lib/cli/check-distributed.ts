/**
 * `lemur check-distributed`: the process group's self-test (checkCollectives) across the
 * workers of a job, for setting up a cluster before training on it: every collective lemur
 * trains with, on the tensors of --device, each result checked. Started like a training job
 * (--nproc N, --nnodes/--node-rank/--master-addr/--master-port, or torchrun's environment);
 * alone, a world of one that still runs every collective through the backend.
 */
import { Command } from 'commander';

import { checkCollectives, distributedFromEnv } from '../distributed.js';
import { LemurError } from '../errors.js';
import { device, integer, print } from './common.js';
import { launchIfAsked, launchOptions, type LaunchFlags } from './launch.js';

interface Flags extends LaunchFlags {
  device: string;
  threads?: number;
  json?: boolean;
}

export function checkDistributedCommand(): Command {
  return launchOptions(
    new Command('check-distributed')
      .description("check every collective of data-parallel training across this job's workers (Gloo, or NCCL for CUDA tensors)")
      .option('--device <device>', 'where the checked tensors live: cpu, cuda (cuda:LOCAL_RANK) or cuda:N', device, 'cpu')
      .option('--threads <n>', 'torch threads per worker (set by the launcher)', integer(1))
      .option('--json', "print this rank's report as JSON"),
    'check',
  ).action(async (f: Flags) => {
    const launched = await launchIfAsked(f);
    if (launched !== undefined) {
      process.exitCode = launched;
      return;
    }
    const d = distributedFromEnv() ?? distributedFromEnv({ ...process.env, WORLD_SIZE: '1', RANK: '0' })!;
    const r = await checkCollectives(d, f.device);
    const failed = r.checks.filter((c) => !c.ok);
    if (f.json) print(JSON.stringify(r, null, 2));
    else if (r.rank === 0 || failed.length > 0) {
      print(`rank ${r.rank} of ${r.worldSize}: ${r.backend} on ${r.device}, ${r.checks.length} collectives in ${r.seconds.toFixed(2)} s`);
      for (const c of r.checks) print(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
    }
    if (failed.length > 0) throw new LemurError(`rank ${r.rank}: ${failed[0]!.name} failed: ${failed[0]!.detail}`);
  });
}
