// Data-parallel training over c10d Gloo on 127.0.0.1: 2 worker processes (1 thread each)
// against one process with the whole batch, faults (a killed rank, mismatched configs) and
// resumes at another world size. Skipped where the build has no Gloo backend.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateDataset, info, Lemur, openDataset } from '../../dist/index.js';

const hasGloo = info().build.distributed !== 'none';
const worker = join(import.meta.dirname, 'worker.mjs');
let dir = '';
let port = 29700 + Math.floor(Math.random() * 2000);
const nextPort = () => (port += 3);

// Small lemur: content encoders, bank (fresh in-batch reads), two bank histories, SQDC with
// global negatives. Every document encoded (p = q = 1) and no dropout, so the sharded and the
// unsharded step compute the same thing.
const LEMUR = {
  preset: 'lemur',
  seed: 5,
  embeddingDim: 16,
  encoderSampling: { forward: 1, backward: 1 },
  features: { docIdDropout: 0 },
  docEncoder: { layers: 1, width: 16, heads: 2, dropout: 0 },
  queryEncoder: { layers: 1, width: 16, heads: 2, dropout: 0 },
  train: { batchSize: 64 },
  // LEMUR_TEST_DEVICE=cuda runs the job on the GPU (scripts/gpu-check.sh: two ranks share it
  // over Gloo, LEMUR_DIST_BACKEND=gloo; NCCL needs one GPU per rank)
  // (in float32: bf16 autocast rounds too coarsely for the 1-process comparison)
  ...(process.env.LEMUR_TEST_DEVICE ? { device: process.env.LEMUR_TEST_DEVICE, bf16: false } : {}),
};

interface Out {
  rank: number;
  aborted?: boolean;
  step?: number;
  steps: number;
  samples: number;
  losses: { step: number; loss: number; encoded: number }[];
  scores: number[];
  bank: number[];
  traffic: Record<string, number>;
  idTableParameters: number;
  digests: string[];
  encoded: number;
  bankRowsHeld: number;
  bankRows: number;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  seconds: number;
  out?: Out;
}

function run(env: Record<string, string>, config: object = LEMUR, onSpawn?: (child: ChildProcess) => void): Promise<Run> {
  const outFile = join(dir, `out-${Math.random().toString(36).slice(2)}.json`);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [worker], {
      env: { ...process.env, LEMUR_TEST_DATA: join(dir, 'data'), LEMUR_TEST_CONFIG: JSON.stringify(config), LEMUR_TEST_OUT: outFile, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    onSpawn?.(child);
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code, signal) =>
      resolve({ code, signal, stderr, seconds: (performance.now() - t0) / 1000, out: existsSync(outFile) ? (JSON.parse(readFileSync(outFile, 'utf8')) as Out) : undefined }),
    );
  });
}

const ranks = (n: number, env: Record<string, string> = {}, configs?: object[]) => {
  const p = String(nextPort());
  return Promise.all(Array.from({ length: n }, (_, r) => run({ RANK: String(r), WORLD_SIZE: String(n), MASTER_PORT: p, ...env }, configs?.[r])));
};

const maxDiff = (a: number[], b: number[]) => {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
};

