#!/usr/bin/env node
/**
 * The `lemur` command line: info, generate, import movielens, train, eval, verify, demo,
 * check-distributed.
 *
 * Exit codes: 0 done; 1 an error (one line `lemur: <message>`; the stack with LEMUR_DEBUG=1);
 * 2 a usage error; 130 stopped by Ctrl-C (after saving a checkpoint when there is a folder).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Command, CommanderError } from 'commander';

import { checkDistributedCommand } from './cli/check-distributed.js';
import { demoCommand } from './cli/demo.js';
import { evalCommand } from './cli/eval.js';
import { generateCommand } from './cli/generate.js';
import { importCommand } from './cli/import.js';
import { infoCommand } from './cli/info.js';
import { Interrupted, UsageError } from './cli/common.js';
import { trainCommand } from './cli/train.js';
import { verifyCommand } from './cli/verify.js';
import { LemurError } from './errors.js';
import { packageRoot } from './native.js';


const debug = /^(1|true|yes)$/i.test(process.env.LEMUR_DEBUG ?? '');

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function buildProgram(): Command {
  const program = new Command()
    .name('lemur')
    .description('Train and evaluate LEMUR end-to-end multimodal ranking models (and RankMixer, LONGER, HyFormer baselines)')
    .version(version(), '-V, --version')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'lemur: ')) });
  const inherit = (cmd: Command) => {
    cmd.copyInheritedSettings(program);
    cmd.commands.forEach(inherit);
  };
  for (const cmd of [infoCommand(), generateCommand(), importCommand(), trainCommand(), evalCommand(), verifyCommand(), demoCommand(), checkDistributedCommand()]) {
    inherit(cmd);
    program.addCommand(cmd);
  }
  program.addHelpText(
    'after',
    '\nThe main job: lemur demo (generates data, trains lemur and dlrm-mlp, writes runs/demo/report/index.html).\n' +
      'Exit codes: 0 ok, 1 error, 2 usage error, 130 interrupted. LEMUR_DEBUG=1 prints stack traces.',
  );
  return program;
}

/** Prints the error the way the CLI promises and returns the exit code. */
export function reportError(e: unknown): number {
  const err = (line: string) => void process.stderr.write(line + '\n');
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander printed it already
  if (e instanceof Interrupted) {
    err(`lemur: ${e.message}`);
    return 130;
  }
  if (e instanceof UsageError) {
    err(`lemur: ${e.message}`);
    if (debug) err(e.stack ?? '');
    return 2;
  }
  const error = e instanceof Error ? e : new Error(String(e));
  err(`lemur: ${error.message}`);
  if (debug) err(error.stack ?? '');
  // (a native error with code LEMUR_USER_ERROR is written for the user, like a LemurError)
  else if (!(e instanceof LemurError) && (e as { code?: unknown }).code !== 'LEMUR_USER_ERROR') err('lemur: (an unexpected error: LEMUR_DEBUG=1 prints the stack trace)');
  return 1;
}

let code = 0;
try {
  await buildProgram().parseAsync(process.argv);
} catch (e) {
  code = reportError(e);
}
// Native worker threads must not keep a finished command alive.
process.exit(code || Number(process.exitCode ?? 0));
