// An import or generation that is interrupted leaves nothing partial behind.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { generateDataset } from '../../dist/index.js';

const cli = new URL('../../dist/cli.js', import.meta.url).pathname;

describe('interrupted dataset writes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lemur-int-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('Ctrl-C during `lemur generate` exits 130 and leaves no folder', async () => {
    const out = join(dir, 'big');
    const child = spawn(process.execPath, [cli, 'generate', out, '--samples', '400000', '--docs', '20000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('temporary folders of dead writers are cleaned up by the next write', async () => {
    const out = join(dir, 'small');
    mkdirSync(`${out}.tmp-999999`); // a crashed writer's leftovers (pid 999999 is not alive)
    await generateDataset(out, { numDocuments: 50, numUsers: 10, numSamples: 300, seed: 1 });
    expect(existsSync(`${out}.tmp-999999`)).toBe(false);
    expect(existsSync(join(out, 'dataset.json'))).toBe(true);
  });
});
