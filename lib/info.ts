/** What lemur runs on: the LibTorch it was built against, threads, CUDA devices. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { readInstallRecord, type InstallRecord } from './install/prebuilt.js';
import { native, nativeBinaryPath, nativeBinaryRecord, packageRoot, type NativeInfo, type NativeMemoryStats } from './native.js';

export interface Info extends NativeInfo {
  /** The lemur package version. */
  version: string;
  node: string;
  /** Which binary is in use and why: a prebuilt variant package or a source build (the installer's record). */
  binary: { path: string } & Partial<InstallRecord>;
}

export function info(): Info {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  const n = native().info();
  const path = nativeBinaryPath() ?? 'unknown';
  const installed = nativeBinaryRecord() ?? (path === 'unknown' ? undefined : readInstallRecord(dirname(path)));
  return { version: pkg.version, node: process.versions.node, ...n, binary: { path, ...(installed ?? { binary: 'source build', reason: 'built in place (npm run build:native / cmake-js); no install record' }) } };
}

export interface ThreadOptions {
  /** torch intra-op threads (default: the number of cores). */
  intraOp?: number;
  /**
   * BLAS threads. Default: 1 where oneDNN's GEMM takes the CPU float32 products
   * (`info().threads.cpuGemm` names it; a step then makes no BLAS call of size, and the BLAS's
   * own pool would only compete with the intra-op pool), else equal to intraOp, so the two
   * pools never oversubscribe. A new intraOp resets it to this default.
   */
  blas?: number;
}

/** Sets process-wide thread counts; applied before the next native task of every model. */
export function setThreads(options: ThreadOptions): void {
  native().setThreads(options);
}

export type MemoryStats = NativeMemoryStats;

/**
 * The native allocator's statistics (bytes in use, free bytes it holds). CPU tensors are
 * malloc'd memory, so a leak shows as a growing `inUse`; `process.memoryUsage().rss` is the
 * whole process.
 */
export function memoryStats(): MemoryStats {
  return native().memoryStats();
}

/** Returns free native memory to the system now (training does it every 100 steps). */
export function releaseMemory(): void {
  native().releaseMemory();
}
