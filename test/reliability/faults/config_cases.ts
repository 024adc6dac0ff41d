/**
 * Configurations: every leaf of the resolved `lemur` configuration set, one at a time, to
 * values that are wrong for it (NaN, Infinity, a numeric string, null, an object, a negative
 * or fractional number, a truthy string where a boolean goes, an unknown option name...).
 * Each must be a ConfigError naming that field and showing the value; unknown fields and
 * wrong containers at every level too.
 */
import { ConfigError, resolveConfig, type LemurConfigInput } from '../../../dist/index.js';
import type { FaultCase } from './harness.js';

/** Real-valued fields whose value may be fractional (1.5 is valid for them). */
const REAL = new Set([
  'optim.lr', 'optim.encoderLr', 'optim.weightDecay', 'optim.eps', 'optim.clipNorm', 'optim.sparseLr', 'optim.sparseEps',
  'loss.sqdcWeight', 'loss.temperature', 'train.earlyStopping.minDelta',
]);
/** Fields whose value is a boolean or 'auto'. */
const TRISTATE = /^(sequences\[\d+\]\.(action|age)|train\.earlyStopping\.enabled)$/;

const show = (v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v));
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type Leaf = { path: string; value: unknown };

function leaves(v: unknown, path: string, out: Leaf[]): Leaf[] {
  if (Array.isArray(v) && v.every((x) => typeof x === 'object')) v.forEach((x, i) => leaves(x, `${path}[${i}]`, out));
  else if (Array.isArray(v)) v.forEach((x, i) => out.push({ path: `${path}[${i}]`, value: x }));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) leaves(x, path ? `${path}.${k}` : k, out);
  else out.push({ path, value: v });
  return out;
}

/** The input that sets `path` of the resolved config to `value` (arrays are replaced whole). */
function inputSetting(base: Record<string, unknown>, path: string, value: unknown): LemurConfigInput {
  const parts = path.split(/\.|(?=\[)/);
  const input: Record<string, unknown> = {};
  let into = input;
  let from: unknown = base;
  for (let i = 0; i < parts.length; i++) {
    const key = parts[i]!;
    const last = i === parts.length - 1;
    const next = parts[i + 1];
    if (next?.startsWith('[')) {
      // an array: copy it whole from the resolved config, then set the element's field
      const arr = structuredClone((from as Record<string, unknown>)[key]) as unknown[];
      const idx = Number(next.slice(1, -1));
      const rest = parts.slice(i + 2);
      if (rest.length === 0) arr[idx] = value;
      else (arr[idx] as Record<string, unknown>)[rest[0]!] = value; // one level inside the element
      into[key] = arr;
      return { preset: 'lemur', ...input };
    }
    if (last) into[key] = value;
    else {
      into[key] = {};
      into = into[key] as Record<string, unknown>;
      from = (from as Record<string, unknown>)[key];
    }
  }
  return { preset: 'lemur', ...input };
}

function badValues(path: string, value: unknown): unknown[] {
  if (path === 'preset') return [];
  if (typeof value === 'number') {
    const bad: unknown[] = [NaN, Infinity, -Infinity, '3', null, true, -1, {}];
    if (!REAL.has(path)) bad.push(1.5);
    return bad;
  }
  if (typeof value === 'boolean' || TRISTATE.test(path)) return ['true', 1, null, 'yes', {}];
  if (typeof value === 'string') {
    if (path.endsWith('.name')) return [3, null, '', 'has space'];
    // a split's name is checked against the dataset when fit starts (any name can be valid)
    if (path === 'train.earlyStopping.split') return ['', null, 3, true];
    return ['bogus', '', null, 3, true];
  }
  return [];
}

function expectError(group: string, name: string, input: LemurConfigInput, field: string, value?: unknown): FaultCase {
  const shown = value === undefined ? '' : `.*${escape(show(value))}`;
  return {
    group,
    name,
    expect: 'error',
    match: new RegExp(`ConfigError: config\\.${escape(field)}: ${shown}`),
    run: async () => {
      try {
        resolveConfig(input);
      } catch (e) {
        if (e instanceof ConfigError && e.field !== field) throw new ConfigError(e.field, `(field ${e.field}, wanted ${field}) ${e.message}`);
        throw e;
      }
    },
  };
}

export function configCases(): FaultCase[] {
  const base = resolveConfig('lemur') as unknown as Record<string, unknown>;
  const cases: FaultCase[] = [];
  for (const { path, value } of leaves(base, '', [])) {
    for (const bad of badValues(path, value))
      cases.push(expectError('config: bad leaf values', `${path} = ${show(bad)}`, inputSetting(base, path, bad), path, bad));
  }
  // Unknown fields (a typo) at every level, sequences included; wrong containers.
  const objects = ['', 'features', 'queryEncoder', 'docEncoder', 'encoderSampling', 'memoryBank', 'decoder', 'longer', 'backbone', 'loss', 'optim', 'twoStage', 'train', 'train.earlyStopping'];
  for (const o of objects) {
    const field = o ? `${o}.lerningRate` : 'lerningRate';
    cases.push(expectError('config: unknown fields', field, inputSetting(base, field, 1), field));
    if (o) for (const bad of [3, 'x', null, [1]]) cases.push(expectError('config: wrong containers', `${o} = ${show(bad)}`, inputSetting(base, o, bad), o));
  }
  const seqs = structuredClone(base.sequences) as Record<string, unknown>[];
  cases.push(expectError('config: unknown fields', 'sequences[1].maxLen', { preset: 'lemur', sequences: seqs.map((s, i) => (i === 1 ? { ...s, maxLen: 5 } : s)) as never }, 'sequences[1].maxLen'));
  cases.push(expectError('config: unknown fields', 'sequences[0].column = 3', { preset: 'lemur', sequences: seqs.map((s, i) => (i === 0 ? { ...s, column: 3 } : s)) as never }, 'sequences[0].column', 3));
  for (const bad of [{}, null, 'short', 3, [3], [null]])
    cases.push(expectError('config: wrong containers', `sequences = ${show(bad)}`, { preset: 'lemur', sequences: bad as never }, Array.isArray(bad) ? 'sequences[0]' : 'sequences'));
  for (const bad of ['lemurr', '', 3, null]) cases.push(expectError('config: bad leaf values', `preset = ${show(bad)}`, { preset: bad as never }, 'preset'));
  // Valid edge values work (no false alarms): boundaries of ranges.
  const valid: [string, unknown][] = [['features.docIdDropout', 0], ['features.docIdDropout', 1], ['optim.clipNorm', 0], ['optim.weightDecay', 0], ['optim.warmupSteps', 0], ['loss.sqdcWeight', 0], ['seed', 2 ** 31], ['train.epochs', 0], ['device', 'cuda:1'], ['sequences[0].action', 'auto'], ['sequences[0].age', false]];
  for (const [path, v] of valid)
    cases.push({ group: 'config: valid edges', name: `${path} = ${show(v)}`, expect: 'works', run: async () => void resolveConfig(inputSetting(base, path, v)) });
  return cases;
}
