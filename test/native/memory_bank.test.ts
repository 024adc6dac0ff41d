// bank_gather / bank_scatter against plain TypeScript references: misses, duplicates, the
// table's ends, dtype casts, last-writer-wins, and errors for ids outside the table.
import { describe, expect, it } from 'vitest';

import { native, tensor, type Tensor } from '../../dist/index.js';
import { cudaAvailable, rng } from '../helpers.js';
import { expectClose, f64, i64 } from './op_helpers.js';

function randomBank(seed: number, N: number, E: number, writtenRate: number) {
  const r = rng(seed);
  const bank = Float32Array.from({ length: N * E }, () => r() * 2 - 1);
  const written = Uint8Array.from({ length: N }, () => (r() < writtenRate ? 1 : 0));
  return { bank, written };
}

function gatherReference(bank: Float32Array, written: Uint8Array, E: number, ids: number[]) {
  const rows = new Float64Array(ids.length * E);
  const present = ids.map((id) => written[id] === 1);
  ids.forEach((id, m) => {
    if (present[m]) for (let e = 0; e < E; e++) rows[m * E + e] = bank[id * E + e]!;
  });
  return { rows, present };
}

describe('bank_gather (CPU)', () => {
  it('gathers rows with misses, duplicates and both ends of the table', () => {
    const N = 50, E = 8;
    const { bank, written } = randomBank(1, N, E, 0.7);
    written[0] = 1;
    written[N - 1] = 1;
    written[7] = 0;
    const r = rng(2);
    const ids = [0, N - 1, 7, 7, 3, 3, 3, ...Array.from({ length: 40 }, () => Math.floor(r() * N)), N - 1, 0];
    const got = native().ops.bankGather(tensor(bank, { shape: [N, E] }), written, i64(ids));
    const ref = gatherReference(bank, written, E, ids);
    expect(got.rows.shape).toEqual([ids.length, E]);
    expect(got.present.dtype).toBe('bool');
    expect(Array.from(got.present.copy() as Uint8Array, (x) => x === 1)).toEqual(ref.present);
    expectClose(f64(got.rows), ref.rows, 0, 0, 'rows');
  });

  it('all misses give zero rows and nothing present; no ids give empty results', () => {
    const bank = tensor(Float32Array.from({ length: 30 }, (_, i) => i + 1), { shape: [10, 3] });
    const got = native().ops.bankGather(bank, new Uint8Array(10), i64([0, 9, 4, 4]));
    expect(got.rows.sum()).toBe(0);
    expect(got.present.sum()).toBe(0);
    const none = native().ops.bankGather(bank, new Uint8Array(10).fill(1), new BigInt64Array(0));
    expect(none.rows.shape).toEqual([0, 3]);
  });

  it('bfloat16 rows are copied bit for bit', () => {
    const { bank, written } = randomBank(3, 20, 16, 1);
    const b16 = tensor(bank, { shape: [20, 16] }).to('bfloat16');
    const got = native().ops.bankGather(b16, written, i64([5, 19, 0]));
    expect(got.rows.dtype).toBe('bfloat16');
    const all = b16.copy() as Uint16Array, rows = got.rows.copy() as Uint16Array;
    [5, 19, 0].forEach((id, m) => expect(Array.from(rows.slice(m * 16, m * 16 + 16))).toEqual(Array.from(all.slice(id * 16, id * 16 + 16))));
  });

  it('rejects ids outside [0, N) naming the first, and malformed arguments', () => {
    const bank = tensor(new Float32Array(30), { shape: [10, 3] });
    const w = new Uint8Array(10);
    expect(() => native().ops.bankGather(bank, w, i64([1, 2, 10, 11]))).toThrow(/bank_gather: ids\[2\] = 10 is out of range \[0, 10\)/);
    expect(() => native().ops.bankGather(bank, w, i64([-1]))).toThrow(/bank_gather: ids\[0\] = -1 is out of range/);
    expect(() => native().ops.bankGather(bank, w, new Float32Array([1]))).toThrow(/ids must be int64/);
    expect(() => native().ops.bankGather(bank, new Uint8Array(9), i64([1]))).toThrow(/written must be \[N\] = \[10\]/);
    expect(() => native().ops.bankGather(tensor(new Float32Array(30)), w, i64([1]))).toThrow(/bank must be \[N, E\]/);
  });
});

function scatterReference(N: number, E: number, ids: number[], rows: Float64Array) {
  const bank = new Float64Array(N * E);
  const written = new Uint8Array(N);
  ids.forEach((id, m) => {
    for (let e = 0; e < E; e++) bank[id * E + e] = rows[m * E + e]!;
    written[id] = 1;
  });
  return { bank, written };
}

