// Every file of a dataset is recorded in dataset.json with its size and SHA-256 by the
// writer, and openDataset checks them by default: damage that no structural check can see
// (a flipped bit inside a float buffer) is refused with the file named.
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DataError, generateDataset, openDataset } from '../../dist/index.js';
import { tempDir } from './fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let base: string;
let n = 0;

beforeAll(async () => {
  base = (await generateDataset(join(tmp.dir, 'base'), { numDocuments: 60, numUsers: 12, numSamples: 400, historyLength: 8, withImages: true, seed: 3 })).dir;
});

/** A copy of the base dataset to damage. */
function copy(): string {
  const dir = join(tmp.dir, `copy-${++n}`);
  cpSync(base, dir, { recursive: true });
  return dir;
}
const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
const writeManifest = (dir: string, m: unknown) => writeFileSync(join(dir, 'dataset.json'), JSON.stringify(m));

describe('dataset checksums', () => {
  it('the writer records size and sha256 of every file, and openDataset verifies them all', () => {
    const m = manifestOf(base);
    const files = [m.documents, ...Object.values(m.splits), m.tokenizer].sort();
    expect(Object.keys(m.checksums).sort()).toEqual(files);
    for (const f of files) {
      const bytes = readFileSync(join(base, f as string));
      expect(m.checksums[f as string]).toEqual({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
    const ds = openDataset(base);
    expect(ds.verification.verified).toBe(true);
    expect(ds.verification.bytes).toBe(files.reduce((s, f) => s + m.checksums[f as string].bytes, 0));
  });

  it('a flipped bit inside an image buffer: refused by default, invisible to the structural checks', () => {
    const dir = copy();
    const file = join(dir, 'documents.arrow');
    const bytes = readFileSync(file);
    const images = openDataset(base).documents.images!;
    const at = images.byteOffset + 1234; // the pixel's byte in the file (the view's offset into the file buffer)
    const before = images[1234];
    bytes[at] ^= 0x10;
    writeFileSync(file, bytes);
    expect(() => openDataset(dir)).toThrow(DataError);
    expect(() => openDataset(dir)).toThrow(/documents\.arrow: checksum mismatch \(sha256 [0-9a-f]{16}\.\.\., the manifest says [0-9a-f]{16}\.\.\.\): the file was changed or damaged/);
    const unchecked = openDataset(dir, { verify: false });
    expect(unchecked.verification).toMatchObject({ verified: false, reason: 'verify: false' });
    expect(unchecked.documents.images![1234]).toBe(before ^ 0x10); // the damage is there, and only the checksum saw it
  });

  it('a truncated file is named with both sizes', () => {
    const dir = copy();
    const m = manifestOf(dir);
    truncateSync(join(dir, 'documents.arrow'), m.checksums['documents.arrow'].bytes - 100);
    expect(() => openDataset(dir)).toThrow(new RegExp(`documents\\.arrow: ${m.checksums['documents.arrow'].bytes - 100} bytes, the manifest says ${m.checksums['documents.arrow'].bytes}: the file was truncated`));
  });

  it('an edited tokenizer.json is refused', () => {
    const dir = copy();
    const file = join(dir, 'tokenizer.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/"/, ' "'));
    expect(() => openDataset(dir)).toThrow(/tokenizer\.json: \d+ bytes, the manifest says \d+/);
  });

  it('manifests that lie about checksums: a missing entry, a malformed digest', () => {
    const dir = copy();
    const m = manifestOf(dir);
    delete m.checksums['test.arrow'];
    writeManifest(dir, m);
    expect(() => openDataset(dir)).toThrow(/dataset\.json, column 'checksums': has checksums but none for 'test\.arrow'/);
    m.checksums['test.arrow'] = { bytes: 10, sha256: 'abc' };
    writeManifest(dir, m);
    expect(() => openDataset(dir)).toThrow(/checksums\.test\.arrow\.sha256.*64 lowercase hex digits, got "abc"/);
    m.checksums['test.arrow'] = { bytes: -1, sha256: '0'.repeat(64) };
    writeManifest(dir, m);
    expect(() => openDataset(dir)).toThrow(/checksums\.test\.arrow\.bytes.*integer >= 0/);
  });

  it('a dataset written before checksums opens, and says it was not verified', () => {
    const dir = copy();
    const m = manifestOf(dir);
    delete m.checksums;
    writeManifest(dir, m);
    const ds = openDataset(dir);
    expect(ds.verification).toMatchObject({ verified: false, bytes: 0, reason: expect.stringContaining('no checksums') });
  });
});
