// RankMixer's token mixing against its definition, and per-token FFN weights.
import { describe, expect, it } from 'vitest';

import { native, tensor, type Tensor } from '../../dist/index.js';
import { rng } from '../helpers.js';

const nn = native().nn as {
  tokenMix(x: Tensor): Tensor;
  perTokenFfn(x: Tensor, hidden: number, seed: number): Tensor;
};

describe('TokenMix', () => {
  it('regroups sub-space h of every token into token h (the paper\'s reshape definition)', () => {
    const B = 2, T = 4, D = 8, S = D / T;
    const r = rng(1);
    const x = Float32Array.from({ length: B * T * D }, () => r());
    const out = nn.tokenMix(tensor(x, { shape: [B, T, D] })).view() as Float32Array;
    // out[b][h][t*S + j] = x[b][t][h*S + j]: token t's h-th sub-space becomes part t of token h
    for (let b = 0; b < B; b++)
      for (let h = 0; h < T; h++)
        for (let t = 0; t < T; t++)
          for (let j = 0; j < S; j++)
            expect(out[b * T * D + h * D + t * S + j]).toBe(x[b * T * D + t * D + h * S + j]);
  });

  it('rejects a width not divisible by the token count', () => {
    expect(() => nn.tokenMix(tensor(new Float32Array(2 * 3 * 4), { shape: [2, 3, 4] }))).toThrow(/D divisible by T/);
  });
});

describe('PerTokenFFN', () => {
  const B = 3, T = 4, D = 8;
  const r = rng(2);
  const token = Array.from({ length: D }, () => r() * 2 - 1);

  it('has distinct weights per token position: identical tokens give different outputs', () => {
    const x = Float32Array.from({ length: B * T * D }, (_, i) => token[i % D]!);
    const out = nn.perTokenFfn(tensor(x, { shape: [B, T, D] }), 16, 5).view() as Float32Array;
    const row = (b: number, t: number) => Array.from(out.subarray((b * T + t) * D, (b * T + t + 1) * D));
    for (let t = 1; t < T; t++) expect(row(0, t)).not.toEqual(row(0, 0));
    expect(row(1, 2)).toEqual(row(0, 2)); // same position, same input: same output
  });

  it('is position-wise: changing token t changes only output t', () => {
    const x = Float32Array.from({ length: B * T * D }, () => r());
    const a = nn.perTokenFfn(tensor(x, { shape: [B, T, D] }), 16, 5).copy() as Float32Array;
    const y = x.slice();
    for (let j = 0; j < D; j++) y[1 * D + j] = r(); // sample 0, token 1
    const b = nn.perTokenFfn(tensor(y, { shape: [B, T, D] }), 16, 5).copy() as Float32Array;
    for (let t = 0; t < T; t++) {
      const same = Array.from(a.subarray(t * D, (t + 1) * D)).every((v, j) => v === b[t * D + j]);
      expect(same).toBe(t !== 1);
    }
  });
});
