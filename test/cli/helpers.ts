/** Runs the built command line (`node dist/cli.js`) as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    // Two threads: the suite runs beside other native work on small machines.
    env: { ...process.env, CI: '1', LEMUR_DEBUG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function collect(child: ChildProcess): Promise<CliResult> {
  const t0 = performance.now();
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 }));
  });
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return collect(spawnCli(args, env));
}

/** A fresh temporary folder; remove it with `cleanup()`. */
export function tempDir(prefix = 'lemur-cli-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Small models for the CLI tests: the sizes go through --set, as a user would pass them. */
export const TINY_SETS = [
  'embeddingDim=16',
  'features.idDim=8',
  'docEncoder.layers=1',
  'docEncoder.width=16',
  'docEncoder.heads=2',
  'queryEncoder.layers=1',
  'queryEncoder.width=16',
  'queryEncoder.heads=2',
  'decoder.layers=1',
  'decoder.width=16',
  'decoder.heads=2',
  'decoder.queries=2',
  'longer.layers=1',
  'longer.width=16',
  'longer.heads=2',
  'backbone.width=16',
  'backbone.tokens=4',
  'backbone.layers=1',
  'backbone.mlpHidden=[16]',
  'memoryBank.stalenessProbe=16',
].flatMap((s) => ['--set', s]);
