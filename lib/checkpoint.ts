/**
 * Checkpoint folders, written atomically. Layout:
 *
 *   <dir>/LATEST          name of the newest complete checkpoint (replaced by rename)
 *   <dir>/step-000120/    model.pt (parameters, ID tables, memory bank, optimizer state),
 *                         config.json, meta.json, tokenizer.json
 *   <dir>/pretrain-000040/  the same, saved during two-stage pre-training (before step 1)
 *
 * A checkpoint is built in a temporary sibling folder, fsynced, renamed into place, and only
 * then does LATEST point at it: a crash at any moment leaves the previous one intact.
 */
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { fsyncDir, writeFileAtomic } from './data/files.js';
import { LemurError } from './errors.js';

const LATEST = 'LATEST';

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function checkpointName(step: number, phase: 'step' | 'pretrain' = 'step'): string {
  return `${phase}-${String(step).padStart(9, '0')}`;
}

/**
 * Creates checkpoint `name` in `dir`: `fill(tmpDir)` writes its files; then it is fsynced,
 * renamed into place and made LATEST. Older checkpoints beyond `keep` are removed.
 */
export async function writeCheckpoint(
  dir: string,
  name: string,
  fill: (tmpDir: string) => Promise<void>,
  keep = 2,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    await fill(tmp);
    for (const f of await readdir(tmp)) await fsyncFile(join(tmp, f));
    fsyncDir(tmp);
    const final = join(dir, name);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
    fsyncDir(dir);
    writeFileAtomic(join(dir, LATEST), name + '\n');
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  // Prune: older complete checkpoints beyond `keep`, and temporaries of dead writers.
  const entries = (await readdir(dir)).sort();
  // 'pretrain-' sorts before 'step-': pre-training checkpoints are the older ones
  const complete = entries.filter((e) => /^(pretrain|step)-\d+$/.test(e));
  for (const old of complete.slice(0, Math.max(0, complete.length - keep))) {
    if (old !== name) await rm(join(dir, old), { recursive: true, force: true });
  }
  for (const e of entries) {
    const writer = /^\..*\.tmp-(\d+)/.exec(e)?.[1];
    if (writer && Number(writer) !== process.pid) await rm(join(dir, e), { recursive: true, force: true });
  }
  return join(dir, name);
}

/** The newest complete checkpoint folder of `dir` (following LATEST), or a folder given directly. */
export async function resolveCheckpoint(dir: string): Promise<string> {
  let latest: string;
  try {
    latest = (await readFile(join(dir, LATEST), 'utf8')).trim();
  } catch {
    try {
      await readFile(join(dir, 'meta.json'));
      return dir; // a checkpoint folder itself
    } catch {
      throw new LemurError(`${dir}: not a checkpoint folder (no LATEST file and no meta.json)`);
    }
  }
  return join(dir, latest);
}
