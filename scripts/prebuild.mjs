#!/usr/bin/env node
// `npm run prebuild`: packs the native addon built here as the variant package for this
// machine's LibTorch (@lemur-node/<platform>-torch<M.m>-<cpu|cuNNN>), a tarball under
// .prebuilds/ (git-ignored). Builds first unless --no-build. Refuses a binary whose build
// record does not match the LibTorch found now, or one that was itself installed prebuilt.
//   node scripts/prebuild.mjs [--no-build] [--out .prebuilds]
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const out = resolve(root, outIndex >= 0 ? args[outIndex + 1] : '.prebuilds');
const fail = (msg) => {
  console.error(`lemur prebuild: ${msg}`);
  process.exit(1);
};

if (!existsSync(join(root, 'dist', 'install', 'torch-probe.js'))) fail('dist/ is not built: run `npx tsc -p tsconfig.json` first');
if (!args.includes('--no-build')) {
  const b = spawnSync(process.execPath, [join(root, 'scripts', 'install.mjs'), '--build-from-source'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const { probeTorch } = await import(pathToFileURL(join(root, 'dist', 'install', 'torch-probe.js')).href);
const { variantPackageJson } = await import(pathToFileURL(join(root, 'dist', 'install', 'prebuilt.js')).href);
const release = join(root, 'build', 'Release');
const binary = join(release, 'lemur.node');
if (!existsSync(binary)) fail(`no ${binary}: build it first (drop --no-build)`);
const record = JSON.parse(readFileSync(join(release, 'lemur-build.json'), 'utf8'));
if (record.prebuilt) fail(`${binary} was installed from ${record.prebuilt}, not built here: build from source first`);
const here = probeTorch();
if (!here) fail('no LibTorch found ($LIBTORCH, python3 torch, system)');
const problems = [];
if (record.torchVersion !== here.torchVersion) problems.push(`LibTorch ${record.torchVersion} in the build record, ${here.torchVersion} found now`);
if (Number(record.cxx11Abi) !== here.cxx11Abi) problems.push(`CXX11 ABI ${record.cxx11Abi} in the build record, ${here.cxx11Abi} found now`);
if ((record.torchHasCuda === 'ON') !== (here.cuda !== null)) problems.push(`CUDA ${record.torchHasCuda} in the build record, ${here.cuda ?? 'none'} found now`);
if (record.torchLib !== here.torchLib) problems.push(`built against ${record.torchLib}, ${here.torchLib} found now`);
if (problems.length) fail(`the binary does not match the LibTorch found now: ${problems.join('; ')}. Rebuild (drop --no-build).`);

const fingerprint = { platform: here.platform, torchVersion: here.torchVersion, cxx11Abi: here.cxx11Abi, cuda: here.cuda };
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const pkg = variantPackageJson(fingerprint, version, here.torchLibSize);
const dir = join(out, pkg.name.split('/')[1]);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
copyFileSync(binary, join(dir, 'lemur.node'));
writeFileSync(join(dir, 'lemur-build.json'), JSON.stringify({ ...record, fingerprint }, null, 2) + '\n');
writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
writeFileSync(join(dir, 'README.md'), `# ${pkg.name}\n\n${pkg.description}. Installed by \`lemur\`'s install step when this machine's LibTorch matches exactly; not used directly.\n`);
const packed = spawnSync('npm', ['pack', '--pack-destination', out, '--json'], { cwd: dir, encoding: 'utf8' });
if (packed.status !== 0) fail(`npm pack failed: ${packed.stderr}`);
const info = JSON.parse(packed.stdout)[0];
const tarball = join(out, info.filename);
console.log(`${pkg.name}@${version}: ${tarball} (${(statSync(tarball).size / 2 ** 20).toFixed(1)} MiB packed, ${(info.unpackedSize / 2 ** 20).toFixed(1)} MiB unpacked)`);
