// ragged_attention: forward and gradients against a float64 reference written in TypeScript,
// on CPU in float64, float32 and bfloat16 (and CUDA against CPU where a GPU is present).
import { describe, expect, it } from 'vitest';

import { native, tensor } from '../../dist/index.js';
import { cudaAvailable, rng } from '../helpers.js';
import {
  attentionReference,
  expectClose,
  f64,
  i64,
  randomAttentionCase,
  tensor3,
  type AttentionCase,
} from './op_helpers.js';

type Float = 'float64' | 'float32' | 'bfloat16' | 'float16';

function run(c: AttentionCase, scale: number, dtype: Float, device = 'cpu') {
  const Tq = c.qOff[c.qOff.length - 1]!;
  const Tk = c.kOff[c.kOff.length - 1]!;
  const on = (t: ReturnType<typeof tensor>) => (device === 'cpu' ? t : t.to(device));
  const mask = c.mask ? on(tensor(Uint8Array.from(c.mask, (m) => (m ? 1 : 0)), { dtype: 'bool' })) : null;
  return native().ops.raggedAttention(
    on(tensor3(c.q, [Tq, c.H, c.D], dtype)),
    on(tensor3(c.k, [Tk, c.H, c.D], dtype)),
    on(tensor3(c.v, [Tk, c.H, c.Dv], dtype)),
    on(tensor(i64(c.qOff))),
    on(tensor(i64(c.kOff))),
    mask,
    scale,
    on(tensor3(c.gradOut, [Tq, c.H, c.Dv], dtype)),
  );
}

/** The case with its inputs rounded to `dtype`, so the reference sees what the op sees. */
function rounded(c: AttentionCase, dtype: Float): AttentionCase {
  if (dtype === 'float64') return c;
  const r = (a: Float64Array) => f64(tensor3(a, [a.length, 1, 1], dtype));
  return { ...c, q: r(c.q), k: r(c.k), v: r(c.v), gradOut: r(c.gradOut) };
}

function checkAgainstReference(c: AttentionCase, scale: number, dtype: Float, atol: number, rtol: number) {
  const got = run(c, scale, dtype);
  const ref = attentionReference(rounded(c, dtype), scale);
  expect(got.out.dtype).toBe(dtype);
  expectClose(f64(got.out), ref.out, atol, rtol, `${dtype} out`);
  expectClose(f64(got.gradQ!), ref.dq, atol, rtol, `${dtype} dq`);
  expectClose(f64(got.gradK!), ref.dk, atol, rtol, `${dtype} dk`);
  expectClose(f64(got.gradV!), ref.dv, atol, rtol, `${dtype} dv`);
  return got;
}

