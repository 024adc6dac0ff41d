/** Shared helpers of the data tests: temporary folders and a tiny MovieLens-shaped source. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';

/** A fresh temporary folder; remove it with `cleanup()`. */
export function tempDir(prefix = 'lemur-data-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A small valid JPEG (a gradient), made with sharp. */
export async function jpeg(width = 40, height = 60, seed = 0): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 6 + seed * 40) & 255;
      raw[i + 1] = (y * 4) & 255;
      raw[i + 2] = 128;
    }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg().toBuffer();
}

export interface MiniMovielens {
  dir: string;
  movieIds: number[];
}

/**
 * A MovieLens-shaped folder: quoted titles with commas and doubled quotes, CRLF line ends
 * in tags.csv, 4 users with ratings on distinct and equal timestamps, posters: two valid,
 * one corrupt (cut JPEG), one garbage, the rest missing.
 */
export async function writeMiniMovielens(dir: string, options: { badMovieInRatings?: boolean } = {}): Promise<MiniMovielens> {
  mkdirSync(join(dir, 'posters'), { recursive: true });
  const movies = [
    [1, 'Toy Story (1995)', 'Adventure|Animation|Children|Comedy|Fantasy'],
    [2, '"American President, The (1995)"', 'Comedy|Drama|Romance'],
    [3, '"11\'09""01 - September 11 (2002)"', 'Drama'],
    [4, 'Nocturnal Animals', '(no genres listed)'],
    [5, '東京物語 (1953) 🎬', 'Drama'],
    [6, 'Never Rated (2001)', 'Horror'],
  ] as const;
  writeFileSync(join(dir, 'movies.csv'), 'movieId,title,genres\n' + movies.map((m) => m.join(',')).join('\n') + '\n');
  // userId,movieId,rating,timestamp; time 1000..: the 80% cut falls inside user 3's ratings.
  const ratings: [number, number, number, number][] = [
    [1, 1, 4.0, 1000],
    [1, 2, 3.0, 1000], // same second as the previous: neither is in the other's history
    [1, 3, 5.0, 1010],
    [1, 4, 2.5, 1020],
    [2, 1, 5.0, 1005],
    [2, 3, 4.5, 1015],
    [2, 2, 1.0, 1030],
    [3, 2, 4.0, 1040],
    [3, 1, 3.5, 1050],
    [4, 5, 4.0, 1060], // movie 5 is first rated in the test period: cold start
    [4, 1, 4.0, 1070],
  ];
  if (options.badMovieInRatings) ratings.push([4, 999, 3, 1080]);
  writeFileSync(join(dir, 'ratings.csv'), 'userId,movieId,rating,timestamp\n' + ratings.map((r) => r.join(',')).join('\n') + '\n');
  writeFileSync(
    join(dir, 'tags.csv'),
    'userId,movieId,tag,timestamp\r\n2,1,pixar,1\r\n3,1,Pixar,2\r\n3,1,"funny, clever",3\r\n1,2,"""politics""",4\r\n1,777,orphan,5\r\n',
  );
  writeFileSync(join(dir, 'posters', '1.jpg'), await jpeg(40, 60, 1));
  writeFileSync(join(dir, 'posters', '2.jpg'), await jpeg(30, 45, 2));
  writeFileSync(join(dir, 'posters', '3.jpg'), (await jpeg(40, 60, 3)).subarray(0, 200)); // cut: corrupt
  writeFileSync(join(dir, 'posters', '4.jpg'), Buffer.from('not a jpeg at all'));
  return { dir, movieIds: movies.map((m) => m[0]) };
}
