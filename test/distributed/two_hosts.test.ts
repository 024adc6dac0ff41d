// Two "machines" on one: each rank in its own network namespace (its own stack, a veth pair
// between them, no shared loopback), as two hosts on a link. This machine's hostname
// resolving to 127.0.0.1 (Debian's and containers' /etc/hosts) used to make rank 0 advertise
// loopback to the other host; the ranks now bind Gloo to their address on the route to
// MASTER_ADDR. Needs root and iproute2 (`ip netns`); skipped where a namespace cannot be made.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateDataset, info } from '../../dist/index.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const ns = [`lemur-${process.pid}-a`, `lemur-${process.pid}-b`];
const net = `10.${200 + (process.pid % 50)}.${process.pid % 250}`;
const ip = (...a: string[]) => spawnSync('ip', a, { encoding: 'utf8' });

// `ip netns add` mounts /run/netns onto itself the first time, and `ip netns del` leaves that
// mount (in a chroot, a mount in the chroot's tree): undone at the end when it was not there.
const netnsMounted = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === '/run/netns');
const hadNetnsMount = netnsMounted();

function makeHosts(): boolean {
  if (info().build.distributed === 'none' || process.getuid?.() !== 0) return false;
  if (ip('netns', 'add', ns[0]!).status !== 0) return false;
  const steps = [
    ['netns', 'add', ns[1]!],
    ['link', 'add', `${ns[0]!.slice(-12)}`, 'type', 'veth', 'peer', 'name', `${ns[1]!.slice(-12)}`],
    ['link', 'set', `${ns[0]!.slice(-12)}`, 'netns', ns[0]!],
    ['link', 'set', `${ns[1]!.slice(-12)}`, 'netns', ns[1]!],
    ['-n', ns[0]!, 'addr', 'add', `${net}.1/24`, 'dev', `${ns[0]!.slice(-12)}`],
    ['-n', ns[1]!, 'addr', 'add', `${net}.2/24`, 'dev', `${ns[1]!.slice(-12)}`],
    ['-n', ns[0]!, 'link', 'set', `${ns[0]!.slice(-12)}`, 'up'],
    ['-n', ns[1]!, 'link', 'set', `${ns[1]!.slice(-12)}`, 'up'],
    ['-n', ns[0]!, 'link', 'set', 'lo', 'up'],
    ['-n', ns[1]!, 'link', 'set', 'lo', 'up'],
  ];
  for (const s of steps) {
    if (ip(...s).status !== 0) {
      removeHosts();  // now: with every test skipped, vitest runs no afterAll
      return false;
    }
  }
  return true;
}
function removeHosts() {
  for (const n of ns) ip('netns', 'del', n);
  if (!hadNetnsMount && netnsMounted() && readdirSync('/run/netns').length === 0) spawnSync('umount', ['/run/netns']);
}
const hosts = makeHosts();

function onHost(host: 0 | 1, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns[host]!, process.execPath, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!hosts)('two hosts (network namespaces)', () => {
  let dir = '';
  const port = 32000 + (process.pid % 1000);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lemur-hosts-'));
    await generateDataset(join(dir, 'data'), { numDocuments: 300, numUsers: 60, numSamples: 1500, historyLength: 12, seed: 2 });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    removeHosts();
  });

  it('the hosts cannot reach each other over loopback, only over the link', () => {
    expect(ip('-n', ns[1]!, 'addr', 'show').stdout).toContain(`${net}.2/24`);
    expect(ip('-n', ns[1]!, 'addr', 'show').stdout).not.toContain(`${net}.1/24`);
  });

  it('lemur check-distributed across them: every collective', async () => {
    const node = (h: 0 | 1) => onHost(h, ['check-distributed', '--nproc', '1', '--nnodes', '2', '--node-rank', String(h), '--master-addr', `${net}.1`, '--master-port', String(port), '--dist-timeout', '60']);
    const [a, b] = await Promise.all([node(0), node(1)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(a.stdout).toMatch(/rank 0 of 2: gloo on cpu, 9 collectives/);
  });

  it('lemur train across them: one job, one run folder with both shards', async () => {
    const ck = join(dir, 'run');
    const node = (h: 0 | 1) =>
      onHost(h, ['train', '--data', join(dir, 'data'), '--preset', 'lemur', '--set', 'embeddingDim=16', '--batch-size', '64', '--no-early-stopping', '--no-report',
        '--steps', '3', '--nproc', '1', '--nnodes', '2', '--node-rank', String(h), '--master-addr', `${net}.1`, '--master-port', String(port + 5), '--checkpoint', ck]);
    const [a, b] = await Promise.all([node(0), node(1)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(readdirSync(join(ck, 'lemur', 'step-000000003')).filter((f) => f.startsWith('shard-')).sort()).toEqual(['shard-00000-of-00002.pt', 'shard-00001-of-00002.pt']);
  });
});
