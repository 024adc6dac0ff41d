// Loading the addon: info() reports the build, and a binary whose LibTorch is gone or changed
// is refused with the rebuild command (never a bare "undefined symbol").
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { info, NativeLoadError, setThreads } from '../../dist/index.js';
import { checkBuildRecord, packageRoot } from '../../dist/native.js';

describe('the native addon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lemur-load-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const record = JSON.parse(readFileSync(join(packageRoot, 'build', 'Release', 'lemur-build.json'), 'utf8'));

  it('info() reports the LibTorch it was built against, threads and devices', () => {
    const i = info();
    expect(i.torch.version).toBe(record.torchVersion);
    expect(i.torch.library).toBe(record.torchLib);
    expect(typeof i.torch.cxx11Abi).toBe('boolean');
    expect(i.threads.intraOp).toBeGreaterThan(0);
    expect(i.threads.blas).toBeGreaterThan(0);
    expect(Array.isArray(i.cuda.devices)).toBe(true);
  });

  it('setThreads: BLAS takes its default (1 beside oneDNN, else intra-op) unless given', () => {
    const before = info().threads;
    // oneDNN takes the products: the BLAS pool stays at 1 (it would only compete for the cores)
    const blasDefault = (intraOp: number) => (before.cpuGemm.startsWith('oneDNN') ? 1 : intraOp);
    try {
      setThreads({ intraOp: 3, blas: 2 });
      expect(info().threads).toMatchObject({ intraOp: 3, blas: 2 });
      setThreads({ intraOp: 3 });  // a new intra-op count resets BLAS to its default
      expect(info().threads).toMatchObject({ intraOp: 3, blas: blasDefault(3) });
      setThreads({ intraOp: 1 });
      expect(info().threads).toMatchObject({ intraOp: 1, blas: 1 });
      setThreads({ blas: 2 });
      expect(info().threads).toMatchObject({ intraOp: 1, blas: 2 });
    } finally {
      setThreads({ intraOp: before.intraOp, blas: before.blas });
    }
  });

  it("default threads: OMP_NUM_THREADS, else the cores shared among this machine's workers (LOCAL_WORLD_SIZE)", () => {
    const threads = (env: Record<string, string>) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { info } from ${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)}; console.log(JSON.stringify(info().threads))`], {
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: '', LOCAL_WORLD_SIZE: '', SLURM_STEP_ID: undefined, SLURM_CPUS_PER_TASK: undefined, ...env },
      });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { cores: number; intraOp: number; blas: number; cpuGemm: string };
    };
    const alone = threads({});
    expect(alone.intraOp).toBe(alone.cores);
    expect(threads({ OMP_NUM_THREADS: '1' })).toMatchObject({ intraOp: 1, blas: 1 });
    expect(threads({ OMP_NUM_THREADS: '3,1' }).intraOp).toBe(3);  // OpenMP's nested list: the first level
    expect(threads({ OMP_NUM_THREADS: '3', LEMUR_CPU_GEMM: 'blas' })).toMatchObject({ intraOp: 3, blas: 3 });  // products on the BLAS: its pool follows
    expect(threads({ OMP_NUM_THREADS: '3' }).blas).toBe(alone.cpuGemm.startsWith('oneDNN') ? 1 : 3);
    expect(threads({ LOCAL_WORLD_SIZE: String(alone.cores) })).toMatchObject({ intraOp: 1, blas: 1 });
    expect(threads({ LOCAL_WORLD_SIZE: String(4 * alone.cores) }).intraOp).toBe(1);
    expect(threads({ OMP_NUM_THREADS: '2', LOCAL_WORLD_SIZE: String(alone.cores) }).intraOp).toBe(2);
    expect(threads({ SLURM_STEP_ID: '0', SLURM_CPUS_PER_TASK: '3' }).intraOp).toBe(3);  // srun --cpus-per-task 3
    expect(threads({ SLURM_CPUS_PER_TASK: '3' }).intraOp).toBe(alone.cores);  // outside a step: not a task's
  });

  it.skipIf(spawnSync('taskset', ['-c', '0', 'true']).status !== 0)('cores: the ones this process may run on (taskset, cpusets, Slurm), not the machine\'s', () => {
    const r = spawnSync('taskset', ['-c', '0', process.execPath, '--input-type=module', '-e', `import { info } from ${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)}; console.log(JSON.stringify(info().threads))`], {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '', LOCAL_WORLD_SIZE: '' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ cores: 1, intraOp: 1, blas: 1 });
  });

  it('accepts the build record of this build', () => {
    writeFileSync(join(dir, 'lemur-build.json'), JSON.stringify(record));
    expect(() => checkBuildRecord(join(dir, 'lemur.node'))).not.toThrow();
  });

  it('refuses a binary whose LibTorch is gone, naming the rebuild command', () => {
    writeFileSync(join(dir, 'lemur-build.json'), JSON.stringify({ ...record, torchLib: '/nonexistent/libtorch_cpu.so.9' }));
    expect(() => checkBuildRecord(join(dir, 'lemur.node'))).toThrow(NativeLoadError);
    expect(() => checkBuildRecord(join(dir, 'lemur.node'))).toThrow(/no longer there.*npm rebuild lemur --build-from-source/);
  });

  it('refuses a binary whose LibTorch changed in place', () => {
    writeFileSync(join(dir, 'lemur-build.json'), JSON.stringify({ ...record, torchLibSize: record.torchLibSize + 1 }));
    expect(() => checkBuildRecord(join(dir, 'lemur.node'))).toThrow(/has changed since.*--build-from-source/);
  });
});
