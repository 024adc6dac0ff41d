// Native work off the event loop: serialized per queue, correct under concurrency, and the
// loop keeps turning while it runs.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { native, tensor } from '../../dist/index.js';

describe('Queue', () => {
  it('serializes concurrent calls in submission order, each correct', async () => {
    const q = new (native().Queue)('serial');
    const calls = [];
    for (let i = 0; i < 12; i++) {
      const values = new Float32Array(6).fill(i);
      calls.push(i % 3 === 0 ? q.matmul(64, 2) : q.raggedMeanPool(tensor(values, { shape: [6, 1] }), new BigInt64Array([0n, 3n, 6n])));
    }
    expect(q.pending).toBe(12);
    const results = await Promise.all(calls);
    results.forEach((r, i) => {
      if (i % 3 === 0) expect((r as { gflops: number }).gflops).toBeGreaterThan(0);
      else expect(Array.from((r as { view(): Float32Array }).view())).toEqual([i, i]);
    });
    const trace = q.trace();
    expect(trace.map((t) => t.id)).toEqual([...Array(12).keys()]);
    for (let i = 1; i < trace.length; i++) expect(trace[i]!.startMs).toBeGreaterThanOrEqual(trace[i - 1]!.endMs);
    expect(q.pending).toBe(0);
  });

  it('keeps the event loop ticking during a long native call', async () => {
    const q = new (native().Queue)('long');
    // Doubled until the call lasts (a fixed count took 0.12 s on a CPU with AVX-512 kernels:
    // too short to mean anything); the ticks of the last, long call are what counts.
    for (let iters = 40; ; iters *= 2) {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const started = performance.now();
      const { seconds } = await q.matmul(640, iters);
      clearInterval(timer);
      const elapsed = performance.now() - started;
      if (seconds < 0.3 && iters < 5000) continue;
      expect(seconds).toBeGreaterThan(0.15); // the call was long...
      expect(ticks).toBeGreaterThan((elapsed / 5) * 0.3); // ...and the loop kept turning
      break;
    }
  });

  it('rejects with the torch error and keeps working afterwards', async () => {
    const q = new (native().Queue)('errors');
    await expect(q.raggedMeanPool(tensor(new Float32Array(4), { shape: [4, 1] }), new BigInt64Array([0n, 3n, 2n]))).rejects.toThrow(
      /offsets must be non-decreasing, but offsets\[2\] = 2 < offsets\[1\] = 3/,
    );
    const out = await q.raggedMeanPool(tensor(new Float32Array([2, 4]), { shape: [2, 1] }), new BigInt64Array([0n, 2n]));
    expect(out.sum()).toBe(3);
    expect(q.trace().map((t) => t.failed)).toEqual([true, false]);
  });
});

describe('process lifetime', () => {
  it('Node exits cleanly with queues and models still alive, after failed calls too', () => {
    const script = `
      const { native, tensor, Lemur } = await import(${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)});
      const q = new (native().Queue)('alive');
      for (let i = 0; i < 3; i++) await new (native().Queue)('dropped' + i).matmul(16, 1);
      await q.matmul(32, 1);
      await q.raggedMeanPool(tensor(new Float32Array(2), { shape: [2, 1] }), new BigInt64Array([0n, 3n])).catch(() => {});
      globalThis.keep = q;
      console.log('done');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('done');
    expect(r.status).toBe(0);
  });

  it('process.exit() while native work runs exits with its code, no crash', () => {
    const script = `
      const { native } = await import(${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)});
      const q = new (native().Queue)('busy');
      q.matmul(500, 200).then(() => console.log('finished?'));
      setTimeout(() => process.exit(3), 150);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.signal).toBe(null);
    expect(r.status).toBe(3);
    expect(r.stdout).toBe('');
  });
});
