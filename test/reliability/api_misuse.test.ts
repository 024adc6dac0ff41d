// The defects a hostile user found, kept fixed: divergence stops training with the step
// named (or is skipped and counted), metrics refuse non-finite scores, one operation at a
// time per model, AbortSignals for evaluate/predict, no quiet no-ops, damaged checkpoints
// named, undefined metrics explained, a tokenizer that could not be copied reported, close()
// freeing a model at once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { AbortError, auc, Lemur, memoryStats, rankingMetrics, resolveConfig } from '../../dist/index.js';
import { syntheticDataset, TINY } from '../synthetic.js';

const tmp = mkdtempSync(join(tmpdir(), 'lemur-misuse-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const data = syntheticDataset({ trainSamples: 512, testSamples: 128 });
const lemur = (over: object = {}) => Lemur.create(data, { ...TINY, preset: 'lemur', ...over });

describe('divergence', () => {
  it('a non-finite loss stops training with an error naming the step; the model stays as after the last good step', async () => {
    const m = await lemur({ optim: { lr: 1e8, encoderLr: 1e8, sparseLr: 1e8, warmupSteps: 0, clipNorm: 0 } });
    const err = await m.fit({ epochs: 3 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toMatch(/training step (\d+): the (loss|gradient norm) is (NaN|Infinity|-Infinity) /);
    const step = Number(/training step (\d+)/.exec((err as Error).message)![1]);
    expect(m.step).toBe(step - 1); // nothing of the bad step was applied
    expect((err as Error).message).toMatch(/optim\.nonFinite: 'skip'/);
    expect(m.busy).toBeUndefined(); // the model is free again
  });

  it("with optim.nonFinite: 'skip' the bad steps are skipped and counted", async () => {
    const m = await lemur({ optim: { lr: 1e8, encoderLr: 1e8, sparseLr: 1e8, warmupSteps: 0, clipNorm: 0, nonFinite: 'skip' } });
    const fit = await m.fit({ epochs: 1, progressEvery: 1, earlyStopping: false });
    expect(fit.skippedSteps).toBeGreaterThan(0);
    expect(fit.progress.reduce((a, p) => a + p.skippedSteps, 0)).toBe(fit.skippedSteps);
  });

  it('metrics refuse non-finite scores instead of printing a number', () => {
    const labels = [0, 1, 0, 1];
    expect(() => rankingMetrics([0.1, NaN, 0.3, 0.4], labels, [0, 0, 1, 1], [0, 0, 1, 1])).toThrow(/1 of 4 are not finite \(first at index 1/);
    expect(auc([0.1, 0.9, 0.2, 0.8], labels)).toBe(1);
  });
});

describe('one operation at a time per model', () => {
  it('a second fit, evaluate, predict or save while fit runs is rejected at once, naming what runs', async () => {
    const m = await lemur();
    const running = m.fit({ epochs: 1, earlyStopping: false });
    for (const second of [() => m.fit(), () => m.evaluate('test'), () => m.predict('test'), () => m.save(join(tmp, 'x')), () => m.bankStats()])
      await expect(second()).rejects.toThrow(/called while fit\(\) is running on this model.*one operation at a time/);
    const fit = await running;
    expect(fit.steps).toBe(4);
    expect(m.position).toEqual({ epoch: 1, batch: 0 }); // one epoch, not two interleaved
    expect((await m.evaluate('test')).all.n).toBe(128); // free again
  });

  it('evaluate and predict take an AbortSignal', async () => {
    const m = await lemur({ train: { ...TINY.train, evalBatchSize: 16 } });
    const controller = new AbortController();
    const ev = m.evaluate('test', { signal: controller.signal });
    controller.abort();
    await expect(ev).rejects.toBeInstanceOf(AbortError);
    await expect(m.predict('test', { signal: AbortSignal.abort() })).rejects.toThrow(/prediction of split 'test' aborted/);
    expect((await m.predict('test')).scores.length).toBe(128);
  });
});

describe('no quiet no-ops, no vague messages', () => {
  it('fit rejects NaN, negative and fractional counts naming the option', async () => {
    const m = await lemur();
    await expect(m.fit({ steps: NaN })).rejects.toThrow(/fit\(\{ steps \}\) must be a non-negative integer .*got NaN/);
    await expect(m.fit({ steps: -3 })).rejects.toThrow(/got -3/);
    await expect(m.fit({ epochs: 1.5 })).rejects.toThrow(/fit\(\{ epochs \}\).*got 1\.5/);
    await expect(m.fit({ progressEvery: 0 })).rejects.toThrow(/progressEvery/);
    expect(m.step).toBe(0);
  });

  it('a NaN learning rate is reported as NaN, not null', () => {
    expect(() => resolveConfig({ optim: { lr: NaN } })).toThrow(/config\.optim\.lr: must be a positive number, got NaN/);
    expect(() => resolveConfig({ loss: { temperature: Infinity } })).toThrow(/got Infinity/);
  });

  it('a truncated checkpoint meta.json names the file', async () => {
    const m = await lemur();
    const path = await m.save(join(tmp, 'ck'));
    writeFileSync(join(path, 'meta.json'), '{"format": "lemur-check');
    await expect(Lemur.load(join(tmp, 'ck'), data)).rejects.toThrow(new RegExp(`${join(path, 'meta.json')}: not valid JSON.*damaged`));
    writeFileSync(join(path, 'meta.json'), '');
    await expect(Lemur.load(join(tmp, 'ck'), data)).rejects.toThrow(/the file is empty/);
  });

  it('evaluation on a split with one class says why the metrics are undefined', async () => {
    const test = structuredClone(data.splits.test!);
    test.label.fill(1);
    const m = await Lemur.create({ ...data, splits: { ...data.splits, test } }, { ...TINY, preset: 'dlrm-mlp' });
    const ev = await m.evaluate('test');
    expect(ev.all.auc).toBeNaN();
    expect(ev.notes!.join(' ')).toMatch(/split 'test': AUC and QAUC are undefined: all 128 rows are positives/);
  });

  it('a checkpoint whose tokenizer could not be copied is saved, with a warning and the reason in meta.json', async () => {
    const m = await Lemur.create(
      { ...data, dir: join(tmp, 'nowhere'), manifest: { ...data.manifest, tokenizer: 'tokenizer.json' } },
      { ...TINY, preset: 'dlrm-mlp' },
    );
    const warnings: string[] = [];
    m.on('warning', (w: string) => warnings.push(w));
    const path = await m.save(join(tmp, 'ck-tok'));
    expect(warnings.join('\n')).toMatch(/tokenizer was not copied .*ENOENT/);
    const meta = JSON.parse(await import('node:fs').then((f) => f.readFileSync(join(path, 'meta.json'), 'utf8')));
    expect(meta.tokenizer).toMatchObject({ copied: false });
    expect(meta.tokenizer.reason).toMatch(/ENOENT/);
  });
});

describe('close()', () => {
  it('frees the native model at once (parameters, optimizer state, bank); later calls are refused by name; twice is a no-op', async () => {
    const m = await lemur({ embeddingDim: 64, docEncoder: { layers: 1, width: 64, heads: 2 } });
    await m.fit({ steps: 3, earlyStopping: false });
    const held = memoryStats().tensorCache!.inUse;
    // the weights alone (x4 bytes), though Adam's two moments and the bank come on top
    const weights = m.parameters * 4;
    await m.close();
    const after = memoryStats().tensorCache!.inUse;
    expect(held - after).toBeGreaterThan(weights);
    await expect(m.fit({ steps: 1 })).rejects.toThrow(/fit\(\) was called on a closed model/);
    await expect(m.evaluate('test')).rejects.toThrow(/closed model/);
    await expect(m.parameterDigest()).rejects.toThrow(/this model is closed/);
    await m.close();
    await m[Symbol.asyncDispose]();
  });

  it('waits for the operation running on the model, or is refused while one runs', async () => {
    const m = await lemur();
    const fit = m.fit({ steps: 2, earlyStopping: false });
    await expect(m.close()).rejects.toThrow(/close\(\) was called while fit\(\) is running/);
    await fit;
    await m.close();
  });
});
