// Distributed settings: torchrun's environment read as torchrun sets it, and every bad value
// refused with an error naming the variable or field and what was given.
import { describe, expect, it } from 'vitest';

import { firstSlurmHost } from '../../dist/distributed.js';
import { distributedFromEnv, LemurError, resolveDistributed } from '../../dist/index.js';

describe('distributed options', () => {
  it("reads torchrun's variables, with defaults for the optional ones", () => {
    expect(distributedFromEnv({})).toBeUndefined();
    expect(distributedFromEnv({ RANK: '1', WORLD_SIZE: '4', LOCAL_RANK: '1', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29400', LEMUR_DIST_TIMEOUT: '30' })).toEqual({
      rank: 1, worldSize: 4, localRank: 1, masterAddr: '10.0.0.1', masterPort: 29400, timeoutSeconds: 30,
      tables: 'sharded', bank: 'sharded', globalNegatives: true, overlap: true, backend: 'auto',
    });
    expect(distributedFromEnv({ RANK: '0', WORLD_SIZE: '2', LEMUR_DIST_TABLES: 'replicated', LEMUR_DIST_GLOBAL_NEGATIVES: '0', LEMUR_DIST_OVERLAP: 'false', LEMUR_DIST_BACKEND: 'nccl' })).toMatchObject({
      masterAddr: '127.0.0.1', masterPort: 29500, tables: 'replicated', bank: 'sharded', globalNegatives: false, overlap: false, backend: 'nccl',
    });
  });

  it("reads Slurm's variables under srun (torchrun's win; a single process in an allocation stays single)", () => {
    const step = { SLURM_STEP_ID: '0', SLURM_JOB_ID: '123456', SLURM_NTASKS: '8', SLURM_PROCID: '5', SLURM_LOCALID: '1', SLURM_STEP_NODELIST: 'gpu[07-10],login1' };
    expect(distributedFromEnv(step)).toMatchObject({ rank: 5, worldSize: 8, localRank: 1, masterAddr: 'gpu07', masterPort: 20000 + (123456 % 20000) });
    expect(distributedFromEnv({ ...step, MASTER_ADDR: '10.1.1.1', MASTER_PORT: '29400' })).toMatchObject({ masterAddr: '10.1.1.1', masterPort: 29400 });
    expect(distributedFromEnv({ ...step, WORLD_SIZE: '2', RANK: '1' })).toMatchObject({ rank: 1, worldSize: 2 });
    expect(distributedFromEnv({ SLURM_JOB_ID: '1', SLURM_NTASKS: '8', SLURM_PROCID: '0' })).toBeUndefined();  // sbatch's shell, no srun step
    expect(distributedFromEnv({ ...step, SLURM_NTASKS: '1' })).toBeUndefined();
  });

  it.each([
    ['node[03-05,09],gpu1', 'node03'],
    ['gpu1,gpu2', 'gpu1'],
    ['c1', 'c1'],
    ['rack[2-3]-n[1-4]', 'rack2-n1'],
  ])('firstSlurmHost(%s) = %s', (list, host) => {
    expect(firstSlurmHost(list)).toBe(host);
  });

  it.each([
    [{ WORLD_SIZE: '2' }, /WORLD_SIZE is set but RANK is not/],
    [{ RANK: 'one', WORLD_SIZE: '2' }, /RANK must be a number, got 'one'/],
    [{ RANK: '2', WORLD_SIZE: '2' }, /distributed.rank must be an integer in \[0, 1\], got 2/],
    [{ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '70000' }, /distributed.masterPort must be an integer in \[1, 65535\], got 70000/],
    [{ RANK: '0', WORLD_SIZE: '2', LEMUR_DIST_TABLES: 'half' }, /distributed.tables must be 'sharded' or 'replicated', got "half"/],
    [{ RANK: '0', WORLD_SIZE: '2', LEMUR_DIST_BACKEND: 'mpi' }, /distributed.backend must be 'auto', 'gloo' or 'nccl', got "mpi"/],
  ])('refuses the environment %o', (env, message) => {
    expect(() => distributedFromEnv(env)).toThrow(LemurError);
    expect(() => distributedFromEnv(env)).toThrow(message);
  });

  it.each([
    [{ rank: 0, worldSize: 0 }, /worldSize must be an integer in \[1, 65536\], got 0/],
    [{ rank: 0.5, worldSize: 2 }, /rank must be an integer in \[0, 1\], got 0.5/],
    [{ rank: 0, worldSize: 2, timeoutSeconds: -1 }, /timeoutSeconds must be a positive number, got -1/],
    [{ rank: 0, worldSize: 2, globalNegatives: 'yes' }, /globalNegatives must be true or false, got "yes"/],
    [{ rank: 0, worldSize: 2, ranks: 2 }, /unknown option 'ranks'/],
  ])('refuses %o', (o, message) => {
    expect(() => resolveDistributed(o as never)).toThrow(message);
  });
});
