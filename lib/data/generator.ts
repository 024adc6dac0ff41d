/**
 * The built-in synthetic dataset: seeded (same seed -> byte-identical files), fast enough for
 * millions of samples, and built so that reading document content matters.
 *
 * World: T latent topics, each with its own pseudo-word vocabulary (plus shared filler words).
 * A document has a main and a secondary topic; its title and description mix their words with
 * filler; its optional image's colours and stripes depend on the topics. Users have topic
 * preferences and a drifting current interest. Each impression's click probability is
 *   sigmoid(b + w_pref·pref[user, topic] + w_now·[topic = current interest]
 *           + w_hist·(share of the user's last 10 clicks on this topic)
 *           + w_query·([topic = query topic] - 1/2) + popularity[doc] + source bias)
 * so the content (topic, readable only from text and image) and the history carry the signal,
 * and the per-document popularity is what an ID-only model can learn. A fraction of documents
 * is "cold": they are candidates only after the train period (in the valid and test splits),
 * where an ID model knows nothing about them and a content model still reads their topic.
 * Splits are chronological: train, valid (model selection), test.
 *
 * Memory: about 28 bytes per sample for the scalar columns (+ 4 x queryTokens with queries),
 * 8 bytes per history item of `clicks` (document index + age) and 8 per item of `recent`
 * (index + action), plus 16 bytes per click event. With history length L (mean about 0.7 L):
 * N = 1M, L = 50 -> about 0.4 GB; N = 1M, L = 1,000 -> about 6 GB. One Arrow list column holds
 * at most 2^31 items, so N x L stays below that per split.
 */
import { resolve } from 'node:path';

import { LemurError } from '../errors.js';
import type { SampleColumns } from './columns.js';
import { writeDatasetFiles, type DocumentInput, type ImportResult } from './dataset.js';
import { buildFolderAtomically } from './files.js';
import { buildSequence, countBefore, groupByUser } from './history.js';
import { drawCumulative, Rng } from './random.js';
import { Tokenizer } from './tokenizer.js';

export interface GeneratorOptions {
  /** Documents (default 3,000). */
  numDocuments?: number;
  /** Users (default 600). */
  numUsers?: number;
  /** Impressions over all splits (default 60,000). */
  numSamples?: number;
  /** Latent topics (default 16). */
  numTopics?: number;
  /** Fraction of documents that are candidates only after the train period (valid and test; default 0.1). */
  coldStartFraction?: number;
  /** Newest fraction of impressions that forms the test split (default 0.2). */
  testFraction?: number;
  /** Fraction of impressions just before the test period that forms the `valid` split (default 0.1; 0: none). */
  validFraction?: number;
  /** Longest click history `clicks` (default 50, at most 10,000). */
  historyLength?: number;
  /** Length of `recent`, the last impressions with click/skip actions (default 10; 0: none). */
  shortHistoryLength?: number;
  /** Query text per impression, drawn from a topic; queryId per distinct string (default false). */
  withQueries?: boolean;
  /** Synthetic topic-coloured images (default true). */
  withImages?: boolean;
  /** Image height = width in pixels (default 16; 3 channels). */
  imageSize?: number;
  /** Tokenizer vocabulary (256 bytes + merges; default 2,000). */
  vocabSize?: number;
  /** Seed of everything (default 1). */
  seed?: number;
  /** Dataset name (default "synthetic"). */
  name?: string;
  overwrite?: boolean;
}

/** Click model weights (see the file comment). */
const CLICK = {
  bias: -1.6,
  preference: 1.0,
  currentInterest: 1.2,
  history: 1.5,
  query: 1.6,
  popularity: 0.7, // std of the per-document popularity logit
  source: [0.25, 0, -0.15, 0.1, -0.2],
  /** Probability that a user's current interest moves at an impression. */
  drift: 0.08,
  /** Clicks that make up the "recent" interest share. */
  recentClicks: 10,
};

const CONSONANTS = 'bcdfghjklmnprstvz';
const VOWELS = 'aeiou';
const WORDS_PER_TOPIC = 30;
const FILLER_WORDS = 40;
const QUERY_WORDS = 8; // a query uses the topic's most frequent words

function pseudoWord(rng: Rng, seen: Set<string>): string {
  for (;;) {
    let w = '';
    const syllables = 2 + rng.int(2);
    for (let s = 0; s < syllables; s++) w += CONSONANTS[rng.int(CONSONANTS.length)] + VOWELS[rng.int(VOWELS.length)];
    if (rng.next() < 0.3) w += CONSONANTS[rng.int(CONSONANTS.length)];
    if (!seen.has(w)) {
      seen.add(w);
      return w;
    }
  }
}

