// The native allocator's statistics and the trim training relies on to keep RSS bounded.
import { describe, expect, it } from 'vitest';

import { memoryStats, releaseMemory } from '../../dist/index.js';

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
