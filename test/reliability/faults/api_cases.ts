/**
 * The training API's options misused: fit / evaluate / predict / save with out-of-range,
 * mistyped or unknown values (negative epochs, a split the dataset lacks, a checkpoint folder
 * that is a file, keep 0...). Each is a LemurError naming the option and the value, raised
 * before any work is done; the model stays usable (a valid call after each one works).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Lemur, type FitOptions } from '../../../dist/index.js';
import { syntheticDataset, TINY } from '../../synthetic.js';
import type { FaultCase, Run } from './harness.js';

export async function apiCases(root: string): Promise<FaultCase[]> {
  mkdirSync(root, { recursive: true });
  const data = syntheticDataset({ trainSamples: 256, testSamples: 128 });
  const model = await Lemur.create(data, { ...TINY, preset: 'longer' });
  const aFile = join(root, 'a-file');
  writeFileSync(aFile, 'not a folder');
  let n = 0;
  /** The misuse, then a valid call that must work (the model is not left busy or broken). */
  const misuse = (call: () => Promise<unknown>) => async (): Promise<Run> => {
    try {
      await call();
    } finally {
      await model.evaluate('test');
    }
  };
  const cases: FaultCase[] = [];
  const add = (name: string, call: () => Promise<unknown>, match: RegExp) => cases.push({ group: 'api: option misuse', name, expect: 'error', match, run: misuse(call) });

  const fits: [string, FitOptions, RegExp][] = [
    ['epochs -1', { epochs: -1 }, /epochs.*-1/],
    ['epochs 1.5', { epochs: 1.5 }, /epochs.*1\.5/],
    ['epochs NaN', { epochs: NaN }, /epochs.*NaN/],
    ["epochs '2'", { epochs: '2' as never }, /epochs.*"2"/],
    ['steps -3', { steps: -3 }, /steps.*-3/],
    ['steps 2.5', { steps: 2.5 }, /steps.*2\.5/],
    ["split 'nosplit'", { split: 'nosplit' }, /nosplit/],
    ['progressEvery 0', { progressEvery: 0, onProgress: () => {} }, /progressEvery.*0/],
    ['onProgress not a function', { onProgress: 3 as never }, /onProgress/],
    ["evaluate.split 'nosplit'", { evaluate: { split: 'nosplit', every: 5 } }, /nosplit/],
    ['evaluate.every 0', { evaluate: { split: 'test', every: 0 } }, /evaluate: \{ every \}.*got 0/],
    ["earlyStopping.metric 'bogus'", { earlyStopping: { metric: 'bogus' as never } }, /metric.*bogus/],
    ["earlyStopping.split 'nosplit'", { earlyStopping: { split: 'nosplit' } }, /nosplit/],
    ['earlyStopping.patience 0', { earlyStopping: { split: 'test', patience: 0 } }, /patience.*0/],
    ['an unknown earlyStopping field', { earlyStopping: { patients: 3 } as never }, /patients/],
    ['checkpoint.dir is a file', { steps: 1, checkpoint: { dir: aFile } }, /a-file/],
    ['checkpoint.every -1', { checkpoint: { dir: join(root, 'ck'), every: -1 } }, /every.*-1/],
    ['checkpoint.keep 0', { checkpoint: { dir: join(root, 'ck'), keep: 0 } }, /keep.*0/],
    ['checkpoint without dir', { checkpoint: {} as never }, /checkpoint: \{ dir \}.*got undefined/],
    ['an unknown option', { epoch: 2 } as never, /epoch/],
    ['signal not an AbortSignal', { signal: 'stop' as never }, /signal/],
  ];
  for (const [name, o, match] of fits) add(`fit: ${name}`, () => model.fit(o), match);
  add("evaluate('nosplit')", () => model.evaluate('nosplit'), /nosplit/);
  add('evaluate: retrieval.k 0', () => model.evaluate('test', { retrieval: { k: 0 } }), /retrieval: \{ k \}.*got 0/);
  add('evaluate: retrieval.queries -1', () => model.evaluate('test', { retrieval: { k: 5, queries: -1 } }), /retrieval: \{ queries \}.*got -1/);
  add("predict('nosplit')", () => model.predict('nosplit'), /nosplit/);
  add('save into a file', () => model.save(aFile), /a-file/);
  add('save: keep 0', () => model.save(join(root, `s-${++n}`), { keep: 0 }), /keep.*0/);
  add('save: keep 1.5', () => model.save(join(root, `s-${++n}`), { keep: 1.5 }), /keep.*1\.5/);
  add('save: dir empty', () => model.save(''), /dir|folder/);
  return cases;
}
