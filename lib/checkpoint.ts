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
 *
 * meta.json, written last, records `files`: the size and SHA-256 of every other file of the
 * folder (model.pt, config.json, tokenizer.json when copied). verifyCheckpoint() compares
 * them with the files on disk; Lemur.load() does so before it reads anything else, so a
 * flipped bit inside the float data of model.pt (which LibTorch would load without
 * complaint) is an error, not a silently different model. Checkpoints of older lemur
 * versions have no `files`: verifyCheckpoint() says it cannot verify them, and Lemur.load()
 * loads them unchecked.
 */
import { createHash } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { show } from './config.js';
import type { FileChecksum } from './data/checksum.js';
import { fsyncDir, writeFileAtomic } from './data/files.js';
import { LemurError } from './errors.js';
import type { SelectionState } from './selection.js';

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
  if (!latest) throw new LemurError(`${join(dir, LATEST)} is empty: it should name the newest checkpoint folder (e.g. ${checkpointName(0)})`);
  if (!/^(pretrain|step)-\d+$/.test(latest))
    throw new LemurError(`${join(dir, LATEST)} names ${show(latest)}, not a checkpoint folder of ${dir} (step-NNNNNNNNN or pretrain-NNNNNNNNN)`);
  const path = join(dir, latest);
  if (!existsSync(join(path, 'meta.json')))
    throw new LemurError(`${join(dir, LATEST)} names '${latest}', which ${existsSync(path) ? 'has no meta.json' : 'is not there'}: the checkpoint folder was moved or deleted`);
  return path;
}

/** A position in the training data: epoch and batch within it. */
export type CheckpointPosition = { epoch: number; batch: number };

/** meta.json of a checkpoint folder. */
export interface CheckpointMeta {
  format: 'lemur-checkpoint';
  version: 1;
  step: number;
  pretrainStep: number;
  position: CheckpointPosition;
  pretrainPosition: CheckpointPosition;
  selection?: SelectionState;
  dataset: { dir: string; name: string; numDocuments: number };
  /** Whether the dataset's tokenizer.json was copied in (and why not). */
  tokenizer: { copied: boolean; reason?: string };
  /**
   * Size and SHA-256 of every other file of the folder, by file name (meta.json itself is
   * not listed). Absent in checkpoints written before lemur recorded checksums.
   */
  files?: Record<string, FileChecksum>;
  lemur: string;
  torch: string;
  createdAt: string;
}

/** A JSON file of a checkpoint, with the file named in any error. */
export async function readCheckpointJson<T>(file: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new LemurError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new LemurError(`${file}: not valid JSON (${(e as Error).message}${text.length ? `; ${text.length} bytes` : '; the file is empty'}): the checkpoint is damaged`);
  }
}

/** meta.json of checkpoint folder `path`, checked for the fields lemur relies on; a LemurError naming the file otherwise. */
export async function readCheckpointMeta(path: string): Promise<CheckpointMeta> {
  const file = join(path, 'meta.json');
  const meta = await readCheckpointJson<CheckpointMeta>(file);
  if (typeof meta !== 'object' || meta === null || meta.format !== 'lemur-checkpoint')
    throw new LemurError(`${file}: not a lemur checkpoint (format ${show((meta as { format?: unknown } | null)?.format)})`);
  for (const k of ['step', 'position', 'dataset'] as const)
    if (meta[k] === undefined) throw new LemurError(`${file}: the field '${k}' is missing: the checkpoint is damaged`);
  const damaged = (field: string, v: unknown, want: string) => new LemurError(`${file}: the field '${field}' is ${show(v)}, not ${want}: the checkpoint is damaged`);
  const count = (field: string, v: unknown) => {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw damaged(field, v, 'an integer >= 0');
  };
  const position = (field: string, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw damaged(field, v, '{ epoch, batch }');
    count(`${field}.epoch`, (v as CheckpointPosition).epoch);
    count(`${field}.batch`, (v as CheckpointPosition).batch);
  };
  count('step', meta.step);
  if (meta.pretrainStep !== undefined) count('pretrainStep', meta.pretrainStep);
  position('position', meta.position);
  if (meta.pretrainPosition !== undefined) position('pretrainPosition', meta.pretrainPosition);
  if (typeof meta.dataset !== 'object' || meta.dataset === null) throw damaged('dataset', meta.dataset, '{ dir, name, numDocuments }');
  count('dataset.numDocuments', meta.dataset.numDocuments);
  if (meta.files !== undefined) {
    const bad = (why: string) => new LemurError(`${file}: the field 'files' ${why}: the checkpoint is damaged`);
    if (typeof meta.files !== 'object' || meta.files === null || Array.isArray(meta.files)) throw bad(`is ${show(meta.files)}, not an object`);
    for (const [name, c] of Object.entries(meta.files)) {
      if (!name || name === 'meta.json' || /[/\\]|^\.\.?$/.test(name)) throw bad(`names ${show(name)}, not a file of the folder`);
      const ok =
        typeof c === 'object' && c !== null && Number.isSafeInteger(c.bytes) && c.bytes >= 0 && typeof c.sha256 === 'string' && /^[0-9a-f]{64}$/.test(c.sha256);
      if (!ok) throw bad(`has ${show(c)} for '${name}', not { bytes, sha256 }`);
    }
  }
  return meta;
}

