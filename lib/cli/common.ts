/** Shared pieces of the command line: argument parsers, errors, output and formatting. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { InvalidArgumentError } from 'commander';

import { LemurError } from '../errors.js';

/** A command-line usage problem found after commander's own checks: exits 2, like commander's. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Training was stopped by Ctrl-C: exits 130 after the message. */
export class Interrupted extends Error {
  override name = 'Interrupted';
}

/** Commander argument parser: an integer >= min. */
export function integer(min: number): (value: string) => number {
  return (value: string) => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isSafeInteger(v) || v < min)
      throw new InvalidArgumentError(min === 1 ? 'expected a positive integer.' : `expected an integer >= ${min}.`);
    return v;
  };
}

/** Commander argument parser: a number in (0, 1). */
export function fraction(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !(v > 0 && v < 1)) throw new InvalidArgumentError('expected a number between 0 and 1.');
  return v;
}

/** Commander collector for repeatable options (`--set a=1 --set b=2`); commas split values too. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

/** `cpu`, `cuda` or `cuda:N`. */
export function device(value: string): string {
  if (!/^(cpu|cuda(:\d+)?)$/.test(value)) throw new InvalidArgumentError("expected 'cpu', 'cuda' or 'cuda:N'.");
  return value;
}

/** Lines for people go to stderr (progress, notes); results (tables, paths) go to stdout. */
let quiet = false;
/**
 * Silences say/print and progress: the ranks other than 0 of a data-parallel job, so a
 * launcher that shows every worker's output (torchrun) shows the job's once. Errors still
 * reach stderr (they do not go through say).
 */
export function setQuiet(q: boolean): void {
  quiet = q;
}
export const isQuiet = (): boolean => quiet;
export const say = (line = ''): void => void (quiet || process.stderr.write(line + '\n'));
export const print = (line = ''): void => void (quiet || process.stdout.write(line + '\n'));
export const warn = (line: string): void => void process.stderr.write(`lemur: warning: ${line}\n`);

/** 83.2 -> "1m 23s"; 4.2 -> "4.2s". */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** A metric with `digits` decimals, or an em dash when missing / NaN. */
export function metric(v: number | undefined | null, digits = 4): string {
  return v === undefined || v === null || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** Thousands separated: 12345 -> "12,345". */
export function count(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '?';
}

/** A fixed-width text table; numbers (and dashes) are right-aligned. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => i > 0 && rows.every((r) => /^[-+]?[\d.,]+(%|s)?$|^—$|^\d+m \d+s$|^\d+h \d+m$/.test(r[i] ?? '')));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** `2024-05-01T12:34:56Z` -> `20240501-123456` (local time), for default folder names. */
export function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Output folders are never replaced silently. */
export function refuseExisting(out: string, overwrite: boolean | undefined): void {
  if (!overwrite && existsSync(out)) throw new LemurError(`${resolve(out)} already exists: pass --overwrite to replace it`);
}
