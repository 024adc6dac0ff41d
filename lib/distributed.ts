/**
 * Data-parallel training settings: which rank this process is, how many there are, where
 * rank 0 hosts the rendezvous. The same variables torchrun and a Kubernetes PyTorchJob set
 * (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), or Slurm's under srun, so those
 * launchers start Node workers unchanged; `lemur train --nproc N` sets them itself.
 */
import { createHash } from 'node:crypto';

import { LemurError } from './errors.js';
import { native, type CollectivesReport } from './native.js';

export type { CollectivesReport } from './native.js';

export interface DistributedOptions {
  /** This process's rank, 0 .. worldSize - 1 (RANK). */
  rank: number;
  /** Number of processes in the job (WORLD_SIZE). */
  worldSize: number;
  /** Rank on this machine (LOCAL_RANK); informational on CPU (it picks the GPU on CUDA). */
  localRank?: number;
  /** Where rank 0 listens for the rendezvous (MASTER_ADDR; default 127.0.0.1). */
  masterAddr?: string;
  /** Its port (MASTER_PORT; default 29500). */
  masterPort?: number;
  /**
   * Seconds a rank waits for the others at the rendezvous and in every collective before it
   * stops with an error naming the collective and the rank that stopped (LEMUR_DIST_TIMEOUT;
   * default 180).
   */
  timeoutSeconds?: number;
  /**
   * ID tables: 'sharded' (default; row-wise across the ranks, each holds 1/worldSize of the
   * rows and their optimizer state, rows travel by all-to-all) or 'replicated' (every rank
   * holds every row; updates by all-gather; for small tables). Takes effect when the model is
   * built with it (Lemur.create / Lemur.load); joinGroup() on a built model replicates.
   */
  tables?: 'sharded' | 'replicated';
  /**
   * Memory bank: 'sharded' (default; by document id, writes go to the owner, each step's
   * history rows are fetched from their owners once, deduplicated) or 'replicated'.
   */
  bank?: 'sharded' | 'replicated';
  /**
   * SQDC's in-batch negatives from every rank (default true: the contrast of N ranks x batch
   * B equals one process's with batch N B; its traffic grows with N), or from each rank's own
   * batch only (LEMUR_DIST_GLOBAL_NEGATIVES=0).
   */
  globalNegatives?: boolean;
  /**
   * Send the dense gradients in buckets while backward still runs (default true), instead of
   * all at once after it (LEMUR_DIST_OVERLAP=0).
   */
  overlap?: boolean;
  /**
   * Which c10d backend carries CUDA tensors (LEMUR_DIST_BACKEND): 'auto' (default: 'nccl' for
   * a CUDA model when this build has NCCL, see `info().build.distributed`, else 'gloo'),
   * 'nccl' (one GPU per rank; CPU tensors and control values still travel by Gloo, as with
   * PyTorch's "cpu:gloo,cuda:nccl"), or 'gloo' (CUDA tensors staged through host memory; lets
   * several ranks share one GPU).
   */
  backend?: 'auto' | 'gloo' | 'nccl';
}

export type ResolvedDistributed = Required<DistributedOptions>;

const KEYS = ['rank', 'worldSize', 'localRank', 'masterAddr', 'masterPort', 'timeoutSeconds', 'tables', 'bank', 'globalNegatives', 'overlap', 'backend'] as const;

function integer(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new LemurError(`distributed.${name} must be an integer in [${min}, ${max}], got ${typeof v === 'string' ? `'${v}'` : String(v)}`);
  return v;
}

