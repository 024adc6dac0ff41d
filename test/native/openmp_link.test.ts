// cmake/LemurOpenMP.cmake picks the OpenMP runtime libtorch_cpu itself loads: a PyTorch wheel's
// bundled libgomp-<hash>.so.1 (linked by path, so the process maps one runtime), else the
// compiler's. Checked on a lookalike libtorch_cpu whose NEEDED entry names a bundled runtime,
// and on one without: the GPU machine builds against a wheel, and has minutes to spare.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const tmp = mkdtempSync(join(tmpdir(), 'lemur-openmp-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// gcc, cmake, objdump and an OpenMP LibTorch's ATen/Config.h (Debian's libtorch-dev): what the addon's build needs
const tools = ['gcc', 'cmake', 'objdump'].every((t) => spawnSync(t, ['--version']).status === 0) && existsSync('/usr/include/ATen/Config.h');

function sh(cmd: string, args: string[], cwd = tmp): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

/** Configures and builds a one-file library beside a lookalike libtorch_cpu; returns CMake's output and its NEEDED entries. */
function build(name: string, bundled: boolean): { log: string; needed: string[] } {
  const dir = join(tmp, name), lib = join(dir, 'torchlib');
  mkdirSync(lib, { recursive: true });
  if (bundled) {  // a runtime under a wheel's hashed name, exporting what -fopenmp code calls
    writeFileSync(join(dir, 'g.c'), 'void GOMP_parallel(void (*f)(void*), void* d, unsigned n, unsigned fl) { f(d); }\n' +
      'int omp_get_num_threads(void) { return 1; }\nint omp_get_thread_num(void) { return 0; }\n');
    sh('gcc', ['-shared', '-fPIC', '-Wl,-soname,libgomp-abc123.so.1', 'g.c', '-o', join(lib, 'libgomp-abc123.so.1')], dir);
  }
  writeFileSync(join(dir, 't.c'), 'int torch_marker(void) { return 1; }\n');
  sh('gcc', ['-shared', '-fPIC', '-Wl,-soname,libtorch_cpu.so', 't.c', '-Wl,--no-as-needed',
    ...(bundled ? [`-L${lib}`, '-l:libgomp-abc123.so.1'] : ['-fopenmp']), '-o', join(lib, 'libtorch_cpu.so')], dir);
  writeFileSync(join(dir, 'x.cpp'), '#include <omp.h>\nint threads() { int n = 0;\n#pragma omp parallel\n n = omp_get_num_threads();\n return n; }\n');
  writeFileSync(join(dir, 'CMakeLists.txt'), [
    'cmake_minimum_required(VERSION 3.18)', 'project(t LANGUAGES CXX)',
    `list(APPEND CMAKE_MODULE_PATH "${resolve('cmake')}")`,
    'set(TORCH_INCLUDE_DIRS /usr/include)',  // ATen/Config.h of the system libtorch: an OpenMP build
    `set(LEMUR_TORCH_LIB_FILE "${join(lib, 'libtorch_cpu.so')}")`,
    'add_library(x SHARED x.cpp)', 'include(LemurOpenMP)', 'lemur_use_torch_openmp(x)', ''].join('\n'));
  const log = sh('cmake', ['-S', dir, '-B', join(dir, 'b')]) + sh('cmake', ['--build', join(dir, 'b')]);
  const needed = [...sh('objdump', ['-p', join(dir, 'b', 'libx.so')]).matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1]!);
  return { log, needed };
}

describe.skipIf(!tools)('LemurOpenMP.cmake', () => {
  it('links a bundled runtime (libgomp-<hash>.so.1) that libtorch_cpu names, by path', () => {
    const { log, needed } = build('wheel', true);
    expect(log).toMatch(/CPU kernels on LibTorch's OpenMP runtime \(.*libgomp-abc123\.so\.1\)/);
    expect(needed).toContain('libgomp-abc123.so.1');
    expect(needed).not.toContain('libgomp.so.1');
  }, 120_000);

  it('takes the compiler\'s runtime when libtorch_cpu loads the system one', () => {
    const { log, needed } = build('system', false);
    expect(log).toMatch(/CPU kernels on the compiler's OpenMP runtime/);
    expect(needed).toContain('libgomp.so.1');
  }, 120_000);
});
