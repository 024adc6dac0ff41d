// Checkpoints: save/load round trip, resume = uninterrupted run (CPU, same seed), atomicity
// (a failed or crashed save leaves the previous checkpoint intact), and checksums (damage
// after saving is found by verifyCheckpoint and refused by Lemur.load).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { AbortError, Lemur, verifyCheckpoint, writeCheckpoint, type LemurConfigInput } from '../../dist/index.js';
import { runCli } from '../cli/helpers.js';
import { syntheticDataset, TINY } from '../synthetic.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'lemur-ckpt-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * Offset and size of the data of the largest entry of a ZIP file (model.pt is one, as torch
 * saves it; its largest entry is a parameter's stored, uncompressed float data).
 */
function largestZipEntry(bytes: Buffer): { offset: number; size: number } {
  const eocd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  expect(eocd).toBeGreaterThan(0);
  let entries = bytes.readUInt16LE(eocd + 10);
  let at = bytes.readUInt32LE(eocd + 16);
  if (entries === 0xffff || at === 0xffffffff) {
    // ZIP64 (torch writes it): the ZIP64 end record, found through its locator
    const end64 = Number(bytes.readBigUInt64LE(eocd - 20 + 8));
    entries = Number(bytes.readBigUInt64LE(end64 + 32));
    at = Number(bytes.readBigUInt64LE(end64 + 48));
  }
  let best = { offset: 0, size: 0 };
  for (let i = 0; i < entries; i++) {
    expect(bytes.readUInt32LE(at)).toBe(0x02014b50);
    const method = bytes.readUInt16LE(at + 10);
    let size = bytes.readUInt32LE(at + 20);
    const nameLen = bytes.readUInt16LE(at + 28);
    const extraLen = bytes.readUInt16LE(at + 30);
    const commentLen = bytes.readUInt16LE(at + 32);
    let local = bytes.readUInt32LE(at + 42);
    if (size === 0xffffffff || local === 0xffffffff) {
      // ZIP64 extra field: the 64-bit values, in order, of those that are 0xffffffff
      let e = at + 46 + nameLen;
      while (bytes.readUInt16LE(e) !== 0x0001) e += 4 + bytes.readUInt16LE(e + 2);
      let f = e + 4;
      if (size === 0xffffffff) { f += 8; size = Number(bytes.readBigUInt64LE(f)); f += 8; }
      if (local === 0xffffffff) local = Number(bytes.readBigUInt64LE(f));
    }
    const data = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    if (method === 0 && size > best.size) best = { offset: data, size };
    at += 46 + nameLen + extraLen + commentLen;
  }
  expect(best.size).toBeGreaterThan(64);
  return best;
}

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
    await expect(Lemur.load(dir, data)).rejects.toThrow(/model\.pt: expected \d+ bytes, got 7: truncated or appended/);
    await expect(Lemur.load(dir, data, {}, { verify: false })).rejects.toThrow(/cannot read checkpoint file .*model\.pt: .*not a ZIP archive/);
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

  describe('checksums', () => {
    const saved = async () => {
      const dir = tmp();
      const m = await Lemur.create(data, config);
      await m.fit({ steps: 1 });
      const path = await m.save(dir);
      return { dir, path, m };
    };

    it('a saved checkpoint records size and SHA-256 of its files and verifies', async () => {
      const { dir, path } = await saved();
      const meta = JSON.parse(readFileSync(join(path, 'meta.json'), 'utf8')) as { version: number; files: Record<string, { bytes: number; sha256: string }> };
      expect(meta.version).toBe(1);
      expect(Object.keys(meta.files).sort()).toEqual(['config.json', 'model.pt']);
      expect(meta.files['model.pt']!.bytes).toBe(statSync(join(path, 'model.pt')).size);
      expect(meta.files['model.pt']!.sha256).toMatch(/^[0-9a-f]{64}$/);
      const v = await verifyCheckpoint(dir);
      expect(v.problems).toEqual([]);
      expect(v.verified).toBe(true);
      expect(v.path).toBe(path);
      expect(v.checked.map((c) => c.file).sort()).toEqual(['config.json', 'model.pt']);
      expect((await verifyCheckpoint(path)).verified).toBe(true); // the step folder itself
      const bytes = v.checked.reduce((a, c) => a + c.bytes, 0);
      console.log(`verifyCheckpoint: ${bytes} bytes in ${(v.seconds * 1000).toFixed(1)} ms`);
    });

    it('one flipped byte inside model.pt: verify names it, load refuses, { verify: false } loads', async () => {
      const { dir, path, m } = await saved();
      const file = join(path, 'model.pt');
      const bytes = readFileSync(file);
      const entry = largestZipEntry(bytes);
      const at = entry.offset + Math.floor(entry.size / 2);
      bytes[at] = bytes[at]! ^ 0x01; // lowest mantissa bit of one float: a model that loads, slightly wrong
      writeFileSync(file, bytes);
      const v = await verifyCheckpoint(dir);
      expect(v.verified).toBe(false);
      expect(v.problems).toHaveLength(1);
      expect(v.problems[0]).toMatch(/model\.pt: sha256 expected [0-9a-f]{12}…, got [0-9a-f]{12}…: the file was changed or damaged after it was written/);
      await expect(Lemur.load(dir, data)).rejects.toThrow(/model\.pt: sha256 expected .*\{ verify: false \}/);
      const loaded = await Lemur.load(dir, data, {}, { verify: false });
      expect(loaded.step).toBe(m.step);
    });

    it('a truncated config.json is reported with both sizes, a deleted model.pt as missing', async () => {
      const { dir, path } = await saved();
      const size = statSync(join(path, 'config.json')).size;
      truncateSync(join(path, 'config.json'), size - 10);
      unlinkSync(join(path, 'model.pt'));
      const v = await verifyCheckpoint(dir);
      expect(v.verified).toBe(false);
      expect(v.problems.sort()).toEqual([
        `${join(path, 'config.json')}: expected ${size} bytes, got ${size - 10}: truncated or appended`,
        expect.stringMatching(new RegExp(`^${join(path, 'model.pt')}: missing`)),
      ]);
      const err = await Lemur.load(dir, data).catch((e: unknown) => e as Error);
      expect(err.message).toMatch(/config\.json: expected \d+ bytes, got \d+: truncated or appended/);
      expect(err.message).toMatch(/model\.pt: missing/);
    });

    it('lemur verify prints what it checked and exits 1 on a problem', async () => {
      const { dir, path } = await saved();
      const ok = await runCli(['verify', dir]);
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/^model\.pt: [\d,]+ bytes, ok$/m);
      expect(ok.stdout).toContain(`${path}: verified (2 files`);
      writeFileSync(join(path, 'config.json'), readFileSync(join(path, 'config.json'), 'utf8').replace('"embeddingDim": 32', '"embeddingDim": 64'));
      const bad = await runCli(['verify', dir]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/^problem: .*config\.json: sha256 expected/m);
      expect(bad.stdout).toContain(`${path}: NOT verified`);
      expect(bad.stderr).toMatch(/^lemur: .*not verified \(1 problem\)$/m);
    });

    it('a checkpoint of an older lemur (no checksums) loads, and verify says it cannot check it', async () => {
      const { dir, path } = await saved();
      const metaFile = join(path, 'meta.json');
      const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Record<string, unknown>;
      delete meta.files;
      writeFileSync(metaFile, JSON.stringify(meta));
      const v = await verifyCheckpoint(dir);
      expect(v.verified).toBe(false);
      expect(v.problems).toEqual([expect.stringMatching(/meta\.json: records no checksums .*cannot be verified/)]);
      expect((await Lemur.load(dir, data)).step).toBe(1);
      writeFileSync(metaFile, JSON.stringify({ ...meta, files: { 'model.pt': { bytes: -1, sha256: 'x' } } }));
      await expect(verifyCheckpoint(dir)).rejects.toThrow(/meta\.json: the field 'files' has .* for 'model\.pt', not \{ bytes, sha256 \}/);
      rmSync(metaFile);
      await expect(verifyCheckpoint(path)).rejects.toThrow(/not a checkpoint folder/);
    });
  });
});
