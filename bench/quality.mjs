#!/usr/bin/env node
// The paper's ladder as a benchmark: every preset (or a set of ablation variants), several
// seeds, one protocol: train on `train` with early stopping on `valid` (QAUC, restore the
// best), evaluate once on `test`. Prints each model's metrics as mean ± std over seeds, the
// paired bootstrap interval of its difference to the first model (all rows and cold-start
// rows), and whether the ladder's targets are met.
//
//   node bench/quality.mjs --data movielens            # ml-latest-small with posters (../shared)
//   node bench/quality.mjs --data synthetic            # the built-in generator (the demo's data)
//   node bench/quality.mjs --data <dataset folder>
//   options: --presets dlrm-mlp,lemur  --seeds 3  --epochs 10  --patience 3
//            --variants bench/ablations.json  (named config overrides instead of presets)
//            --only name,name (variants subset)  --threads N  --json out.json  --fresh
//
// Finished runs are cached under bench/.cache/quality (keyed by dataset, configuration and
// the build), so an interrupted benchmark continues where it stopped; --fresh ignores them.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { importMovielens, Lemur, LADDER, openDataset, resolveConfig, setThreads } from '../dist/index.js';
import { buildComparison, comparisonTable } from '../dist/cli/comparison.js';
import { benchDir, cachedDatasetDir, machine, parseArgs, table } from './common.mjs';

const args = parseArgs(process.argv.slice(2), { data: 'synthetic', seeds: 3, epochs: 10 });
if (args.threads) setThreads({ intraOp: args.threads });

async function datasetDir(name) {
  if (name === 'synthetic') return cachedDatasetDir({ numDocuments: 3000, numUsers: 600, numSamples: 60000, historyLength: 50, seed: 1 });
  if (name === 'movielens') {
    const src = process.env.LEMUR_MOVIELENS ?? resolve(benchDir, '..', '..', 'shared', 'data', 'movielens-small');
    if (!existsSync(join(src, 'ratings.csv'))) throw new Error(`no MovieLens at ${src} (set LEMUR_MOVIELENS)`);
    const dir = join(benchDir, '.cache', 'movielens-small-posters');
    if (!existsSync(join(dir, 'dataset.json'))) await importMovielens(src, dir, { posters: join(src, 'posters'), overwrite: true, onWarning: () => {} });
    return dir;
  }
  return resolve(name);
}

const dir = await datasetDir(String(args.data));
const data = openDataset(dir);
for (const s of ['train', 'valid', 'test'])
  if (!data.splits[s]) throw new Error(`${dir} has no '${s}' split: the protocol needs train / valid / test (import or generate it again)`);

// What to train: presets of the ladder, or named variants (ablations) of a base config.
let models;
if (args.variants) {
  const spec = JSON.parse(readFileSync(resolve(String(args.variants)), 'utf8'));
  models = Object.entries(spec.variants).map(([name, over]) => ({ name, input: { preset: spec.preset ?? 'lemur', ...(spec.base ?? {}), ...over } }));
  if (args.only) {
    const keep = String(args.only).split(',');
    models = models.filter((m) => keep.includes(m.name));
  }
} else {
  const presets = args.presets ? String(args.presets).split(',') : [...LADDER, 'hyformer'];
  models = presets.map((p) => ({ name: p, input: { preset: p } }));
}
const seeds = Number(args.seeds);
const protocol = {
  train: { epochs: Number(args.epochs), earlyStopping: { enabled: true, ...(args.patience ? { patience: Number(args.patience) } : {}) } },
};

// Cache key: dataset, resolved config, seed and the build (addon and compiled TypeScript).
const stamp = (p) => {
  const s = statSync(p);
  return `${s.size}:${s.mtimeMs}`;
};
const build = [stamp(join(benchDir, '..', 'build', 'Release', 'lemur.node')), stamp(join(benchDir, '..', 'dist', 'model.js'))].join('|');
const cacheDir = join(benchDir, '.cache', 'quality');
mkdirSync(cacheDir, { recursive: true });

const merge = (a, b) => {
  if (b === undefined) return a;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v);
    return out;
  }
  return b;
};