/** Zipf-like cumulative weights: a topic's first words are its most characteristic. */
function zipf(n: number): Float64Array {
  const cum = new Float64Array(n);
  let s = 0;
  for (let r = 0; r < n; r++) cum[r] = s += 1 / Math.pow(r + 1, 0.8);
  return cum;
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const m = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][i % 6];
  return [m[0] * 255, m[1] * 255, m[2] * 255];
}

/** One document image: the main topic's colour in a topic-specific stripe pattern over the secondary's. */
function drawImage(out: Uint8Array, size: number, main: number, second: number, topics: number, rng: Rng): void {
  const fg = hsvToRgb(main / topics, 0.8, 0.95);
  const bg = hsvToRgb(second / topics, 0.5, 0.45);
  const pattern = main % 4; // horizontal, vertical, checks, diagonal
  const half = Math.max(1, size / (2 * (1 + ((main >> 2) % 3)))); // 1 to 3 periods across
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const band =
        pattern === 0 ? Math.floor(y / half) : pattern === 1 ? Math.floor(x / half) : pattern === 2 ? Math.floor(x / half) + Math.floor(y / half) : Math.floor((x + y) / half);
      const on = band % 2 === 0;
      const col = on ? fg : bg;
      for (let ch = 0; ch < 3; ch++) {
        const v = col[ch] + (rng.next() - 0.5) * 40;
        out[(y * size + x) * 3 + ch] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
      }
    }
}

function positiveInt(name: string, v: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new LemurError(`${name} must be an integer in ${min}..${max}, got ${v}`);
  return v;
}

