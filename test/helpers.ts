import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { info } from '../dist/index.js';

/** Runs every finalizer that is due: repeated gc() with turns of the event loop between. */
export async function collectGarbage(rounds = 6): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('tests need --expose-gc (see vitest.config.ts)');
  for (let i = 0; i < rounds; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const cudaAvailable = (() => {
  try {
    return info().cuda.available;
  } catch {
    return false;
  }
})();

/** The shared MovieLens folder, or undefined when this machine does not have it. */
export const movielensDir = (() => {
  const dir = process.env.LEMUR_MOVIELENS ?? join(import.meta.dirname ?? '.', '..', '..', 'shared', 'data', 'movielens-small');
  return existsSync(join(dir, 'ratings.csv')) ? dir : undefined;
})();

/** Deterministic pseudo-random numbers for test data. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
