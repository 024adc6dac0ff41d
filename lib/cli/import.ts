/** `lemur import movielens <source> <out>`: a MovieLens folder into a lemur dataset. */
import { Command } from 'commander';

import { importMovielens, type MovielensOptions } from '../data/movielens.js';
import { exitOnInterrupt } from './interrupt.js';
import { count, duration, refuseExisting, fraction, integer, print, say, warn } from './common.js';
import { describeDataset } from './generate.js';

interface MovielensFlags {
  posters?: string | false;
  maxUsers?: number;
  history?: number;
  testFraction?: number;
  validFraction?: number;
  imageSize?: number;
  vocabSize?: number;
  tokenizer?: string;
  name?: string;
  overwrite?: boolean;
  skipInvalid?: boolean;
}

export function importCommand(): Command {
  const cmd = new Command('import').description('import a public dataset into a lemur dataset folder');
  cmd
    .command('movielens')
    .description('MovieLens (ml-latest-small layout: ratings.csv, movies.csv, tags.csv, optional posters/<movieId>.jpg)')
    .argument('<source>', 'the MovieLens folder')
    .argument('<out>', 'dataset folder to create')
    .option('--posters <dir>', 'folder of <movieId>.jpg posters (default: <source>/posters when it exists)')
    .option('--no-posters', 'no images, even when <source>/posters exists')
    .option('--max-users <n>', 'keep only the first N users: a fast subset', integer(1))
    .option('--history <n>', 'longest history kept per sequence (default 100)', integer(1))
    .option('--test-fraction <fraction>', 'newest fraction of ratings forming the test split (default 0.2)', fraction)
    .option('--valid-fraction <fraction>', 'fraction of ratings just before the test period forming the valid split (default 0.1; 0: none)', fraction)
    .option('--image-size <px>', 'poster height = width after resizing (default 32)', integer(1))
    .option('--vocab-size <n>', 'tokenizer vocabulary when one is trained (default 4,000)', integer(260))
    .option('--tokenizer <file>', 'a tokenizer.json to use instead of training one')
    .option('--name <name>', 'dataset name (default: the source folder name)')
    .option('--skip-invalid', 'drop rows that break a rule (rating off the scale, negative timestamp, bad id) and count them, instead of stopping')
    .option('--overwrite', 'replace <out> when it exists')
    .action(async (source: string, out: string, f: MovielensFlags) => {
      const options: MovielensOptions = {
        posters: f.posters,
        maxUsers: f.maxUsers,
        historyLength: f.history,
        testFraction: f.testFraction,
        validFraction: f.validFraction,
        vocabSize: f.vocabSize,
        tokenizer: f.tokenizer,
        name: f.name,
        overwrite: f.overwrite ?? false,
        invalidRows: f.skipInvalid ? 'skip' : undefined,
        image: f.imageSize ? { height: f.imageSize, width: f.imageSize } : undefined,
        onWarning: warn,
      };
      for (const k of Object.keys(options) as (keyof MovielensOptions)[]) if (options[k] === undefined) delete options[k];
      refuseExisting(out, f.overwrite);
      say(`importing ${source} into ${out}...`);
      const release = exitOnInterrupt(say, out);
      const r = await importMovielens(source, out, options);
      release();
      const img = r.images ? `; posters: ${count(r.images.decoded)} of ${count(r.images.total)} decoded` : '';
      const fixes = r.report && (r.report.droppedRows || r.report.repairedValues) ? `; ${count(r.report.droppedRows)} rows dropped, ${count(r.report.repairedValues)} values repaired (see the warnings)` : '';
      print(`wrote ${r.dir} in ${duration(r.seconds)}: ${describeDataset(r)}${img}${fixes}`);
    });
  return cmd;
}
