#!/usr/bin/env node
// `npm install` hook: use the existing binary when it loads, else build it with cmake-js
// (node-gyp cannot build a CMake project). `--build-from-source` (or
// `npm install --build-from-source`) always builds.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const force =
  process.argv.includes('--build-from-source') ||
  /^(true|1|lemur)$/.test(process.env.npm_config_build_from_source ?? '');

function existingBinaryLoads() {
  // In a child process: a binary built against another libtorch may fail to load in ways we
  // must not let take this process down.
  const probe = spawnSync(
    process.execPath,
    ['-e', "require('node-gyp-build')(process.argv[1])", root],
    { cwd: root, stdio: 'ignore' },
  );
  return probe.status === 0;
}

if (!force && existingBinaryLoads()) {
  console.log('lemur: using the existing native binary');
  process.exit(0);
}

const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const jobs = String(Math.max(1, Math.min(availableParallelism(), Number(process.env.LEMUR_BUILD_JOBS) || 64)));
console.log(`lemur: building the native addon with cmake-js (${jobs} jobs)...`);
const started = Date.now();
const build = spawnSync(process.execPath, [cmakeJs, 'build', '--parallel', jobs, '--out', 'build'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env },
});
if (build.status !== 0) {
  const which = spawnSync('cmake', ['--version'], { stdio: 'ignore' });
  console.error('\nlemur: building the native addon failed.');
  if (which.error || which.status !== 0) {
    console.error('  cmake is not installed. On Debian/Ubuntu, as root:');
    console.error('    apt-get install -y --no-install-recommends cmake g++ make libtorch-dev libopenblas0');
    console.error('  or run: sh scripts/setup.sh');
  } else {
    console.error('  See the messages above. LibTorch is looked up from $LIBTORCH, then python3 -c "import torch",');
    console.error('  then the system (apt-get install libtorch-dev libopenblas0). Then: npm rebuild lemur --build-from-source');
  }
  process.exit(build.status ?? 1);
}
console.log(`lemur: native addon built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
