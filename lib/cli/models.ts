/**
 * Which models a command trains: presets and/or a config file, then command-line overrides
 * (`--set key.path=value`, `--device`, `--batch-size`, `--epochs`), each resolved and
 * validated before any native work.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';

import { resolveConfig, type LemurConfig, type LemurConfigInput } from '../config.js';
import { ConfigError, LemurError } from '../errors.js';
import { PRESETS, type PresetName } from '../presets.js';
import { UsageError } from './common.js';

export interface ModelSpec {
  /** Unique name in this run (the preset, or the config file's name; `<group>-seed<N>` with --seeds). */
  name: string;
  config: LemurConfig;
  /** With --seeds: the model this is one seed of, and its seed. */
  group?: string;
  seed?: number;
}

/** Each model trained `seeds` times, seeds config.seed, config.seed + 1, ... (1: unchanged). */
export function withSeeds(specs: ModelSpec[], seeds: number): ModelSpec[] {
  if (seeds <= 1) return specs;
  return specs.flatMap((s) =>
    Array.from({ length: seeds }, (_, k) => {
      const seed = s.config.seed + k;
      return { name: `${s.name}-seed${seed}`, group: s.name, seed, config: { ...s.config, seed } };
    }),
  );
}

/** The model a run belongs to in a comparison (its group with --seeds, else itself). */
export const groupOf = (s: { name: string; group?: string }): string => s.group ?? s.name;

export interface SpecOptions {
  presets?: string[];
  configFile?: string;
  sets?: string[];
  device?: string;
  batchSize?: number;
  epochs?: number;
  /** Applied after the presets/config file and before `sets` (the demo's sizes). */
  base?: Record<string, unknown>;
}

type PathPart = string | number;

/** `backbone.mlpHidden[0]` / `sequences.1.maxLength` -> ['backbone', 'mlpHidden', 0] ... */
export function parsePath(path: string): PathPart[] {
  if (!/^[A-Za-z_][\w]*(\[\d+\]|\.[A-Za-z_]\w*|\.\d+)*$/.test(path)) throw new UsageError(`--set: '${path}' is not a config path like backbone.width or sequences[0].maxLength`);
  const parts: PathPart[] = [];
  for (const m of path.matchAll(/([A-Za-z_]\w*)|\[(\d+)\]|\.(\d+)/g)) parts.push(m[1] ?? Number(m[2] ?? m[3]));
  return parts;
}

/** The value of `--set k=v`: JSON when it parses (numbers, booleans, arrays, objects), else the text. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function parseSet(entry: string): { path: PathPart[]; value: unknown; key: string } {
  const eq = entry.indexOf('=');
  if (eq <= 0) throw new UsageError(`--set expects key.path=value, got '${entry}'`);
  const key = entry.slice(0, eq).trim();
  return { key, path: parsePath(key), value: parseValue(entry.slice(eq + 1).trim()) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets `path` in a resolved config object (a plain JSON tree), creating missing levels. */
export function setPath(target: Record<string, unknown>, path: PathPart[], value: unknown): void {
  let node: unknown = target;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    const here = node as Record<string | number, unknown>;
    if (here[k] === undefined) here[k] = typeof path[i + 1] === 'number' ? [] : {};
    node = here[k];
    if (typeof node !== 'object' || node === null) throw new ConfigError(dotted(path.slice(0, i + 1)), `is ${JSON.stringify(node)}, not an object: cannot set ${dotted(path)}`);
    if (typeof path[i + 1] === 'number' && !Array.isArray(node)) throw new ConfigError(dotted(path.slice(0, i + 1)), 'is not a list');
    if (typeof path[i + 1] === 'string' && Array.isArray(node)) throw new ConfigError(dotted(path.slice(0, i + 1)), 'is a list: index it like [0]');
  }
  (node as Record<string | number, unknown>)[path[path.length - 1]!] = value;
}

function dotted(path: PathPart[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('');
}

/** Deep merge of JSON trees: objects key by key, everything else replaced. */
export function mergeTree(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (isObject(base) && isObject(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = mergeTree(base[k], v);
    return out;
  }
  return over;
}

export function readConfigFile(file: string): LemurConfigInput {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new LemurError(`${file}: cannot read the config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new LemurError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(value)) throw new LemurError(`${file}: expected a JSON object with config fields`);
  return value as LemurConfigInput;
}

export function checkPresetName(name: string): PresetName {
  if (!(name in PRESETS)) throw new UsageError(`unknown preset '${name}' (known: ${Object.keys(PRESETS).join(', ')})`);
  return name as PresetName;
}

/** The command-line overrides, as `--set` entries applied in order. */
export function overrideEntries(o: SpecOptions): { path: PathPart[]; value: unknown; key: string }[] {
  const entries = (o.sets ?? []).map(parseSet);
  if (o.device !== undefined) entries.unshift({ key: 'device', path: ['device'], value: o.device });
  if (o.batchSize !== undefined) entries.unshift({ key: 'train.batchSize', path: ['train', 'batchSize'], value: o.batchSize });
  if (o.epochs !== undefined) entries.unshift({ key: 'train.epochs', path: ['train', 'epochs'], value: o.epochs });
  return entries;
}

/** Builds and validates the models of a run. */
export function modelSpecs(o: SpecOptions): ModelSpec[] {
  const file = o.configFile ? readConfigFile(o.configFile) : undefined;
  const presets = (o.presets ?? []).map(checkPresetName);
  if (file?.preset !== undefined && typeof file.preset === 'string' && !presets.length) checkPresetName(file.preset);
  const fileName = o.configFile ? basename(o.configFile, extname(o.configFile)) : undefined;
  const runs: { name: string; preset: PresetName }[] = presets.length
    ? presets.map((p) => ({ name: fileName && presets.length === 1 ? `${p}+${fileName}` : p, preset: p }))
    : [{ name: fileName ?? (file?.preset as string | undefined) ?? 'lemur', preset: (file?.preset as PresetName | undefined) ?? 'lemur' }];
  const names = new Set<string>();
  for (const r of runs) {
    if (names.has(r.name)) throw new UsageError(`the model '${r.name}' is listed twice`);
    names.add(r.name);
  }
  const overrides = overrideEntries(o);
  return runs.map(({ name, preset }) => {
    // The whole resolved config is the tree `--set` edits, so list items (sequences[1]...) and
    // preset defaults are addressable; resolving it again validates the result.
    let tree = resolveConfig({ ...(file ?? {}), preset }) as unknown as Record<string, unknown>;
    if (o.base) tree = mergeTree(tree, o.base) as Record<string, unknown>;
    tree = structuredClone(tree);
    for (const { path, value } of overrides) {
      if (path[0] === 'preset') throw new UsageError('--set preset=... is not allowed: use --preset');
      setPath(tree, path, value);
    }
    return { name, config: resolveConfig(tree as LemurConfigInput) };
  });
}
