// The native allocator's statistics, the trim training relies on to keep RSS bounded, and
// the cache of CPU tensor blocks between LibTorch and malloc.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateDataset, memoryStats, releaseMemory, type MemoryStats } from '../../dist/index.js';

describe.runIf(process.platform === 'linux')('native memory', () => {
  it('reports glibc malloc bytes in use and free', () => {
    const m = memoryStats();
    expect(m.allocator).toBe('glibc');
    expect(m.inUse!).toBeGreaterThan(1 << 20); // LibTorch alone holds more than 1 MB
    expect(m.free!).toBeGreaterThanOrEqual(0);
    expect(m.arena!).toBeGreaterThanOrEqual(m.releasable!);
  });

  it('releaseMemory() hands the free top of the heap back to the system', () => {
    releaseMemory();
    // malloc_trim leaves at most the top pad (128 KB by default) plus a page at the top
    expect(memoryStats().releasable!).toBeLessThan(1 << 20);
  });
});

describe.runIf(process.platform === 'linux')('the CPU tensor cache', () => {
  // One training script, run in this process's children with and without the cache: the
  // same model must come out (the cache only changes where blocks come from).
  const script = (dir: string) => `
    import { Lemur, memoryStats, openDataset, releaseMemory, setThreads } from ${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)};
    setThreads({ intraOp: 1 });
    const data = openDataset(${JSON.stringify(dir)});
    const model = await Lemur.create(data, { preset: 'lemur', seed: 4, embeddingDim: 32, features: { idDim: 8 },
      docEncoder: { layers: 2, width: 32, heads: 2 }, decoder: { layers: 1, heads: 2, queries: 2, width: 32 },
      longer: { layers: 1, heads: 2, globalTokens: 2, recent: 4, width: 32 }, backbone: { tokens: 4, width: 32, layers: 1, mlpHidden: [32] },
      memoryBank: { stalenessProbe: 0 }, train: { batchSize: 64 } });
    await model.fit({ steps: 12, earlyStopping: false });
    const trained = memoryStats().tensorCache;
    const p = await model.predict('test');
    releaseMemory();
    const released = memoryStats().tensorCache;
    console.log(JSON.stringify({ trained, released, scores: Array.from(p.scores) }));`;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lemur-cache-'));
    await generateDataset(join(dir, 'data'), { numDocuments: 200, numUsers: 50, numSamples: 1500, historyLength: 12, seed: 3 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (allocator?: string) => {
    const env = { ...process.env };
    if (allocator) env.LEMUR_CPU_ALLOCATOR = allocator;
    else delete env.LEMUR_CPU_ALLOCATOR;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(join(dir, 'data'))], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { trained?: MemoryStats['tensorCache']; released?: MemoryStats['tensorCache']; scores: number[] };
  };

  it('serves training steps from reused blocks, empties on releaseMemory(), and changes no result', () => {
    const cached = run();
    const system = run('system');
    // steps after the first reuse the blocks of the steps before
    expect(cached.trained!.hits).toBeGreaterThan(cached.trained!.misses);
    expect(cached.trained!.peakInUse).toBeGreaterThan(1 << 20);
    expect(cached.released!.cached).toBe(0);
    // LEMUR_CPU_ALLOCATOR=system keeps LibTorch's own allocator
    expect(system.trained).toBeUndefined();
    // the same model either way, to the bit
    expect(cached.scores.length).toBeGreaterThan(100);
    expect(cached.scores).toEqual(system.scores);
  });
});
