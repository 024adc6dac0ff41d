// Model pieces against hand-computed definitions: the similarity features (recent order and
// the sorted copy, misses and short histories), the row-wise sparse optimizers (Adagrad and
// Adam on touched rows only; untrained rows read as zeros at evaluation), and the fused bank
// attention against the unfused path through a whole model, and the text encoders' last
// layer computed for each sequence's [CLS] row alone against the full layer.
import { describe, expect, it } from 'vitest';

import { Lemur, native, tensor, type Tensor } from '../../dist/index.js';
import { rng } from '../helpers.js';
import { syntheticDataset, TINY } from '../synthetic.js';

const nn = native().nn as {
  similarityFeatures(target: Tensor, offsets: Tensor, ids: Tensor, rows: Tensor, written: Tensor, k: number): Tensor;
  sparseUpdate(
    o: { kind: string; rows: number; dim: number; lr: number; eps: number; beta1: number; beta2: number; seed: number },
    steps: { ids: Tensor; grad: Tensor }[],
  ): { initial: Tensor; weights: Tensor; evalRows: Tensor };
  encoderFirstRows(x: Tensor, offsets: Tensor, heads: number, gradOut: Tensor, seed: number): Record<'full' | 'first', { out: Tensor; gradX: Tensor; gradParams: Tensor }>;
};

const i64 = (v: number[]) => tensor(BigInt64Array.from(v, BigInt));
const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

describe('similarity features', () => {
  it('are cos(target, each of the k newest events), newest first (0 for misses and absent slots), then the k highest cosines of the whole history', () => {
    const e = 3, k = 3;
    const r = rng(3);
    const N = 6;
    const rows = Array.from({ length: N }, () => unit([r() - 0.5, r() - 0.5, r() - 0.5]));
    const written = [1, 1, 0, 1, 1, 1]; // document 2 was never written: a miss
    // bank rows are stored as given (not re-normalized by the bank); give them an odd norm
    const stored = rows.map((v, i) => v.map((x) => x * (1 + i)));
    const targets = [unit([1, 0.2, -0.3]), unit([-0.4, 1, 0.1])];
    const histories = [
      [0, 1, 2, 3, 4], // longer than k: the 3 newest (2, 3, 4)
      [5], // shorter than k
    ];
    const offsets = [0, histories[0]!.length, histories[0]!.length + histories[1]!.length];
    const out = nn
      .similarityFeatures(
        tensor(Float32Array.from(targets.flat()), { shape: [2, e] }),
        i64(offsets),
        i64(histories.flat()),
        tensor(Float32Array.from(stored.flat()), { shape: [N, e] }),
        tensor(Uint8Array.from(written)),
        k,
      )
      .copy() as Float32Array;
    expect(out.length).toBe(2 * 2 * k);
    const cos = (b: number, d: number) => rows[d]!.reduce((s, x, c) => s + x * targets[b]![c]!, 0); // both unit norm
    for (let b = 0; b < 2; b++) {
      const newest = histories[b]!.slice(-k).reverse();
      const recent = Array.from({ length: k }, (_, j) => {
        const d = newest[j];
        return d === undefined || !written[d] ? 0 : cos(b, d);
      });
      // every known (written) event competes for the sorted slots, not only the k newest
      const known = histories[b]!.filter((d) => written[d]).map((d) => cos(b, d)).sort((x, y) => y - x);
      const sorted = Array.from({ length: k }, (_, j) => known[j] ?? 0);
      const got = Array.from(out.subarray(b * 2 * k, (b + 1) * 2 * k));
      [...recent, ...sorted].forEach((v, j) => expect(got[j]).toBeCloseTo(v, 5));
      // this data exercises it: sample 0's best events are not all among its k newest
      if (b === 0) expect(sorted).not.toEqual([...recent].sort((x, y) => y - x));
    }
  });
});

