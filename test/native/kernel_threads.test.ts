// lemur's own CPU kernels run on the intra-op threads, and give the same bits on any number of
// them. at::parallel_for is compiled into the addon: a build without LibTorch's OpenMP runtime
// (cmake/LemurOpenMP.cmake) silently ran every kernel on one thread, whatever setThreads said.
import { afterAll, describe, expect, it } from 'vitest';

import { info, native, setThreads, tensor, type Tensor } from '../../dist/index.js';
import { rng } from '../helpers.js';
import { i64, randomAttentionCase, tensor3, uniform } from './op_helpers.js';

const before = info().threads;
afterAll(() => setThreads({ intraOp: before.intraOp, blas: before.blas }));

/** Every output of `run` on 1 thread and on 3, as raw bytes. */
function onThreads(run: () => Record<string, Tensor | null | undefined>, threads: number) {
  setThreads({ intraOp: threads });
  return Object.fromEntries(Object.entries(run()).filter(([, t]) => t).map(([k, t]) => [k, Array.from(t!.copy() as Float32Array)]));
}

function sameOnOneAndThree(run: () => Record<string, Tensor | null | undefined>) {
  const one = onThreads(run, 1), three = onThreads(run, 3);
  expect(Object.keys(one).length).toBeGreaterThan(1);
  for (const k of Object.keys(one)) expect(three[k], k).toEqual(one[k]);
}

describe('kernel threads', () => {
  it('the kernels split their work over the intra-op threads', () => {
    for (const n of [1, 2, 3]) {
      setThreads({ intraOp: n });
      expect(info().threads.kernelThreads).toBe(n);
    }
  });

  it('ragged attention, LayerNorm, GELU and mean pooling give the same bits on 1 and 3 threads', () => {
    const r = rng(5);
    const B = 48;
    const c = randomAttentionCase(6, {
      H: 4, D: 16, Dv: 16, maskRate: 0.2,
      qLens: Array.from({ length: B }, () => 1 + Math.floor(r() * 6)),
      kLens: Array.from({ length: B }, () => Math.floor(r() * 60)),
    });
    const Tq = c.qOff[B]!, Tk = c.kOff[B]!;
    const mask = tensor(Uint8Array.from(c.mask!, (m) => (m ? 1 : 0)), { dtype: 'bool' });
    const [q, k, v, g] = [tensor3(c.q, [Tq, 4, 16], 'float32'), tensor3(c.k, [Tk, 4, 16], 'float32'),
      tensor3(c.v, [Tk, 4, 16], 'float32'), tensor3(c.gradOut, [Tq, 4, 16], 'float32')];
    sameOnOneAndThree(() => {
      const o = native().ops.raggedAttention(q, k, v, tensor(i64(c.qOff)), tensor(i64(c.kOff)), mask, 0.25, g);
      return { out: o.out, dq: o.gradQ, dk: o.gradK, dv: o.gradV };
    });

    const rows = 1000, N = 64;  // four chunks of the weight and bias gradients
    const f32 = (a: Float64Array, shape: number[]) => tensor(Float32Array.from(a), { shape });
    const x = f32(uniform(r, rows * N, -3, 3), [rows, N]), gy = f32(uniform(r, rows * N), [rows, N]);
    const w = f32(uniform(r, N, 0.5, 1.5), [N]), b = f32(uniform(r, N), [N]);
    sameOnOneAndThree(() => {
      const o = native().ops.layerNorm(x, w, b, 1e-5, gy);
      return { out: o.out, dx: o.gradX, dw: o.gradWeight, db: o.gradBias };
    });
    sameOnOneAndThree(() => {
      const o = native().ops.gelu(x, gy);
      return { out: o.out, dx: o.gradX };
    });

    const offsets = [0];
    for (let i = 0; i < 200; i++) offsets.push(offsets[i]! + Math.floor(r() * 5));
    const values = f32(uniform(r, offsets[200]! * 8), [offsets[200]!, 8]);
    const poolGrad = f32(uniform(r, 200 * 8), [200, 8]);
    sameOnOneAndThree(() => {
      const o = native().ops.raggedMeanPool(values, BigInt64Array.from(offsets, BigInt), poolGrad);
      return { out: o.out, grad: o.gradValues };
    });
  });
});
