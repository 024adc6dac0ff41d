/**
 * Finds the LibTorch a build would use, without CMake or a compiler, in the same order as
 * cmake/FindLemurTorch.cmake: $LIBTORCH (an unpacked libtorch), the machine's Python
 * PyTorch (unless LEMUR_SKIP_PYTHON_TORCH), then the system's (Debian/Ubuntu libtorch),
 * and states what a binary must match: version, C++11 ABI, CUDA or not (and which), platform.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** What a native binary is bound to: it loads only against a LibTorch with the same fingerprint. */
export interface TorchFingerprint {
  /** `${process.platform}-${process.arch}`, e.g. linux-x64. */
  platform: string;
  /** major.minor.patch, as torch/version.h states it. */
  torchVersion: string;
  /** _GLIBCXX_USE_CXX11_ABI of the LibTorch build (0 or 1). */
  cxx11Abi: number;
  /** CUDA version of the LibTorch (e.g. '13.0'), or null for a CPU-only LibTorch. */
  cuda: string | null;
}

export interface TorchProbe extends TorchFingerprint {
  /** Which rule found it: 'LIBTORCH', 'python' or 'system'. */
  source: 'LIBTORCH' | 'python' | 'system';
  /** The libtorch_cpu library file (symlinks resolved). */
  torchLib: string;
  torchLibSize: number;
}

export interface ProbeOptions {
  env?: NodeJS.ProcessEnv;
  /** The system library folders to search (default: Debian/Ubuntu multiarch and /usr/lib, /usr/local/lib). */
  systemDirs?: string[];
  /** The python command (default python3). */
  python?: string;
}

export const platformName = () => `${process.platform}-${process.arch}`;

/** major.minor.patch from torch/version.h's TORCH_VERSION_* defines. */
export function versionFromHeader(text: string): string | undefined {
  const part = (k: string) => new RegExp(`#define TORCH_VERSION_${k} (\\d+)`).exec(text)?.[1];
  const [a, b, c] = [part('MAJOR'), part('MINOR'), part('PATCH')];
  return a && b && c ? `${a}.${b}.${c}` : undefined;
}

/** The CXX11 ABI TorchConfig.cmake states (1 unless it says =0, as the CMake finder reads it). */
export function abiFromTorchConfig(text: string | undefined): number {
  return text && /_GLIBCXX_USE_CXX11_ABI=0/.test(text) ? 0 : 1;
}

const readIf = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);

function libFile(dir: string, name: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const exact = join(dir, `lib${name}.so`);
  if (existsSync(exact)) return realpathSync(exact);
  // Only the runtime package installed: libtorch_cpu.so.1.13(.0)
  const versioned = readdirSync(dir).filter((f) => f.startsWith(`lib${name}.so.`)).sort();
  return versioned.length ? realpathSync(join(dir, versioned[versioned.length - 1]!)) : undefined;
}

function withLib(base: Omit<TorchProbe, 'torchLib' | 'torchLibSize'>, lib: string): TorchProbe {
  return { ...base, torchLib: lib, torchLibSize: statSync(lib).size };
}

/** A CUDA version from a libtorch's build-version file (e.g. 2.11.0+cu130 -> 13.0). */
export function cudaFromBuildVersion(text: string | undefined): string | null | undefined {
  const tag = /\+(cu(\d+)|cpu|rocm[\d.]+)/.exec(text ?? '')?.[1];
  if (!tag) return undefined;
  if (tag === 'cpu') return null;
  const digits = /^cu(\d+)$/.exec(tag)?.[1];
  return digits ? `${digits.slice(0, -1)}.${digits.slice(-1)}` : undefined;
}

