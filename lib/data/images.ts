/**
 * Images decoded and resized once, at import, into fixed-size HWC uint8 rows (sharp/libvips),
 * so training never decodes. A missing or undecodable image is counted and stored as null:
 * real catalogues have documents without pictures, and one bad file must not stop an import.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import type { Sharp } from 'sharp';

import { LemurError } from '../errors.js';

export interface ImageOptions {
  /** Output height in pixels (default 32). */
  height?: number;
  /** Output width in pixels (default 32). */
  width?: number;
  /** 1 (grey), 3 (RGB, default) or 4 (RGBA). */
  channels?: 1 | 3 | 4;
  /** How the picture fills the box: crop ('cover', default), letterbox ('contain') or stretch ('fill'). */
  fit?: 'cover' | 'contain' | 'fill';
  /** Images decoded at once (default: min(4, cores)). */
  concurrency?: number;
}

export interface ImageStats {
  /** Documents asked for. */
  total: number;
  decoded: number;
  /** No path, or no file at the path. */
  missing: number;
  /** A file that could not be decoded. */
  corrupt: number;
  /** The first few corrupt files, for the warning. */
  corruptFiles: string[];
}

export interface LoadedImages {
  /** [rows * height * width * channels], zeros where there is no image. */
  pixels: Uint8Array;
  /** 1 where the row has an image. */
  hasImage: Uint8Array;
  shape: [height: number, width: number, channels: number];
  stats: ImageStats;
}

type SharpFactory = (input?: string | Buffer, options?: { failOn?: 'none' | 'truncated' | 'error' | 'warning' }) => Sharp;
let sharpFactory: SharpFactory | undefined;

/** Loaded on first use: importing lemur does not load libvips. */
async function sharp(): Promise<SharpFactory> {
  if (!sharpFactory) {
    try {
      sharpFactory = ((await import('sharp')) as unknown as { default: SharpFactory }).default;
    } catch (e) {
      throw new LemurError(`cannot load the 'sharp' package (image decoding): ${(e as Error).message}`);
    }
  }
  return sharpFactory;
}

export function resolveImageOptions(o: ImageOptions = {}): Required<ImageOptions> {
  const r = {
    height: o.height ?? 32,
    width: o.width ?? 32,
    channels: o.channels ?? 3,
    fit: o.fit ?? 'cover',
    concurrency: o.concurrency ?? Math.max(1, Math.min(4, availableParallelism())),
  };
  for (const k of ['height', 'width', 'concurrency'] as const)
    if (!Number.isSafeInteger(r[k]) || r[k] < 1) throw new LemurError(`image ${k} must be a positive integer, got ${r[k]}`);
  if (![1, 3, 4].includes(r.channels)) throw new LemurError(`image channels must be 1, 3 or 4, got ${r.channels}`);
  if (!['cover', 'contain', 'fill'].includes(r.fit)) throw new LemurError(`image fit must be 'cover', 'contain' or 'fill', got ${JSON.stringify(r.fit)}`);
  return r;
}

/** Decodes one image file (or encoded bytes) into HWC uint8 of the requested size. */
export async function decodeImage(input: string | Buffer, options: ImageOptions = {}): Promise<Uint8Array> {
  const o = resolveImageOptions(options);
  // failOn 'warning': a truncated JPEG is refused rather than half-decoded.
  let p = (await sharp())(input, { failOn: 'warning' }).rotate();
  if (o.channels === 1) p = p.grayscale().removeAlpha();
  else if (o.channels === 3) p = p.removeAlpha().toColourspace('srgb');
  else p = p.ensureAlpha().toColourspace('srgb');
  const { data, info } = await p.resize(o.width, o.height, { fit: o.fit }).raw().toBuffer({ resolveWithObject: true });
  if (info.width !== o.width || info.height !== o.height || info.channels !== o.channels)
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${o.width}x${o.height}x${o.channels}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Decodes the image of each row (a path, or null/undefined for none) with bounded
 * concurrency. Never throws for a bad image: it is counted and left null.
 */
export async function loadImages(paths: readonly (string | null | undefined)[], options: ImageOptions = {}): Promise<LoadedImages> {
  const o = resolveImageOptions(options);
  const size = o.height * o.width * o.channels;
  const pixels = new Uint8Array(paths.length * size);
  const hasImage = new Uint8Array(paths.length);
  const stats: ImageStats = { total: paths.length, decoded: 0, missing: 0, corrupt: 0, corruptFiles: [] };
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < paths.length; i = next++) {
      const path = paths[i];
      if (!path || !existsSync(path)) {
        stats.missing++;
        continue;
      }
      try {
        pixels.set(await decodeImage(path, o), i * size);
        hasImage[i] = 1;
        stats.decoded++;
      } catch {
        stats.corrupt++;
        if (stats.corruptFiles.length < 5) stats.corruptFiles.push(path);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, Math.max(1, paths.length)) }, worker));
  return { pixels, hasImage, shape: [o.height, o.width, o.channels], stats };
}

/** The one-line report of missing and corrupt images, or undefined when all decoded. */
export function imageWarning(stats: ImageStats, what = 'images'): string | undefined {
  if (stats.missing === 0 && stats.corrupt === 0) return undefined;
  const files = stats.corruptFiles.length ? ` (corrupt: ${stats.corruptFiles.join(', ')}${stats.corrupt > stats.corruptFiles.length ? ', ...' : ''})` : '';
  return `${what}: ${stats.decoded} of ${stats.total} decoded, ${stats.missing} missing, ${stats.corrupt} corrupt${files}; those documents have no image`;
}
