/**
 * The fault suite's harness. A case is one bad input or fault against one entry point and
 * the classes of outcome it may have:
 *
 *   works    returned, no warning
 *   warning  returned, and said what it repaired, dropped or could not use
 *   error    threw a LemurError whose message names what is wrong (the case's `match`)
 *
 * Anything else is a failure of lemur, classified as one of
 *
 *   crash         threw something that is not a LemurError (a TypeError, a raw torch or
 *                 Arrow message, ...), or hung past the case's time limit
 *   silent wrong  expected an error (the input is wrong) but it returned as if all was well
 *   vague error   a LemurError that does not name what is wrong
 *   unexpected    any other class than the expected ones (e.g. an error for a valid input)
 */
import { LemurError } from '../../../dist/index.js';

export type Outcome = 'works' | 'warning' | 'error';
export type Verdict = 'ok' | 'crash' | 'silent wrong' | 'vague error' | 'unexpected';

export interface Run {
  /** Warnings the entry point reported (onWarning lines, report warnings...). */
  warnings?: string[];
}

export interface FaultCase {
  group: string;
  name: string;
  /** The acceptable outcomes (the first is what a careful implementation does). */
  expect: Outcome | Outcome[];
  /** What an error's message must say (file, line, field, ...). */
  match?: RegExp;
  /** Per-case time limit (ms) before the case counts as a hang. */
  timeoutMs?: number;
  run: () => Promise<Run | void>;
}

export interface CaseResult {
  group: string;
  name: string;
  expected: Outcome[];
  outcome: Outcome | 'crash';
  verdict: Verdict;
  message: string;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HangError(`no answer after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

class HangError extends Error {}

export async function runCase(c: FaultCase): Promise<CaseResult> {
  const expected = Array.isArray(c.expect) ? c.expect : [c.expect];
  const base = { group: c.group, name: c.name, expected };
  let outcome: Outcome | 'crash';
  let message = '';
  try {
    const run = (await withTimeout(c.run(), c.timeoutMs ?? 20_000)) ?? {};
    outcome = run.warnings?.length ? 'warning' : 'works';
    message = run.warnings?.join(' | ') ?? '';
  } catch (e) {
    const err = e as Error;
    message = `${err?.name}: ${err?.message ?? String(e)}`;
    outcome = e instanceof LemurError ? 'error' : 'crash';
  }
  let verdict: Verdict;
  if (outcome === 'crash') verdict = 'crash';
  else if (!expected.includes(outcome)) verdict = expected.includes('error') && !expected.includes(outcome) && outcome !== 'error' ? 'silent wrong' : 'unexpected';
  else if (outcome === 'error' && c.match && !c.match.test(message)) verdict = 'vague error';
  else verdict = 'ok';
  return { ...base, outcome, verdict, message };
}

export interface Totals {
  cases: number;
  works: number;
  warnings: number;
  errors: number;
  crashes: number;
  silentWrongs: number;
  vagueErrors: number;
  unexpected: number;
}

export function totals(results: readonly CaseResult[]): Totals {
  const count = (f: (r: CaseResult) => boolean) => results.filter(f).length;
  return {
    cases: results.length,
    works: count((r) => r.outcome === 'works'),
    warnings: count((r) => r.outcome === 'warning'),
    errors: count((r) => r.outcome === 'error'),
    crashes: count((r) => r.verdict === 'crash'),
    silentWrongs: count((r) => r.verdict === 'silent wrong'),
    vagueErrors: count((r) => r.verdict === 'vague error'),
    unexpected: count((r) => r.verdict === 'unexpected'),
  };
}

/** The failures of a group, one line each, for the assertion message. */
export function failures(results: readonly CaseResult[]): string[] {
  return results
    .filter((r) => r.verdict !== 'ok')
    .map((r) => `[${r.verdict}] ${r.group} / ${r.name}: expected ${r.expected.join(' or ')}, got ${r.outcome}${r.message ? `: ${r.message.slice(0, 300)}` : ''}`);
}

/** Seeded choices for mutations. */
export class Rand {
  constructor(private readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
}
