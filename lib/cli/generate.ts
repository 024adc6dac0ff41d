/** `lemur generate <out>`: the built-in synthetic dataset. */
import { Command } from 'commander';

import type { ImportResult } from '../data/dataset.js';
import { generateDataset, type GeneratorOptions } from '../data/generator.js';
import { exitOnInterrupt } from './interrupt.js';
import { count, duration, refuseExisting, fraction, integer, print, say } from './common.js';

interface GenerateFlags {
  docs?: number;
  users?: number;
  samples?: number;
  topics?: number;
  history?: number;
  shortHistory?: number;
  coldStart?: number;
  testFraction?: number;
  validFraction?: number;
  queries?: boolean;
  images: boolean;
  imageSize?: number;
  vocabSize?: number;
  seed?: number;
  name?: string;
  overwrite?: boolean;
}

/** One line per split: rows, positive rate, cold-start rows. */
export function describeDataset(r: ImportResult): string {
  const m = r.manifest;
  const splits = Object.entries(m.stats)
    .map(
      ([name, s]) =>
        `${name} ${count(s.rows)} rows (${(s.positives * 100).toFixed(1)}% clicks${s.coldStartRows !== undefined ? `, ${count(s.coldStartRows)} cold-start` : ''})`,
    )
    .join(', ');
  return `${count(m.numDocuments)} documents, ${count(m.numUsers)} users${m.image ? ', images' : ''}${m.queryTokens ? ', queries' : ''}; ${splits}`;
}

export function generateCommand(): Command {
  return new Command('generate')
    .description('write the built-in synthetic dataset (documents with text and images, users, impressions) to <out>')
    .argument('<out>', 'dataset folder to create')
    .option('--docs <n>', 'documents (default 3,000)', integer(1))
    .option('--users <n>', 'users (default 600)', integer(1))
    .option('--samples <n>', 'impressions over all splits (default 60,000)', integer(1))
    .option('--topics <n>', 'latent topics (default 16)', integer(1))
    .option('--history <n>', 'longest click history (default 50)', integer(1))
    .option('--short-history <n>', 'length of the recent impressions sequence, 0 for none (default 10)', integer(0))
    .option('--cold-start <fraction>', 'fraction of documents never shown in the train period (default 0.1)', fraction)
    .option('--test-fraction <fraction>', 'newest fraction of impressions forming the test split (default 0.2)', fraction)
    .option('--valid-fraction <fraction>', 'fraction of impressions just before the test period forming the valid split (default 0.1; 0: none)', fraction)
    .option('--queries', 'give each impression a query text (search rather than recommendation)')
    .option('--no-images', 'no document images')
    .option('--image-size <px>', 'image height = width (default 16)', integer(1))
    .option('--vocab-size <n>', 'tokenizer vocabulary (default 2,000)', integer(260))
    .option('--seed <n>', 'seed of everything (default 1)', integer(0))
    .option('--name <name>', 'dataset name (default "synthetic")')
    .option('--overwrite', 'replace <out> when it exists')
    .action(async (out: string, f: GenerateFlags) => {
      const options: GeneratorOptions = {
        numDocuments: f.docs,
        numUsers: f.users,
        numSamples: f.samples,
        numTopics: f.topics,
        historyLength: f.history,
        shortHistoryLength: f.shortHistory,
        coldStartFraction: f.coldStart,
        testFraction: f.testFraction,
        validFraction: f.validFraction,
        withQueries: f.queries ?? false,
        withImages: f.images,
        imageSize: f.imageSize,
        vocabSize: f.vocabSize,
        seed: f.seed,
        name: f.name,
        overwrite: f.overwrite ?? false,
      };
      for (const k of Object.keys(options) as (keyof GeneratorOptions)[]) if (options[k] === undefined) delete options[k];
      refuseExisting(out, f.overwrite);
      say(`generating ${out}...`);
      const release = exitOnInterrupt(say, out);
      const r = await generateDataset(out, options);
      release();
      print(`wrote ${r.dir} in ${duration(r.seconds)}: ${describeDataset(r)}`);
    });
}
