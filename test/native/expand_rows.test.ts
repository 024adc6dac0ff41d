// dedup_ids, expand_rows and its deterministic backward segment_sum_rows, against TypeScript
// references.
import { describe, expect, it } from 'vitest';

import { native, tensor } from '../../dist/index.js';
import { cudaAvailable, rng } from '../helpers.js';
import { expectClose, f64, i64 } from './op_helpers.js';

function segmentSumReference(grad: Float64Array, D: number, inverse: number[], numRows: number) {
  const out = new Float64Array(numRows * D);
  inverse.forEach((u, m) => {
    for (let d = 0; d < D; d++) out[u * D + d]! += grad[m * D + d]!;
  });
  return out;
}

describe('dedup_ids (CPU)', () => {
  it('returns sorted unique ids and the inverse', () => {
    const r = rng(1);
    const ids = Array.from({ length: 500 }, () => Math.floor(r() * 60) - 5);
    const { unique, inverse } = native().ops.dedupIds(i64(ids));
    const u = Array.from(unique.copy() as BigInt64Array, Number);
    expect(u).toEqual([...new Set(ids)].sort((a, b) => a - b));
    const inv = Array.from(inverse.copy() as BigInt64Array, Number);
    expect(inv.map((i) => u[i])).toEqual(ids);
  });

  it('all duplicates, one id, none; int32 input', () => {
    const all = native().ops.dedupIds(i64(new Array(9).fill(4)));
    expect(Array.from(all.unique.copy() as BigInt64Array)).toEqual([4n]);
    expect(Array.from(all.inverse.copy() as BigInt64Array)).toEqual(new Array(9).fill(0n));
    expect(native().ops.dedupIds(new BigInt64Array(0)).unique.shape).toEqual([0]);
    const i32 = native().ops.dedupIds(new Int32Array([3, 1, 3]));
    expect(Array.from(i32.unique.copy() as BigInt64Array)).toEqual([1n, 3n]);
    expect(() => native().ops.dedupIds(new Float32Array([1]))).toThrow(/dedup_ids: ids must be int64/);
  });
});

describe('expand_rows / segment_sum_rows (CPU)', () => {
  it('expands rows and sums the gradient of repeated rows (float64, float32)', () => {
    const r = rng(2);
    const U = 17, D = 6, M = 300;
    const inverse = Array.from({ length: M }, (_, m) => (m < 40 ? 0 : m < 60 ? U - 1 : Math.floor(r() * (U - 2))));
    const src = Float64Array.from({ length: U * D }, () => r() * 2 - 1);
    const g = Float64Array.from({ length: M * D }, () => r() * 2 - 1);
    for (const dtype of ['float64', 'float32'] as const) {
      const s = dtype === 'float64' ? tensor(src, { shape: [U, D] }) : tensor(Float32Array.from(src), { shape: [U, D] });
      const go = dtype === 'float64' ? tensor(g, { shape: [M, D] }) : tensor(Float32Array.from(g), { shape: [M, D] });
      const got = native().ops.expandRows(s, i64(inverse), go);
      const want = new Float64Array(M * D);
      inverse.forEach((u, m) => want.set(f64(s).subarray(u * D, u * D + D), m * D));
      expectClose(f64(got.out), want, 0, 0, 'out');
      const gref = segmentSumReference(f64(go), D, inverse, U);
      expectClose(f64(got.gradSrc!), gref, dtype === 'float64' ? 1e-12 : 1e-5, 1e-6, 'gradSrc');
    }
  });

  it('accumulates bfloat16 gradients in fp32', () => {
    // 300 ones summed in bf16 would stall at 256; in fp32 they give 300 (representable in bf16).
    const grad = tensor(new Uint16Array(300).fill(0x3f80), { shape: [300, 1], dtype: 'bfloat16' });
    const out = native().ops.segmentSumRows(grad, i64(new Array(300).fill(1)), 3);
    expect(out.dtype).toBe('bfloat16');
    expect(Array.from(f64(out))).toEqual([0, 300, 0]);
  });

  it('rows nobody references get zeros; a non-contiguous grad works', () => {
    const g = tensor(Float64Array.from({ length: 12 }, (_, i) => i), { shape: [3, 4] }).transpose(0, 1); // [4, 3]
    const out = native().ops.segmentSumRows(g, i64([2, 0, 2, 2]), 5);
    const gc = f64(g);
    expect(Array.from(f64(out))).toEqual(Array.from(segmentSumReference(gc, 3, [2, 0, 2, 2], 5)));
  });

  it('rejects out-of-range inverse and mismatched shapes', () => {
    const src = tensor(new Float32Array(6), { shape: [3, 2] });
    expect(() => native().ops.expandRows(src, i64([0, 3]))).toThrow(/expand_rows: inverse\[1\] = 3 is out of range \[0, 3\)/);
    expect(() => native().ops.expandRows(src, i64([-2]))).toThrow(/inverse\[0\] = -2 is out of range/);
    const g = tensor(new Float32Array(4), { shape: [2, 2] });
    expect(() => native().ops.segmentSumRows(g, i64([0, 1, 1]), 2)).toThrow(/segment_sum_rows: inverse must be \[M\] = \[2\]/);
    expect(() => native().ops.segmentSumRows(g, i64([0, 2]), 2)).toThrow(/segment_sum_rows: inverse\[1\] = 2 is out of range \[0, 2\)/);
  });
});

describe.skipIf(!cudaAvailable)('expand_rows (CUDA)', () => {
  it('dedup, expand and the segment sum match the CPU, skewed and all-duplicate indices, deterministically', () => {
    const r = rng(5);
    const D = 128;
    for (const M of [1, 1000, 50000]) {
      const ids = Array.from({ length: M }, () => Math.floor(100000 * r() ** 6));
      const cpuD = native().ops.dedupIds(i64(ids));
      const gpuD = native().ops.dedupIds(tensor(i64(ids)).to('cuda'));
      expect(Array.from(gpuD.unique.copy() as BigInt64Array)).toEqual(Array.from(cpuD.unique.copy() as BigInt64Array));
      expect(Array.from(gpuD.inverse.copy() as BigInt64Array)).toEqual(Array.from(cpuD.inverse.copy() as BigInt64Array));
      const U = cpuD.unique.shape[0]!;
      const src = tensor(Float32Array.from({ length: U * D }, () => r()), { shape: [U, D] });
      const g = tensor(Float32Array.from({ length: M * D }, () => r() - 0.5), { shape: [M, D] });
      for (const dtype of ['float32', 'bfloat16'] as const) {
        const s = dtype === 'float32' ? src : src.to(dtype), go = dtype === 'float32' ? g : g.to(dtype);
        const cpu = native().ops.expandRows(s, cpuD.inverse, go);
        const gpu = native().ops.expandRows(s.to('cuda'), gpuD.inverse, go.to('cuda'));
        expect(f64(gpu.out)).toEqual(f64(cpu.out));
        expectClose(f64(gpu.gradSrc!), f64(cpu.gradSrc!), dtype === 'float32' ? 1e-4 : 2e-2, 1e-2, `${dtype} gradSrc`);
        const again = native().ops.expandRows(s.to('cuda'), gpuD.inverse, go.to('cuda'));
        expect(f64(again.gradSrc!)).toEqual(f64(gpu.gradSrc!));
      }
    }
    const all = native().ops.segmentSumRows(tensor(new Float32Array(70000).fill(1), { shape: [70000, 1] }).to('cuda'), tensor(i64(new Array(70000).fill(2))).to('cuda'), 4);
    expect(Array.from(f64(all))).toEqual([0, 0, 70000, 0]);
  });
});