/** Checks and completes distributed options; throws a LemurError naming the bad field. */
export function resolveDistributed(o: DistributedOptions): ResolvedDistributed {
  if (o === null || typeof o !== 'object') throw new LemurError(`distributed must be an object, got ${o === null ? 'null' : typeof o}`);
  for (const k of Object.keys(o))
    if (!(KEYS as readonly string[]).includes(k)) throw new LemurError(`distributed: unknown option '${k}' (known: ${KEYS.join(', ')})`);
  const worldSize = integer('worldSize', o.worldSize, 1, 65536);
  const rank = integer('rank', o.rank, 0, worldSize - 1);
  const localRank = integer('localRank', o.localRank ?? rank, 0, worldSize - 1);
  const masterAddr = o.masterAddr ?? '127.0.0.1';
  if (typeof masterAddr !== 'string' || masterAddr.length === 0) throw new LemurError(`distributed.masterAddr must be a host name or address, got ${String(masterAddr)}`);
  const masterPort = integer('masterPort', o.masterPort ?? 29500, 1, 65535);
  const timeoutSeconds = o.timeoutSeconds ?? 180;
  if (typeof timeoutSeconds !== 'number' || !Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)
    throw new LemurError(`distributed.timeoutSeconds must be a positive number, got ${String(timeoutSeconds)}`);
  const tables = o.tables ?? 'sharded';
  if (tables !== 'sharded' && tables !== 'replicated') throw new LemurError(`distributed.tables must be 'sharded' or 'replicated', got ${JSON.stringify(tables)}`);
  const bank = o.bank ?? 'sharded';
  if (bank !== 'sharded' && bank !== 'replicated') throw new LemurError(`distributed.bank must be 'sharded' or 'replicated', got ${JSON.stringify(bank)}`);
  const globalNegatives = o.globalNegatives ?? true;
  if (typeof globalNegatives !== 'boolean') throw new LemurError(`distributed.globalNegatives must be true or false, got ${JSON.stringify(globalNegatives)}`);
  const overlap = o.overlap ?? true;
  if (typeof overlap !== 'boolean') throw new LemurError(`distributed.overlap must be true or false, got ${JSON.stringify(overlap)}`);
  const backend = o.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'gloo' && backend !== 'nccl') throw new LemurError(`distributed.backend must be 'auto', 'gloo' or 'nccl', got ${JSON.stringify(backend)}`);
  return { rank, worldSize, localRank, masterAddr, masterPort, timeoutSeconds, tables, bank, globalNegatives, overlap, backend };
}

/**
 * Distributed options from the environment, as torchrun sets it; undefined when WORLD_SIZE
 * is unset (a single-process run). A variable that is set but malformed is an error naming it.
 */
export function distributedFromEnv(env: NodeJS.ProcessEnv = process.env): ResolvedDistributed | undefined {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '') env = slurmEnv(env) ?? env;
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '') return undefined;
  const num = (name: string, fallback?: number): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!/^\s*[0-9.]+\s*$/.test(v) || !Number.isFinite(n)) throw new LemurError(`environment variable ${name} must be a number, got '${v}'`);
    return n;
  };
  if (env.RANK === undefined || env.RANK === '') throw new LemurError('environment: WORLD_SIZE is set but RANK is not (both are needed; torchrun sets them)');
  return resolveDistributed({
    rank: num('RANK')!,
    worldSize: num('WORLD_SIZE')!,
    localRank: num('LOCAL_RANK', num('RANK')),
    masterAddr: env.MASTER_ADDR || '127.0.0.1',
    masterPort: num('MASTER_PORT', 29500),
    timeoutSeconds: num('LEMUR_DIST_TIMEOUT', 180),
    ...(env.LEMUR_DIST_TABLES ? { tables: env.LEMUR_DIST_TABLES as 'sharded' | 'replicated' } : {}),
    ...(env.LEMUR_DIST_BANK ? { bank: env.LEMUR_DIST_BANK as 'sharded' | 'replicated' } : {}),
    ...(env.LEMUR_DIST_GLOBAL_NEGATIVES ? { globalNegatives: !['0', 'false'].includes(env.LEMUR_DIST_GLOBAL_NEGATIVES) } : {}),
    ...(env.LEMUR_DIST_OVERLAP ? { overlap: !['0', 'false'].includes(env.LEMUR_DIST_OVERLAP) } : {}),
    ...(env.LEMUR_DIST_BACKEND ? { backend: env.LEMUR_DIST_BACKEND as 'auto' | 'gloo' | 'nccl' } : {}),
  });
}

/**
 * The first host of a Slurm host list: "node[03-05,09],gpu1" gives "node03" (zero padding
 * kept), "gpu1,gpu2" gives "gpu1", "rack[2-3]-n[1-4]" gives "rack2-n1".
 */
export function firstSlurmHost(list: string): string {
  let depth = 0;
  let end = list.length;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === '[') depth++;
    else if (list[i] === ']') depth--;
    else if (list[i] === ',' && depth === 0) {
      end = i;
      break;
    }
  }
  // each bracket: its first number ("[07-10,12]" -> "07")
  return list.slice(0, end).trim().replace(/\[([^\]]*)\]/g, (_, r: string) => r.split(',')[0]!.split('-')[0]!);
}