describe('ragged_attention (CPU)', () => {
  it('matches the reference with random ragged lengths (0, 1, many), masks, D != Dv', () => {
    const r = rng(11);
    const B = 9;
    const qLens = Array.from({ length: B }, (_, b) => (b === 2 ? 0 : 1 + Math.floor(r() * 7)));
    const kLens = Array.from({ length: B }, (_, b) => (b === 0 ? 0 : b === 1 ? 1 : Math.floor(r() * 150)));
    const c = randomAttentionCase(3, { H: 3, D: 12, Dv: 5, qLens, kLens, maskRate: 0.3 });
    for (const dtype of ['float64', 'float32'] as const)
      checkAgainstReference(c, 1 / Math.sqrt(12), dtype, dtype === 'float64' ? 1e-11 : 2e-5, dtype === 'float64' ? 1e-9 : 1e-4);
  });

  it('bfloat16 and float16 storage compute in fp32', () => {
    const c = randomAttentionCase(4, { H: 2, D: 32, qLens: [16, 3, 1], kLens: [300, 70, 1] });
    // out/gradients are rounded to 8 (bf16) / 11 (fp16) significant bits; the math is fp32.
    checkAgainstReference(c, 1 / Math.sqrt(32), 'bfloat16', 2e-2, 1e-2);
    checkAgainstReference(c, 1 / Math.sqrt(32), 'float16', 3e-3, 2e-3);
  });

  it('zero-length and fully masked samples give zero output and zero gradients', () => {
    const c = randomAttentionCase(5, { H: 2, D: 4, qLens: [3, 2, 4], kLens: [5, 0, 6] });
    c.mask = Array.from({ length: 11 }, (_, j) => j >= 5); // sample 0: all 5 keys masked
    const got = checkAgainstReference(c, 0.5, 'float64', 1e-12, 1e-9);
    const out = f64(got.out), dq = f64(got.gradQ!), dk = f64(got.gradK!);
    for (let i = 0; i < 5 * 2 * 4; i++) {
      expect(out[i]).toBe(0); // queries of samples 0 and 1
      expect(dq[i]).toBe(0);
    }
    for (let i = 0; i < 5 * 2 * 4; i++) expect(dk[i]).toBe(0); // the masked keys
    expect(out.slice(5 * 8).some((x) => x !== 0)).toBe(true);
  });

  it('float32 at head dim 16 (the in-place row path): no keys, all keys masked and masked holes', () => {
    // sample 0: every key masked; 1: no keys; 2: keys with masked holes; 3: none masked; 4: no queries
    const c = randomAttentionCase(8, { H: 2, D: 16, Dv: 8, qLens: [3, 2, 4, 5, 0], kLens: [5, 0, 9, 70, 6] });
    c.mask = Array.from({ length: 90 }, (_, j) => (j < 5 ? false : j < 14 ? j % 3 !== 0 : true));
    const got = checkAgainstReference(c, 0.25, 'float32', 2e-5, 1e-4);
    const H = 2, D = 16, Dv = 8;
    const out = f64(got.out), dq = f64(got.gradQ!), dk = f64(got.gradK!), dv = f64(got.gradV!);
    expect(out.slice(0, 5 * H * Dv).every((x) => x === 0)).toBe(true); // queries of samples 0 and 1
    expect(dq.slice(0, 5 * H * D).every((x) => x === 0)).toBe(true);
    expect(dk.slice(0, 5 * H * D).every((x) => x === 0)).toBe(true); // sample 0's masked keys
    for (const j of [6, 9, 12]) expect(dv.slice(j * H * Dv, (j + 1) * H * Dv).every((x) => x === 0)).toBe(true); // holes
    expect(dk.slice(84 * H * D).every((x) => x === 0)).toBe(true); // keys of the sample without queries
    expect(dk.slice(14 * H * D, 84 * H * D).some((x) => x !== 0)).toBe(true);
  });

  it('takes non-contiguous (transposed) q, k and v', () => {
    const c = randomAttentionCase(6, { H: 4, D: 8, qLens: [2, 5], kLens: [9, 13] });
    const Tq = 7, Tk = 22;
    // Build [H, T, D] storage and transpose to [T, H, D] views.
    const perm = (a: Float64Array, T: number, d: number) => {
      const p = new Float64Array(a.length);
      for (let t = 0; t < T; t++) for (let h = 0; h < c.H; h++) for (let x = 0; x < d; x++) p[(h * T + t) * d + x] = a[(t * c.H + h) * d + x]!;
      return tensor(p, { shape: [c.H, T, d] }).transpose(0, 1);
    };
    const q = perm(c.q, Tq, c.D), k = perm(c.k, Tk, c.D), v = perm(c.v, Tk, c.Dv);
    expect(q.isContiguous).toBe(false);
    const got = native().ops.raggedAttention(q, k, v, i64(c.qOff), i64(c.kOff), null, 0.3, tensor(c.gradOut, { shape: [Tq, c.H, c.Dv] }));
    const ref = attentionReference(c, 0.3);
    expectClose(f64(got.out), ref.out, 1e-12, 1e-9, 'out');
    expectClose(f64(got.gradQ!), ref.dq, 1e-12, 1e-9, 'dq');
    expectClose(f64(got.gradK!), ref.dk, 1e-12, 1e-9, 'dk');
    expectClose(f64(got.gradV!), ref.dv, 1e-12, 1e-9, 'dv');
  });

  it('the baseline (non-AVX2) CPU path gives the same results', () => {
    const c = randomAttentionCase(12, { H: 2, D: 10, Dv: 6, qLens: [3, 0, 5], kLens: [70, 4, 0], maskRate: 0.2 });
    process.env.LEMUR_CPU_NO_AVX2 = '1';
    try {
      checkAgainstReference(c, 0.3, 'float64', 1e-12, 1e-9);
      checkAgainstReference(c, 0.3, 'float32', 2e-5, 1e-4);
    } finally {
      delete process.env.LEMUR_CPU_NO_AVX2;
    }
  });

  // float32 with head dims that are multiples of 8 takes the blocked AVX2 path (transposed key
  // blocks, 4-row products): few and many queries (1..9, not multiples of 4), key counts
  // around the 64-key block and the 8-key vector (0, 1, 7, 8, 63, 64, 65, 150), masks.
  it('float32, head dims 16/8/32 (the blocked path): the reference and the baseline path agree', () => {
    const kLens = [0, 1, 7, 8, 63, 64, 65, 150, 9];
    const qLens = [3, 1, 9, 4, 5, 2, 7, 6, 8];
    for (const [D, Dv] of [[16, 16], [16, 8], [32, 64]] as const) {
      const c = randomAttentionCase(20 + D + Dv, { H: 2, D, Dv, qLens, kLens, maskRate: 0.15 });
      const fast = checkAgainstReference(c, 1 / Math.sqrt(D), 'float32', 2e-5, 1e-4);
      process.env.LEMUR_CPU_NO_AVX2 = '1';
      try {
        const base = run(c, 1 / Math.sqrt(D), 'float32');
        expectClose(f64(fast.out), f64(base.out), 2e-6, 1e-5, `D ${D}: out, blocked vs baseline`);
        expectClose(f64(fast.gradK!), f64(base.gradK!), 2e-6, 1e-5, `D ${D}: dk, blocked vs baseline`);
      } finally {
        delete process.env.LEMUR_CPU_NO_AVX2;
      }
    }
  });

  it('a 16k-key sample (and an empty one) in float32', () => {
    const c = randomAttentionCase(7, { H: 2, D: 32, qLens: [4, 3], kLens: [16384, 0] });
    checkAgainstReference(c, 1 / Math.sqrt(32), 'float32', 1e-5, 1e-3);
  });

  it('fixed Nq queries per sample and self-attention layouts', () => {
    const fixed = randomAttentionCase(8, { H: 2, D: 16, qLens: [4, 4, 4, 4], kLens: [10, 0, 1, 33] });
    checkAgainstReference(fixed, 0.25, 'float64', 1e-12, 1e-9);
    const lens = [5, 1, 0, 12];
    const self = randomAttentionCase(9, { H: 1, D: 6, qLens: lens, kLens: lens, maskRate: 0.2 });
    checkAgainstReference(self, 0.4, 'float64', 1e-12, 1e-9);
  });

  it('rejects bad arguments with messages naming them', () => {
    const q = tensor(new Float32Array(2 * 2 * 4), { shape: [2, 2, 4] });
    const k = tensor(new Float32Array(3 * 2 * 4), { shape: [3, 2, 4] });
    const v = tensor(new Float32Array(3 * 2 * 4), { shape: [3, 2, 4] });
    const ra = native().ops.raggedAttention;
    expect(() => ra(q, k, v, i64([1, 2]), i64([0, 3]), null, 1)).toThrow(/ragged_attention: q_offsets\[0\] must be 0, got 1/);
    expect(() => ra(q, k, v, i64([0, 2]), i64([0, 2]), null, 1)).toThrow(/ragged_attention: k_offsets end at 2 but k has 3 rows/);
    expect(() => ra(q, k, v, i64([0, 2, 1, 2]), i64([0, 1, 2, 3]), null, 1)).toThrow(/q_offsets must be non-decreasing, but q_offsets\[2\] = 1 < q_offsets\[1\] = 2/);
    expect(() => ra(q, k, v, i64([0, 1, 2]), i64([0, 3]), null, 1)).toThrow(/q_offsets has 3 entries but k_offsets has 2/);
    expect(() => ra(q, k, v, new Float32Array([0, 2]), i64([0, 3]), null, 1)).toThrow(/q_offsets must be int32 or int64/);
    expect(() => ra(q, k.to('float64'), v, i64([0, 2]), i64([0, 3]), null, 1)).toThrow(/q, k and v must have one dtype/);
    expect(() => ra(tensor(new Float32Array(8), { shape: [2, 4] }), k, v, i64([0, 2]), i64([0, 3]), null, 1)).toThrow(/q must be \[Tq, H, D\]/);
    const k3 = tensor(new Float32Array(3 * 2 * 5), { shape: [3, 2, 5] });
    expect(() => ra(q, k3, v, i64([0, 2]), i64([0, 3]), null, 1)).toThrow(/q and k must have the same head dim/);
    expect(() => ra(q, k, v, i64([0, 2]), i64([0, 3]), new Uint8Array([1, 1]), 1)).toThrow(/key_mask must be \[Tk\] = \[3\]/);
    expect(() => ra(q, k, v, i64([0, 2]), i64([0, 3]), null, 1, tensor(new Float32Array(4), { shape: [4] }))).toThrow(/gradOut must have shape/);
  });
});

