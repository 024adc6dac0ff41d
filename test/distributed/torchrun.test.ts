// Node workers under PyTorch's own launcher, as the README promises (torchrun --no-python):
// torchrun's agent hosts the rendezvous store at MASTER_PORT and tells its workers so
// (TORCHELASTIC_USE_AGENT_STORE); rank 0 used to try to host a second one there and failed
// with "address already in use". Needs a Python with torch (Debian: python3-torch); skipped
// without one.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateDataset, info } from '../../dist/index.js';

const python = process.env.LEMUR_TEST_PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch.distributed.run'], { stdio: 'ignore' }).status === 0;
const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const torchrun = fileURLToPath(new URL('./torchrun.py', import.meta.url));

function run(args: string[], onStart?: () => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.OMP_NUM_THREADS;  // torchrun sets 1 for each worker when it is unset
    const child = spawn(python, [torchrun, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    onStart?.();
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

  it('a worker killed mid-run: torchrun restarts the job (--max_restarts), --auto-resume continues it from the last checkpoint', async () => {
    const ck = join(dir, 'elastic');
    let killed = 0;
    const watch = setInterval(() => {
      if (killed || !existsSync(join(ck, 'lemur', 'step-000000006'))) return;
      // the workers of this job: node processes whose command line names its checkpoint folder
      const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8');
          return argv.includes(ck) && argv.includes('dist/cli.js') && !argv.includes('torchrun.py');
        } catch {
          return false;
        }
      });
      if (pids.length === 0) return;
      killed = Number(pids.at(-1));
      process.kill(killed, 'SIGKILL');
    }, 100);
    const r = await run(['--nproc_per_node', '2', '--max_restarts', '1', '--master_port', String(port + 6), '--no_python', process.execPath, cli,
      'train', '--data', join(dir, 'data'), '--preset', 'lemur', '--set', 'embeddingDim=16', '--batch-size', '64', '--no-early-stopping', '--no-report',
      '--steps', '16', '--checkpoint', ck, '--checkpoint-every', '3', '--auto-resume']).finally(() => clearInterval(watch));
    expect(killed).toBeGreaterThan(0);
    if (r.code !== 0 || !/has exited/.test(r.stderr)) console.log(r.stderr);
    expect(r.code, r.stderr).toBe(0);
    // the survivor named the dead rank; the restarted job resumed from a checkpoint and finished
    expect(r.stderr).toMatch(/rank [01] \(pid \d+ on this machine\) has exited/);
    expect(r.stderr).not.toMatch(/unexpected error/);  // a distributed failure is the user's to read, not a bug
    expect(r.stderr).toMatch(/continuing the run in .* \(--auto-resume\)/);
    expect(r.stderr).toMatch(/resuming lemur at step (6|9|12)/);
    expect(existsSync(join(ck, 'lemur', 'step-000000016'))).toBe(true);
  });
});
