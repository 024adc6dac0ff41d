#!/usr/bin/env node
// `npm run pack:release`: packs `lemur` as it is published, with every prebuilt variant
// package of this version listed in its optionalDependencies, so that `npm install lemur`
// brings the variants for the machine's os/cpu along and the install step picks the one
// whose LibTorch matches (scripts/install.mjs). The repository's own package.json lists none:
// `npm ci` in a clone must not depend on packages published from other machines.
//
// The variants listed are the tarballs `npm run prebuild` left in the output folder for this
// version, plus each `--variant <name>` (a variant built and published from another machine,
// e.g. the CUDA one from the GPU machine). A listed variant that the registry lacks is skipped
// by npm (404 on an optional dependency), so listing one before it is published is harmless
// to `npm install`; `npm ci` of a lockfile made before it was published is not affected.
//   node scripts/pack-release.mjs [--out .prebuilds] [--variant linux-x64-torch2.11-cu130 ...]
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const fail = (msg) => {
  console.error(`lemur pack:release: ${msg}`);
  process.exit(1);
};
const values = (flag) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
const outIndex = args.indexOf('--out');
const out = resolve(root, outIndex >= 0 ? args[outIndex + 1] : '.prebuilds');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (!existsSync(join(root, 'dist', 'install', 'prebuilt.js'))) fail('dist/ is not built: run `npx tsc -p tsconfig.json` first');
const { VARIANT_SCOPE: scope } = await import(pathToFileURL(join(root, 'dist', 'install', 'prebuilt.js')).href);

// Variant tarballs of this version: lemur-node-<variant>-<version>.tgz (npm pack's name for
// @lemur-node/<variant>).
const suffix = `-${pkg.version}.tgz`;
const built = (existsSync(out) ? readdirSync(out, { withFileTypes: true }) : [])
  .filter((e) => e.isFile() && e.name.startsWith('lemur-node-') && e.name.endsWith(suffix))
  .map((e) => e.name.slice('lemur-node-'.length, -suffix.length));
const extra = values('--variant').map((given) => {
  const v = given?.replace(`${scope}/`, ''); // the package name or the variant alone
  if (!v || !/^[a-z0-9][a-z0-9.-]*$/.test(v)) fail(`--variant takes a variant name such as linux-x64-torch2.11-cu130, got '${given}'`);
  return v;
});
const variants = [...new Set([...built, ...extra])].sort();
if (variants.length === 0) fail(`no variant tarball for ${pkg.version} in ${out}: run \`npm run prebuild\` first, or name one with --variant`);

// Stage the files npm would pack, with the published package.json.
const list = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
if (list.status !== 0) fail(`npm pack --dry-run failed: ${list.stderr}`);
const files = JSON.parse(list.stdout)[0].files.map((f) => f.path);
const stage = mkdtempSync(join(tmpdir(), 'lemur-release-'));
try {
  for (const f of files) {
    mkdirSync(dirname(join(stage, f)), { recursive: true });
    copyFileSync(join(root, f), join(stage, f));
  }
  const published = { ...pkg, optionalDependencies: Object.fromEntries(variants.map((v) => [`${scope}/${v}`, pkg.version])) };
  writeFileSync(join(stage, 'package.json'), JSON.stringify(published, null, 2) + '\n');
  mkdirSync(out, { recursive: true });
  const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', out, '--json'], { cwd: stage, encoding: 'utf8' });
  if (packed.status !== 0) fail(`npm pack failed: ${packed.stderr}`);
  const info = JSON.parse(packed.stdout)[0];
  const tarball = join(out, info.filename);
  console.log(`${pkg.name}@${pkg.version}: ${tarball} (${(statSync(tarball).size / 2 ** 10).toFixed(0)} KiB packed, ${info.entryCount} files)`);
  for (const v of variants) console.log(`  optionalDependencies: ${scope}/${v}@${pkg.version}${built.includes(v) ? ` (${join(out, `lemur-node-${v}${suffix}`)})` : ' (built elsewhere)'}`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
