// bank_attention (fused gather-attention) against the float64 attention reference run on the
// gathered rows (keys = values = bank[ids], misses masked, shared by every head).
import { describe, expect, it } from 'vitest';

import { native, tensor } from '../../dist/index.js';
import { cudaAvailable, rng } from '../helpers.js';
import { attentionReference, expectClose, f64, i64, offsetsOf, tensor3, uniform } from './op_helpers.js';

type Float = 'float64' | 'float32' | 'bfloat16' | 'float16';

interface BankCase {
  H: number;
  E: number;
  N: number;
  q: Float64Array; // [Tq, H, E]
  bank: Float64Array; // [N, E]
  written: Uint8Array;
  ids: number[];
  qOff: number[];
  kOff: number[];
  gradOut: Float64Array;
}

function randomBankCase(seed: number, o: { H: number; E: number; N: number; qLens: number[]; kLens: number[]; hitRate: number }): BankCase {
  const r = rng(seed);
  const qOff = offsetsOf(o.qLens), kOff = offsetsOf(o.kLens);
  const Tq = qOff[qOff.length - 1]!, Tk = kOff[kOff.length - 1]!;
  const written = Uint8Array.from({ length: o.N }, () => (r() < o.hitRate ? 1 : 0));
  written[0] = 1;
  written[o.N - 1] = 1;
  const ids = Array.from({ length: Tk }, (_, j) => (j % 17 === 0 ? 0 : j % 17 === 1 ? o.N - 1 : Math.floor(r() * o.N)));
  return {
    H: o.H, E: o.E, N: o.N, written, ids, qOff, kOff,
    q: uniform(r, Tq * o.H * o.E, -1.5, 1.5),
    bank: uniform(r, o.N * o.E, -1.5, 1.5),
    gradOut: uniform(r, Tq * o.H * o.E),
  };
}

function reference(c: BankCase, scale: number) {
  const Tk = c.ids.length;
  const k = new Float64Array(Tk * c.H * c.E);
  c.ids.forEach((id, j) => {
    for (let h = 0; h < c.H; h++) k.set(c.bank.subarray(id * c.E, id * c.E + c.E), (j * c.H + h) * c.E);
  });
  return attentionReference(
    { H: c.H, D: c.E, Dv: c.E, qOff: c.qOff, kOff: c.kOff, q: c.q, k, v: k, mask: c.ids.map((id) => c.written[id] === 1), gradOut: c.gradOut },
    scale,
  );
}

function run(c: BankCase, scale: number, qType: Float, bankType: Float, device = 'cpu') {
  const Tq = c.qOff[c.qOff.length - 1]!;
  const on = (t: ReturnType<typeof tensor>) => (device === 'cpu' ? t : t.to(device));
  return native().ops.bankAttention(
    on(tensor3(c.q, [Tq, c.H, c.E], qType)),
    on(tensor3(c.bank, [c.N, c.E], bankType)),
    on(tensor(c.written)),
    on(tensor(i64(c.ids))),
    on(tensor(i64(c.qOff))),
    on(tensor(i64(c.kOff))),
    scale,
    on(tensor3(c.gradOut, [Tq, c.H, c.E], qType)),
  );
}

function round(a: Float64Array, dtype: Float): Float64Array {
  return dtype === 'float64' ? a : f64(tensor3(a, [a.length, 1, 1], dtype));
}

