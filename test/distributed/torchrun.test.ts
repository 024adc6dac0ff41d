// Node workers under PyTorch's own launcher, as the README promises (torchrun --no-python):
// torchrun's agent hosts the rendezvous store at MASTER_PORT and tells its workers so
// (TORCHELASTIC_USE_AGENT_STORE); rank 0 used to try to host a second one there and failed
// with "address already in use". Needs a Python with torch (Debian: python3-torch); skipped
// without one.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateDataset, info } from '../../dist/index.js';

const python = process.env.LEMUR_TEST_PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch.distributed.run'], { stdio: 'ignore' }).status === 0;
const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const torchrun = fileURLToPath(new URL('./torchrun.py', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(python, [torchrun, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!hasTorch || info().build.distributed === 'none')('torchrun --no-python node lemur', () => {
  let dir = '';
  const port = 33000 + (process.pid % 1000);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lemur-torchrun-'));
    await generateDataset(join(dir, 'data'), { numDocuments: 300, numUsers: 60, numSamples: 1500, historyLength: 12, seed: 2 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('check-distributed: the workers join the agent\'s store, every collective passes', async () => {
    const r = await run(['--nproc_per_node', '2', '--master_port', String(port), '--no_python', process.execPath, cli, 'check-distributed']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rank 0 of 2: gloo on cpu, 9 collectives/);
  });

  it('train: one job, one results table (rank 0 speaks for it), both shards', async () => {
    const ck = join(dir, 'run');
    const r = await run(['--nproc_per_node', '2', '--master_port', String(port + 3), '--no_python', process.execPath, cli,
      'train', '--data', join(dir, 'data'), '--preset', 'lemur', '--set', 'embeddingDim=16', '--batch-size', '64', '--no-early-stopping', '--no-report', '--steps', '3', '--checkpoint', ck]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/^lemur +0\.\d+/gm)).toHaveLength(1);
    expect(readdirSync(join(ck, 'lemur', 'step-000000003')).filter((f) => f.startsWith('shard-')).sort()).toEqual(['shard-00000-of-00002.pt', 'shard-00001-of-00002.pt']);
  });
});