describe.skipIf(!hasGloo)('data-parallel training (c10d Gloo, 2 workers)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lemur-dp-'));
    await generateDataset(join(dir, 'data'), { numDocuments: 300, numUsers: 60, numSamples: 1500, historyLength: 12, seed: 2 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Float sums in another order (the gradient average, the bank rows' ranks): agreement to a
  // few ulps of float32 after 6 steps, nowhere near the step-to-step change of the loss.
  const TOL = Number(process.env.LEMUR_TEST_TOL ?? 1e-5);  // float32 summation order (ranks sum halves)

  it.each(['sharded', 'replicated'])('2 ranks x batch 32 equal 1 process x batch 64 (lemur, %s ID tables and bank: losses, test scores, bank rows); ranks identical', async (layout) => {
    const env = { LEMUR_TEST_STEPS: '6', LEMUR_DIST_TABLES: layout, LEMUR_DIST_BANK: layout };
    const [one, [a, b]] = await Promise.all([run({ LEMUR_TEST_STEPS: '6' }), ranks(2, env)]);
    for (const r of [one, a, b]) expect(r.code, r.stderr).toBe(0);
    const [o, r0, r1] = [one.out!, a.out!, b.out!];
    expect(r0.samples).toBe(o.samples);  // the global batch counted, not the shard
    expect(r0.losses.map((l) => l.step)).toEqual(o.losses.map((l) => l.step));
    expect(maxDiff(r0.losses.map((l) => l.loss), o.losses.map((l) => l.loss))).toBeLessThan(TOL);
    // the loss moved between steps far more than the tolerance: the comparison can fail
    expect(Math.abs(o.losses[0]!.loss - o.losses.at(-1)!.loss)).toBeGreaterThan(1e3 * TOL);
    expect(maxDiff(r0.scores, o.scores)).toBeLessThan(TOL);
    expect(r0.bank.length).toBeGreaterThan(0);
    expect(maxDiff(r0.bank, o.bank)).toBeLessThan(TOL);
    // the ranks hold one model: the same dense parameters after every step, identical
    // predictions and bank rows, bit for bit
    expect(r0.digests.length).toBe(6);
    expect(new Set(r0.digests).size).toBe(6);  // the parameters changed every step
    expect(r1.digests).toEqual(r0.digests);
    expect(r1.scores).toEqual(r0.scores);
    expect(r1.bank).toEqual(r0.bank);
    expect(r1.losses.map((l) => l.loss)).toEqual(r0.losses.map((l) => l.loss));
    for (const kind of ['dense', 'tables', 'bank', 'sqdc', 'dedup ids', 'dedup rows']) expect(r0.traffic[kind], kind).toBeGreaterThan(0);
    // cross-rank dedup: a document both halves of a batch need is encoded once, so the ranks
    // together run the encoder on exactly what one process does
    expect(o.encoded).toBeGreaterThan(0);
    expect(r0.encoded + r1.encoded).toBe(o.encoded);
    if (layout === 'sharded') {
      // tables row-wise and the bank by document: each rank holds half the rows (+- a block's rounding)
      expect(r0.idTableParameters + r1.idTableParameters).toBe(o.idTableParameters);
      for (const r of [r0, r1]) expect(Math.abs(r.idTableParameters - o.idTableParameters / 2)).toBeLessThan(0.02 * o.idTableParameters);
      expect(r0.bankRowsHeld + r1.bankRowsHeld).toBe(o.bankRows);
      expect(r0.bankRowsHeld).toBe(Math.ceil(o.bankRows / 2));
    } else {
      expect(r0.idTableParameters).toBe(o.idTableParameters);
      expect(r0.bankRowsHeld).toBe(o.bankRows);
    }
  });

  it.each(['sharded', 'replicated'])('ID-only dlrm-mlp, %s ID tables with row-wise adam: as one process', async (tables) => {
    const cfg = { preset: 'dlrm-mlp', seed: 3, train: { batchSize: 50 }, optim: { sparse: 'adam' } };
    const [one, [a, b]] = await Promise.all([run({ LEMUR_TEST_STEPS: '8' }, cfg), ranks(2, { LEMUR_TEST_STEPS: '8', LEMUR_TEST_TABLES: tables }, [cfg, cfg])]);
    for (const r of [one, a, b]) expect(r.code, r.stderr).toBe(0);
    expect(maxDiff(a.out!.scores, one.out!.scores)).toBeLessThan(TOL);
    expect(b.out!.scores).toEqual(a.out!.scores);
    expect(a.out!.traffic.tables).toBeGreaterThan(0);
    if (tables === 'sharded') expect(a.out!.idTableParameters).toBeLessThan(0.6 * one.out!.idTableParameters);
    else expect(a.out!.idTableParameters).toBe(one.out!.idTableParameters);
  });

  it('globalNegatives: false contrasts each rank\'s own batch (no SQDC traffic, a different loss)', async () => {
    const [[a0], [b0]] = [await ranks(2, { LEMUR_TEST_STEPS: '3' }), await ranks(2, { LEMUR_TEST_STEPS: '3', LEMUR_DIST_GLOBAL_NEGATIVES: '0' })];
    for (const r of [a0, b0]) expect(r!.code, r!.stderr).toBe(0);
    expect(a0!.out!.traffic.sqdc).toBeGreaterThan(0);
    expect(b0!.out!.traffic.sqdc ?? 0).toBe(0);
    expect(b0!.out!.losses[0]!.loss).not.toBe(a0!.out!.losses[0]!.loss);
  });

  it('gradients sent during backward (overlap, default) or after it: the same model, bit for bit', async () => {
    const [[a], [b]] = await Promise.all([ranks(2, { LEMUR_TEST_STEPS: '4' }), ranks(2, { LEMUR_TEST_STEPS: '4', LEMUR_DIST_OVERLAP: '0' })]);
    for (const r of [a, b]) expect(r!.code, r!.stderr).toBe(0);
    expect(b!.out!.scores).toEqual(a!.out!.scores);
    expect(b!.out!.losses.map((l) => l.loss)).toEqual(a!.out!.losses.map((l) => l.loss));
  });

  it('evaluation is sharded too, a last batch with fewer rows than ranks included: every row scored as in one process', async () => {
    const rows = openDataset(join(dir, 'data')).splits.test!.rows;
    const cfg = { preset: 'dlrm-mlp', seed: 3, train: { batchSize: 50, evalBatchSize: rows - 1 } };  // last batch: 1 row
    const [one, [a, b]] = await Promise.all([run({ LEMUR_TEST_STEPS: '3' }, cfg), ranks(2, { LEMUR_TEST_STEPS: '3' }, [cfg, cfg])]);
    for (const r of [one, a, b]) expect(r.code, r.stderr).toBe(0);
    expect(a.out!.scores.length).toBe(rows);
    expect(a.out!.scores.at(-1)).toBeGreaterThan(0);  // the padded row was scored (scores are probabilities)
    expect(maxDiff(a.out!.scores, one.out!.scores)).toBeLessThan(TOL);
    expect(b.out!.scores).toEqual(a.out!.scores);
    expect(a.out!.traffic.evaluation).toBeGreaterThan(0);
  });

  // The other backbones and the two-stage protocol (pre-training on its own budget, then the
  // bank indexed by every rank): the same equality, to 1e-4 (two-stage's frozen encoders and
  // pre-training SQDC add their own summation order).
  it.each([
    ['hyformer', {}],
    ['two-stage', { twoStage: { pretrainSteps: 3 } }],
    ['end-to-end', {}],
    ['longer', {}],
  ])('%s: 2 ranks equal 1 process', async (preset, extra) => {
    const cfg = { ...LEMUR, preset, ...extra };
    const [one, [a, b]] = await Promise.all([run({ LEMUR_TEST_STEPS: '5' }, cfg), ranks(2, { LEMUR_TEST_STEPS: '5' }, [cfg, cfg])]);
    for (const r of [one, a, b]) expect(r.code, r.stderr).toBe(0);
    expect(maxDiff(a.out!.scores, one.out!.scores)).toBeLessThan(1e-4);
    expect(maxDiff(a.out!.losses.map((l) => l.loss), one.out!.losses.map((l) => l.loss))).toBeLessThan(1e-4);
    expect(b.out!.scores).toEqual(a.out!.scores);
  });

  // "gradient" freshness: a history event whose document another rank encoded this step
  // takes that encoding with its gradient (gathered from every rank), as one process would.
  it.each(['sharded', 'replicated'])('freshInBatch "gradient", %s bank: 2 ranks equal 1 process', async (layout) => {
    // no warm-up and a large encoder lr, so that 5 steps of the gradient path move the model
    const base = { ...LEMUR, optim: { warmupSteps: 0, encoderLr: 0.01 } };
    const cfg = { ...base, memoryBank: { freshInBatch: 'gradient' } };
    const env = { LEMUR_TEST_STEPS: '5', LEMUR_DIST_TABLES: layout, LEMUR_DIST_BANK: layout };
    const [one, [a, b], detached] = await Promise.all([run({ LEMUR_TEST_STEPS: '5' }, cfg), ranks(2, env, [cfg, cfg]), run({ LEMUR_TEST_STEPS: '5' }, base)]);
    for (const r of [one, a, b, detached]) expect(r.code, r.stderr).toBe(0);
    expect(maxDiff(a.out!.losses.map((l) => l.loss), one.out!.losses.map((l) => l.loss))).toBeLessThan(TOL);
    expect(maxDiff(a.out!.scores, one.out!.scores)).toBeLessThan(TOL);
    expect(b.out!.scores).toEqual(a.out!.scores);
    expect(a.out!.traffic['fresh rows']).toBeGreaterThan(0);
    // the gradient path changes training (so the equality above can fail)
    expect(maxDiff(detached.out!.scores, one.out!.scores)).toBeGreaterThan(1e2 * TOL);
  });

  it('a killed rank stops the other within the timeout, naming it; the checkpoint left resumes on 1 worker', async () => {
    const ck = join(dir, 'ck-kill');
    const p = String(nextPort());
    const env = { WORLD_SIZE: '2', MASTER_PORT: p, LEMUR_DIST_TIMEOUT: '30', LEMUR_TEST_STEPS: '20', LEMUR_TEST_CHECKPOINT: ck, LEMUR_TEST_CHECKPOINT_EVERY: '2' };
    const [a, b] = await Promise.all([run({ ...env, RANK: '0' }), run({ ...env, RANK: '1', LEMUR_TEST_DIE_AT: '5' })]);
    expect(b.signal).toBe('SIGKILL');
    expect(a.code).not.toBe(0);
    expect(a.stderr).toMatch(/distributed: .* failed on rank 0 of 2 in step 6: rank 1 \(pid \d+ on this machine\) has exited; rank 1 last began step 5/);
    expect(a.stderr).toMatch(/rank 1/);
    expect(a.seconds).toBeLessThan(30 + 20);
    // the last complete checkpoint (step 4) is intact and resumes in a plain process
    const resumed = await run({ LEMUR_TEST_RESUME: ck, LEMUR_TEST_STEPS: '2' });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.out!.losses[0]!.step).toBe(5);
  });

  it('a hung rank (SIGSTOP) stops the other within the collective timeout, naming it', async () => {
    const p = String(nextPort());
    const env = { WORLD_SIZE: '2', MASTER_PORT: p, LEMUR_DIST_TIMEOUT: '6', LEMUR_TEST_STEPS: '20' };
    let stopped: ChildProcess | undefined;
    const hung = run({ ...env, RANK: '1', LEMUR_TEST_HANG_AT: '3' }, LEMUR, (c) => (stopped = c));
    const a = await run({ ...env, RANK: '0' });
    expect(a.code).not.toBe(0);
    expect(a.stderr).toMatch(/failed on rank 0 of 2 in step 4: rank 1 last began step 3/);
    expect(a.stderr).toMatch(/collective timeout 6 s/);
    expect(a.seconds).toBeLessThan(6 + 15);
    // the stopped worker is still there: end it
    stopped!.kill('SIGKILL');
    await hung;
  });

  it('Ctrl-C on one rank stops every rank after the same step, with one intact checkpoint that resumes', async () => {
    const ck = join(dir, 'ck-interrupt');
    const p = String(nextPort());
    const env = { WORLD_SIZE: '2', MASTER_PORT: p, LEMUR_TEST_STEPS: '40', LEMUR_TEST_CHECKPOINT: ck, LEMUR_TEST_CHECKPOINT_EVERY: '100' };
    const [a, b] = await Promise.all([run({ ...env, RANK: '0', LEMUR_TEST_INTERRUPT_AT: '3' }), run({ ...env, RANK: '1' })]);
    for (const r of [a, b]) {
      expect(r.code, r.stderr).toBe(130);
      expect(r.out!.aborted).toBe(true);
    }
    // the interrupt (rank 0 only) is agreed inside a step: both stop after the same one
    expect(a.out!.step).toBeGreaterThanOrEqual(4);
    expect(b.out!.step).toBe(a.out!.step);
    const resumed = await run({ LEMUR_TEST_RESUME: ck, LEMUR_TEST_STEPS: '1' });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.out!.losses[0]!.step).toBe(a.out!.step! + 1);
  });

  it('ranks with different configurations are refused at start-up', async () => {
    const [a, b] = await ranks(2, { LEMUR_TEST_STEPS: '2', LEMUR_DIST_TIMEOUT: '30' }, [LEMUR, { ...LEMUR, seed: 6 }]);
    for (const r of [a, b]) {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/rank 1's configuration or dataset differs from rank 0's/);
    }
  });

  it('a 2-worker checkpoint (sharded tables) resumes on 1 worker and on 3: same predictions, and training continues as one process would', async () => {
    const ck = join(dir, 'ck-resume');
    const [a] = await ranks(2, { LEMUR_TEST_STEPS: '4', LEMUR_TEST_CHECKPOINT: ck, LEMUR_TEST_CHECKPOINT_EVERY: '100' });
    expect(a.code, a.stderr).toBe(0);
    // each rank wrote its rows; rank 0 the rest and the manifest, with checksums of all
    const step = join(ck, 'step-000000004');
    expect(readdirSync(step).filter((f) => f.startsWith('shard-')).sort()).toEqual(['shard-00000-of-00002.pt', 'shard-00001-of-00002.pt']);
    expect(Object.keys(JSON.parse(readFileSync(join(step, 'meta.json'), 'utf8')).files)).toContain('shard-00001-of-00002.pt');
    expect(readdirSync(ck).filter((f) => f.startsWith('.'))).toEqual([]);  // no staging left
    // loaded in this process: the predictions rank 0 made. Equal within float rounding, not
    // bit for bit: the two ranks scored half batches each, and the dense kernels' rounding can
    // depend on the batch's row count (OpenBLAS and ATen pick paths by shape and CPU).
    const data = openDataset(join(dir, 'data'));
    const loaded = await Lemur.load(ck, data);
    expect(loaded.step).toBe(4);
    expect(maxDiff(Array.from((await loaded.predict('test')).scores), a.out!.scores)).toBeLessThan(1e-6);
    // 2 workers x 4 steps then 1 worker x 4 more == 1 process x 8 steps
    const [resumed, straight] = await Promise.all([run({ LEMUR_TEST_RESUME: ck, LEMUR_TEST_STEPS: '4' }), run({ LEMUR_TEST_STEPS: '8' })]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(maxDiff(resumed.out!.scores, straight.out!.scores)).toBeLessThan(TOL);
    // re-sharded for 3 workers (blocks of a third): 4 more steps with batch 64 split 21/21/22
    const three = await ranks(3, { LEMUR_TEST_RESUME: ck, LEMUR_TEST_STEPS: '4' });
    for (const r of three) expect(r.code, r.stderr).toBe(0);
    expect(maxDiff(three[0]!.out!.scores, straight.out!.scores)).toBeLessThan(TOL);
    expect(three[2]!.out!.scores).toEqual(three[0]!.out!.scores);
    // a damaged shard is refused by name
    const shard = join(step, 'shard-00001-of-00002.pt');
    const bytes = readFileSync(shard);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(shard, bytes);
    await expect(Lemur.load(ck, data)).rejects.toThrow(/shard-00001-of-00002\.pt/);
  });
});
