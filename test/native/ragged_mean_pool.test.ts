// The example op through the whole op layer: forward and backward against a reference,
// on CPU (and on CUDA where available), empty sequences included.
import { describe, expect, it } from 'vitest';

import { native, tensor } from '../../dist/index.js';
import { cudaAvailable, rng } from '../helpers.js';

function reference(values: Float64Array, dim: number, offsets: number[], gradOut: Float64Array) {
  const B = offsets.length - 1;
  const out = new Float64Array(B * dim);
  const grad = new Float64Array(values.length);
  for (let b = 0; b < B; b++) {
    const n = offsets[b + 1]! - offsets[b]!;
    for (let i = offsets[b]!; i < offsets[b + 1]!; i++)
      for (let d = 0; d < dim; d++) {
        out[b * dim + d]! += values[i * dim + d]! / n;
        grad[i * dim + d] = gradOut[b * dim + d]! / n;
      }
  }
  return { out, grad };
}

function randomCase(seed: number, B: number, dim: number, maxLen: number) {
  const r = rng(seed);
  const offsets = [0];
  for (let b = 0; b < B; b++) offsets.push(offsets[b]! + (r() < 0.2 ? 0 : Math.floor(r() * maxLen)));
  const N = offsets[B]!;
  const values = Float64Array.from({ length: N * dim }, () => r() * 2 - 1);
  const gradOut = Float64Array.from({ length: B * dim }, () => r() * 2 - 1);
  return { offsets, values, gradOut, N };
}

describe('ragged_mean_pool (CPU)', () => {
  it('matches the reference, forward and backward, with empty sequences', () => {
    const { offsets, values, gradOut, N } = randomCase(1, 37, 5, 9);
    const dim = 5;
    expect(offsets.some((o, i) => i > 0 && o === offsets[i - 1])).toBe(true); // has empties
    const got = native().ops.raggedMeanPool(
      tensor(values, { shape: [N, dim] }),
      BigInt64Array.from(offsets, BigInt),
      tensor(gradOut, { shape: [37, dim] }),
    );
    const ref = reference(values, dim, offsets, gradOut);
    const out = got.out.view() as Float64Array;
    const grad = got.gradValues!.view() as Float64Array;
    ref.out.forEach((v, i) => expect(out[i]).toBeCloseTo(v, 12));
    ref.grad.forEach((v, i) => expect(grad[i]).toBeCloseTo(v, 12));
  });

  it('all sequences empty gives zeros and an empty gradient', () => {
    const got = native().ops.raggedMeanPool(
      tensor(new Float32Array(0), { shape: [0, 3] }),
      new Int32Array([0, 0, 0]),
      tensor(new Float32Array(6).fill(1), { shape: [2, 3] }),
    );
    expect(got.out.shape).toEqual([2, 3]);
    expect(got.out.sum()).toBe(0);
    expect(got.gradValues!.shape).toEqual([0, 3]);
  });

  it('bfloat16 accumulates in fp32', () => {
    // 256 ones in bf16: a bf16 accumulator would stall at 256 before dividing; fp32 does not
    const n = 300;
    const ones = new Uint16Array(n).fill(0x3f80);
    const { out } = native().ops.raggedMeanPool(tensor(ones, { shape: [n, 1], dtype: 'bfloat16' }), new BigInt64Array([0n, BigInt(n)]));
    expect(out.dtype).toBe('bfloat16');
    expect(out.to('float32').sum()).toBe(1);
  });

  it('rejects malformed offsets naming the problem', () => {
    const v = tensor(new Float32Array(8), { shape: [4, 2] });
    expect(() => native().ops.raggedMeanPool(v, new BigInt64Array([1n, 4n]))).toThrow(/offsets\[0\] must be 0, got 1/);
    expect(() => native().ops.raggedMeanPool(v, new BigInt64Array([0n, 3n, 2n, 4n]))).toThrow(/non-decreasing/);
    expect(() => native().ops.raggedMeanPool(v, new Float32Array([0, 4]))).toThrow(/offsets must be int32 or int64/);
    expect(() => native().ops.raggedMeanPool(tensor(new Float32Array(8)), new BigInt64Array([0n, 8n]))).toThrow(/values must be \[N, D\]/);
  });
});

describe.skipIf(!cudaAvailable)('ragged_mean_pool (CUDA)', () => {
  it('matches the CPU result, forward and backward', () => {
    const { offsets, values, gradOut, N } = randomCase(2, 300, 64, 40);
    const dim = 64;
    const v = tensor(Float32Array.from(values), { shape: [N, dim] });
    const g = tensor(Float32Array.from(gradOut), { shape: [300, dim] });
    const off = BigInt64Array.from(offsets, BigInt);
    const cpu = native().ops.raggedMeanPool(v, off, g);
    const gpu = native().ops.raggedMeanPool(v.to('cuda'), tensor(off).to('cuda'), g.to('cuda'));
    expect(gpu.out.device).toMatch(/cuda/);
    const a = cpu.out.view() as Float32Array, b = gpu.out.copy() as Float32Array;
    a.forEach((x, i) => expect(b[i]).toBeCloseTo(x, 5));
    const ga = cpu.gradValues!.view() as Float32Array, gb = gpu.gradValues!.copy() as Float32Array;
    ga.forEach((x, i) => expect(gb[i]).toBeCloseTo(x, 5));
  });
});