describe('bank_attention (CPU)', () => {
  const base = { H: 3, E: 12, N: 40, qLens: [2, 0, 5, 1, 3, 4], kLens: [30, 8, 1, 0, 60, 25], hitRate: 0.7 };

  it('matches the reference: misses, repeated ids, ids 0 and N-1, empty samples (float64, float32)', () => {
    const c = randomBankCase(1, base);
    const ref = reference(c, 0.3);
    for (const [dtype, atol] of [['float64', 1e-12], ['float32', 2e-5]] as const) {
      const got = native().ops.bankAttention(
        tensor3(c.q, [c.q.length / c.H / c.E, c.H, c.E], dtype), tensor3(c.bank, [c.N, c.E], dtype),
        c.written, i64(c.ids), i64(c.qOff), i64(c.kOff), 0.3, tensor3(c.gradOut, [c.q.length / c.H / c.E, c.H, c.E], dtype),
      );
      expect(got.out.shape).toEqual([15, 3, 12]);
      expectClose(f64(got.out), ref.out, atol, 1e-4, `${dtype} out`);
      expectClose(f64(got.gradQ!), ref.dq, atol, 1e-4, `${dtype} dq`);
    }
  });

  it('a bfloat16 bank with float32 or bfloat16 queries computes in fp32', () => {
    const c = randomBankCase(2, { ...base, E: 32 });
    const cr = { ...c, bank: round(c.bank, 'bfloat16') };
    const ref32 = reference(cr, 0.2);
    const mixed = run(c, 0.2, 'float32', 'bfloat16');
    expect(mixed.out.dtype).toBe('float32');
    expectClose(f64(mixed.out), ref32.out, 2e-5, 1e-4, 'mixed out');
    expectClose(f64(mixed.gradQ!), ref32.dq, 2e-5, 1e-4, 'mixed dq');
    const ref16 = reference({ ...cr, q: round(c.q, 'bfloat16'), gradOut: round(c.gradOut, 'bfloat16') }, 0.2);
    const both = run(c, 0.2, 'bfloat16', 'bfloat16');
    expectClose(f64(both.out), ref16.out, 2e-2, 1e-2, 'bf16 out');
    expectClose(f64(both.gradQ!), ref16.dq, 2e-2, 1e-2, 'bf16 dq');
  });

  it('samples whose ids all miss give zeros and zero gradients', () => {
    const c = randomBankCase(3, { ...base, hitRate: 0 });
    c.written.fill(0);
    const got = run(c, 0.5, 'float64', 'float64');
    expect(got.out.sum()).toBe(0);
    expect(f64(got.gradQ!).every((x) => x === 0)).toBe(true);
  });

  it('takes a non-contiguous (transposed) q', () => {
    const c = randomBankCase(4, base);
    const Tq = c.q.length / c.H / c.E;
    const hq = new Float64Array(c.q.length); // [H, Tq, E] storage of the same values
    for (let t = 0; t < Tq; t++) for (let h = 0; h < c.H; h++) for (let x = 0; x < c.E; x++) hq[(h * Tq + t) * c.E + x] = c.q[(t * c.H + h) * c.E + x]!;
    const q = tensor(hq, { shape: [c.H, Tq, c.E] }).transpose(0, 1);
    expect(q.isContiguous).toBe(false);
    const got = native().ops.bankAttention(q, tensor(c.bank, { shape: [c.N, c.E] }), c.written, i64(c.ids), i64(c.qOff), i64(c.kOff), 0.3, tensor(c.gradOut, { shape: [Tq, c.H, c.E] }));
    const ref = reference(c, 0.3);
    expectClose(f64(got.out), ref.out, 1e-12, 1e-9, 'out');
    expectClose(f64(got.gradQ!), ref.dq, 1e-12, 1e-9, 'dq');
  });

  it('rejects ids outside the bank and mismatched offsets', () => {
    const q = tensor(new Float32Array(2 * 2 * 4), { shape: [2, 2, 4] });
    const bank = tensor(new Float32Array(5 * 4), { shape: [5, 4] });
    const w = new Uint8Array(5).fill(1);
    const ba = native().ops.bankAttention;
    expect(() => ba(q, bank, w, i64([0, 5, 1]), i64([0, 2]), i64([0, 3]), 1)).toThrow(/bank_attention: ids\[1\] = 5 is out of range \[0, 5\)/);
    expect(() => ba(q, bank, w, i64([0, 4, 1]), i64([0, 2]), i64([0, 2]), 1)).toThrow(/bank_attention: k_offsets end at 2 but ids has 3 rows/);
    expect(() => ba(q, bank, w, i64([0, 4, 1]), i64([0, 1, 2]), i64([0, 3]), 1)).toThrow(/q_offsets has 3 entries but k_offsets has 2/);
    expect(() => ba(q, tensor(new Float32Array(15), { shape: [5, 3] }), w, i64([0]), i64([0, 2]), i64([0, 1]), 1)).toThrow(/q's last dim must be the bank width/);
    expect(() => ba(q, bank, new Uint8Array(4), i64([0]), i64([0, 2]), i64([0, 1]), 1)).toThrow(/written must be \[N\] = \[5\]/);
  });
});

describe.skipIf(!cudaAvailable)('bank_attention (CUDA)', () => {
  it('matches the CPU for widths 32/64/128 and odd ones, many queries x heads per sample', () => {
    const r = rng(7);
    for (const E of [32, 64, 128, 20]) {
      const B = 5;
      const c = randomBankCase(10 + E, {
        H: 8, E, N: 3000, hitRate: 0.9,
        qLens: Array.from({ length: B }, (_, b) => (b === 0 ? 0 : 1 + Math.floor(r() * 16))),
        kLens: Array.from({ length: B }, (_, b) => (b === 1 ? 0 : Math.floor(r() * 700))),
      });
      for (const [qt, bt, atol] of [['float32', 'float32', 2e-5], ['float32', 'bfloat16', 2e-5], ['bfloat16', 'bfloat16', 3e-2]] as const) {
        const cpu = run(c, 1 / Math.sqrt(E), qt, bt);
        const gpu = run(c, 1 / Math.sqrt(E), qt, bt, 'cuda');
        expectClose(f64(gpu.out), f64(cpu.out), atol, 1e-2, `${qt}/${bt} out`);
        expectClose(f64(gpu.gradQ!), f64(cpu.gradQ!), atol, 1e-2, `${qt}/${bt} dq`);
      }
    }
  });

  it('rejects an id outside the bank before launching', () => {
    const q = tensor(new Float32Array(8), { shape: [1, 2, 4] }).to('cuda');
    const bank = tensor(new Float32Array(20), { shape: [5, 4] }).to('cuda');
    expect(() =>
      native().ops.bankAttention(q, bank, tensor(new Uint8Array(5)).to('cuda'), tensor(i64([7])).to('cuda'), tensor(i64([0, 1])).to('cuda'), tensor(i64([0, 1])).to('cuda'), 1),
    ).toThrow(/ids\[0\] = 7 is out of range \[0, 5\)/);
  });
});