describe.skipIf(!cudaAvailable)('ragged_attention (CUDA)', () => {
  function parity(c: AttentionCase, dtype: Float, atol: number, rtol: number) {
    const scale = 1 / Math.sqrt(c.D);
    const cpu = run(c, scale, dtype);
    const gpu = run(c, scale, dtype, 'cuda');
    expect(gpu.out.device).toMatch(/cuda/);
    expectClose(f64(gpu.out), f64(cpu.out), atol, rtol, `${dtype} out`);
    expectClose(f64(gpu.gradQ!), f64(cpu.gradQ!), atol, rtol, `${dtype} dq`);
    expectClose(f64(gpu.gradK!), f64(cpu.gradK!), atol, rtol, `${dtype} dk`);
    expectClose(f64(gpu.gradV!), f64(cpu.gradV!), atol, rtol, `${dtype} dv`);
  }

  it('matches the CPU for head dims 32/64/128 and odd ones, lengths 0..300, masks', () => {
    const r = rng(21);
    for (const [D, Dv] of [[32, 32], [64, 64], [128, 128], [20, 36], [7, 3]] as const) {
      const B = 6;
      const qLens = Array.from({ length: B }, (_, b) => (b === 0 ? 0 : 1 + Math.floor(r() * 64)));
      const kLens = Array.from({ length: B }, (_, b) => (b === 1 ? 0 : b === 2 ? 1 : Math.floor(r() * 300)));
      const c = randomAttentionCase(100 + D, { H: 3, D, Dv, qLens, kLens, maskRate: 0.25 });
      parity(c, 'float32', 2e-5, 1e-3);
      parity(c, 'bfloat16', 3e-2, 2e-2);
    }
  });

  it('more than 64 queries per sample, a 16k-key sample, a fully masked sample', () => {
    const c = randomAttentionCase(31, { H: 2, D: 64, qLens: [100, 7, 3], kLens: [200, 16384, 40] });
    c.mask = Array.from({ length: 200 + 16384 + 40 }, (_, j) => j < 200 + 16384);
    parity(c, 'float32', 2e-5, 1e-3);
    parity(c, 'bfloat16', 3e-2, 2e-2); // the tensor-core kernels
    parity(c, 'float16', 3e-3, 3e-3);
  });

  it('is deterministic (CUDA-core and tensor-core kernels)', () => {
    const c = randomAttentionCase(41, { H: 2, D: 64, qLens: [16, 40], kLens: [500, 900] });
    for (const dtype of ['float32', 'bfloat16'] as const) {
      const a = run(c, 0.125, dtype, 'cuda'), b = run(c, 0.125, dtype, 'cuda');
      expect(f64(a.out)).toEqual(f64(b.out));
      expect(f64(a.gradK!)).toEqual(f64(b.gradK!));
      expect(f64(a.gradV!)).toEqual(f64(b.gradV!));
      expect(f64(a.gradQ!)).toEqual(f64(b.gradQ!));
    }
  });
});