describe('bank_scatter (CPU)', () => {
  it('writes rows, flags and steps in place; the last repeat of an id wins', () => {
    const N = 12, E = 4;
    const bank = new Float32Array(N * E), written = new Uint8Array(N), lastStep = new BigInt64Array(N).fill(-1n);
    const ids = [3, 0, 11, 3, 5, 3, 11];
    const rows = Float32Array.from({ length: ids.length * E }, (_, i) => i);
    native().ops.bankScatter(tensor(bank, { shape: [N, E] }), written, lastStep, i64(ids), tensor(rows, { shape: [ids.length, E] }), 42);
    const ref = scatterReference(N, E, ids, Float64Array.from(rows));
    expect(Array.from(bank)).toEqual(Array.from(ref.bank));
    expect(Array.from(written)).toEqual(Array.from(ref.written));
    expect(Array.from(lastStep, Number)).toEqual(Array.from(ref.written, (w) => (w ? 42 : -1)));
  });

  it('all duplicates, and enough ids to run in parallel, match a sequential reference', () => {
    const N = 1000, E = 3;
    for (const ids of [new Array(64).fill(7), Array.from({ length: 20000 }, (_, i) => (i * 7919) % N)]) {
      const bank = new Float32Array(N * E), written = new Uint8Array(N), lastStep = new BigInt64Array(N);
      const rows = Float32Array.from({ length: ids.length * E }, (_, i) => i % 1001);
      native().ops.bankScatter(tensor(bank, { shape: [N, E] }), written, lastStep, i64(ids), tensor(rows, { shape: [ids.length, E] }), 5n);
      const ref = scatterReference(N, E, ids, Float64Array.from(rows));
      expect(Array.from(bank)).toEqual(Array.from(ref.bank));
      expect(Array.from(written)).toEqual(Array.from(ref.written));
    }
  });

  it('casts rows to the bank dtype (float32 rows into a bfloat16 bank)', () => {
    const bank = tensor(new Uint16Array(6 * 2), { shape: [6, 2], dtype: 'bfloat16' });
    native().ops.bankScatter(bank, new Uint8Array(6), new BigInt64Array(6), i64([0, 5]), tensor(new Float32Array([1, 2, 3, 4.5]), { shape: [2, 2] }), 1);
    expect(Array.from(f64(bank))).toEqual([1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4.5]);
  });

  it('rejects bad ids and shapes', () => {
    const bank = tensor(new Float32Array(30), { shape: [10, 3] });
    const w = new Uint8Array(10), s = new BigInt64Array(10);
    const rows = tensor(new Float32Array(6), { shape: [2, 3] });
    expect(() => native().ops.bankScatter(bank, w, s, i64([3, 10]), rows, 1)).toThrow(/bank_scatter: ids\[1\] = 10 is out of range \[0, 10\)/);
    expect(() => native().ops.bankScatter(bank, w, s, i64([3]), rows, 1)).toThrow(/rows must be \[M, E\] = \[1, 3\]/);
    expect(() => native().ops.bankScatter(bank, w, new Int32Array(10), i64([3, 4]), rows, 1)).toThrow(/last_step must be int64/);
    expect(() => native().ops.bankScatter(bank.transpose(0, 1), w, s, i64([3, 4]), rows, 1)).toThrow();
  });
});

describe.skipIf(!cudaAvailable)('memory bank (CUDA)', () => {
  it('gather matches the CPU (fp32 and bf16, uniform and skewed ids)', () => {
    const N = 5000, E = 128;
    const { bank, written } = randomBank(9, N, E, 0.8);
    const r = rng(10);
    for (const dtype of ['float32', 'bfloat16'] as const) {
      const cpuBank = dtype === 'float32' ? tensor(bank, { shape: [N, E] }) : tensor(bank, { shape: [N, E] }).to(dtype);
      const gpuBank = cpuBank.to('cuda');
      const ids = i64([0, N - 1, ...Array.from({ length: 3000 }, () => Math.floor(N * r() ** 4))]);
      const cpu = native().ops.bankGather(cpuBank, written, ids);
      const gpu = native().ops.bankGather(gpuBank, tensor(written).to('cuda'), tensor(ids).to('cuda'));
      expect(f64(gpu.rows)).toEqual(f64(cpu.rows));
      expect(Array.from(gpu.present.copy() as Uint8Array)).toEqual(Array.from(cpu.present.copy() as Uint8Array));
    }
    expect(() => native().ops.bankGather(tensor(bank, { shape: [N, E] }).to('cuda'), tensor(written).to('cuda'), tensor(i64([1, N])).to('cuda'))).toThrow(
      /bank_gather: ids\[1\] = 5000 is out of range \[0, 5000\)/,
    );
  });

  it('scatter with heavy duplicates equals the CPU result (last writer wins)', () => {
    const N = 3000, E = 64;
    const r = rng(12);
    const ids = Array.from({ length: 20000 }, () => Math.floor(N * r() ** 3));
    const rows = Float32Array.from({ length: ids.length * E }, () => r());
    const run = (device: string): Tensor[] => {
      const on = (t: Tensor) => (device === 'cpu' ? t : t.to(device));
      const bank = on(tensor(new Float32Array(N * E), { shape: [N, E] }));
      const written = on(tensor(new Uint8Array(N)));
      const lastStep = on(tensor(new BigInt64Array(N)));
      native().ops.bankScatter(bank, written, lastStep, on(tensor(i64(ids))), on(tensor(rows, { shape: [ids.length, E] })), 3);
      return [bank, written, lastStep];
    };
    const cpu = run('cpu'), gpu = run('cuda');
    expect(f64(gpu[0]!)).toEqual(f64(cpu[0]!));
    expect(Array.from(gpu[1]!.copy() as Uint8Array)).toEqual(Array.from(cpu[1]!.copy() as Uint8Array));
    expect(Array.from(gpu[2]!.copy() as BigInt64Array)).toEqual(Array.from(cpu[2]!.copy() as BigInt64Array));
  });
});
