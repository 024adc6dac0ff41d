// A child process for the fault suite: trains a tiny model on a dataset folder and saves it
// in a loop (keep 2), printing "saved" after each, until it is killed.
import { Lemur, openDataset } from '../../../dist/index.js';

const [dataDir, dir] = process.argv.slice(2);
const m = await Lemur.create(openDataset(dataDir), {
  preset: 'lemur',
  embeddingDim: 32,
  features: { idDim: 8 },
  docEncoder: { layers: 1, width: 32, heads: 2, ffnMult: 2, patch: 4 },
  queryEncoder: { layers: 1, width: 32, heads: 2, ffnMult: 2 },
  decoder: { layers: 1, heads: 2, queries: 2, width: 32 },
  longer: { layers: 1, heads: 2, globalTokens: 2, recent: 4, width: 32 },
  backbone: { tokens: 4, width: 32, layers: 1, mlpHidden: [32] },
  memoryBank: { stalenessProbe: 0 },
  train: { batchSize: 128, epochs: 1 },
});
for (let epochs = 1; ; epochs++) {
  await m.fit({ epochs, earlyStopping: false });
  await m.save(dir, { keep: 2 });
  process.stdout.write('saved\n');
}