describe('ragged attention over packed projections (the encoder layers\' fused q/k/v)', () => {
  // [T, parts, H, D] from per-part [T, H, D] arrays
  function pack(parts: Float64Array[], T: number, HD: number): Float64Array {
    const out = new Float64Array(T * parts.length * HD);
    for (let t = 0; t < T; t++)
      parts.forEach((p, i) => out.set(p.subarray(t * HD, (t + 1) * HD), (t * parts.length + i) * HD));
    return out;
  }
  function unpack(a: Float64Array, T: number, n: number, HD: number, i: number): Float64Array {
    const out = new Float64Array(T * HD);
    for (let t = 0; t < T; t++) out.set(a.subarray((t * n + i) * HD, (t * n + i + 1) * HD), t * HD);
    return out;
  }

  for (const dtype of ['float32', 'float64'] as const) {
    // float32 and D % 8 == 0: the row kernels reading the slices in place; float64: the generic path
    it(`self-attention on qkv [T, 3, H, D] gives the separate op's output and gradients bit for bit (${dtype})`, () => {
      const r = rng(21);
      const lens = Array.from({ length: 11 }, (_, b) => (b === 3 ? 0 : 1 + Math.floor(r() * 30)));
      const H = 2, D = 16, HD = H * D;
      const c = randomAttentionCase(22, { H, D, qLens: lens, kLens: lens });
      const T = c.qOff[c.qOff.length - 1]!;
      const off = tensor(i64(c.qOff));
      const got = native().ops.raggedSelfAttention(tensor3(pack([c.q, c.k, c.v], T, HD), [T, 3, H, D], dtype),
        off, 0.25, tensor3(c.gradOut, [T, H, D], dtype));
      const sep = native().ops.raggedAttention(tensor3(c.q, [T, H, D], dtype), tensor3(c.k, [T, H, D], dtype),
        tensor3(c.v, [T, H, D], dtype), off, off, null, 0.25, tensor3(c.gradOut, [T, H, D], dtype));
      expect(got.gradQkv!.shape).toEqual([T, 3, H, D]);
      expect(f64(got.out)).toEqual(f64(sep.out));
      const g = f64(got.gradQkv!);
      expect(unpack(g, T, 3, HD, 0)).toEqual(f64(sep.gradQ!));
      expect(unpack(g, T, 3, HD, 1)).toEqual(f64(sep.gradK!));
      expect(unpack(g, T, 3, HD, 2)).toEqual(f64(sep.gradV!));
      // and both against the float64 reference
      expectClose(f64(got.out), attentionReference(rounded(c, dtype), 0.25).out, 1e-5, 1e-4, 'out');
    });
  }

  it('[CLS]-only attention on a packed kv [Tk, 2, H, D] gives the separate op\'s output and gradients bit for bit', () => {
    const r = rng(23);
    const B = 9;
    const kLens = Array.from({ length: B }, (_, b) => (b === 1 ? 0 : 1 + Math.floor(r() * 40)));
    const H = 4, D = 8, HD = H * D;
    const c = randomAttentionCase(24, { H, D, qLens: Array(B).fill(1), kLens });
    const Tk = c.kOff[B]!;
    const [qo, ko] = [tensor(i64(c.qOff)), tensor(i64(c.kOff))];
    const q = tensor3(c.q, [B, H, D], 'float32'), g = tensor3(c.gradOut, [B, H, D], 'float32');
    const got = native().ops.raggedAttentionPackedKv(q, tensor3(pack([c.k, c.v], Tk, HD), [Tk, 2, H, D], 'float32'),
      qo, ko, 0.5, g);
    const sep = native().ops.raggedAttention(q, tensor3(c.k, [Tk, H, D], 'float32'), tensor3(c.v, [Tk, H, D], 'float32'),
      qo, ko, null, 0.5, g);
    expect(f64(got.out)).toEqual(f64(sep.out));
    expect(f64(got.gradQ!)).toEqual(f64(sep.gradQ!));
    expect(unpack(f64(got.gradKv!), Tk, 2, HD, 0)).toEqual(f64(sep.gradK!));
    expect(unpack(f64(got.gradKv!), Tk, 2, HD, 1)).toEqual(f64(sep.gradV!));
  });

  it('refuses a packed tensor of the wrong layout, naming it', () => {
    const x = tensor(new Float32Array(2 * 2 * 8), { shape: [2, 2, 1, 8] });
    expect(() => native().ops.raggedSelfAttention(x, tensor(i64([0, 2])), 1)).toThrow(/qkv must be \[T, 3, H, D\], got shape \[2, 2, 1, 8\]/);
    expect(() => native().ops.raggedAttentionPackedKv(tensor(new Float32Array(8), { shape: [1, 1, 8] }), tensor(new Float32Array(32), { shape: [4, 1, 8] }),
      tensor(i64([0, 1])), tensor(i64([0, 4])), 1)).toThrow(/kv must be \[T, 2, H, D\], got shape \[4, 1, 8\]/);
  });
});
