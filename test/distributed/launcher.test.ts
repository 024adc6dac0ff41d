// lemur train --nproc: the local launcher starts the workers with torchrun's environment,
// shows one job's output, leaves one run folder with every rank's shard; a run saved by 2
// workers resumes in one process; a failed worker is named and the others are stopped.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { workerArgs } from '../../dist/cli/launch.js';
import { generateDataset, info } from '../../dist/index.js';
import { runCli } from '../cli/helpers.js';

const hasGloo = info().build.distributed !== 'none';

describe('workerArgs', () => {
  it('drops the launcher flags (with their values, in both spellings) and sets the threads', () => {
    expect(workerArgs(['train', '--data', 'd', '--nproc', '2', '--master-port=29501', '--replicate', '--threads', '4', '--steps', '3'], 1)).toEqual([
      'train', '--data', 'd', '--steps', '3', '--threads', '1',
    ]);
  });
});

describe.skipIf(!hasGloo)('lemur train --nproc 2', () => {
  let dir = '';
  const port = String(31000 + Math.floor(Math.random() * 1000));
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lemur-launch-'));
    await generateDataset(join(dir, 'data'), { numDocuments: 300, numUsers: 60, numSamples: 1500, historyLength: 12, seed: 2 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('trains with 2 workers into one run folder, which resumes in one process', async () => {
    const ck = join(dir, 'run');
    const base = ['--data', join(dir, 'data'), '--preset', 'lemur', '--set', 'embeddingDim=16', '--batch-size', '64', '--no-early-stopping', '--no-report'];
    const r = await runCli(['train', ...base, '--steps', '6', '--nproc', '2', '--master-port', port, '--checkpoint', ck]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/^lemur /gm)?.length).toBe(1);  // one results table: rank 0's
    const step = join(ck, 'lemur', 'step-000000006');
    expect(readdirSync(step).filter((f) => f.startsWith('shard-')).length).toBe(2);
    expect(existsSync(join(ck, 'run.json'))).toBe(true);
    const resumed = await runCli(['train', '--resume', '--checkpoint', ck, '--steps', '8', '--no-report']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(existsSync(join(ck, 'lemur', 'step-000000008'))).toBe(true);
  });

  it('two launchers as two nodes (--nnodes 2 --node-rank 0|1, master by address): one job, one run folder', async () => {
    // both "machines" on this one, the checkpoint folder shared as it must be between machines
    const ck = join(dir, 'run-2nodes');
    const p = String(Number(port) + 13);
    const base = ['train', '--data', join(dir, 'data'), '--preset', 'lemur', '--set', 'embeddingDim=16', '--batch-size', '64', '--no-early-stopping', '--no-report',
      '--steps', '4', '--nproc', '1', '--nnodes', '2', '--master-addr', '127.0.0.1', '--master-port', p, '--checkpoint', ck];
    const [n0, n1] = await Promise.all([runCli([...base, '--node-rank', '0']), runCli([...base, '--node-rank', '1'])]);
    expect(n0.code, n0.stderr).toBe(0);
    expect(n1.code, n1.stderr).toBe(0);
    expect(n0.stdout.match(/^lemur /gm)?.length).toBe(1);  // the results table: on node 0 (rank 0) only
    expect(n1.stdout.match(/^lemur /gm)).toBeNull();
    const step = join(ck, 'lemur', 'step-000000004');
    expect(readdirSync(step).filter((f) => f.startsWith('shard-')).sort()).toEqual(['shard-00000-of-00002.pt', 'shard-00001-of-00002.pt']);
  });

  it('a worker that fails is named, and the launcher exits non-zero', async () => {
    // an unknown preset fails every worker at start: the first to exit is named
    const r = await runCli(['train', '--data', join(dir, 'data'), '--preset', 'nonesuch', '--nproc', '2', '--master-port', String(Number(port) + 7), '--no-report']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown preset 'nonesuch'/);
    expect(r.stderr).toMatch(/lemur: rank [01] \(pid \d+\) exited with code \d+; stopping the other workers/);
  });
});