/** Generates the synthetic dataset into `out` (see the file comment). */
export async function generateDataset(out: string, options: GeneratorOptions = {}): Promise<ImportResult> {
  const started = performance.now();
  const D = positiveInt('numDocuments', options.numDocuments ?? 3000, 2);
  const U = positiveInt('numUsers', options.numUsers ?? 600);
  const N = positiveInt('numSamples', options.numSamples ?? 60000, 2);
  const T = positiveInt('numTopics', options.numTopics ?? 16, 2, 1000);
  const L = positiveInt('historyLength', options.historyLength ?? 50, 1, 10000);
  const S = positiveInt('shortHistoryLength', options.shortHistoryLength ?? 10, 0, 10000);
  const imageSize = positiveInt('imageSize', options.imageSize ?? 16, 1, 1024);
  const coldFraction = options.coldStartFraction ?? 0.1;
  const testFraction = options.testFraction ?? 0.2;
  const validFraction = options.validFraction ?? 0.1;
  const withQueries = options.withQueries ?? false;
  const withImages = options.withImages ?? true;
  const seed = options.seed ?? 1;
  if (!(coldFraction >= 0 && coldFraction < 1)) throw new LemurError(`coldStartFraction must be in [0, 1), got ${coldFraction}`);
  if (!(testFraction > 0 && testFraction < 1)) throw new LemurError(`testFraction must be in (0, 1), got ${testFraction}`);
  if (!(validFraction >= 0 && validFraction + testFraction < 1))
    throw new LemurError(`validFraction must be >= 0 and leave a train split (validFraction + testFraction < 1), got ${validFraction}`);
  // Separate streams: changing one part's draws leaves the others as they were.
  const root = new Rng(seed);
  const rWords = root.fork();
  const rDocs = root.fork();
  const rImages = root.fork();
  const rUsers = root.fork();
  const rPast = root.fork();
  const rImp = root.fork();

  // Vocabularies.
  const seen = new Set<string>();
  const topicWords = Array.from({ length: T }, () => Array.from({ length: WORDS_PER_TOPIC }, () => pseudoWord(rWords, seen)));
  const filler = Array.from({ length: FILLER_WORDS }, () => pseudoWord(rWords, seen));
  const wordCum = zipf(WORDS_PER_TOPIC);
  const fillerCum = zipf(FILLER_WORDS);
  const topicWord = (t: number, rng: Rng) => topicWords[t][drawCumulative(wordCum, rng)];
  const fillerWord = (rng: Rng) => filler[drawCumulative(fillerCum, rng)];
  const capital = (w: string) => w[0].toUpperCase() + w.slice(1);

  // Documents.
  const mainTopic = new Int32Array(D);
  const secondTopic = new Int32Array(D);
  const popularity = new Float64Array(D);
  const source = new Int32Array(D);
  const cold = new Uint8Array(D);
  const titles: string[] = new Array(D);
  const descriptions: string[] = new Array(D);
  const numCold = Math.floor(D * coldFraction);
  for (let d = 0; d < D; d++) {
    const z = rDocs.int(T);
    const z2 = (z + 1 + rDocs.int(T - 1)) % T;
    mainTopic[d] = z;
    secondTopic[d] = z2;
    popularity[d] = CLICK.popularity * rDocs.normal();
    source[d] = rDocs.int(CLICK.source.length);
    const pick = () => {
      const x = rDocs.next();
      return x < 0.6 ? topicWord(z, rDocs) : x < 0.75 ? topicWord(z2, rDocs) : fillerWord(rDocs);
    };
    const title: string[] = [];
    for (let k = 3 + rDocs.int(4); k > 0; k--) title.push(capital(pick()));
    titles[d] = title.join(' ');
    const words: string[] = [];
    for (let k = 12 + rDocs.int(19); k > 0; k--) {
      const x = rDocs.next();
      words.push(x < 0.4 ? topicWord(z, rDocs) : x < 0.55 ? topicWord(z2, rDocs) : fillerWord(rDocs));
    }
    descriptions[d] = capital(words.join(' ')) + '.';
  }
  // Cold documents: a seeded choice (partial Fisher-Yates).
  {
    const idx = Int32Array.from({ length: D }, (_, i) => i);
    for (let k = 0; k < numCold; k++) {
      const j = k + rDocs.int(D - k);
      [idx[k], idx[j]] = [idx[j], idx[k]];
      cold[idx[k]] = 1;
    }
  }
  // Candidate pools: per topic and popularity-weighted, for the train period (warm only) and the test period (all).
  const pools = (includeCold: boolean) => {
    const byTopic: Int32Array[] = Array.from({ length: T }, (_, t) => {
      const out: number[] = [];
      for (let d = 0; d < D; d++) if (mainTopic[d] === t && (includeCold || !cold[d])) out.push(d);
      return Int32Array.from(out);
    });
    const docs: number[] = [];
    for (let d = 0; d < D; d++) if (includeCold || !cold[d]) docs.push(d);
    const list = Int32Array.from(docs);
    const cum = new Float64Array(list.length);
    let s = 0;
    for (let k = 0; k < list.length; k++) cum[k] = s += Math.exp(popularity[list[k]]);
    return { byTopic, list, cum };
  };
  const warmPool = pools(false);
  const allPool = pools(true);
  if (warmPool.list.length === 0) throw new LemurError('coldStartFraction leaves no warm document');

  // Users: three favourite topics, a dislike of the rest, an activity level, a current interest.
  const pref = new Float64Array(U * T);
  const prefCum = new Float64Array(U * T); // cumulative exp(2 pref): how interests are drawn
  const activityCum = new Float64Array(U);
  const interest = new Int32Array(U);
  {
    let a = 0;
    for (let u = 0; u < U; u++) {
      for (let t = 0; t < T; t++) pref[u * T + t] = -0.6 + 0.4 * rUsers.normal();
      const favourites = [1.5, 1.0, 0.7];
      for (const w of favourites) pref[u * T + rUsers.int(T)] = w;
      let s = 0;
      for (let t = 0; t < T; t++) prefCum[u * T + t] = s += Math.exp(2 * pref[u * T + t]);
      activityCum[u] = a += Math.exp(0.8 * rUsers.normal());
      interest[u] = drawCumulative(prefCum, rUsers, u * T, u * T + T) - u * T;
    }
  }
  const drawTopic = (u: number, rng: Rng) => drawCumulative(prefCum, rng, u * T, u * T + T) - u * T;
  const drawDocOfTopic = (pool: ReturnType<typeof pools>, t: number, rng: Rng) => {
    const docs = pool.byTopic[t];
    return docs.length ? docs[rng.int(docs.length)] : pool.list[drawCumulative(pool.cum, rng)];
  };

  // Time: impressions over about 30 days, strictly increasing seconds.
  const T0 = 1_700_000_000;
  const meanGap = Math.max(1, (30 * 86400) / N);

  // Past clicks before the first impression, so histories are long from the start.
  const recentTopics = new Int32Array(U * CLICK.recentClicks).fill(-1); // ring of the last clicks' topics
  const recentAt = new Int32Array(U);
  const pastCount = new Int32Array(U);
  let pastTotal = 0;
  for (let u = 0; u < U; u++) pastTotal += pastCount[u] = Math.floor(L * (0.25 + 0.75 * rPast.next()));
  const events = pastTotal + N;
  const evUser = new Int32Array(events);
  const evDoc = new Int32Array(events);
  const evTime = new Float64Array(events);
  const evAction = new Int32Array(events); // 1 click, 0 skip
  {
    let e = 0;
    for (let u = 0; u < U; u++) {
      const gap = 3600 * (1 + 5 * rPast.next());
      for (let k = 0; k < pastCount[u]; k++, e++) {
        const d = drawDocOfTopic(warmPool, drawTopic(u, rPast), rPast);
        evUser[e] = u;
        evDoc[e] = d;
        evTime[e] = T0 - Math.round((pastCount[u] - k) * gap);
        evAction[e] = 1;
        recentTopics[u * CLICK.recentClicks + (recentAt[u]++ % CLICK.recentClicks)] = mainTopic[d];
      }
    }
  }

  // Impressions.
  const trainRows = Math.floor(N * (1 - testFraction - validFraction));
  const validEnd = Math.floor(N * (1 - testFraction));
  if (trainRows < 1 || validEnd >= N) throw new LemurError(`numSamples ${N} is too small for a train and a test split`);
  const queryOf = withQueries ? new Int32Array(N) : undefined;
  const queryIds = new Map<string, number>();
  const queries: string[] = [];
  let time = T0;
  let clicks = 0;
  for (let i = 0; i < N; i++) {
    const e = pastTotal + i;
    const pool = i < trainRows ? warmPool : allPool;
    const u = drawCumulative(activityCum, rImp);
    if (rImp.next() < CLICK.drift) interest[u] = drawTopic(u, rImp);
    let q = -1;
    if (queryOf) {
      q = rImp.next() < 0.7 ? interest[u] : rImp.next() < 0.5 ? drawTopic(u, rImp) : rImp.int(T);
      const a = topicWords[q][rImp.int(QUERY_WORDS)];
      const text = rImp.next() < 0.5 ? a : `${a} ${topicWords[q][rImp.int(QUERY_WORDS)]}`;
      let id = queryIds.get(text);
      if (id === undefined) {
        queryIds.set(text, (id = queries.length));
        queries.push(text);
      }
      queryOf[i] = id;
    }
    // Candidate: half from the request's topic (query, else interest or a favourite), half by popularity.
    let d: number;
    if (rImp.next() < 0.5) d = drawDocOfTopic(pool, q >= 0 ? q : rImp.next() < 0.6 ? interest[u] : drawTopic(u, rImp), rImp);
    else d = pool.list[drawCumulative(pool.cum, rImp)];
    const z = mainTopic[d];
    let share = 0;
    for (let k = 0; k < CLICK.recentClicks; k++) if (recentTopics[u * CLICK.recentClicks + k] === z) share++;
    const logit =
      CLICK.bias +
      CLICK.preference * pref[u * T + z] +
      (z === interest[u] ? CLICK.currentInterest : 0) +
      (CLICK.history * share) / CLICK.recentClicks +
      (q >= 0 ? CLICK.query * ((z === q ? 1 : 0) - 0.5) : 0) +
      popularity[d] +
      CLICK.source[source[d]];
    const click = rImp.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    time += 1 + Math.floor(rImp.exponential() * meanGap);
    evUser[e] = u;
    evDoc[e] = d;
    evTime[e] = time;
    evAction[e] = click;
    if (click) {
      clicks++;
      recentTopics[u * CLICK.recentClicks + (recentAt[u]++ % CLICK.recentClicks)] = z;
    }
  }

  // Histories from the event log (past clicks, then impressions; each user's in time order).
  const order = Int32Array.from({ length: events }, (_, k) => k);
  const clickEvents = groupByUser(U, order, evUser, evDoc, evTime, undefined, (k) => evAction[k] === 1);
  const allEvents = groupByUser(U, order, evUser, evDoc, evTime, evAction);
  const inTrain = new Uint8Array(D);
  for (let i = 0; i < trainRows; i++) inTrain[evDoc[pastTotal + i]] = 1;

  const split = (from: number, to: number, afterTrain: boolean): SampleColumns => {
    const m = to - from;
    const user = evUser.slice(pastTotal + from, pastTotal + to);
    const times = evTime.slice(pastTotal + from, pastTotal + to);
    const c: SampleColumns = {
      rows: m,
      label: Float32Array.from(evAction.subarray(pastTotal + from, pastTotal + to)),
      doc: evDoc.slice(pastTotal + from, pastTotal + to),
      user,
      query: queryOf ? queryOf.slice(from, to) : user,
      timestamp: BigInt64Array.from(times, (t) => BigInt(t)),
      queryTokenWidth: 0,
      categorical: [{ name: 'hour', values: Int32Array.from(times, (t) => Math.floor(t / 3600) % 24) }],
      dense: [{ name: 'activity', values: Float32Array.from(countBefore(clickEvents, user, times), (x) => Math.log1p(x)) }],
      sequences: [buildSequence(clickEvents, user, times, { name: 'clicks', maxLength: L, age: true, action: false })],
    };
    if (S > 0) c.sequences.push(buildSequence(allEvents, user, times, { name: 'recent', maxLength: S, age: false, action: true }));
    if (afterTrain) c.coldStart = Uint8Array.from(c.doc, (d) => (inTrain[d] ? 0 : 1));
    return c;
  };

  return buildFolderAtomically(out, { overwrite: options.overwrite }, async (tmp) => {
    const splits: Record<string, SampleColumns> = { train: split(0, trainRows, false) };
    if (validEnd > trainRows) splits.valid = split(trainRows, validEnd, true);
    splits.test = split(validEnd, N, true);
    const tokenizer = await Tokenizer.train([...titles, ...descriptions, ...queries], { vocabSize: options.vocabSize ?? 2000 });
    const textFields = [
      { name: 'title', maxTokens: 8 },
      { name: 'description', maxTokens: 24 },
    ];
    const documents: DocumentInput = {
      docId: BigInt64Array.from({ length: D }, (_, d) => BigInt(d)),
      text: { title: titles, description: descriptions },
      tokens: await tokenizer.encodeDocuments(
        [titles, descriptions],
        textFields.map((f) => f.maxTokens),
      ),
      categorical: [{ name: 'source', values: source }],
    };
    if (withImages) {
      const size = imageSize * imageSize * 3;
      documents.images = new Uint8Array(D * size);
      documents.hasImage = new Uint8Array(D);
      for (let d = 0; d < D; d++) {
        // About 5% without an image, as in real catalogues.
        if (rImages.next() < 0.05) continue;
        documents.hasImage[d] = 1;
        drawImage(documents.images.subarray(d * size, (d + 1) * size), imageSize, mainTopic[d], secondTopic[d], T, rImages);
      }
    }
    let queryTokens = 0;
    if (queryOf) {
      const maxTokens = 6;
      queryTokens = 1 + maxTokens;
      const rows = await tokenizer.encodeQueries(queries, maxTokens);
      for (const c of Object.values(splits)) {
        c.queryTokenWidth = queryTokens;
        c.queryTokens = new Int32Array(c.rows * queryTokens);
        for (let i = 0; i < c.rows; i++) c.queryTokens.set(rows.subarray(c.query[i] * queryTokens, (c.query[i] + 1) * queryTokens), i * queryTokens);
      }
    }
    const manifest = await writeDatasetFiles(tmp, {
      manifest: {
        name: options.name ?? 'synthetic',
        createdBy: 'lemur generate',
        numDocuments: D,
        numUsers: U,
        numQueries: queryOf ? queries.length : U,
        textFields,
        queryTokens,
        image: withImages ? { height: imageSize, width: imageSize, channels: 3 } : null,
        categorical: [{ name: 'hour', cardinality: 24 }],
        documentCategorical: [{ name: 'source', cardinality: CLICK.source.length }],
        dense: ['activity'],
        sequences: [
          { name: 'clicks', maxLength: L, action: false, age: true },
          ...(S > 0 ? [{ name: 'recent', maxLength: S, action: true, age: false }] : []),
        ],
        sourceStats: {
          seed,
          topics: T,
          coldDocuments: numCold,
          pastClicks: pastTotal,
          impressionClicks: clicks,
          clickRate: Math.round((clicks / N) * 1e4) / 1e4,
          distinctQueries: queryOf ? queries.length : 0,
          validTimestamp: evTime[pastTotal + trainRows],
          splitTimestamp: evTime[pastTotal + validEnd],
        },
      },
      documents,
      splits,
      tokenizer,
    });
    return manifest;
  }).then((manifest) => ({ dir: resolve(out), manifest, seconds: (performance.now() - started) / 1000 }));
}
