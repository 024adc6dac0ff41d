// The fault suite: hundreds of bad inputs and faults, generated case by case from seeded
// mutations of valid ones, against every entry point a user feeds (configurations, CSV
// imports, images, Arrow datasets, checkpoints, interrupted saves). Each case must end in
// one of the outcomes it allows: works, works with a warning, or a LemurError naming what is
// wrong. A crash, a silent wrong answer or a vague error fails the group and is listed.
// The totals are printed after the run (and recorded in bench/RESULTS.md).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { resolveConfig } from '../../dist/index.js';

import { apiCases } from './faults/api_cases.js';
import { arrowCases } from './faults/arrow_cases.js';
import { checkpointCases } from './faults/checkpoint_cases.js';
import { configCases } from './faults/config_cases.js';
import { csvCases } from './faults/csv_cases.js';
import { failures, runCase, totals, type CaseResult, type FaultCase } from './faults/harness.js';
import { imageCases } from './faults/image_cases.js';

const tmp = mkdtempSync(join(tmpdir(), 'lemur-faults-'));
const all: CaseResult[] = [];

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  const groups = [...new Set(all.map((r) => r.group))];
  const rows = [...groups.map((g) => [g, totals(all.filter((r) => r.group === g))] as const), ['all', totals(all)] as const];
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  console.log(
    [
      line(['group', 'cases', 'works', 'warnings', 'clear errors', 'crashes', 'silent wrongs', 'vague errors', 'unexpected']),
      line(Array(9).fill('---')),
      ...rows.map(([g, t]) => line([g, t.cases, t.works, t.warnings, t.errors, t.crashes, t.silentWrongs, t.vagueErrors, t.unexpected])),
    ].join('\n'),
  );
});

async function runGroup(cases: FaultCase[]): Promise<void> {
  const results: CaseResult[] = [];
  for (const c of cases) results.push(await runCase(c));
  all.push(...results);
  expect(results.length).toBeGreaterThan(0);
  expect(failures(results)).toEqual([]);
}

describe('the harness classifies outcomes', () => {
  it('crash, silent wrong, vague error, unexpected and ok', async () => {
    const c = (expect: FaultCase['expect'], run: FaultCase['run'], match?: RegExp): FaultCase => ({ group: 'self', name: 'x', expect, match, run });
    const verdict = async (fc: FaultCase) => (await runCase(fc)).verdict;
    expect(await verdict(c('error', async () => void (null as unknown as { x: number }).x))).toBe('crash');
    expect(await verdict(c('error', async () => {}))).toBe('silent wrong');
    expect(await verdict(c('error', async () => void resolveConfig({ seed: -1 }), /config\.epochs/))).toBe('vague error');
    expect(await verdict(c('error', async () => void resolveConfig({ seed: -1 }), /config\.seed: .*-1/))).toBe('ok');
    expect(await verdict(c('works', async () => void resolveConfig({ seed: -1 })))).toBe('unexpected');
    expect(await verdict(c('works', async () => ({ warnings: ['dropped 1 row'] })))).toBe('unexpected');
    expect(await verdict({ ...c('works', () => new Promise(() => {})), timeoutMs: 50 })).toBe('crash');
  });
});

describe('fault suite', () => {
  it('configurations: every field, wrong values, unknown names, wrong containers', async () => {
    await runGroup(configCases());
  });

  it('MovieLens CSV imports: values, columns, rows, encodings, truncation, missing files', async () => {
    await runGroup(await csvCases(join(tmp, 'csv')));
  });

  it('images: damaged, truncated, renamed, oversized and non-image posters', async () => {
    await runGroup(await imageCases(join(tmp, 'images')));
  });

  it('Arrow datasets: truncated and bit-flipped files, lying manifests', async () => {
    await runGroup(await arrowCases(join(tmp, 'arrow')));
  });

  it('the training API: fit / evaluate / predict / save options misused', async () => {
    await runGroup(await apiCases(join(tmp, 'api')));
  });

  it('checkpoints: damaged files, dangling LATEST, wrong dataset, killed saves', async () => {
    await runGroup(await checkpointCases(join(tmp, 'checkpoints')));
  });
});
