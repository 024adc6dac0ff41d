/**
 * Images: a valid poster next to one damaged way per case (truncated or bit-flipped at seeded
 * offsets, empty, random bytes, text, a directory, a dangling link, huge or zero dimensions in
 * the JPEG header) or in another format under a .jpg name (PNG, 16-bit PNG, grey, CMYK, WebP,
 * GIF). Loading never throws for a bad image: it is counted, warned and left without pixels,
 * and the good one next to it still decodes. Bad image options are errors naming the option.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';

import { imageWarning, importMovielens, loadImages, Tokenizer, type ImageOptions } from '../../../dist/index.js';
import { jpeg, writeMiniMovielens } from '../../data/fixtures.js';
import { Rand, type FaultCase, type Outcome, type Run } from './harness.js';

/** Offset of the JPEG's SOF0/SOF2 marker (frame header with the picture's height and width). */
function sofOffset(b: Buffer): number {
  for (let i = 2; i + 9 < b.length; i++) if (b[i] === 0xff && (b[i + 1] === 0xc0 || b[i + 1] === 0xc2)) return i;
  throw new Error('no SOF marker');
}

export async function imageCases(root: string): Promise<FaultCase[]> {
  mkdirSync(root, { recursive: true });
  const good = join(root, 'good.jpg');
  const goodBytes = await jpeg(48, 64, 1);
  writeFileSync(good, goodBytes);
  const options: ImageOptions = { height: 16, width: 16, concurrency: 2 };
  let n = 0;

  /** Loads [good, the case's file]; checks the books balance and the good one decoded. */
  const loadPair = (make: (path: string) => void | Promise<void>, decodable: boolean | 'either') => async (): Promise<Run> => {
    const path = join(root, `case-${++n}.jpg`);
    await make(path);
    const r = await loadImages([good, path], options);
    const s = r.stats;
    if (s.decoded + s.missing + s.corrupt !== s.total || s.total !== 2) throw new Error(`the counts do not add up: ${JSON.stringify(s)}`);
    if (r.hasImage[0] !== 1) throw new Error('the good image next to the bad one was not decoded');
    if (r.pixels.length !== 2 * 16 * 16 * 3) throw new Error(`pixels has ${r.pixels.length} bytes`);
    if (decodable !== 'either' && (r.hasImage[1] === 1) !== decodable) throw new Error(`decoded: ${r.hasImage[1] === 1}, expected ${decodable}`);
    if (r.hasImage[1] === 0 && r.pixels.subarray(16 * 16 * 3).some((v) => v !== 0)) throw new Error('a row without an image has pixels');
    const w = imageWarning(s, 'posters');
    if (w && s.corrupt && !w.includes(path) && !w.includes('missing')) throw new Error(`the warning does not name the file: ${w}`);
    return { warnings: w ? [w] : [] };
  };

  const cases: FaultCase[] = [];
  const add = (name: string, expect: Outcome | Outcome[], run: () => Promise<Run | void>, match?: RegExp) => cases.push({ group: 'images', name, expect, match, run });

  let seed = 777;
  const rand = new Rand(() => ((seed = (seed * 48271) % 2147483647) / 2147483647));
  for (let k = 0; k < 10; k++) {
    const at = rand.int(1, goodBytes.length - 1);
    add(`JPEG cut at byte ${at} of ${goodBytes.length}`, 'warning', loadPair((p) => writeFileSync(p, goodBytes.subarray(0, at)), false));
  }
  for (let k = 0; k < 10; k++) {
    const flips = Array.from({ length: 1 + (k % 3) }, () => rand.int(2, goodBytes.length - 3));
    add(`JPEG with bits flipped at ${flips.join(', ')}`, ['works', 'warning'], loadPair((p) => {
      const b = Buffer.from(goodBytes);
      for (const at of flips) b[at] ^= 1 << rand.int(0, 7);
      writeFileSync(p, b);
    }, 'either'));
  }
  add('an empty file', 'warning', loadPair((p) => writeFileSync(p, ''), false));
  add('4 KiB of random bytes', 'warning', loadPair((p) => writeFileSync(p, Buffer.from(Array.from({ length: 4096 }, () => rand.int(0, 255)))), false));
  add('a text file', 'warning', loadPair((p) => writeFileSync(p, 'poster not available\n'), false));
  add('a directory', 'warning', loadPair((p) => mkdirSync(p), false));
  add('a dangling symbolic link', 'warning', loadPair((p) => symlinkSync(join(root, 'nowhere.jpg'), p), false));
  add('the JPEG header of a valid file only (SOI + APP0)', 'warning', loadPair((p) => writeFileSync(p, goodBytes.subarray(0, 20)), false));
  for (const [h, w] of [[65500, 65500], [0, 64], [48, 0], [1, 65535]] as const)
    add(`JPEG frame header patched to ${w}x${h} pixels`, 'warning', loadPair((p) => {
      const b = Buffer.from(goodBytes);
      const sof = sofOffset(b);
      b.writeUInt16BE(h, sof + 5);
      b.writeUInt16BE(w, sof + 7);
      writeFileSync(p, b);
    }, false));
  const raw = (w: number, h: number, c: number) => Buffer.from(Array.from({ length: w * h * c }, (_, i) => (i * 7) & 255));
  const formats: [string, () => Promise<Buffer>][] = [
    ['a PNG', () => sharp(raw(20, 30, 3), { raw: { width: 20, height: 30, channels: 3 } }).png().toBuffer()],
    ['an RGBA PNG', () => sharp(raw(20, 30, 4), { raw: { width: 20, height: 30, channels: 4 } }).png().toBuffer()],
    ['a 16-bit PNG', () => sharp(new Uint16Array(20 * 30 * 3).map((_, i) => i * 97), { raw: { width: 20, height: 30, channels: 3, depth: 'ushort' } }).png().toBuffer()],
    ['a grey JPEG', () => sharp(raw(20, 30, 1), { raw: { width: 20, height: 30, channels: 1 } }).jpeg().toBuffer()],
    ['a CMYK JPEG', () => sharp(raw(20, 30, 3), { raw: { width: 20, height: 30, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer()],
    ['a WebP', () => sharp(raw(20, 30, 3), { raw: { width: 20, height: 30, channels: 3 } }).webp().toBuffer()],
    ['a GIF', () => sharp(raw(20, 30, 3), { raw: { width: 20, height: 30, channels: 3 } }).gif().toBuffer()],
    ['a 1x1 JPEG', () => sharp(raw(1, 1, 3), { raw: { width: 1, height: 1, channels: 3 } }).jpeg().toBuffer()],
    ['a 4000x3 JPEG (extreme aspect)', () => sharp(raw(4000, 3, 3), { raw: { width: 4000, height: 3, channels: 3 } }).jpeg().toBuffer()],
  ];
  for (const [what, make] of formats) add(`${what} under a .jpg name`, 'works', loadPair(async (p) => writeFileSync(p, await make()), true));
  for (const fit of ['contain', 'fill'] as const)
    add(`a PNG with fit '${fit}'`, 'works', async () => {
      const p = join(root, `fit-${fit}.jpg`);
      writeFileSync(p, await formats[0]![1]());
      const r = await loadImages([p], { ...options, fit });
      if (r.hasImage[0] !== 1) throw new Error('not decoded');
    });

  // Bad options: errors naming the option.
  const badOptions: [string, ImageOptions, RegExp][] = [
    ['height 0', { height: 0 }, /image height must be a positive integer, got 0/],
    ['width 1.5', { width: 1.5 }, /image width must be a positive integer, got 1\.5/],
    ['channels 2', { channels: 2 as never }, /image channels must be 1, 3 or 4, got 2/],
    ['concurrency 0', { concurrency: 0 }, /image concurrency must be a positive integer/],
    ['height NaN', { height: NaN }, /image height/],
    ["fit 'stretch'", { fit: 'stretch' as never }, /image fit must be/],
  ];
  for (const [name, o, match] of badOptions) add(`options: ${name}`, 'error', async () => void (await loadImages([good], o)), match);

  // Through the importer: every poster damaged, the import warns and finishes.
  add('importMovielens with every poster random bytes', 'warning', async () => {
    const src = join(root, 'ml');
    await writeMiniMovielens(src);
    for (const id of [1, 2, 3, 4, 5, 6]) writeFileSync(join(src, 'posters', `${id}.jpg`), Buffer.from(Array.from({ length: 600 }, () => rand.int(0, 255))));
    const tokenizer = join(root, 'tokenizer.json');
    (await Tokenizer.train(['Toy Story Drama'], { vocabSize: 270 })).save(tokenizer);
    const warnings: string[] = [];
    const r = await importMovielens(src, join(root, 'ml-out'), { tokenizer, validFraction: 0, onWarning: (l) => warnings.push(l), image: options });
    if (!r.manifest) throw new Error('no manifest');
    return { warnings: warnings.filter((w) => /posters: 0 of 6 decoded, 0 missing, 6 corrupt/.test(w)) };
  });
  return cases;
}
