// The tensor bridge: zero-copy in both directions, lifetimes across GC, and errors.
import { describe, expect, it } from 'vitest';

import { bridgeStats, native, tensor } from '../../dist/index.js';
import { collectGarbage } from '../helpers.js';

describe('zero-copy from JS to torch', () => {
  it('a write on either side is seen on the other', () => {
    const a = new Float32Array([1, 2, 3, 4]);
    const t = tensor(a, { shape: [2, 2] });
    expect(t.shape).toEqual([2, 2]);
    expect(t.dtype).toBe('float32');
    a[0] = 10;
    expect(t.sum()).toBe(19);
    t.add_(1);
    expect(Array.from(a)).toEqual([11, 3, 4, 5]);
  });

  it('honours byteOffset and leaves the bytes around the view alone', () => {
    const buf = new ArrayBuffer(48);
    const whole = new Float32Array(buf);
    whole.fill(-1);
    const part = new Float32Array(buf, 8, 4);
    const t = tensor(part);
    t.fill_(7);
    expect(Array.from(whole)).toEqual([-1, -1, 7, 7, 7, 7, -1, -1, -1, -1, -1, -1]);
  });

  it('maps every supported TypedArray to its dtype', () => {
    expect(tensor(new Float64Array([1.5, 2.5])).dtype).toBe('float64');
    expect(tensor(new Int32Array([1, 2])).dtype).toBe('int32');
    expect(tensor(new BigInt64Array([1n, 2n])).dtype).toBe('int64');
    expect(tensor(new Uint8Array([1, 2])).dtype).toBe('uint8');
    expect(tensor(new Int8Array([1, 2])).dtype).toBe('int8');
    expect(tensor(new Int16Array([1, 2])).dtype).toBe('int16');
    expect(tensor(new BigInt64Array([5n, 7n])).sum()).toBe(12);
    // 1.0 in bfloat16 is 0x3F80, in float16 0x3C00
    expect(tensor(new Uint16Array([0x3f80, 0x4000]), { dtype: 'bfloat16' }).sum()).toBe(3);
    expect(tensor(new Uint16Array([0x3c00, 0x3c00]), { dtype: 'float16' }).sum()).toBe(2);
    expect(tensor(new Uint16Array([0x3f80])).dtype).toBe('bfloat16');
  });
});

describe('zero-copy from torch to JS', () => {
  it('view() of native memory shares it', () => {
    const { out } = native().ops.raggedMeanPool(tensor(new Float32Array([1, 2, 3, 4]), { shape: [2, 2] }), new BigInt64Array([0n, 2n]));
    const v = out.view() as Float32Array;
    expect(Array.from(v)).toEqual([2, 3]);
    out.add_(10);
    expect(Array.from(v)).toEqual([12, 13]);
    v[0] = -5;
    expect(out.sum()).toBe(8);
  });

  it('view() of a borrowed array gives back the same memory', () => {
    const a = new Int32Array([1, 2, 3, 4, 5, 6]);
    const t = tensor(a, { shape: [3, 2] });
    expect(t.view()).toBe(a);
    const v = t.view();
    v[5] = 60;
    expect(a[5]).toBe(60);
  });

  it('copies what JS cannot address directly (non-contiguous)', () => {
    const a = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = tensor(a, { shape: [2, 3] }).transpose(0, 1);
    expect(t.isContiguous).toBe(false);
    expect(Array.from(t.view() as Float32Array)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(t.copy()).not.toBe(a);
  });
});

describe('errors become JS exceptions', () => {
  it('wrong shape names expected and actual', () => {
    expect(() => tensor(new Float32Array(6), { shape: [4, 2] })).toThrow(
      /shape \[4, 2\] needs 8 elements, the Float32Array has 6/,
    );
  });
  it('wrong dtype names both', () => {
    expect(() => tensor(new Float32Array(2), { dtype: 'int32' })).toThrow(
      /Float32Array cannot hold dtype int32 \(expected float32\)/,
    );
    expect(() => tensor(new Uint32Array(2) as unknown as Float32Array)).toThrow(/Uint32Array is not supported/);
  });
  it('a detached buffer is refused', () => {
    const a = new Float32Array(4);
    structuredClone(a.buffer, { transfer: [a.buffer] });
    expect(() => tensor(a)).toThrow(/detached/);
  });
  it('torch errors are JS errors without C++ backtraces', () => {
    const a = tensor(new Float32Array(6), { shape: [2, 3] });
    let err: Error | undefined;
    try {
      native().ops.raggedMeanPool(a, new BigInt64Array([0n, 1n]));
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/offsets end at 1 but values has 2 rows/);
    expect(err!.message).not.toMatch(/frame #/);
  });
});

describe('lifetimes', () => {
  it('a tensor outlives the JS array it borrowed', async () => {
    let t: ReturnType<typeof tensor> | undefined;
    (() => {
      const a = new Float64Array(1000).fill(0.5);
      t = tensor(a);
    })();
    await collectGarbage();
    new Float64Array(100000).fill(9); // reuse pressure on the heap
    expect(t!.sum()).toBe(500);
  });

  it('10,000 bridged tensors leave no growth in live native objects', async () => {
    await collectGarbage();
    const before = bridgeStats();
    for (let i = 0; i < 10_000; i++) {
      const t = tensor(new Float32Array(16).fill(i), { shape: [16, 1] });
      t.view();
      const { out } = native().ops.raggedMeanPool(t, new BigInt64Array([0n, 16n]));
      out.view();
    }
    await collectGarbage(10);
    const after = bridgeStats();
    expect(after.borrowed - before.borrowed).toBeLessThanOrEqual(0);
    expect(after.exported - before.exported).toBeLessThanOrEqual(0);
    expect(after.wrapped - before.wrapped).toBeLessThanOrEqual(0);
  });

  it('buffers released by tensors dying on a worker thread are given back on the JS thread', async () => {
    await collectGarbage();
    const before = bridgeStats().borrowed;
    const q = new (native().Queue)('lifetime');
    const pending = [];
    for (let i = 0; i < 200; i++) pending.push(q.raggedMeanPool(tensor(new Float32Array(8).fill(1), { shape: [8, 1] }), new BigInt64Array([0n, 4n, 8n])));
    const outs = await Promise.all(pending);
    expect(outs.every((o) => o.sum() === 2)).toBe(true);
    await collectGarbage(10);
    expect(bridgeStats().borrowed - before).toBeLessThanOrEqual(0);
  });
});