const runs = [];
const t0 = performance.now();
for (const m of models) {
  for (let k = 0; k < seeds; k++) {
    const config = resolveConfig(merge(merge(m.input, protocol), { seed: k }));
    const key = createHash('sha256').update(JSON.stringify({ dir, config, build })).digest('hex').slice(0, 16);
    const file = join(cacheDir, `${m.name}-seed${k}-${key}.json`);
    let run;
    if (!args.fresh && existsSync(file)) {
      run = JSON.parse(readFileSync(file, 'utf8'));
      run.scores = Float32Array.from(run.scores);
      console.error(`${m.name} seed ${k}: cached`);
    } else {
      const started = performance.now();
      const model = await Lemur.create(data, config);
      const fit = await model.fit({ progressEvery: 1_000_000 });
      const seconds = (performance.now() - started) / 1000;
      const ev = await model.evaluate('test', { scores: true });
      const es = fit.earlyStopping;
      run = {
        name: m.name,
        seed: k,
        seconds,
        steps: fit.steps,
        pretrainSteps: model.pretrainStep,
        bestStep: es?.best?.step,
        bestEpoch: es?.best ? es.best.step / model.batchesPerEpoch() : undefined,
        validBest: es?.best?.value,
        stoppedAt: es?.stoppedAt,
        samplesPerSecond: fit.samples / fit.seconds,
        final: { split: 'test', step: ev.step, all: ev.all, coldStart: ev.coldStart, warm: ev.warm, bankMisses: ev.bankMisses },
        scores: ev.scores,
        config,
      };
      await model.close(); // the next preset or seed must not find this model's memory held
      writeFileSync(file, JSON.stringify({ ...run, scores: Array.from(run.scores) }));
      console.error(
        `${m.name} seed ${k}: ${Math.round(seconds)} s, best valid ${config.train.earlyStopping.metric} ${es?.best?.value.toFixed(4)} at epoch ${run.bestEpoch?.toFixed(2)}` +
          `${es?.stoppedAt !== undefined ? ' (stopped early)' : ''}; test AUC ${ev.all.auc.toFixed(4)} QAUC ${ev.all.qauc.mean.toFixed(4)} cold AUC ${ev.coldStart?.auc.toFixed(4)}`,
      );
    }
    runs.push(run);
  }
}

const reports = runs.map((r) => ({ name: `${r.name}-seed${r.seed}`, group: r.name, seed: r.seed, final: r.final, config: r.config }));
const comparison = buildComparison(reports, runs.map((r) => r.scores), data, 'test');
const m = machine();
console.log(`\n${m.date} · lemur ${m.lemur} · LibTorch ${m.torch} · ${m.threads}`);
console.log(`${data.manifest.name}: train ${data.splits.train.rows} / valid ${data.splits.valid.rows} / test ${data.splits.test.rows} rows; ${seeds} seeds; early stopping on valid ${protocol.train.earlyStopping.patience ?? 'default patience'}, at most ${args.epochs} epochs\n`);
console.log(comparisonTable(comparison));

// Per model: where early stopping landed, time.
const perModel = models.map((mm) => {
  const rs = runs.filter((r) => r.name === mm.name);
  const mean = (f) => rs.reduce((a, r) => a + f(r), 0) / rs.length;
  return [mm.name, mean((r) => r.bestEpoch ?? NaN).toFixed(2), rs.filter((r) => r.stoppedAt !== undefined).length + '/' + rs.length, mean((r) => r.validBest ?? NaN).toFixed(4), Math.round(mean((r) => r.seconds)) + ' s', Math.round(mean((r) => r.samplesPerSecond))];
});
console.log('\n' + table(['model', 'best epoch (mean)', 'stopped early', 'valid best (mean)', 'train time (mean)', 'samples/s'], perModel));

// The ladder's targets (presets run only).
const targets = [];
const c = Object.fromEntries(comparison.models.map((x) => [x.name, x]));
const diff = (name, metric, scope = 'all') => c[name]?.vsBaseline?.[scope]?.find((d) => d.metric === metric);
if (c['dlrm-mlp'] && c.lemur && comparison.baseline === 'dlrm-mlp') {
  for (const metric of ['qauc', 'auc']) {
    const d = diff('lemur', metric);
    const spreadStd = Math.max(c.lemur.all[metric].std, c['dlrm-mlp'].all[metric].std);
    targets.push([`LEMUR above ID-only on ${metric.toUpperCase()} by > 2 std of the seed spread`, `${d.difference.toFixed(4)} vs 2 x ${spreadStd.toFixed(4)}`, d.difference > 2 * spreadStd ? 'met' : 'missed']);
  }
  const order = ['dlrm-mlp', 'two-stage', 'end-to-end', 'lemur'].filter((n) => c[n]);
  if (order.length === 4) {
    const q = order.map((n) => c[n].all.qauc.mean);
    const ok = q.every((v, i) => i === 0 || v > q[i - 1]);
    targets.push(['QAUC order ID-only < two-stage < end-to-end < LEMUR', q.map((v) => v.toFixed(4)).join(' < '), ok ? 'met' : 'missed']);
  }
  const cold = diff('lemur', 'auc', 'coldStart');
  if (cold) targets.push(['cold-start AUC at least +0.03 over ID-only', cold.difference.toFixed(4), cold.difference >= 0.03 ? 'met' : 'missed']);
  console.log('\n' + table(['target', 'measured', ''], targets));
}
console.log(`\n${runs.length} runs in ${Math.round((performance.now() - t0) / 1000)} s (cached runs count 0)`);
if (args.json) writeFileSync(String(args.json), JSON.stringify({ machine: m, dataset: data.manifest.name, seeds, protocol, comparison, runs: runs.map(({ scores, config, ...r }) => r), targets }, null, 2));
