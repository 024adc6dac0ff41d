// The process group's self-test (checkCollectives): every collective lemur trains with, on
// 1 and 3 ranks over Gloo on 127.0.0.1 (ragged and empty parts included), the backend
// choices refused with messages that say why, and, where a GPU is visible, NCCL on it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { checkCollectives, generateDataset, info, Lemur, openDataset, type CollectivesReport } from '../../dist/index.js';

const hasGloo = info().build.distributed !== 'none';
const hasNccl = info().build.distributed === 'gloo+nccl';
const hasCuda = info().cuda.available;
const index = new URL('../../dist/index.js', import.meta.url).href;
let port = 31700 + Math.floor(Math.random() * 2000);
const nextPort = () => (port += 3);

interface Rank {
  code: number | null;
  report?: CollectivesReport;
  error?: string;
  stderr: string;
}

/** `world` worker processes, each calling checkCollectives('env', device). */
function ranks(world: number, device: string, env: Record<string, string> = {}): Promise<Rank[]> {
  const p = String(nextPort());
  const script = `import { checkCollectives } from ${JSON.stringify(index)};
    checkCollectives('env', ${JSON.stringify(device)}).then((r) => console.log(JSON.stringify({ report: r })), (e) => console.log(JSON.stringify({ error: e.message })));`;
  return Promise.all(
    Array.from({ length: world }, (_, r) =>
      new Promise<Rank>((resolve) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          env: { ...process.env, WORLD_SIZE: String(world), RANK: String(r), MASTER_PORT: p, LEMUR_DIST_TIMEOUT: '60', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('close', (code) => resolve({ code, stderr: err, ...(out.trim() ? JSON.parse(out.trim().split('\n').pop()!) : {}) }));
      }),
    ),
  );
}

const NAMES = [
  'allreduce (float and int64)',
  'gradient buckets (async allreduce)',
  'allgather (ragged rows)',
  'allgather (int64 ids, some ranks empty)',
  'allgather (every rank empty)',
  'all-to-all (ragged rows, some empty)',
  'broadcast (from the last rank)',
  'allgather of values',
  'barrier',
];

function expectAllPassed(r: CollectivesReport, backend: string, world: number) {
  expect(r.backend).toBe(backend);
  expect(r.worldSize).toBe(world);
  expect(r.checks.map((c) => c.name)).toEqual(NAMES);
  for (const c of r.checks) expect(c, c.detail).toMatchObject({ ok: true, maxError: 0 });
}

describe.skipIf(!hasGloo)('checkCollectives', () => {
  it('runs every collective through Gloo in a world of one', async () => {
    const r = await checkCollectives({ rank: 0, worldSize: 1, masterPort: nextPort() });
    expectAllPassed(r, 'gloo', 1);
    expect(r.device).toBe('cpu');
  });

  it('3 ranks agree on every collective, ragged and empty parts included', async () => {
    const all = await ranks(3, 'cpu');
    for (const [k, r] of all.entries()) {
      expect(r.error ?? '', r.stderr).toBe('');
      expect(r.report!.rank).toBe(k);
      expectAllPassed(r.report!, 'gloo', 3);
    }
  });

  it('refuses a backend it cannot run, saying why', async () => {
    await expect(checkCollectives({ rank: 0, worldSize: 1, masterPort: nextPort(), backend: 'nccl' }, 'cpu')).rejects.toThrow(
      hasNccl ? /backend 'nccl' moves CUDA tensors, but rank 0's model is on the CPU/ : /backend 'nccl' was asked for, but this build of lemur has no NCCL/,
    );
    await expect(checkCollectives({ rank: 0, worldSize: 1, backend: 'mpi' as 'gloo' })).rejects.toThrow(/distributed\.backend must be 'auto', 'gloo' or 'nccl', got "mpi"/);
    await expect(checkCollectives({ rank: 0, worldSize: 1 }, 'tpu')).rejects.toThrow(/device must be 'cpu', 'cuda' or 'cuda:N', got "tpu"/);
  });

  it('lemur check-distributed --nproc 2 runs it across the launched workers; a backend it lacks fails with the fix', () => {
    const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
    const ok = spawnSync(process.execPath, [cli, 'check-distributed', '--nproc', '2', '--master-port', String(nextPort())], { encoding: 'utf8', env: { ...process.env, WORLD_SIZE: '' } });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/rank 0 of 2: gloo on cpu, 9 collectives/);
    expect(ok.stdout.match(/^ {2}ok {4}/gm)).toHaveLength(9);
    if (!hasNccl) {
      const bad = spawnSync(process.execPath, [cli, 'check-distributed', '--backend', 'nccl'], { encoding: 'utf8', env: { ...process.env, WORLD_SIZE: '' } });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/^lemur: distributed: backend 'nccl' was asked for, but this build of lemur has no NCCL/);
    }
  });

  it("a model joining with a backend it cannot run is refused before training, with code 'LEMUR_USER_ERROR'", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lemur-backend-'));
    try {
      await generateDataset(join(dir, 'data'), { numDocuments: 50, numUsers: 10, numSamples: 200, historyLength: 4, seed: 1 });
      const data = openDataset(join(dir, 'data'));
      const joined = Lemur.create(data, { preset: 'dlrm-mlp' }, { distributed: { rank: 0, worldSize: 1, masterPort: nextPort(), backend: 'nccl' } });
      await expect(joined).rejects.toThrow(hasNccl ? /model is on the CPU/ : /has no NCCL/);
      await expect(joined).rejects.toMatchObject({ code: 'LEMUR_USER_ERROR' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // On a GPU machine (the CUDA build of scripts/gpu-check.sh):
  it.skipIf(!hasCuda)('CUDA tensors: NCCL in a world of one; two ranks sharing one GPU over Gloo', async () => {
    if (hasNccl) expectAllPassed(await checkCollectives({ rank: 0, worldSize: 1, masterPort: nextPort(), backend: 'nccl' }, 'cuda:0'), 'nccl', 1);
    for (const r of await ranks(2, 'cuda:0', { LEMUR_DIST_BACKEND: 'gloo' })) {
      expect(r.error ?? '', r.stderr).toBe('');
      expectAllPassed(r.report!, 'gloo', 2);
      expect(r.report!.device).toBe('cuda:0');
    }
  });

  it.skipIf(!hasNccl)('NCCL refuses two ranks on one GPU at start-up, naming them', async () => {
    for (const r of await ranks(2, 'cuda:0', { LEMUR_DIST_BACKEND: 'nccl' }))
      expect(r.error).toMatch(/ranks 0 and 1 are both on one GPU \(cuda:0 and cuda:0 of their processes\), and NCCL needs one GPU per rank/);
  });
});
