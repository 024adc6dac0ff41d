// Prebuilt binaries: the LibTorch fingerprint is read as the CMake finder would ($LIBTORCH,
// python, system), variant names follow it, and a prebuilt is chosen only on an exact match;
// each mismatch (platform, version, ABI, CUDA) is refused with both sides named; the release
// tarball lists the variants as optionalDependencies.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

import { info } from '../../dist/index.js';
import { choosePrebuilt, findPrebuilts, installPrebuilt, readInstallRecord, variantPackageJson, writeInstallRecord } from '../../dist/install/prebuilt.js';
import { cudaFromBuildVersion, fingerprintMismatches, probeTorch, variantName, type TorchFingerprint } from '../../dist/install/torch-probe.js';

const tmp = mkdtempSync(join(tmpdir(), 'lemur-prebuilt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cpu113: TorchFingerprint = { platform: 'linux-x64', torchVersion: '1.13.0', cxx11Abi: 1, cuda: null };
const cu130: TorchFingerprint = { platform: 'linux-x64', torchVersion: '2.11.0', cxx11Abi: 1, cuda: '13.0' };

/** An unpacked-libtorch lookalike: the files the probe reads. */
function fakeLibtorch(name: string, o: { version: [number, number, number]; abi?: 0 | 1; cuda?: string; buildVersion?: string }): string {
  const dir = join(tmp, name);
  const inc = join(dir, 'include', 'torch', 'csrc', 'api', 'include', 'torch');
  mkdirSync(inc, { recursive: true });
  mkdirSync(join(dir, 'share', 'cmake', 'Torch'), { recursive: true });
  mkdirSync(join(dir, 'lib'), { recursive: true });
  const [a, b, c] = o.version;
  writeFileSync(join(inc, 'version.h'), `#pragma once\n#define TORCH_VERSION_MAJOR ${a}\n#define TORCH_VERSION_MINOR ${b}\n#define TORCH_VERSION_PATCH ${c}\n`);
  writeFileSync(join(dir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), `set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=${o.abi ?? 1}")\n`);
  writeFileSync(join(dir, 'lib', 'libtorch_cpu.so'), 'x'.repeat(1234));
  if (o.cuda) writeFileSync(join(dir, 'lib', 'libc10_cuda.so'), 'x');
  if (o.buildVersion) writeFileSync(join(dir, 'build-version'), o.buildVersion + '\n');
  return dir;
}

describe('the LibTorch fingerprint', () => {
  it('reads $LIBTORCH as the CMake finder does: version.h, the ABI of TorchConfig.cmake, CUDA from build-version', () => {
    const cpu = probeTorch({ env: { LIBTORCH: fakeLibtorch('cpu', { version: [2, 1, 2], abi: 0 }) } })!;
    expect(cpu).toMatchObject({ source: 'LIBTORCH', torchVersion: '2.1.2', cxx11Abi: 0, cuda: null, torchLibSize: 1234 });
    const gpu = probeTorch({ env: { LIBTORCH: fakeLibtorch('gpu', { version: [2, 11, 0], cuda: 'yes', buildVersion: '2.11.0+cu130' }) } })!;
    expect(gpu).toMatchObject({ torchVersion: '2.11.0', cxx11Abi: 1, cuda: '13.0' });
    expect(variantName(gpu)).toBe(`${process.platform}-${process.arch}-torch2.11-cu130`);
    expect(variantName(cpu)).toBe(`${process.platform}-${process.arch}-torch2.1-cpu-abi0`);
    expect(cudaFromBuildVersion('2.5.1+cu124')).toBe('12.4');
    expect(cudaFromBuildVersion('2.5.1+cpu')).toBeNull();
  });

  it('a $LIBTORCH that is not a libtorch is an error naming it', () => {
    mkdirSync(join(tmp, 'empty'), { recursive: true });
    expect(() => probeTorch({ env: { LIBTORCH: join(tmp, 'empty') } })).toThrow(/LIBTORCH=.*empty is not an unpacked libtorch directory/);
  });

  it('finds the system LibTorch (Debian libtorch-dev) when there is one', () => {
    const sys = probeTorch({ env: { LEMUR_SKIP_PYTHON_TORCH: '1' } });
    if (!sys) return; // no system LibTorch on this machine
    expect(sys.source).toBe('system');
    expect(sys.torchVersion).toMatch(/^\d+\.\d+\.\d+$/);
    // The same LibTorch the addon here was built against (its build record says so).
    const record = JSON.parse(readFileSync(join(__dirname, '..', '..', 'build', 'Release', 'lemur-build.json'), 'utf8'));
    if (record.torchSource === 'system') expect({ lib: sys.torchLib, version: sys.torchVersion }).toEqual({ lib: record.torchLib, version: record.torchVersion });
  });
});

describe('choosing a prebuilt', () => {
  it('each difference is refused with both sides named; an exact match passes', () => {
    expect(fingerprintMismatches(cpu113, cpu113)).toEqual([]);
    expect(fingerprintMismatches(cpu113, { ...cpu113, torchVersion: '1.13.1' })).toEqual(['LibTorch version: built against 1.13.0, this machine has 1.13.1']);
    expect(fingerprintMismatches(cpu113, { ...cpu113, cxx11Abi: 0 })).toEqual(['C++11 ABI: built with _GLIBCXX_USE_CXX11_ABI=1, this LibTorch uses 0']);
    expect(fingerprintMismatches(cu130, { ...cu130, cuda: '12.4' })).toEqual(['CUDA: built against a CUDA 13.0 LibTorch, this LibTorch is CUDA 12.4']);
    expect(fingerprintMismatches(cpu113, { ...cpu113, cuda: '13.0' })).toEqual(['CUDA: built against a CPU only LibTorch, this LibTorch is CUDA 13.0']);
    expect(fingerprintMismatches(cpu113, { ...cpu113, platform: 'linux-arm64' })).toEqual(['platform: built for linux-x64, this machine is linux-arm64']);
  });

  it('finds variant packages in node_modules up the tree, picks the exact match, installs it with a record of the local LibTorch', () => {
    const project = join(tmp, 'project');
    const lemurRoot = join(project, 'node_modules', 'lemur');
    mkdirSync(lemurRoot, { recursive: true });
    for (const f of [cpu113, cu130]) {
      const pkg = variantPackageJson(f, '0.1.0', 99);
      const dir = join(project, 'node_modules', ...(pkg.name as string).split('/'));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
      writeFileSync(join(dir, 'lemur.node'), `binary for ${variantName(f)}`);
      writeFileSync(join(dir, 'lemur-build.json'), JSON.stringify({ torchVersion: f.torchVersion, cxx11Abi: f.cxx11Abi, torchLib: '/build/machine/libtorch_cpu.so', torchLibSize: 99 }));
    }
    const found = findPrebuilts(lemurRoot);
    expect(found.map((p) => p.name)).toEqual(['@lemur-node/linux-x64-torch1.13-cpu', '@lemur-node/linux-x64-torch2.11-cu130']);

    const here = { ...cpu113, source: 'system' as const, torchLib: '/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13.0', torchLibSize: 119940888 };
    const choice = choosePrebuilt(found, here);
    expect(choice.chosen?.name).toBe('@lemur-node/linux-x64-torch1.13-cpu');
    expect(choice.rejected).toEqual([{ name: '@lemur-node/linux-x64-torch2.11-cu130', reasons: ['LibTorch version: built against 2.11.0, this machine has 1.13.0', 'CUDA: built against a CUDA 13.0 LibTorch, this LibTorch is CPU only'] }]);
    const none = choosePrebuilt(found, { ...here, torchVersion: '2.5.1' });
    expect(none.chosen).toBeUndefined();
    expect(none.wanted).toBe('@lemur-node/linux-x64-torch2.5-cpu');

    const binary = installPrebuilt(choice.chosen!, here, lemurRoot);
    expect(readFileSync(binary, 'utf8')).toBe('binary for linux-x64-torch1.13-cpu');
    const record = JSON.parse(readFileSync(join(lemurRoot, 'build', 'Release', 'lemur-build.json'), 'utf8'));
    expect(record).toMatchObject({ torchLib: here.torchLib, torchLibSize: here.torchLibSize, torchSource: 'system', prebuilt: '@lemur-node/linux-x64-torch1.13-cpu@0.1.0' });
    writeInstallRecord(lemurRoot, { binary: 'prebuilt', package: '@lemur-node/linux-x64-torch1.13-cpu@0.1.0', reason: 'exact match' }, here);
    expect(readInstallRecord(join(lemurRoot, 'build', 'Release'))).toMatchObject({ binary: 'prebuilt', reason: 'exact match', torch: { version: '1.13.0', source: 'system' } });
  });

  it('variant package.json: os and cpu fields, the fingerprint, only the binary and its record', () => {
    const pkg = variantPackageJson(cu130, '0.1.0', 5);
    expect(pkg).toMatchObject({ name: '@lemur-node/linux-x64-torch2.11-cu130', os: ['linux'], cpu: ['x64'], files: ['lemur.node', 'lemur-build.json'], lemur: { fingerprint: cu130 } });
  });
});

describe('lemur info', () => {
  it('says which binary is in use and why', () => {
    const b = info().binary;
    expect(b.path).toMatch(/lemur\.node$/);
    expect(['prebuilt', 'source build']).toContain(b.binary);
    expect(b.reason).toBeTruthy();
  });
});

describe('the release package (npm run pack:release)', () => {
  const root = join(import.meta.dirname, '..', '..');
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const packRelease = (out: string, ...extra: string[]) =>
    spawnSync(process.execPath, [join(root, 'scripts', 'pack-release.mjs'), '--out', out, ...extra], { cwd: root, encoding: 'utf8' });

  it('lists the variants packed for this version, and those named, as optionalDependencies; the repository package.json lists none', () => {
    const out = join(tmp, 'release');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, `lemur-node-linux-x64-torch1.13-cpu-${version}.tgz`), 'x');
    writeFileSync(join(out, 'lemur-node-linux-x64-torch1.12-cpu-0.0.1.tgz'), 'x'); // another version: not listed
    const before = readFileSync(join(root, 'package.json'), 'utf8');
    const r = packRelease(out, '--variant', 'linux-x64-torch2.11-cu130');
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(root, 'package.json'), 'utf8')).toBe(before);
    expect((JSON.parse(before) as { optionalDependencies?: unknown }).optionalDependencies).toBeUndefined();
    const tarball = join(out, `lemur-${version}.tgz`);
    const pkg = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(pkg.optionalDependencies).toEqual({
      '@lemur-node/linux-x64-torch1.13-cpu': version,
      '@lemur-node/linux-x64-torch2.11-cu130': version,
    });
    // the rest is the package as `npm pack` makes it: compiled API, install hook, sources
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of ['package/dist/index.js', 'package/dist/index.d.ts', 'package/scripts/install.mjs', 'package/CMakeLists.txt']) expect(files).toContain(f);
    expect(files.some((f) => f.includes('node_modules') || f.startsWith('package/test/'))).toBe(false);
  });

  it('refuses to pack a release without any variant', () => {
    const out = join(tmp, 'release-empty');
    mkdirSync(out, { recursive: true });
    const r = packRelease(out);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('npm run prebuild');
  });
});

