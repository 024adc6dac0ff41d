import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';

import { decodeImage, imageWarning, loadImages } from '../../dist/index.js';
import { jpeg, tempDir } from './fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

async function solid(r: number, g: number, b: number, format: 'png' | 'jpeg', width = 20, height = 30): Promise<Buffer> {
  const img = sharp({ create: { width, height, channels: 3, background: { r, g, b } } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer();
}

describe('images', () => {
  it('decodes and resizes to fixed HWC uint8', async () => {
    const red = await decodeImage(await solid(255, 0, 0, 'png'), { height: 8, width: 6 });
    expect(red.length).toBe(8 * 6 * 3);
    for (let i = 0; i < red.length; i += 3) expect([red[i], red[i + 1], red[i + 2]]).toEqual([255, 0, 0]);
    const grey = await decodeImage(await solid(0, 0, 255, 'jpeg'), { height: 4, width: 4, channels: 1 });
    expect(grey.length).toBe(16);
    const rgba = await decodeImage(await jpeg(), { height: 5, width: 7, channels: 4, fit: 'fill' });
    expect(rgba.length).toBe(5 * 7 * 4);
    expect(rgba[3]).toBe(255); // opaque alpha added
  });

  it('counts a corrupt JPEG and a missing poster, stores them as null, never fails', async () => {
    const good = join(tmp.dir, 'good.jpg');
    const png = join(tmp.dir, 'good.png');
    const cut = join(tmp.dir, 'cut.jpg');
    const junk = join(tmp.dir, 'junk.jpg');
    writeFileSync(good, await solid(0, 200, 0, 'jpeg'));
    writeFileSync(png, await solid(10, 20, 30, 'png'));
    writeFileSync(cut, (await jpeg(80, 120)).subarray(0, 300));
    writeFileSync(junk, 'definitely not an image');
    const paths = [good, cut, join(tmp.dir, 'missing.jpg'), null, junk, png];
    const lines: string[] = [];
    const r = await loadImages(paths, { height: 4, width: 4, concurrency: 3 });
    const line = imageWarning(r.stats, 'posters');
    if (line) lines.push(line);
    expect(r.stats).toEqual({ total: 6, decoded: 2, missing: 2, corrupt: 2, corruptFiles: expect.arrayContaining([cut, junk]) });
    expect(Array.from(r.hasImage)).toEqual([1, 0, 0, 0, 0, 1]);
    expect(r.shape).toEqual([4, 4, 3]);
    const size = 4 * 4 * 3;
    expect(r.pixels[1]).toBeGreaterThan(150); // green
    expect(r.pixels.subarray(size, 5 * size).every((v) => v === 0)).toBe(true);
    expect(Array.from(r.pixels.subarray(5 * size, 5 * size + 3))).toEqual([10, 20, 30]);
    expect(lines).toEqual([expect.stringMatching(/^posters: 2 of 6 decoded, 2 missing, 2 corrupt \(corrupt: .*\); those documents have no image$/)]);
    // Same output whatever the concurrency.
    const serial = await loadImages(paths, { height: 4, width: 4, concurrency: 1 });
    expect(Buffer.from(serial.pixels).equals(Buffer.from(r.pixels))).toBe(true);
    expect(imageWarning({ total: 1, decoded: 1, missing: 0, corrupt: 0, corruptFiles: [] })).toBeUndefined();
  });
});
