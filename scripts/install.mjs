#!/usr/bin/env node
// `npm install` hook. In order:
//   1. `--build-from-source` (or npm_config_build_from_source): build with cmake-js;
//   2. a binary already in build/Release that loads: keep it;
//   3. a prebuilt variant package (@lemur-node/<variant>) whose LibTorch fingerprint matches
//      this machine's exactly, verified by loading it in a child process;
//   4. a source build with cmake-js (node-gyp cannot build a CMake project); where there is
//      no compiler or CMake, fail with the one command that fixes it.
// build/Release/lemur-install.json records which one and why (`lemur info` shows it).
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const force =
  process.argv.includes('--build-from-source') ||
  /^(true|1|lemur)$/.test(process.env.npm_config_build_from_source ?? '');

/** Loads the addon in a child process (a binary for another LibTorch may fail in ways that must not take this one down). */
function binaryLoads() {
  const dist = join(root, 'dist', 'info.js');
  const code = existsSync(dist)
    ? `import(${JSON.stringify(pathToFileURL(dist).href)}).then((m) => m.info())`
    : `require('node-gyp-build')(${JSON.stringify(root)})`;
  const probe = spawnSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8' });
  return { ok: probe.status === 0, error: (probe.stderr || '').trim().split('\n').slice(-1)[0] };
}

// The prebuilt logic ships compiled in dist/ (absent in a fresh clone before `prepare`).
let prebuilt;
let probe;
try {
  prebuilt = await import(pathToFileURL(join(root, 'dist', 'install', 'prebuilt.js')).href);
  probe = await import(pathToFileURL(join(root, 'dist', 'install', 'torch-probe.js')).href);
} catch {
  prebuilt = undefined;
}
let here;
let probeError;
try {
  here = probe?.probeTorch();
} catch (e) {
  probeError = e.message;
}
const record = (r) => prebuilt?.writeInstallRecord(root, r, here);

if (!force && existsSync(join(root, 'build', 'Release', 'lemur.node')) && binaryLoads().ok) {
  console.log('lemur: using the existing native binary');
  process.exit(0);
}

let noPrebuilt = force ? '--build-from-source was given' : 'no prebuilt variant package is installed';
if (!force && prebuilt && here) {
  const choice = prebuilt.choosePrebuilt(prebuilt.findPrebuilts(root), here);
  if (choice.chosen) {
    const p = choice.chosen;
    prebuilt.installPrebuilt(p, here, root);
    const loaded = binaryLoads();
    if (loaded.ok) {
      const why = `exact match: LibTorch ${here.torchVersion} (${here.source}), C++11 ABI ${here.cxx11Abi}, ${here.cuda === null ? 'CPU' : `CUDA ${here.cuda}`}, ${here.platform}`;
      record({ binary: 'prebuilt', package: `${p.name}@${p.version}`, reason: why });
      console.log(`lemur: using the prebuilt ${p.name}@${p.version} (${why})`);
      process.exit(0);
    }
    rmSync(join(root, 'build', 'Release', 'lemur.node'), { force: true });
    noPrebuilt = `${p.name} matched but did not load (${loaded.error})`;
  } else if (choice.rejected.length) {
    noPrebuilt = choice.rejected.map((r) => `${r.name}: ${r.reasons.join('; ')}`).join(' | ') + ` (this machine wants ${choice.wanted})`;
  } else noPrebuilt = `no prebuilt variant package is installed (this machine wants ${choice.wanted})`;
} else if (!force && !here) noPrebuilt = probeError ?? 'no LibTorch found';

const has = (cmd, args = ['--version']) => {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
};
const compiler = has(process.env.CXX || 'c++') || has('g++') || has('clang++');
if (!has('cmake') || !compiler) {
  console.error(`\nlemur: no prebuilt binary fits this machine: ${noPrebuilt}.`);
  console.error(`lemur: and it cannot build one: ${[!has('cmake') && 'cmake', !compiler && 'a C++ compiler'].filter(Boolean).join(' and ')} not found. The fix (Debian/Ubuntu, as root):`);
  console.error(`    apt-get install -y --no-install-recommends cmake g++ make${here ? '' : ' libtorch-dev libopenblas0'} && npm rebuild lemur`);
  process.exit(1);
}

const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const jobs = String(Math.max(1, Math.min(availableParallelism(), Number(process.env.LEMUR_BUILD_JOBS) || 64)));
console.log(`lemur: building the native addon from source with cmake-js (${jobs} jobs): ${noPrebuilt}`);
const started = Date.now();
const build = spawnSync(process.execPath, [cmakeJs, 'build', '--parallel', jobs, '--out', 'build'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env },
});
if (build.status !== 0) {
  console.error('\nlemur: building the native addon failed.');
  console.error('  See the messages above. LibTorch is looked up from $LIBTORCH, then python3 -c "import torch",');
  console.error('  then the system (apt-get install libtorch-dev libopenblas0). Then: npm rebuild lemur --build-from-source');
  process.exit(build.status ?? 1);
}
record({ binary: 'source build', reason: noPrebuilt });
console.log(`lemur: native addon built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
