// Loading the addon: info() reports the build, and a binary whose LibTorch is gone or changed
// is refused with the rebuild command (never a bare "undefined symbol").
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { info, NativeLoadError, setThreads } from '../../dist/index.js';
import { checkBuildRecord, packageRoot } from '../../dist/native.js';

describe('the native addon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lemur-load-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const record = JSON.parse(readFileSync(join(packageRoot, 'build', 'Release', 'lemur-build.json'), 'utf8'));

  it('info() reports the LibTorch it was built against, threads and devices', () => {
    const i = info();
    expect(i.torch.version).toBe(record.torchVersion);
    expect(i.torch.library).toBe(record.torchLib);
    expect(typeof i.torch.cxx11Abi).toBe('boolean');
    expect(i.threads.intraOp).toBeGreaterThan(0);
    expect(i.threads.blas).toBeGreaterThan(0);
    expect(Array.isArray(i.cuda.devices)).toBe(true);
  });

  it('setThreads: BLAS follows intra-op unless given', () => {
    const before = info().threads;
    try {
      setThreads({ intraOp: 3, blas: 2 });
      expect(info().threads).toMatchObject({ intraOp: 3, blas: 2 });
      setThreads({ intraOp: 1 });  // after start-up's defaults: BLAS comes down too
      expect(info().threads).toMatchObject({ intraOp: 1, blas: 1 });
      setThreads({ blas: 2 });
      expect(info().threads).toMatchObject({ intraOp: 1, blas: 2 });
    } finally {
      setThreads({ intraOp: before.intraOp, blas: before.blas });
    }
  });

  it('accepts the build record of this build', () => {
    writeFileSync(join(dir, 'lemur-build.json'), JSON.stringify(record));
    expect(() => checkBuildRecord(join(dir, 'lemur.node'))).not.toThrow();
  });

  it('refuses a binary whose LibTorch is gone, naming the rebuild command', () => {
    writeFileSync(join(dir, 'lemur-build.json'), JSON.stringify({ ...record, torchLib: '/nonexistent/libtorch_cpu.so.9' }));
    expect(() => checkBuildRecord(join(dir, 'lemur.node'))).toThrow(NativeLoadError);
    expect(() => checkBuildRecord(join(dir, 'lemur.node'))).toThrow(/no longer there.*npm rebuild lemur --build-from-source/);
  });

  it('refuses a binary whose LibTorch changed in place', () => {
    writeFileSync(join(dir, 'lemur-build.json'), JSON.stringify({ ...record, torchLibSize: record.torchLibSize + 1 }));
    expect(() => checkBuildRecord(join(dir, 'lemur.node'))).toThrow(/has changed since.*--build-from-source/);
  });
});