function probeLibtorchDir(dir: string): TorchProbe {
  const config = readIf(join(dir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'));
  if (config === undefined) throw new Error(`LIBTORCH=${dir} is not an unpacked libtorch directory (expected ${dir}/share/cmake/Torch/TorchConfig.cmake)`);
  const header = readIf(join(dir, 'include', 'torch', 'csrc', 'api', 'include', 'torch', 'version.h')) ?? readIf(join(dir, 'include', 'torch', 'version.h'));
  const version = header && versionFromHeader(header);
  if (!version) throw new Error(`LIBTORCH=${dir}: no torch/version.h with TORCH_VERSION_MAJOR/MINOR/PATCH under include/`);
  const lib = libFile(join(dir, 'lib'), 'torch_cpu');
  if (!lib) throw new Error(`LIBTORCH=${dir}: no lib/libtorch_cpu.so`);
  const hasCuda = libFile(join(dir, 'lib'), 'c10_cuda') !== undefined;
  const cuda = hasCuda ? (cudaFromBuildVersion(readIf(join(dir, 'build-version'))) ?? 'unknown') : null;
  return withLib({ platform: platformName(), torchVersion: version, cxx11Abi: abiFromTorchConfig(config), cuda, source: 'LIBTORCH' }, lib);
}

function probePython(python: string): TorchProbe | undefined {
  const script =
    'import json, os, torch\n' +
    'lib = os.path.join(os.path.dirname(torch.__file__), "lib")\n' +
    'print(json.dumps({"version": torch.__version__.split("+")[0], "abi": int(torch._C._GLIBCXX_USE_CXX11_ABI), "cuda": torch.version.cuda, "lib": lib, "prefix": torch.utils.cmake_prefix_path}))';
  const r = spawnSync(python, ['-c', script], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0 || !r.stdout) return undefined;
  let p: { version: string; abi: number; cuda: string | null; lib: string; prefix: string };
  try {
    p = JSON.parse(r.stdout.trim().split('\n').pop()!);
  } catch {
    return undefined;
  }
  // The CMake finder uses Python's torch only when it ships its CMake config.
  if (!existsSync(join(p.prefix, 'Torch', 'TorchConfig.cmake'))) return undefined;
  const lib = libFile(p.lib, 'torch_cpu');
  if (!lib) return undefined;
  const version = /^(\d+\.\d+\.\d+)/.exec(p.version)?.[1] ?? p.version;
  return withLib({ platform: platformName(), torchVersion: version, cxx11Abi: p.abi ? 1 : 0, cuda: p.cuda ?? null, source: 'python' }, lib);
}

const SYSTEM_DIRS = [`/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, '/usr/lib64', '/usr/lib', '/usr/local/lib'];

function probeSystem(dirs: string[]): TorchProbe | undefined {
  for (const dir of dirs) {
    const lib = libFile(dir, 'torch_cpu');
    if (!lib) continue;
    const header = readIf('/usr/include/torch/csrc/api/include/torch/version.h') ?? readIf('/usr/local/include/torch/csrc/api/include/torch/version.h');
    // Without the headers (runtime package only), the library's own version suffix.
    const version = (header && versionFromHeader(header)) ?? /\.so\.(\d+\.\d+\.\d+)$/.exec(lib)?.[1];
    if (!version) continue;
    const config = readIf(join(dir, 'cmake', 'Torch', 'TorchConfig.cmake')) ?? readIf('/usr/share/cmake/Torch/TorchConfig.cmake');
    const cuda = libFile(dir, 'c10_cuda') ? 'unknown' : null;
    return withLib({ platform: platformName(), torchVersion: version, cxx11Abi: abiFromTorchConfig(config), cuda, source: 'system' }, lib);
  }
  return undefined;
}

/** The LibTorch a source build would use here, or undefined when there is none. Throws for a bad $LIBTORCH. */
export function probeTorch(options: ProbeOptions = {}): TorchProbe | undefined {
  const env = options.env ?? process.env;
  if (env.LIBTORCH) return probeLibtorchDir(env.LIBTORCH);
  if (env.LEMUR_SKIP_PYTHON_TORCH === undefined) {
    const py = probePython(options.python ?? 'python3');
    if (py) return py;
  }
  return probeSystem(options.systemDirs ?? SYSTEM_DIRS);
}

/** The variant package suffix of a fingerprint: linux-x64-torch1.13-cpu, linux-x64-torch2.11-cu130. */
export function variantName(f: TorchFingerprint): string {
  const [major, minor] = f.torchVersion.split('.');
  const accel = f.cuda === null ? 'cpu' : `cu${f.cuda.replace('.', '')}`;
  return `${f.platform}-torch${major}.${minor}-${accel}${f.cxx11Abi ? '' : '-abi0'}`;
}

/** Why a binary built for `built` cannot load against `here`: one line per difference, naming both sides; [] on an exact match. */
export function fingerprintMismatches(built: TorchFingerprint, here: TorchFingerprint): string[] {
  const out: string[] = [];
  if (built.platform !== here.platform) out.push(`platform: built for ${built.platform}, this machine is ${here.platform}`);
  if (built.torchVersion !== here.torchVersion) out.push(`LibTorch version: built against ${built.torchVersion}, this machine has ${here.torchVersion}`);
  if (built.cxx11Abi !== here.cxx11Abi) out.push(`C++11 ABI: built with _GLIBCXX_USE_CXX11_ABI=${built.cxx11Abi}, this LibTorch uses ${here.cxx11Abi}`);
  const accel = (c: string | null) => (c === null ? 'CPU only' : `CUDA ${c}`);
  if (built.cuda !== here.cuda) out.push(`CUDA: built against a ${accel(built.cuda)} LibTorch, this LibTorch is ${accel(here.cuda)}`);
  return out;
}
