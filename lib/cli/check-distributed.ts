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
import { launchWorkers } from './launch.js';

interface Flags {
  device: string;
  backend?: 'auto' | 'gloo' | 'nccl';
  nproc?: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  distTimeout?: number;
  threads?: number;
  json?: boolean;
}

export function checkDistributedCommand(): Command {
  return new Command('check-distributed')
    .description("check every collective of data-parallel training across this job's workers (Gloo, or NCCL for CUDA tensors)")
    .option('--device <device>', 'where the checked tensors live: cpu, cuda (cuda:LOCAL_RANK) or cuda:N', device, 'cpu')
    .option('--backend <name>', 'auto (nccl for CUDA tensors when built with it), gloo or nccl')
    .option('--nproc <n>', 'start n worker processes on this machine', integer(1))
    .option('--nnodes <n>', 'machines in the job (default 1)', integer(1))
    .option('--node-rank <r>', "this machine's rank among --nnodes (default 0)", integer(0))
    .option('--master-addr <host>', 'address of node 0 (default 127.0.0.1)')
    .option('--master-port <port>', 'its port (default 29500)', integer(1))
    .option('--dist-timeout <seconds>', 'how long a rank waits for the others (default 180)', integer(1))
    .option('--threads <n>', 'torch threads per worker (set by the launcher)', integer(1))
    .option('--json', "print this rank's report as JSON")
    .action(async (f: Flags) => {
      if (f.backend !== undefined && !['auto', 'gloo', 'nccl'].includes(f.backend))
        throw new LemurError(`--backend must be auto, gloo or nccl, got '${f.backend}'`);
      if (f.backend) process.env.LEMUR_DIST_BACKEND = f.backend;  // the workers read it
      if (f.distTimeout) process.env.LEMUR_DIST_TIMEOUT = String(f.distTimeout);
      if (f.nproc !== undefined || (f.nnodes ?? 1) > 1) {
        process.exitCode = await launchWorkers({ nproc: f.nproc ?? 1, nnodes: f.nnodes ?? 1, nodeRank: f.nodeRank ?? 0, masterAddr: f.masterAddr, masterPort: f.masterPort, timeoutSeconds: f.distTimeout, threads: f.threads });
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
