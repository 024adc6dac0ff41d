/**
 * Atomic writes: a reader (or a crashed importer) never leaves a half-written file or dataset
 * folder behind. Files go to a temporary name in the same folder, are fsynced and renamed;
 * a dataset is built in `<out>.tmp-<pid>` and the folder is renamed at the end.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { DataError } from '../errors.js';

/** Makes a rename durable (best effort: not every platform can fsync a folder). */
export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // e.g. Windows
  }
}

/** A temporary name next to `path` (same folder, so the final rename is atomic). */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

/** Writes the text or bytes to `path` atomically (temp name, fsync, rename). */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const tmp = tempNameFor(path);
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const fd = openSync(tmp, 'w');
  try {
    let at = 0;
    while (at < bytes.byteLength) at += writeSync(fd, bytes, at, bytes.byteLength - at);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

export interface FolderOptions {
  /** Replace an existing output folder (default: refuse). */
  overwrite?: boolean;
}

/**
 * Runs `build` on an empty temporary folder `<out>.tmp-<pid>` and renames it to `out` when
 * it succeeds; on failure the temporary folder is removed and `out` is untouched.
 */
// Temporary folders still being built: removed if the process exits first (process.exit,
// e.g. after Ctrl-C in the CLI), so an interrupted import leaves nothing behind.
const building = new Set<string>();
let exitHookInstalled = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes `<target>.tmp-<pid>` folders left by processes that died while building them. */
function removeDeadTemporaries(target: string): void {
  const dir = dirname(target), prefix = `${basename(target)}.tmp-`;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.startsWith(prefix)) continue;
    const pid = Number(e.slice(prefix.length));
    if (Number.isInteger(pid) && pid !== process.pid && !alive(pid)) rmSync(join(dir, e), { recursive: true, force: true });
  }
}

export async function buildFolderAtomically<T>(out: string, options: FolderOptions, build: (tmp: string) => Promise<T>): Promise<T> {
  const target = resolve(out);
  if (existsSync(target) && !options.overwrite) throw new DataError('already exists; pass overwrite: true to replace it', target);
  removeDeadTemporaries(target);
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const t of building) rmSync(t, { recursive: true, force: true });
    });
  }
  building.add(tmp);
  let result: T;
  try {
    result = await build(tmp);
    fsyncDir(tmp);
    if (existsSync(target)) {
      // Overwrite: move the old folder aside first, so a failed rename keeps it.
      const old = `${target}.old-${process.pid}`;
      renameSync(target, old);
      renameSync(tmp, target);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, target);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    building.delete(tmp);
  }
  fsyncDir(dirname(target));
  return result;
}
