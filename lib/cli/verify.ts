/** `lemur verify`: check a checkpoint's files against the checksums its meta.json recorded. */
import { join } from 'node:path';

import { Command } from 'commander';

import { verifyCheckpoint } from '../checkpoint.js';
import { LemurError } from '../errors.js';
import { count, print } from './common.js';

export function verifyCommand(): Command {
  return new Command('verify')
    .description("check a checkpoint's files against the sizes and SHA-256 sums recorded when it was saved (exit 1 on any problem)")
    .argument('<checkpoint>', 'a checkpoint folder (LATEST is followed) or one step folder of it')
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const v = await verifyCheckpoint(dir);
      if (opts.json) print(JSON.stringify(v, null, 2));
      else {
        for (const c of v.checked) print(`${c.file}: ${count(c.bytes)} bytes${v.problems.some((p) => p.startsWith(`${join(v.path, c.file)}:`)) ? '' : ', ok'}`);
        for (const p of v.problems) print(`problem: ${p}`);
        const bytes = v.checked.reduce((a, c) => a + c.bytes, 0);
        print(`${v.path}: ${v.verified ? 'verified' : 'NOT verified'} (${v.checked.length} files, ${count(bytes)} bytes in ${v.seconds.toFixed(3)} s)`);
      }
      // cli.ts turns this into one `lemur:` line and exit code 1
      if (!v.verified) throw new LemurError(`${v.path}: not verified (${v.problems.length} problem${v.problems.length === 1 ? '' : 's'})`);
    });
}
