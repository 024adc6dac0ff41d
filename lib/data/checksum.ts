/**
 * File checksums of a dataset (and of checkpoints): SHA-256, which every machine can check
 * (`sha256sum`) and which runs at ~1.7 GB/s on x86 CPUs with SHA extensions. The manifest
 * records `{ bytes, sha256 }` per file; openDataset compares them with the bytes it has just
 * read (no second read), so flipped bits inside float or image buffers, which no structural
 * check can see, are caught before training.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { DataError } from '../errors.js';

export interface FileChecksum {
  /** File size in bytes. */
  bytes: number;
  /** SHA-256 of the whole file, lowercase hex. */
  sha256: string;
}

export function checksumOf(bytes: Uint8Array): FileChecksum {
  return { bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

export function checksumOfFile(path: string): FileChecksum {
  return checksumOf(readFileSync(path));
}

/** Throws a DataError naming the file when `bytes` are not what `expected` describes. */
export function verifyChecksum(path: string, bytes: Uint8Array, expected: FileChecksum): void {
  if (bytes.byteLength !== expected.bytes)
    throw new DataError(
      `${bytes.byteLength} bytes, the manifest says ${expected.bytes}: the file was truncated, appended to or replaced after it was written ` +
        `(openDataset(dir, { verify: false }) skips this check)`,
      path,
    );
  const got = createHash('sha256').update(bytes).digest('hex');
  if (got !== expected.sha256)
    throw new DataError(
      `checksum mismatch (sha256 ${got.slice(0, 16)}..., the manifest says ${expected.sha256.slice(0, 16)}...): the file was changed or damaged ` +
        `after it was written; import or generate it again (openDataset(dir, { verify: false }) skips this check)`,
      path,
    );
}