describe('a prebuilt loaded without the install step (npm install --ignore-scripts)', () => {
  const root = join(import.meta.dirname, '..', '..');

  it('is chosen at load time by the same exact match, and info() says so; with no match, the error names why', () => {
    const here = probeTorch()!;
    const fingerprint = { platform: here.platform, torchVersion: here.torchVersion, cxx11Abi: here.cxx11Abi, cuda: here.cuda };
    // app/node_modules/lemur: the package without build/ (its install step never ran), and
    // the variant npm installed beside it as an optional dependency
    const app = join(tmp, 'ignore-scripts-app');
    const pkgDir = join(app, 'node_modules', 'lemur');
    mkdirSync(pkgDir, { recursive: true });
    cpSync(join(root, 'dist'), join(pkgDir, 'dist'), { recursive: true });
    cpSync(join(root, 'package.json'), join(pkgDir, 'package.json'));
    symlinkSync(join(root, 'node_modules'), join(pkgDir, 'node_modules'));
    const variant = (f: TorchFingerprint) => {
      const pkg = variantPackageJson(f, '0.1.0', here.torchLibSize) as { name: string };
      const dir = join(app, 'node_modules', ...pkg.name.split('/'));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
      cpSync(join(root, 'build', 'Release', 'lemur.node'), join(dir, 'lemur.node'));
      writeFileSync(join(dir, 'lemur-build.json'), JSON.stringify({ fingerprint: f }));
      return pkg.name;
    };
    const other = variant({ ...fingerprint, torchVersion: '9.9.0' });
    const load = () =>
      spawnSync(process.execPath, ['--input-type=module', '-e', `
        import { info, tensor } from ${JSON.stringify(pathToFileURL(join(pkgDir, 'dist', 'index.js')).href)};
        const t = tensor(Float32Array.from([1, 2, 3]));
        console.log(JSON.stringify({ binary: info().binary, values: Array.from(t.copy()) }));`], { encoding: 'utf8' });
    // only a variant for another LibTorch: refused, with the reason
    const refused = load();
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(`${other}: LibTorch version: built against 9.9.0`);
    expect(refused.stderr).toContain('npm rebuild lemur');
    // the matching variant: loaded from where npm put it
    const name = variant(fingerprint);
    const ok = load();
    expect(ok.status, ok.stderr).toBe(0);
    const out = JSON.parse(ok.stdout.trim().split('\n').at(-1)!) as { binary: { path: string; binary: string; package: string; reason: string }; values: number[] };
    expect(out.values).toEqual([1, 2, 3]);
    expect(out.binary).toMatchObject({ binary: 'prebuilt', package: `${name}@0.1.0` });
    expect(out.binary.path).toBe(join(app, 'node_modules', ...name.split('/'), 'lemur.node'));
    expect(out.binary.reason).toContain('chosen at load time');
  });
});
