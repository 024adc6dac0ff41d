/**
 * What an importer found wrong in its input and what it did about it. Each problem has a
 * reason (e.g. "rating out of range") and is either fatal (a DataError naming file, line,
 * column and value), a dropped row, or a repair (the row is kept, changed); dropped rows
 * and repairs are counted per reason, with the first few lines, and end up in the import
 * summary and the manifest's sourceStats. Nothing is changed or left out without a count.
 */
import { DataError } from '../errors.js';

/** What to do with a row that breaks a rule: stop the import (default) or drop the row. */
export type InvalidRowPolicy = 'error' | 'skip';

/** One reason's tally. */
export interface IssueCount {
  /** File the rows are in. */
  file: string;
  /** What was wrong (and, for repairs, what was done). */
  reason: string;
  count: number;
  /** The first few places, as `line N: value`. */
  examples: string[];
}

/** The import summary: rows dropped and values repaired, per reason. */
export interface ImportReport {
  dropped: IssueCount[];
  repaired: IssueCount[];
  /** Rows dropped, all reasons together. */
  droppedRows: number;
  /** Values repaired, all reasons together. */
  repairedValues: number;
}

const EXAMPLES = 3;

export class ImportIssues {
  private readonly dropped = new Map<string, IssueCount>();
  private readonly repaired = new Map<string, IssueCount>();

  constructor(private readonly policy: InvalidRowPolicy = 'error') {}

  private static add(into: Map<string, IssueCount>, file: string, reason: string, line: number, value: string): void {
    const key = `${file}\u0000${reason}`;
    let c = into.get(key);
    if (!c) into.set(key, (c = { file, reason, count: 0, examples: [] }));
    c.count++;
    if (c.examples.length < EXAMPLES) c.examples.push(`line ${line}: ${value}`);
  }

  /**
   * A row that breaks a rule: throws under the 'error' policy; under 'skip' counts it and
   * returns false (the caller drops the row).
   */
  invalid(file: string, column: string, line: number, reason: string, value: string): false {
    if (this.policy === 'error')
      throw new DataError(`${reason}: ${value} (pass invalidRows: 'skip' to drop such rows and count them)`, file, column, undefined, line);
    ImportIssues.add(this.dropped, file, reason, line, value);
    return false;
  }

  /** A row dropped whatever the policy (e.g. an exact duplicate). */
  drop(file: string, line: number, reason: string, value: string): void {
    ImportIssues.add(this.dropped, file, reason, line, value);
  }

  /** A value kept in a repaired form (e.g. `12.0` read as id 12). */
  repair(file: string, line: number, reason: string, value: string): void {
    ImportIssues.add(this.repaired, file, reason, line, value);
  }

  /** Repairs counted elsewhere (e.g. lines read as Windows-1252 by readCsv). */
  repairMany(file: string, reason: string, count: number, lines: readonly number[]): void {
    if (count === 0) return;
    const key = `${file}\u0000${reason}`;
    const c = this.repaired.get(key) ?? { file, reason, count: 0, examples: [] };
    c.count += count;
    for (const l of lines) if (c.examples.length < EXAMPLES) c.examples.push(`line ${l}`);
    this.repaired.set(key, c);
  }

  report(): ImportReport {
    const dropped = [...this.dropped.values()];
    const repaired = [...this.repaired.values()];
    return {
      dropped,
      repaired,
      droppedRows: dropped.reduce((s, c) => s + c.count, 0),
      repairedValues: repaired.reduce((s, c) => s + c.count, 0),
    };
  }

  /** One warning line per reason, e.g. `ratings.csv: 2 rows dropped (rating out of range [0.5, 5]; line 7: 7.5, ...)`. */
  warnings(name: (file: string) => string = (f) => f): string[] {
    const line = (c: IssueCount, what: string) =>
      `${name(c.file)}: ${c.count} ${what} (${c.reason}; ${c.examples.join(', ')}${c.count > c.examples.length ? ', ...' : ''})`;
    return [
      ...[...this.dropped.values()].map((c) => line(c, c.count === 1 ? 'row dropped' : 'rows dropped')),
      ...[...this.repaired.values()].map((c) => line(c, c.count === 1 ? 'value repaired' : 'values repaired')),
    ];
  }

  /** Flat figures for the manifest's sourceStats: `dropped: <reason>` / `repaired: <reason>` -> count. */
  stats(name: (file: string) => string = (f) => f): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.dropped.values()) out[`dropped ${name(c.file)}: ${c.reason}`] = c.count;
    for (const c of this.repaired.values()) out[`repaired ${name(c.file)}: ${c.reason}`] = c.count;
    return out;
  }
}