/**
 * torchrun's variables from Slurm's, for workers started by `srun` (one task a worker):
 * RANK = SLURM_PROCID, WORLD_SIZE = the step's tasks, LOCAL_RANK = SLURM_LOCALID, MASTER_ADDR =
 * the job step's first node unless set, MASTER_PORT unless set = 20000 + the job id modulo
 * 20000 (jobs sharing a node do not collide). Only inside an srun step of more than one
 * task (SLURM_STEP_ID set), so a single process in an allocation stays a single process.
 */
function slurmEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
  const tasks = Number(env.SLURM_STEP_NUM_TASKS || env.SLURM_NTASKS);  // the step's tasks
  if (env.SLURM_STEP_ID === undefined || env.SLURM_PROCID === undefined || !(tasks > 1)) return undefined;
  const nodes = env.SLURM_STEP_NODELIST || env.SLURM_JOB_NODELIST || env.SLURM_NODELIST;
  const job = Number(env.SLURM_JOB_ID ?? env.SLURM_JOBID);
  return {
    ...env,
    RANK: env.SLURM_PROCID,
    WORLD_SIZE: String(tasks),
    ...(env.SLURM_LOCALID !== undefined ? { LOCAL_RANK: env.SLURM_LOCALID } : {}),
    MASTER_ADDR: env.MASTER_ADDR || (nodes ? firstSlurmHost(nodes) : '127.0.0.1'),
    MASTER_PORT: env.MASTER_PORT || String(Number.isInteger(job) ? 20000 + (job % 20000) : 29500),
  };
}

/**
 * What every rank must agree on: the resolved configuration (the seed included) and the
 * dataset (its manifest, checksums included). Ranks whose fingerprints differ are refused at
 * start-up instead of training different models in lockstep.
 */
export function trainingFingerprint(config: unknown, manifest: unknown): string {
  return createHash('sha256').update(JSON.stringify(config)).update('\0').update(JSON.stringify(manifest)).digest('hex');
}

/**
 * The device of this rank for a configured one: 'cuda' in a job is this machine's GPU number
 * LOCAL_RANK (wrapping around when there are more workers than GPUs: only backend 'gloo'
 * can share one); 'cpu' and 'cuda:N' stay as they are.
 */
export function rankDevice(device: string, d: ResolvedDistributed): string {
  return device === 'cuda' ? `cuda:${d.localRank % Math.max(1, native().info().cuda.devices.length)}` : device;
}

/**
 * The process group's self-test, for setting up a cluster (like NCCL's own tests): joins a
 * group as `options` says (every rank calls it, e.g. under torchrun or `lemur check-distributed
 * --nproc N`), runs every collective lemur trains with (allreduce, gradient buckets, ragged and
 * empty allgathers, ragged all-to-all, broadcast, barrier) on tensors of `device`, and checks
 * each result against what the ranks' known inputs must give. A world of one still runs every
 * collective through the backend. Resolves with this rank's report; rejects when the group
 * cannot form (the message says why: port, timeout, missing backend, two ranks on one GPU).
 */
export async function checkCollectives(options: DistributedOptions | 'env' = 'env', device = 'cpu'): Promise<CollectivesReport> {
  const d = options === 'env' ? distributedFromEnv() : resolveDistributed(options);
  if (!d) throw new LemurError("checkCollectives('env'): WORLD_SIZE is not set (start it under torchrun, or pass the options)");
  if (typeof device !== 'string' || !/^(cpu|cuda(:\d+)?)$/.test(device)) throw new LemurError(`checkCollectives: device must be 'cpu', 'cuda' or 'cuda:N', got ${JSON.stringify(device)}`);
  const dev = rankDevice(device, d);
  try {
    return await native().checkCollectives({ rank: d.rank, worldSize: d.worldSize, masterAddr: d.masterAddr, masterPort: d.masterPort, timeoutMs: Math.round(d.timeoutSeconds * 1000), backend: d.backend, device: dev });
  } catch (e) {
    throw new LemurError(e instanceof Error ? e.message : String(e));
  }
}
