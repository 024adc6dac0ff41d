/**
 * Checkpoints: a tiny trained model's checkpoint, damaged one way per case (each file deleted,
 * emptied, truncated or bit-flipped at seeded offsets; LATEST dangling, empty or pointing
 * outside; meta.json fields of the wrong type; a config for another architecture; another
 * dataset). With verification on, a LemurError naming the file; with it off, an error or a
 * model that evaluates. Then saves killed with SIGKILL at seeded moments in a child process:
 * the newest complete checkpoint must load and verify afterwards.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { generateDataset, Lemur, LemurError, openDataset, verifyCheckpoint, type Dataset } from '../../../dist/index.js';
import { TINY } from '../../synthetic.js';
import { Rand, type FaultCase, type Outcome, type Run } from './harness.js';

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const SAVE_LOOP = new URL('./save_loop.mjs', import.meta.url).pathname;

export async function checkpointCases(root: string): Promise<FaultCase[]> {
  mkdirSync(root, { recursive: true });
  const gen = { numUsers: 12, numSamples: 400, historyLength: 8, withImages: true, imageSize: 8, vocabSize: 300, seed: 5 };
  const dataDir = (await generateDataset(join(root, 'data'), { numDocuments: 60, ...gen })).dir;
  const data = openDataset(dataDir);
  const config = { ...TINY, preset: 'lemur' as const };
  const model = await Lemur.create(data, config);
  await model.fit({ epochs: 1 });
  const base = join(root, 'base');
  const step = await model.save(base);
  const stepName = step.slice(base.length + 1);
  const files = readdirSync(step).sort();

  let n = 0;
  /** A copy of the checkpoint root, edited, then loaded; a loaded model must evaluate. */
  const loadEdited = (edit: (dir: string, step: string) => void, verify: boolean, dataset: Dataset = data) => async (): Promise<Run> => {
    const dir = join(root, `case-${++n}`);
    cpSync(base, dir, { recursive: true });
    try {
      edit(dir, join(dir, stepName));
      const m = await Lemur.load(dir, dataset, {}, { verify });
      const e = await m.evaluate('test');
      if (typeof e.all.auc !== 'number') throw new Error('no AUC');
      return {};
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  const cases: FaultCase[] = [];
  const add = (group: string, name: string, expect: Outcome | Outcome[], run: () => Promise<Run | void>, match?: RegExp) =>
    cases.push({ group: `checkpoint: ${group}`, name, expect, match, run, timeoutMs: 60_000 });
  const editFile = (file: string, f: (b: Buffer) => Buffer) => (_: string, s: string) => writeFileSync(join(s, file), f(readFileSync(join(s, file))));

  let seed = 99;
  const rand = new Rand(() => ((seed = (seed * 48271) % 2147483647) / 2147483647));
  for (const file of files) {
    const size = readFileSync(join(step, file)).length;
    const named = new RegExp(esc(file));
    const checked = file !== 'meta.json'; // the file that holds the checksums is checked by its structure
    add('files', `${file} deleted`, 'error', loadEdited((_, s) => unlinkSync(join(s, file)), true), named);
    add('files', `${file} emptied`, 'error', loadEdited((_, s) => writeFileSync(join(s, file), ''), true), named);
    for (let k = 0; k < 3; k++) {
      const at = rand.int(1, size - 1);
      const cut = editFile(file, (b) => b.subarray(0, at));
      add('truncated', `${file} cut to ${at} of ${size} bytes, verified`, 'error', loadEdited(cut, true), checked ? new RegExp(`${esc(file)}: ${at} bytes, meta\\.json says ${size}|${esc(file)}.*truncated`) : named);
      if (checked) add('truncated', `${file} cut to ${at} of ${size} bytes, verify off`, file === 'tokenizer.json' ? ['error', 'works'] : 'error', loadEdited(cut, false), named);
    }
    for (let k = 0; k < 3; k++) {
      const at = rand.int(0, size - 1);
      const bit = rand.int(0, 7);
      const flip = editFile(file, (b) => ((b[at] ^= 1 << bit), b));
      add('bit flips', `${file} byte ${at} bit ${bit}, verified`, checked ? 'error' : ['error', 'works'], loadEdited(flip, true), checked ? new RegExp(`${esc(file)}: checksum mismatch|${esc(file)}.*sha256`) : named);
      if (checked) add('bit flips', `${file} byte ${at} bit ${bit}, verify off`, ['error', 'works'], loadEdited(flip, false), named);
    }
  }

  // LATEST and the folder.
  add('LATEST', 'LATEST names a folder that is not there', 'error', loadEdited((d) => writeFileSync(join(d, 'LATEST'), 'step-000000999\n'), true), /LATEST names 'step-000000999', which is not there/);
  add('LATEST', 'LATEST empty', 'error', loadEdited((d) => writeFileSync(join(d, 'LATEST'), ''), true), /LATEST is empty/);
  add('LATEST', 'LATEST names a path outside the folder', 'error', loadEdited((d) => writeFileSync(join(d, 'LATEST'), '../../etc\n'), true), /LATEST names "\.\.\/\.\.\/etc", not a checkpoint folder/);
  add('LATEST', 'LATEST deleted (the root is not a checkpoint then)', 'error', loadEdited((d) => unlinkSync(join(d, 'LATEST')), true), /not a checkpoint folder/);
  add('LATEST', 'the step folder given directly', 'works', async () => {
    const m = await Lemur.load(step, data);
    await m.evaluate('test');
  });
  add('LATEST', 'a folder that does not exist', 'error', () => Lemur.load(join(root, 'nowhere'), data).then(() => {}), /nowhere: not a checkpoint folder/);
  add('LATEST', 'an empty folder', 'error', async () => {
    mkdirSync(join(root, 'empty'), { recursive: true });
    await Lemur.load(join(root, 'empty'), data);
  }, /empty: not a checkpoint folder/);
  add('LATEST', 'a leftover temporary of a killed save next to the checkpoint', 'works', loadEdited((d) => (mkdirSync(join(d, '.step-000000999.tmp-1')), writeFileSync(join(d, '.step-000000999.tmp-1', 'model.pt'), 'partial')), true));

  // meta.json fields of the wrong type or missing.
  const meta = JSON.parse(readFileSync(join(step, 'meta.json'), 'utf8')) as Record<string, unknown>;
  const editMeta = (f: (m: Record<string, unknown>) => void) => (_: string, s: string) => {
    const m = structuredClone(meta);
    f(m);
    writeFileSync(join(s, 'meta.json'), JSON.stringify(m));
  };
  const metaLies: [string, (m: Record<string, unknown>) => void][] = [
    ['format "other"', (m) => (m.format = 'other')],
    ['step "3"', (m) => (m.step = '3')],
    ['step -1', (m) => (m.step = -1)],
    ['step missing', (m) => delete m.step],
    ['position null', (m) => (m.position = null)],
    ['position.epoch "x"', (m) => (m.position = { epoch: 'x', batch: 0 })],
    ['position.batch -4', (m) => (m.position = { epoch: 0, batch: -4 })],
    ['dataset missing', (m) => delete m.dataset],
    ['dataset.numDocuments "60"', (m) => (m.dataset = { ...(m.dataset as object), numDocuments: '60' })],
    ['files: an array', (m) => (m.files = [])],
    ['files: a path outside the folder', (m) => (m.files = { ...(m.files as object), '../x': { bytes: 1, sha256: '0'.repeat(64) } })],
    ['files: a bad sha256', (m) => (m.files = { ...(m.files as object), 'model.pt': { bytes: 1, sha256: 'xyz' } })],
    ['format missing', (m) => delete m.format],
    ['pretrainPosition a string', (m) => (m.pretrainPosition = 'start')],
  ];
  for (const [name, f] of metaLies) add('meta.json', name, 'error', loadEdited(editMeta(f), true), /meta\.json: (the field '[A-Za-z.]+'|not a lemur checkpoint)/);
  add('meta.json', 'files missing (an older lemur: loads unchecked)', 'works', loadEdited(editMeta((m) => delete m.files), true));
  add('meta.json', 'an array', 'error', loadEdited((_, s) => writeFileSync(join(s, 'meta.json'), '[]'), true), /meta\.json: not a lemur checkpoint/);
  add('meta.json', 'not JSON', 'error', loadEdited((_, s) => writeFileSync(join(s, 'meta.json'), '{"format": "lemur-checkpoint",'), true), /meta\.json: not valid JSON/);

  // config.json of another architecture, with its checksum made to match (verify off).
  const cfg = JSON.parse(readFileSync(join(step, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const cfgLies: [string, (c: Record<string, Record<string, unknown>>) => void, RegExp][] = [
    ['embeddingDim doubled', (c) => ((c as Record<string, unknown>).embeddingDim = 64), /model\.pt|shape|size|embedding/i],
    ['one decoder layer more', (c) => (c.decoder!.layers = 2), /model\.pt|missing|decoder/i],
    ['backbone type mlp (lemur has rankmixer)', (c) => (c.backbone!.type = 'mlp'), /model\.pt|missing|unexpected|backbone/i],
    ['an invalid value (heads 0)', (c) => (c.decoder!.heads = 0), /config\.decoder\.heads/],
    ['an unknown field', (c) => ((c as Record<string, unknown>).extra = 1), /config\.extra/],
  ];
  for (const [name, f, match] of cfgLies)
    add('config.json', `${name}, verify off`, 'error', loadEdited((_, s) => {
      const c = structuredClone(cfg);
      f(c);
      writeFileSync(join(s, 'config.json'), JSON.stringify(c));
    }, false), match);

  // Another dataset.
  const otherDir = (await generateDataset(join(root, 'other'), { numDocuments: 80, ...gen })).dir;
  add('datasets', 'a dataset with another document count', 'error', loadEdited(() => {}, true, openDataset(otherDir)), /60 documents; the dataset given has 80/);
  const biggerVocab = (await generateDataset(join(root, 'vocab'), { numDocuments: 60, ...gen, vocabSize: 340 })).dir;
  add('datasets', 'a dataset with the same documents count and a larger vocabulary', 'error', loadEdited(() => {}, true, openDataset(biggerVocab)), /model\.pt|vocab|shape|size/i);

  // Saves killed with SIGKILL: the newest complete checkpoint loads and verifies.
  for (const delay of [0, 40, 130, 260, 520, 900]) {
    add('killed saves', `a save loop killed ${delay} ms after its first checkpoint`, 'works', async () => {
      const dir = join(root, `killed-${delay}`);
      await killedSaveLoop(dataDir, dir, delay);
      const v = await verifyCheckpoint(dir);
      if (!v.verified || v.problems.length) throw new LemurError(`after the kill: ${JSON.stringify(v)}`);
      const m = await Lemur.load(dir, data);
      await m.evaluate('test');
      const leftovers = readdirSync(dir).filter((e) => e.startsWith('.'));
      // A temporary of the killed writer may remain; the next save removes it.
      await m.save(dir);
      const after = readdirSync(dir).filter((e) => e.startsWith('.'));
      if (after.length) throw new LemurError(`temporaries not cleaned by the next save: ${after.join(', ')} (before: ${leftovers.join(', ')})`);
    }, undefined);
  }
  return cases;
}

/** Runs save_loop.mjs (saves in a loop), waits for its first checkpoint, kills it `delay` ms later. */
function killedSaveLoop(dataDir: string, dir: string, delay: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SAVE_LOOP, dataDir, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let killed = false;
    child.stderr.on('data', (b) => (err += b));
    child.stdout.on('data', (b: Buffer) => {
      if (!killed && b.toString().includes('saved')) {
        killed = true;
        setTimeout(() => child.kill('SIGKILL'), delay);
      }
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the save loop ended by itself (${code}): ${err}`))));
  });
}
