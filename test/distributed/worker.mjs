// One worker of a data-parallel test job (or the single-process reference when WORLD_SIZE is
// unset): trains a small lemur model on a generated dataset, then writes its per-step losses,
// test predictions and bank rows to OUT (JSON). Settings come from the environment, as a
// launcher would set them: RANK, WORLD_SIZE, MASTER_PORT, and LEMUR_TEST_* for the test.
import { writeFileSync } from 'node:fs';

import { Lemur, openDataset, setThreads } from '../../dist/index.js';

const env = process.env;
setThreads({ intraOp: 1 });
const data = openDataset(env.LEMUR_TEST_DATA);
const config = JSON.parse(env.LEMUR_TEST_CONFIG);
const steps = Number(env.LEMUR_TEST_STEPS ?? 6);
// ID tables sharded (the default of a model built for the job), or replicated by joining after
const replicated = env.LEMUR_TEST_TABLES === 'replicated';
const distributed = env.WORLD_SIZE && !replicated ? 'env' : undefined;
const lemur = env.LEMUR_TEST_RESUME ? await Lemur.load(env.LEMUR_TEST_RESUME, data, {}, { distributed }) : await Lemur.create(data, config, { distributed });
if (env.WORLD_SIZE && replicated) await lemur.joinGroup('env');
const losses = [];
const digests = [];
const dieAt = env.LEMUR_TEST_DIE_AT ? Number(env.LEMUR_TEST_DIE_AT) : undefined;
// Ctrl-C (SIGINT) aborts this rank's fit; in a job every rank then stops after one step
const ac = new AbortController();
process.on('SIGINT', () => ac.abort());
let aborted = false;
const result = await lemur.fit({
  steps,
  signal: ac.signal,
  progressEvery: 1,
  onProgress: (p) => {
    losses.push({ step: p.step, loss: p.loss, bce: p.bce, sqdc: p.sqdc, encoded: p.encoder?.forward ?? 0 });
    digests.push(lemur.parameterDigest());
    if (dieAt !== undefined && p.step === dieAt) process.kill(process.pid, 'SIGKILL');
    if (env.LEMUR_TEST_HANG_AT && p.step === Number(env.LEMUR_TEST_HANG_AT)) process.kill(process.pid, 'SIGSTOP');
    if (env.LEMUR_TEST_INTERRUPT_AT && p.step === Number(env.LEMUR_TEST_INTERRUPT_AT)) process.kill(process.pid, 'SIGINT');
  },
  ...(env.LEMUR_TEST_CHECKPOINT ? { checkpoint: { dir: env.LEMUR_TEST_CHECKPOINT, every: Number(env.LEMUR_TEST_CHECKPOINT_EVERY ?? 2) } } : {}),
}).catch((e) => {
  if (e.name !== 'AbortError') throw e;
  aborted = true;
  return { steps: lemur.step, samples: 0 };
});
if (aborted) {
  writeFileSync(env.LEMUR_TEST_OUT, JSON.stringify({ rank: Number(env.RANK ?? 0), aborted: true, step: lemur.step, losses }));
  process.exit(130);
}
const pred = await lemur.predict('test');
const bank = !lemur.config.memoryBank.enabled ? [] : Array.from(await lemur.documentEmbeddings(Array.from({ length: 64 }, (_, i) => i), { from: 'bank' }));
const digestsAfterEachStep = await Promise.all(digests);
writeFileSync(env.LEMUR_TEST_OUT, JSON.stringify({ digests: digestsAfterEachStep, rank: Number(env.RANK ?? 0), steps: result.steps, samples: result.samples, losses, scores: Array.from(pred.scores), bank, traffic: lemur.distributed ? await lemur.traffic() : {}, idTableParameters: lemur.idTableParameters, encoded: losses.filter((l) => l.step > 0).reduce((s, l) => s + l.encoded, 0), bankRowsHeld: lemur.config.memoryBank.enabled ? (await lemur.bankStats()).rowsHeld : 0, bankRows: lemur.config.memoryBank.enabled ? (await lemur.bankStats()).rows : 0 }));
