/**
 * Prebuilt binaries: one npm package per LibTorch variant (`@lemur-node/<variant>`, holding
 * lemur.node and its build record with the fingerprint it was built for). At install time
 * the fingerprint of the machine's LibTorch (torch-probe.ts) picks the package that matches
 * exactly; it is copied to build/Release with a record of the local LibTorch, and the caller
 * verifies it loads in a child process before keeping it. No match: a source build.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { fingerprintMismatches, variantName, type TorchFingerprint, type TorchProbe } from './torch-probe.js';

export const VARIANT_SCOPE = '@lemur-node';
export const INSTALL_RECORD = 'lemur-install.json';

/** A variant package found in node_modules. */
export interface PrebuiltPackage {
  name: string;
  version: string;
  dir: string;
  /** What its binary was built against. */
  fingerprint: TorchFingerprint;
}

/** How the binary in build/Release came to be there (`lemur info` shows it). */
export interface InstallRecord {
  binary: 'prebuilt' | 'source build';
  /** The variant package, for a prebuilt. */
  package?: string;
  /** Why this binary: the match, or why no prebuilt was used. */
  reason: string;
  torch: { version: string; source: string; cxx11Abi: number; cuda: string | null };
  installedAt: string;
}

/** The fingerprint fields of a variant package's package.json (`lemur.fingerprint`). */
function readPackage(dir: string): PrebuiltPackage | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string; lemur?: { fingerprint?: TorchFingerprint } };
    const f = pkg.lemur?.fingerprint;
    if (!f || !existsSync(join(dir, 'lemur.node'))) return undefined;
    return { name: pkg.name, version: pkg.version, dir, fingerprint: f };
  } catch {
    return undefined;
  }
}

/** Variant packages visible from `root` (node_modules/@lemur-node/* in it and each folder above, as Node resolves). */
export function findPrebuilts(root: string): PrebuiltPackage[] {
  const out: PrebuiltPackage[] = [];
  const seen = new Set<string>();
  for (let dir = root; ; dir = dirname(dir)) {
    const scope = join(dir, 'node_modules', VARIANT_SCOPE);
    if (existsSync(scope))
      for (const entry of readdirSync(scope).sort()) {
        const p = readPackage(join(scope, entry));
        if (p && !seen.has(p.name)) {
          seen.add(p.name);
          out.push(p);
        }
      }
    if (dirname(dir) === dir) break;
  }
  return out;
}

export interface PrebuiltChoice {
  chosen?: PrebuiltPackage;
  /** Each package not chosen, with why (both sides named). */
  rejected: { name: string; reasons: string[] }[];
  /** The package name that would match this machine. */
  wanted: string;
}

/** The package whose fingerprint matches `here` exactly, and why each other one does not. */
export function choosePrebuilt(packages: readonly PrebuiltPackage[], here: TorchFingerprint): PrebuiltChoice {
  const rejected: PrebuiltChoice['rejected'] = [];
  let chosen: PrebuiltPackage | undefined;
  for (const p of packages) {
    const reasons = fingerprintMismatches(p.fingerprint, here);
    if (reasons.length === 0 && !chosen) chosen = p;
    else if (reasons.length) rejected.push({ name: p.name, reasons });
  }
  return { chosen, rejected, wanted: `${VARIANT_SCOPE}/${variantName(here)}` };
}

/**
 * Copies the package's binary into `<root>/build/Release` with a build record of the local
 * LibTorch (the loader checks that library is still the one it was matched against), and the
 * install record. Returns the binary's path.
 */
export function installPrebuilt(p: PrebuiltPackage, here: TorchProbe, root: string): string {
  const out = join(root, 'build', 'Release');
  mkdirSync(out, { recursive: true });
  const built = JSON.parse(readFileSync(join(p.dir, 'lemur-build.json'), 'utf8')) as Record<string, unknown>;
  const record = { ...built, torchSource: here.source, torchLib: here.torchLib, torchLibSize: here.torchLibSize, prebuilt: `${p.name}@${p.version}`, builtFor: p.fingerprint };
  const binary = join(out, 'lemur.node');
  copyFileSync(join(p.dir, 'lemur.node'), `${binary}.tmp`);
  renameSync(`${binary}.tmp`, binary);
  writeFileSync(join(out, 'lemur-build.json'), JSON.stringify(record, null, 2) + '\n');
  return binary;
}

export function writeInstallRecord(root: string, r: Omit<InstallRecord, 'installedAt' | 'torch'>, here: TorchProbe | undefined): void {
  const out = join(root, 'build', 'Release');
  mkdirSync(out, { recursive: true });
  const torch = here ? { version: here.torchVersion, source: here.source, cxx11Abi: here.cxx11Abi, cuda: here.cuda } : { version: 'unknown', source: 'unknown', cxx11Abi: -1, cuda: null };
  writeFileSync(join(out, INSTALL_RECORD), JSON.stringify({ ...r, torch, installedAt: new Date().toISOString() }, null, 2) + '\n');
}

/** The install record next to a binary, if the installer wrote one. */
export function readInstallRecord(binaryDir: string): InstallRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(binaryDir, INSTALL_RECORD), 'utf8')) as InstallRecord;
  } catch {
    return undefined;
  }
}

/** The package.json of a variant package for `f` (what `npm run prebuild` packs). */
export function variantPackageJson(f: TorchFingerprint, version: string, torchLibSize: number): Record<string, unknown> {
  const [os, cpu] = f.platform.split('-');
  return {
    name: `${VARIANT_SCOPE}/${variantName(f)}`,
    version,
    description: `lemur's native addon prebuilt for LibTorch ${f.torchVersion} (${f.cuda === null ? 'CPU' : `CUDA ${f.cuda}`}, C++11 ABI ${f.cxx11Abi}) on ${f.platform}`,
    license: 'Apache-2.0',
    os: [os],
    cpu: [cpu],
    files: ['lemur.node', 'lemur-build.json'],
    lemur: { fingerprint: f, torchLibSize },
  };
}