/** Size and SHA-256 of a file, read in 1 MiB pieces (a big model.pt never blocks the event loop). */
export async function checksumFile(path: string): Promise<FileChecksum> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(1 << 20);
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    await fh.close();
  }
}

/** The checksums to record in meta.json for `names` in folder `dir`. */
export async function checksumFiles(dir: string, names: string[]): Promise<Record<string, FileChecksum>> {
  const files: Record<string, FileChecksum> = {};
  for (const name of names) files[name] = await checksumFile(join(dir, name));
  return files;
}

/** What verifyCheckpoint() found. */
export interface CheckpointVerification {
  /** The checkpoint folder checked (the step folder LATEST names, when given a checkpoint root). */
  path: string;
  /**
   * True when meta.json lists checksums and every listed file has its recorded size and
   * SHA-256. False when there are problems, or when the checkpoint has no checksums
   * (written by an older lemur, so it cannot be verified; `problems` says so).
   */
  verified: boolean;
  /** The files that were compared with their checksums (found intact or not), with their size on disk. */
  checked: { file: string; bytes: number }[];
  /** One line per problem, naming the file and what was expected and found; empty when verified. */
  problems: string[];
  /** Time the check took, in seconds. */
  seconds: number;
}

/** Compares the files of checkpoint folder `path` with the checksums `files` of its meta.json. */
async function checkFiles(path: string, files: Record<string, FileChecksum>): Promise<Pick<CheckpointVerification, 'checked' | 'problems'>> {
  const checked: { file: string; bytes: number }[] = [];
  const problems: string[] = [];
  const short = (h: string) => `${h.slice(0, 12)}…`;
  for (const [name, expected] of Object.entries(files)) {
    const file = join(path, name);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push(code === 'ENOENT' ? `${file}: missing (meta.json lists it with ${expected.bytes} bytes)` : `${file}: cannot read (${code ?? (e as Error).message})`);
      continue;
    }
    checked.push({ file: name, bytes: size });
    if (size !== expected.bytes) {
      problems.push(`${file}: expected ${expected.bytes} bytes, got ${size}: truncated or appended`);
      continue;
    }
    let got: FileChecksum;
    try {
      got = await checksumFile(file);
    } catch (e) {
      problems.push(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      continue;
    }
    if (got.bytes !== expected.bytes) problems.push(`${file}: expected ${expected.bytes} bytes, got ${got.bytes}: truncated or appended`);
    else if (got.sha256 !== expected.sha256)
      problems.push(`${file}: sha256 expected ${short(expected.sha256)}, got ${short(got.sha256)}: the file was changed or damaged after it was written`);
  }
  return { checked, problems };
}

/**
 * Checks a checkpoint's files against the sizes and SHA-256 sums its meta.json recorded when
 * it was written. `dir` is a checkpoint root (LATEST is followed) or one checkpoint folder.
 * Damage is reported in `problems`, not thrown; a missing, unreadable or invalid meta.json
 * is a LemurError naming it.
 */
export async function verifyCheckpoint(dir: string): Promise<CheckpointVerification> {
  const t0 = performance.now();
  const path = await resolveCheckpoint(dir);
  const meta = await readCheckpointMeta(path);
  if (meta.files === undefined)
    return {
      path,
      verified: false,
      checked: [],
      problems: [`${join(path, 'meta.json')}: records no checksums (written by lemur ${meta.lemur ?? '(version not recorded)'}, an older version that did not): the files cannot be verified`],
      seconds: (performance.now() - t0) / 1000,
    };
  const { checked, problems } = await checkFiles(path, meta.files);
  return { path, verified: problems.length === 0, checked, problems, seconds: (performance.now() - t0) / 1000 };
}

/**
 * For loaders: throws a LemurError listing the problems when the files of checkpoint folder
 * `path` do not match the checksums of `meta`. A checkpoint without checksums (an older
 * lemur's) passes unchecked.
 */
export async function assertCheckpointIntact(path: string, meta: CheckpointMeta, optOut: string): Promise<void> {
  if (meta.files === undefined) return;
  const { problems } = await checkFiles(path, meta.files);
  if (problems.length)
    throw new LemurError(
      `${path}: the checkpoint is damaged: ${problems.join('; ')}. ` +
        `Restore it from a copy or train again; if you know the damage is harmless, ${optOut} skips this check`,
    );
}
