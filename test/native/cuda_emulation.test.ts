// The CUDA kernels' logic, checked on the CPU: test/native/cuda_emu/run.sh compiles every
// kernel file under an emulation of the CUDA runtime, wmma and cp.async (threads of a block are
// threads, shared memory is a buffer, async copies land only at the wait) and compares each
// launcher's output with float64 references (attention forward/backward on CUDA and tensor
// cores, bank gather/scatter, expand_rows and its deterministic segment sum). It catches index,
// tiling, masking and synchronisation mistakes on machines without a GPU; speed needs a GPU.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./cuda_emu/run.sh', import.meta.url));

function gxxMajor(): number {
  try {
    return Number(execFileSync('g++', ['-dumpversion'], { encoding: 'utf8' }).trim().split('.')[0]);
  } catch {
    return 0;
  }
}

describe.skipIf(gxxMajor() < 12)('CUDA kernels under the CPU emulation', () => {
  it('match the float64 references', () => {
    const run = spawnSync('sh', [script], { encoding: 'utf8', maxBuffer: 16 << 20 });
    const out = `${run.stdout}${run.stderr}`;
    const failed = out.split('\n').filter((line) => line.startsWith('FAIL'));
    expect(failed, out.slice(-4000)).toEqual([]);
    expect(run.status, out.slice(-4000)).toBe(0);
    const summary = /(\d+) passed, (\d+) failed/.exec(out);
    expect(summary, out.slice(-4000)).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThanOrEqual(101);
    expect(Number(summary![2])).toBe(0);
  }, 600_000);
});
