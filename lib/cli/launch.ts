/**
 * `lemur train --nproc N`: the local launcher of a data-parallel job, as torchrun is for
 * PyTorch. It starts N workers running the same command with torchrun's environment (RANK,
 * LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), splits the cores between them, shows
 * rank 0's output (one progress bar for the job), keeps the others' last lines, and when a
 * worker fails it names the rank, stops the others and exits non-zero.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';

import type { Command } from 'commander';

import { integer, say, UsageError } from './common.js';

export interface LaunchOptions {
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr?: string;
  masterPort?: number;
  timeoutSeconds?: number;
  /** torch intra-op threads per worker (default: this machine's cores / nproc, at least 1). */
  threads?: number;
}

/** The flags of a command that starts a job's workers itself (lemur train, lemur check-distributed). */
export interface LaunchFlags {
  nproc?: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  distTimeout?: number;
  backend?: string;
}

/** Adds the launcher's options to `cmd` (what `what` does with them: "train", "check"). */
export function launchOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--nproc <n>', `data-parallel: start n worker processes on this machine (torch threads split between them)${what === 'train' ? '; --batch-size is the global batch' : ''}`, integer(1))
    .option('--nnodes <n>', `data-parallel: machines in the job, each running lemur ${what === 'train' ? 'train' : 'check-distributed'} --nproc with its --node-rank (default 1)`, integer(1))
    .option('--node-rank <r>', "this machine's rank among --nnodes (default 0; rank 0's machine hosts the rendezvous)", integer(0))
    .option('--master-addr <host>', 'address of node 0, where the rendezvous runs (default 127.0.0.1)')
    .option('--master-port <port>', 'its port (default 29500)', integer(1))
    .option('--dist-timeout <seconds>', 'a rank that waits this long for another stops with an error naming it (default 180)', integer(1))
    .option('--backend <name>', 'data-parallel: c10d backend for CUDA tensors: auto (default: nccl when built with it), gloo (can share a GPU) or nccl (one GPU per rank)');
}

/**
 * Puts the flags the workers read from the environment there; when this process is the
 * launcher (--nproc, or --nnodes > 1), runs the workers and resolves to their exit code,
 * else to undefined (this process is a worker, or alone).
 */
export async function launchIfAsked(f: LaunchFlags & { threads?: number }): Promise<number | undefined> {
  if (f.backend !== undefined) {
    if (!['auto', 'gloo', 'nccl'].includes(f.backend)) throw new UsageError(`--backend must be auto, gloo or nccl, got '${f.backend}'`);
    process.env.LEMUR_DIST_BACKEND = f.backend;
  }
  // (also for a worker another launcher started: torchrun ... lemur train --dist-timeout 60)
  if (f.distTimeout !== undefined) process.env.LEMUR_DIST_TIMEOUT = String(f.distTimeout);
  if (f.nproc === undefined && (f.nnodes ?? 1) <= 1) return undefined;
  return launchWorkers({ nproc: f.nproc ?? 1, nnodes: f.nnodes ?? 1, nodeRank: f.nodeRank ?? 0, masterAddr: f.masterAddr, masterPort: f.masterPort, timeoutSeconds: f.distTimeout, threads: f.threads });
}

/** The command line of a worker: this one without the launcher's own flags. */
export function workerArgs(argv: string[], threads: number): string[] {
  // (--backend and --dist-timeout reach the workers in the environment: LEMUR_DIST_BACKEND, LEMUR_DIST_TIMEOUT)
  const launcherFlags = new Set(['--nproc', '--nnodes', '--node-rank', '--master-addr', '--master-port', '--dist-timeout', '--threads', '--backend']);
  const launcherSwitches = new Set(['--replicate', '--no-global-negatives']);  // passed on in the environment
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (launcherSwitches.has(name)) continue;
    if (launcherFlags.has(name)) {
      if (eq < 0) i++;  // its value is the next argument
      continue;
    }
    out.push(a);
  }
  return [...out, '--threads', String(threads)];
}

const KEEP_LINES = 40;

/** Runs the workers of this machine; resolves to the exit code for the launcher. */
export async function launchWorkers(o: LaunchOptions): Promise<number> {
  if (o.nodeRank >= o.nnodes) throw new Error(`--node-rank ${o.nodeRank} must be below --nnodes ${o.nnodes}`);
  const world = o.nproc * o.nnodes;
  const threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / o.nproc));
  const script = process.argv[1]!;
  const args = workerArgs(process.argv.slice(2), threads);
  const port = o.masterPort ?? 29500;
  const children: { rank: number; child: ChildProcess; tail: string[] }[] = [];
  let failed: { rank: number; why: string } | undefined;

  const stopAll = (except: ChildProcess) => {
    for (const c of children) if (c.child !== except && c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGTERM');
    setTimeout(() => {
      for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    }, 5000).unref();
  };

  const exits = [];
  for (let local = 0; local < o.nproc; local++) {
    const rank = o.nodeRank * o.nproc + local;
    const env = {
      ...process.env,
      RANK: String(rank),
      LOCAL_RANK: String(local),
      WORLD_SIZE: String(world),
      LOCAL_WORLD_SIZE: String(o.nproc),
      MASTER_ADDR: o.masterAddr ?? '127.0.0.1',
      MASTER_PORT: String(port),
      ...(o.timeoutSeconds ? { LEMUR_DIST_TIMEOUT: String(o.timeoutSeconds) } : {}),
    };
    const lead = rank === 0;
    const child = spawn(process.execPath, [...process.execArgv, script, ...args], { env, stdio: lead ? 'inherit' : ['ignore', 'ignore', 'pipe'] });
    const entry = { rank, child, tail: [] as string[] };
    children.push(entry);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      for (const line of chunk.split(/\r|\n/)) if (line.trim()) entry.tail.push(line);
      if (entry.tail.length > KEEP_LINES) entry.tail.splice(0, entry.tail.length - KEEP_LINES);
    });
    exits.push(
      new Promise<void>((resolve) => {
        child.on('exit', (code, signal) => {
          if (code === 130 && !signal) {
            failed ??= { rank, why: 'was interrupted' };  // saved its checkpoint and stopped
          } else if ((code !== 0 || signal) && (!failed || failed.why === 'was interrupted')) {
            failed = { rank, why: signal ? `was killed by ${signal}` : `exited with code ${code}` };
            if (!lead && entry.tail.length) say(entry.tail.map((l) => `[rank ${rank}] ${l}`).join('\n'));
            say(`lemur: rank ${rank} (pid ${child.pid}) ${failed.why}; stopping the other workers`);
            stopAll(child);
          }
          resolve();
        });
      }),
    );
  }
  // Ctrl-C reaches every worker (same process group): they agree on the step to stop after,
  // save and exit; the launcher waits for them instead of dying first.
  const onInt = () => {};
  process.on('SIGINT', onInt);
  try {
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', onInt);
  }
  if (failed && children.every((c) => c.child.exitCode === 130)) return 130;  // interrupted, saved
  return failed ? 1 : 0;
}