describe('row-wise sparse optimizers', () => {
  const base = { rows: 6, dim: 4, lr: 0.1, eps: 1e-8, beta1: 0.9, beta2: 0.999, seed: 4 };
  const r = rng(5);
  // two steps; row 1 is looked up twice in step 1 (its gradients add), rows 4 and 5 never
  const steps = [
    { ids: [1, 3, 1], grad: Array.from({ length: 12 }, () => r() - 0.5) },
    { ids: [0, 3], grad: Array.from({ length: 8 }, () => r() - 0.5) },
  ];
  const run = (kind: string) =>
    nn.sparseUpdate(
      { ...base, kind },
      steps.map((s) => ({ ids: i64(s.ids), grad: tensor(Float32Array.from(s.grad), { shape: [s.ids.length, base.dim] }) })),
    );
  // Per step, the summed gradient of each touched row.
  const rowGrads = (s: (typeof steps)[number]) => {
    const g = new Map<number, number[]>();
    s.ids.forEach((id, i) => {
      const cur = g.get(id) ?? new Array(base.dim).fill(0);
      for (let c = 0; c < base.dim; c++) cur[c] += s.grad[i * base.dim + c]!;
      g.set(id, cur);
    });
    return g;
  };

  it('Adagrad: a row-wise accumulator of the mean squared gradient, touched rows only', () => {
    const out = run('adagrad');
    const w = Array.from(out.initial.copy() as Float32Array);
    const acc = new Array(base.rows).fill(0);
    for (const s of steps)
      for (const [id, g] of rowGrads(s)) {
        acc[id] += g.reduce((a, x) => a + x * x, 0) / base.dim;
        for (let c = 0; c < base.dim; c++) w[id * base.dim + c]! -= (base.lr * g[c]!) / (Math.sqrt(acc[id]) + base.eps);
      }
    const got = out.weights.copy() as Float32Array;
    w.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    // rows 2, 4, 5 were never touched: unchanged
    const init = out.initial.copy() as Float32Array;
    for (const row of [2, 4, 5]) for (let c = 0; c < base.dim; c++) expect(got[row * base.dim + c]).toBe(init[row * base.dim + c]);
  });

  it('Adam: lazy, row-wise second moment, no bias correction', () => {
    const out = run('adam');
    const w = Array.from(out.initial.copy() as Float32Array);
    const m = new Array(base.rows * base.dim).fill(0);
    const v = new Array(base.rows).fill(0);
    for (const s of steps)
      for (const [id, g] of rowGrads(s)) {
        v[id] = v[id] * base.beta2 + (g.reduce((a, x) => a + x * x, 0) / base.dim) * (1 - base.beta2);
        for (let c = 0; c < base.dim; c++) {
          const j = id * base.dim + c;
          m[j] = m[j] * base.beta1 + g[c]! * (1 - base.beta1);
          w[j]! -= (base.lr * m[j]) / (Math.sqrt(v[id]) + base.eps);
        }
      }
    const got = out.weights.copy() as Float32Array;
    w.forEach((x, i) => expect(got[i]).toBeCloseTo(x, 5));
  });

  it('rows never trained read as zeros outside training; trained rows read their weights', () => {
    const out = run('adagrad');
    const evalRows = out.evalRows.copy() as Float32Array;
    const weights = out.weights.copy() as Float32Array;
    for (let row = 0; row < base.rows; row++) {
      const trained = [0, 1, 3].includes(row);
      for (let c = 0; c < base.dim; c++) expect(evalRows[row * base.dim + c]! + 0).toBe(trained ? weights[row * base.dim + c]! : 0); // (-0 reads as 0)
    }
    // the random initialization is not what an untrained row reads
    expect(Array.from(out.initial.copy() as Float32Array).slice(4 * base.dim).some((x) => x !== 0)).toBe(true);
  });
});

describe('fused bank attention', () => {
  it('scores exactly like the unfused path (rows materialized, then attention) on a trained model', async () => {
    const data = syntheticDataset({ trainSamples: 600, testSamples: 200, seed: 9 });
    // no side info: the fused path is taken (side info forces the unfused one)
    const cfg = { ...TINY, preset: 'lemur' as const, seed: 3, sequences: [{ name: 'long', maxLength: 12, bank: true }] };
    const fused = await Lemur.create(data, { ...cfg, decoder: { ...TINY.decoder, fused: true } });
    await fused.fit({ steps: 4 });
    const dir = `${process.env.TMPDIR ?? '/tmp'}/lemur-fused-${process.pid}`;
    await fused.save(dir);
    const unfused = await Lemur.load(dir, data, { decoder: { fused: false } });
    expect(unfused.config.decoder.fused).toBe(false);
    const a = await fused.predict('test');
    const b = await unfused.predict('test');
    let worst = 0;
    for (let i = 0; i < a.scores.length; i++) worst = Math.max(worst, Math.abs(a.scores[i]! - b.scores[i]!));
    expect(worst).toBeLessThan(1e-5);
    // and the bank really was read (a fresh bank would make both trivially equal)
    expect((await fused.bankStats())!.written).toBeGreaterThan(0);
  });
});

describe("the text encoders' last layer", () => {
  it('computed for the [CLS] rows alone equals the full layer read at those rows, output and every gradient', () => {
    // ragged documents, a 1-token one (its [CLS] attends to itself only) among them
    const lengths = [5, 1, 9, 3, 17];
    const W = 16, B = lengths.length, T = lengths.reduce((a, b) => a + b, 0);
    const offsets = [0];
    for (const l of lengths) offsets.push(offsets.at(-1)! + l);
    const r = rng(11);
    const x = tensor(Float32Array.from({ length: T * W }, () => r() * 2 - 1), { shape: [T, W] });
    const g = tensor(Float32Array.from({ length: B * W }, () => r() * 2 - 1), { shape: [B, W] });
    const res = nn.encoderFirstRows(x, i64(offsets), 4, g, 5);
    const worst = (a: Tensor, b: Tensor) => {
      const p = a.copy() as Float32Array, q = b.copy() as Float32Array;
      expect(p.length).toBe(q.length);
      let m = 0, scale = 0;
      for (let i = 0; i < p.length; i++) {
        m = Math.max(m, Math.abs(p[i]! - q[i]!));
        scale = Math.max(scale, Math.abs(p[i]!));
      }
      expect(scale).toBeGreaterThan(1e-3); // something to compare
      return m / scale;
    };
    expect(worst(res.full.out, res.first.out)).toBeLessThan(1e-5);
    expect(worst(res.full.gradX, res.first.gradX)).toBeLessThan(1e-5);
    expect(worst(res.full.gradParams, res.first.gradParams)).toBeLessThan(1e-5);
  });
});
