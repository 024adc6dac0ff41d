// Checkpoints: save/load round trip, resume = uninterrupted run (CPU, same seed), and
// atomicity (a failed or crashed save leaves the previous checkpoint intact).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { AbortError, Lemur, writeCheckpoint, type LemurConfigInput } from '../../dist/index.js';
import { syntheticDataset, TINY } from '../synthetic.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'lemur-ckpt-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('checkpoints', () => {
  const data = syntheticDataset({ trainSamples: 640, testSamples: 200 });
  const config: LemurConfigInput = {
    ...TINY,
    preset: 'lemur',
    encoderSampling: { forward: 0.5, backward: 0.25 }, // exercises the per-step random draws
    train: { batchSize: 128, epochs: 2 },
  };

  it('a resumed run reaches exactly what the uninterrupted run reaches', async () => {
    const straight = await Lemur.create(data, config);
    await straight.fit();
    const expected = await straight.predict('test');

    const dir = tmp();
    const first = await Lemur.create(data, config);
    await first.fit({ steps: 3 }); // stop mid-epoch
    await first.save(dir);
    const resumed = await Lemur.load(dir, data);
    expect(resumed.step).toBe(3);
    expect(resumed.position).toEqual({ epoch: 0, batch: 3 });
    await resumed.fit();
    expect(resumed.step).toBe(straight.step);
    const got = await resumed.predict('test');
    expect(Array.from(got.scores)).toEqual(Array.from(expected.scores));
    expect((await resumed.bankStats())!.written).toBe((await straight.bankStats())!.written);
  });

  it('round-trips parameters, bank and config', async () => {
    const dir = tmp();
    const m = await Lemur.create(data, config);
    await m.fit({ steps: 2 });
    const before = await m.predict('test');
    const path = await m.save(dir);
    expect(readFileSync(join(dir, 'LATEST'), 'utf8').trim()).toBe('step-000000002');
    expect(readdirSync(path).sort()).toEqual(['config.json', 'meta.json', 'model.pt']);
    const loaded = await Lemur.load(dir, data);
    expect(loaded.config).toEqual(m.config);
    expect(Array.from((await loaded.predict('test')).scores)).toEqual(Array.from(before.scores));
  });

  it('a save that fails midway leaves the previous checkpoint as LATEST, and no temporaries', async () => {
    const dir = tmp();
    const m = await Lemur.create(data, config);
    await m.fit({ steps: 1 });
    await m.save(dir);
    await expect(
      writeCheckpoint(dir, 'step-000000099', async (t) => {
        writeFileSync(join(t, 'model.pt'), 'partial');
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(readFileSync(join(dir, 'LATEST'), 'utf8').trim()).toBe('step-000000001');
    expect(readdirSync(dir).sort()).toEqual(['LATEST', 'step-000000001']);
    expect((await Lemur.load(dir, data)).step).toBe(1);
  });

  it('the temporary folder of a writer that crashed is ignored, then cleaned up', async () => {
    const dir = tmp();
    const m = await Lemur.create(data, config);
    await m.fit({ steps: 1 });
    await m.save(dir);
    mkdirSync(join(dir, '.step-000000005.tmp-999999')); // a crashed process's half-written save
    writeFileSync(join(dir, '.step-000000005.tmp-999999', 'model.pt'), 'half');
    expect((await Lemur.load(dir, data)).step).toBe(1);
    await m.fit({ steps: 1 });
    await m.save(dir, { keep: 1 });
    expect(readdirSync(dir).sort()).toEqual(['LATEST', 'step-000000002']);
    expect(existsSync(join(dir, 'step-000000001'))).toBe(false);
  });

  it('refuses a checkpoint for another dataset and a corrupt model file', async () => {
    const dir = tmp();
    const m = await Lemur.create(data, config);
    await m.save(dir);
    const other = syntheticDataset({ docs: 100, trainSamples: 100, testSamples: 10 });
    await expect(Lemur.load(dir, other)).rejects.toThrow(/trained on 'synthetic' with 240 documents; the dataset given has 100/);
    writeFileSync(join(dir, 'step-000000000', 'model.pt'), 'garbage');
    await expect(Lemur.load(dir, data)).rejects.toThrow(/cannot read checkpoint file .*model\.pt: .*not a ZIP archive/);
  });

  it('an aborted fit saves, reports what it did, and loads with run-time overrides', async () => {
    const dir = tmp();
    const m = await Lemur.create(data, config);
    const controller = new AbortController();
    const err = await m
      .fit({
        signal: controller.signal,
        progressEvery: 1,
        onProgress: (p) => p.step === 2 && controller.abort(),
        checkpoint: { dir },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).message).toMatch(/aborted at step 2 \(checkpoint saved in/);
    expect(((err as AbortError).partial as { steps: number }).steps).toBe(2);
    const loaded = await Lemur.load(dir, data, { train: { batchSize: 64 } });
    expect(loaded.step).toBe(2);
    expect(loaded.config.train.batchSize).toBe(64);
    expect(loaded.batchesPerEpoch()).toBe(10);
    await expect(Lemur.load(dir, data, { embeddingDim: 48 })).rejects.toThrow(/does not match this model's configuration/);
  });
});
