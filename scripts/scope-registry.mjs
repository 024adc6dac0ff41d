#!/usr/bin/env node
// A read-only npm registry for the @lemur-node scope, serving the variant tarballs of a
// folder: what the registry will answer once the variants are published, for checking
// before a release that `npm install lemur` (optionalDependencies) finds and installs them.
// Point only the scope at it (`--@lemur-node:registry=http://127.0.0.1:PORT/`); a name it
// has no tarball for gets 404, as an unpublished package does.
//   node scripts/scope-registry.mjs <folder> [--port 4873]   (prints "listening on URL")
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';

const [folderArg, ...rest] = process.argv.slice(2);
if (!folderArg) {
  console.error('usage: node scripts/scope-registry.mjs <folder> [--port 4873]');
  process.exit(2);
}
const folder = resolve(folderArg);
const portIndex = rest.indexOf('--port');
const port = portIndex >= 0 ? Number(rest[portIndex + 1]) : 4873;
const scope = '@lemur-node/';

// name -> { versions: { v: manifest }, tarballs: { file: path } }
const packages = new Map();
for (const file of readdirSync(folder).filter((f) => f.startsWith('lemur-node-') && f.endsWith('.tgz'))) {
  const path = join(folder, file);
  const read = spawnSync('tar', ['-xzOf', path, 'package/package.json'], { encoding: 'utf8' });
  if (read.status !== 0) throw new Error(`${path}: no package/package.json (${read.stderr.trim()})`);
  const manifest = JSON.parse(read.stdout);
  if (!manifest.name?.startsWith(scope)) continue;
  const bytes = readFileSync(path);
  const entry = packages.get(manifest.name) ?? { versions: {}, tarballs: {} };
  entry.versions[manifest.version] = {
    ...manifest,
    _file: file,
    dist: {
      shasum: createHash('sha1').update(bytes).digest('hex'),
      integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
    },
  };
  entry.tarballs[file] = path;
  packages.set(manifest.name, entry);
}

const server = createServer((req, res) => {
  const url = decodeURIComponent((req.url ?? '/').split('?')[0]);
  const base = `http://${req.headers.host}`;
  // tarball: /-/<file>
  if (url.startsWith('/-/')) {
    const file = url.slice(3);
    for (const p of packages.values())
      if (p.tarballs[file]) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(readFileSync(p.tarballs[file]));
        return;
      }
  }
  // packument: /@lemur-node/<name> (npm sends the slash as %2f)
  const p = packages.get(url.slice(1));
  if (p) {
    const versions = Object.fromEntries(
      Object.entries(p.versions).map(([v, { _file, ...m }]) => [v, { ...m, dist: { ...m.dist, tarball: `${base}/-/${_file}` } }]),
    );
    const latest = Object.keys(versions).sort().at(-1);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ name: url.slice(1), 'dist-tags': { latest }, versions }));
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: 'not found' }));
});
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}/ (${[...packages.keys()].join(', ') || 'no packages'})`);
});
