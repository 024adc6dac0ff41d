/**
 * Arrow datasets: a tiny generated dataset, damaged one way per case. Every file (documents,
 * each split, the tokenizer, the manifest) truncated and bit-flipped at seeded offsets: with
 * verification on, a DataError naming the file; with it off, an error or a dataset that a
 * model can train and evaluate on without crashing (a flipped bit in a float is invisible to
 * structure checks: that is what checksums are for). Manifests that lie (counts, sizes,
 * vocabulary, file names, checksums, types) are errors naming the field or the file.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { generateDataset, Lemur, openDataset } from '../../../dist/index.js';
import { TINY } from '../../synthetic.js';
import { Rand, type FaultCase, type Outcome, type Run } from './harness.js';

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
type Manifest = Record<string, unknown> & { checksums: Record<string, { bytes: number; sha256: string }>; splits: Record<string, string> };

export async function arrowCases(root: string): Promise<FaultCase[]> {
  mkdirSync(root, { recursive: true });
  const base = (await generateDataset(join(root, 'base'), { numDocuments: 60, numUsers: 12, numSamples: 400, historyLength: 8, withImages: true, imageSize: 8, vocabSize: 300, seed: 3 })).dir;
  const manifest = JSON.parse(readFileSync(join(base, 'dataset.json'), 'utf8')) as Manifest;
  const files = Object.keys(manifest.checksums);

  let n = 0;
  /** A copy of the dataset, edited, then opened; with verify off a model trains and evaluates on it. */
  const openEdited = (edit: (dir: string) => void, verify: boolean) => async (): Promise<Run> => {
    const dir = join(root, `case-${++n}`);
    cpSync(base, dir, { recursive: true });
    try {
      edit(dir);
      const ds = openDataset(dir, { verify });
      if (verify && !ds.verification.verified) throw new Error(`opened but not verified: ${ds.verification.reason}`);
      if (!verify) {
        const m = await Lemur.create(ds, { ...TINY, preset: 'lemur' });
        await m.fit({ epochs: 1 });
        const e = await m.evaluate('test');
        if (typeof e.all.auc !== 'number') throw new Error('no AUC');
      }
      return {};
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  const cases: FaultCase[] = [];
  const add = (group: string, name: string, expect: Outcome | Outcome[], run: () => Promise<Run | void>, match?: RegExp) => cases.push({ group: `arrow: ${group}`, name, expect, match, run, timeoutMs: 60_000 });
  const editFile = (file: string, f: (b: Buffer) => Buffer) => (dir: string) => writeFileSync(join(dir, file), f(readFileSync(join(dir, file))));

  let seed = 4242;
  const rand = new Rand(() => ((seed = (seed * 48271) % 2147483647) / 2147483647));
  for (const file of files) {
    const size = manifest.checksums[file]!.bytes;
    const fileRe = new RegExp(esc(file));
    for (let k = 0; k < 3; k++) {
      const at = rand.int(0, size - 1);
      const cut = editFile(file, (b) => b.subarray(0, at));
      add('truncated', `${file} cut to ${at} of ${size} bytes, verified`, 'error', openEdited(cut, true), new RegExp(`${esc(file)}: ${at} bytes, the manifest says ${size}: the file was truncated`));
      // Off: the tokenizer is not read to train (documents are stored tokenized).
      add('truncated', `${file} cut to ${at} of ${size} bytes, verify off`, file === 'tokenizer.json' ? ['error', 'works'] : 'error', openEdited(cut, false), fileRe);
    }
    for (let k = 0; k < 4; k++) {
      const at = rand.int(0, size - 1);
      const bit = rand.int(0, 7);
      const flip = editFile(file, (b) => ((b[at] ^= 1 << bit), b));
      add('bit flips', `${file} byte ${at} bit ${bit}, verified`, 'error', openEdited(flip, true), new RegExp(`${esc(file)}: checksum mismatch`));
      // Off: the structural checks may or may not see it; a model must still not crash on it.
      add('bit flips', `${file} byte ${at} bit ${bit}, verify off`, ['error', 'works'], openEdited(flip, false), file === 'tokenizer.json' ? /tokenizer\.json/ : /\.arrow|dataset\.json|config\.|training step|scores/);
    }
    add('files', `${file} missing`, 'error', openEdited((d) => unlinkSync(join(d, file)), true), new RegExp(`${esc(file)}: cannot read|${esc(file)}.*(no such|ENOENT)`));
    add('files', `${file} empty`, 'error', openEdited((d) => writeFileSync(join(d, file), ''), true), new RegExp(`${esc(file)}: 0 bytes`));
  }
  add('files', 'a folder that does not exist', 'error', () => Promise.resolve(void openDataset(join(root, 'nowhere'))), /nowhere: no such dataset folder/);
  add('files', 'dataset.json missing', 'error', openEdited((d) => unlinkSync(join(d, 'dataset.json')), true), /dataset\.json/);
  add('files', 'dataset.json empty', 'error', openEdited((d) => writeFileSync(join(d, 'dataset.json'), ''), true), /dataset\.json/);
  const mtext = JSON.stringify(manifest, null, 2);
  for (let k = 0; k < 4; k++) {
    const at = rand.int(1, mtext.length - 2);
    add('files', `dataset.json cut at character ${at}`, 'error', openEdited((d) => writeFileSync(join(d, 'dataset.json'), mtext.slice(0, at)), true), /dataset\.json/);
  }
  add('files', 'dataset.json in UTF-16', 'error', openEdited((d) => writeFileSync(join(d, 'dataset.json'), Buffer.from(mtext, 'utf16le')), true), /dataset\.json/);

  // Manifests that lie: the manifest is not covered by its own checksums, so each field must be checked against the files.
  const lie = (name: string, f: (m: Manifest) => void, match: RegExp, expect: Outcome | Outcome[] = 'error') =>
    add('lying manifests', name, expect, openEdited((d) => {
      const m = structuredClone(manifest);
      f(m);
      writeFileSync(join(d, 'dataset.json'), JSON.stringify(m));
    }, true), match);
  const nd = manifest.numDocuments as number;
  lie(`numDocuments ${nd} -> ${nd - 10}`, (m) => (m.numDocuments = nd - 10), /numDocuments|docIndex|rows/);
  lie(`numDocuments ${nd} -> ${nd + 10}`, (m) => (m.numDocuments = nd + 10), /numDocuments|rows/);
  lie('numUsers -> 2', (m) => (m.numUsers = 2), /numUsers|userIndex|user/);
  lie('numQueries -> 0 (the splits have queries)', (m) => (m.numQueries = 0), /numQueries|query/, ['error', 'works']);
  lie('vocabSize -> 10', (m) => (m.vocabSize = 10), /vocabSize|token/);
  lie('documentTokens + 1', (m) => (m.documentTokens = (m.documentTokens as number) + 1), /documentTokens/);
  lie('a text field maxTokens + 1 (documentTokens kept)', (m) => ((m.textFields as { maxTokens: number }[])[0]!.maxTokens += 1), /documentTokens/);
  lie('image height doubled', (m) => ((m.image as { height: number }).height *= 2), /image/);
  lie('image: null (the documents have images)', (m) => (m.image = null), /image/, ['error', 'works']);
  // Categorical values are hashed into min(cardinality, maxCategoricalBuckets) buckets (docs/data-format.md): a smaller cardinality is valid.
  lie('a categorical cardinality -> 1 (hashed into one bucket)', (m) => ((m.categorical as { cardinality: number }[])[0]!.cardinality = 1), /categorical|cardinality/, 'works');
  lie('a sequence maxLength -> 2', (m) => ((m.sequences as { maxLength: number }[])[0]!.maxLength = 2), /sequences|maxLength|seq\./);
  lie('a sequence renamed', (m) => ((m.sequences as { name: string }[])[0]!.name = 'renamed'), /renamed|seq\./);
  lie('a dense feature that is not in the files', (m) => (m.dense as string[]).push('ghost'), /ghost/);
  lie('splits.train -> a file that does not exist', (m) => (m.splits.train = 'ghost.arrow'), /ghost\.arrow/);
  lie('splits.train -> ../outside.arrow', (m) => (m.splits.train = '../outside.arrow'), /splits\.train.*file name inside the dataset folder/);
  lie('splits.train -> the documents file', (m) => ((m.splits.train = m.documents as string), (m.checksums[m.documents as string] = manifest.checksums[m.documents as string]!)), /documents\.arrow|column/);
  lie('documents and train swapped (checksums follow)', (m) => ([m.splits.train, m.documents] = [m.documents as string, m.splits.train]), /\.arrow/);
  lie('a checksum entry missing', (m) => delete m.checksums['train.arrow'], /has checksums but none for 'train\.arrow'/);
  lie('a checksum of another file', (m) => (m.checksums['train.arrow'] = manifest.checksums['test.arrow']!), /train\.arrow: \d+ bytes, the manifest says|train\.arrow: checksum mismatch/);
  lie('a well-formed wrong sha256', (m) => (m.checksums['test.arrow'] = { ...m.checksums['test.arrow']!, sha256: 'f'.repeat(64) }), /test\.arrow: checksum mismatch/);
  lie('checksums: a string', (m) => ((m as Record<string, unknown>).checksums = 'sha256'), /checksums/);
  for (const [field, value] of [['numDocuments', '60'], ['numDocuments', -1], ['numDocuments', 1.5], ['numUsers', null], ['vocabSize', 2], ['documentTokens', 0], ['format', 'parquet'], ['version', 2], ['splits', []], ['splits', {}], ['textFields', []], ['tokenizer', ''], ['documents', null], ['sequences', {}], ['image', 'yes']] as const)
    lie(`${field} = ${JSON.stringify(value)}`, (m) => ((m as Record<string, unknown>)[field] = value), new RegExp(`dataset\\.json, column '${field}`));
  return cases;
}
