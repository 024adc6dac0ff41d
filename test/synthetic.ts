// A tiny in-memory dataset whose clicks depend on document content (topic words), for model
// tests that must run in seconds. Cold-start documents appear only in the test split.
import type { ModelDataset, SampleColumns } from '../dist/index.js';
import { rng } from './helpers.js';

export interface SyntheticOptions {
  docs?: number;
  users?: number;
  topics?: number;
  trainSamples?: number;
  testSamples?: number;
  coldFraction?: number;
  history?: number;
  seed?: number;
  /** Every sample's history is exactly its own candidate document (bank freshness tests). */
  selfHistory?: boolean;
  images?: boolean;
}

const WORDS_PER_TOPIC = 12;

export function syntheticDataset(o: SyntheticOptions = {}): ModelDataset {
  const D = o.docs ?? 240, U = o.users ?? 60, K = o.topics ?? 4;
  const r = rng(o.seed ?? 7);
  const titleLen = 6, genreLen = 2;
  const width = 1 + titleLen + 1 + genreLen + 1;
  const vocab = 4 + K * WORDS_PER_TOPIC + K + 8;
  const topic = Int32Array.from({ length: D }, () => Math.floor(r() * K));
  // quality: a main effect every user sees, written in the content as one of two words
  const quality = Int32Array.from({ length: D }, () => (r() < 0.5 ? 1 : 0));
  const tokens = new Int32Array(D * width);
  for (let d = 0; d < D; d++) {
    const row = tokens.subarray(d * width, (d + 1) * width);
    let p = 0;
    row[p++] = 1; // [CLS]
    for (let i = 0; i < titleLen; i++)
      row[p++] = r() < 0.8 ? 4 + topic[d]! * WORDS_PER_TOPIC + Math.floor(r() * WORDS_PER_TOPIC) : 4 + K * WORDS_PER_TOPIC + K + Math.floor(r() * 8);
    row[p++] = 2; // [SEP]
    row[p++] = 4 + K * WORDS_PER_TOPIC + topic[d]!;
    row[p++] = 4 + K * WORDS_PER_TOPIC + K + quality[d]!;
    row[p++] = 2;
  }
  const imageShape: [number, number, number] = [8, 8, 3];
  let images: Uint8Array | undefined, hasImage: Uint8Array | undefined;
  if (o.images) {
    images = new Uint8Array(D * 8 * 8 * 3);
    hasImage = new Uint8Array(D);
    for (let d = 0; d < D; d++) {
      hasImage[d] = r() < 0.8 ? 1 : 0;
      for (let i = 0; i < 64; i++) images[d * 192 + i * 3 + (topic[d]! % 3)] = 200;
    }
  }
  const cold = new Uint8Array(D);
  const nCold = Math.floor(D * (o.coldFraction ?? 0.25));
  for (let d = D - nCold; d < D; d++) cold[d] = 1;
  const pref = Int32Array.from({ length: U }, () => Math.floor(r() * K));
  const docBias = Float64Array.from({ length: D }, () => (r() - 0.5) * 0.6);
  const histories: number[][] = Array.from({ length: U }, () => []);
  const maxHist = o.history ?? 12;

  const build = (n: number, test: boolean): SampleColumns => {
    const label = new Float32Array(n), doc = new Int32Array(n), user = new Int32Array(n), query = new Int32Array(n);
    const ts = new BigInt64Array(n), coldStart = new Uint8Array(n);
    const offsets = new Int32Array(n + 1);
    const values: number[] = [];
    for (let i = 0; i < n; i++) {
      const u = Math.floor(r() * U);
      let d: number;
      do d = Math.floor(r() * D);
      while (!test && cold[d]);
      const like = (topic[d] === pref[u] ? 1.5 : -0.5) + (quality[d] ? 1.2 : -1.2);
      const p = 1 / (1 + Math.exp(-(like + docBias[d]!)));
      label[i] = r() < p ? 1 : 0;
      doc[i] = d;
      user[i] = u;
      query[i] = u;
      ts[i] = BigInt(i);
      coldStart[i] = cold[d]!;
      const h = o.selfHistory ? [d] : histories[u]!.slice(-maxHist);
      values.push(...h);
      offsets[i + 1] = values.length;
      if (label[i] && !o.selfHistory) histories[u]!.push(d);
    }
    return {
      rows: n,
      label,
      doc,
      user,
      query,
      timestamp: ts,
      queryTokenWidth: 0,
      categorical: [{ name: 'hour', values: Int32Array.from({ length: n }, () => Math.floor(r() * 24)) }],
      dense: [{ name: 'x', values: Float32Array.from({ length: n }, () => r()) }],
      sequences: [{ name: 'clicks', offsets, values: Int32Array.from(values) }],
      ...(test ? { coldStart } : {}),
    };
  };
  const train = build(o.trainSamples ?? 3000, false);
  const test = build(o.testSamples ?? 1500, true);
  return {
    dir: '(memory)',
    manifest: {
      name: 'synthetic',
      numDocuments: D,
      numUsers: U,
      vocabSize: vocab,
      documentTokens: width,
      queryTokens: 0,
      textFields: [
        { name: 'title', maxTokens: titleLen },
        { name: 'genre', maxTokens: genreLen },
      ],
      image: o.images ? { height: 8, width: 8, channels: 3 } : null,
      categorical: [{ name: 'hour', cardinality: 24 }],
      dense: ['x'],
      sequences: [{ name: 'clicks', maxLength: maxHist, action: false, age: false }],
    },
    documents: {
      rows: D,
      docId: BigInt64Array.from({ length: D }, (_, i) => BigInt(i)),
      tokens,
      tokenWidth: width,
      ...(images ? { images, imageShape, hasImage } : {}),
      categorical: [],
      text: {},
    },
    splits: { train, test },
  };
}

/** Small model sizes for CPU tests. */
export const TINY = {
  embeddingDim: 32,
  features: { idDim: 8 },
  docEncoder: { layers: 1, width: 32, heads: 2, ffnMult: 2, patch: 4 },
  queryEncoder: { layers: 1, width: 32, heads: 2, ffnMult: 2 },
  decoder: { layers: 1, heads: 2, queries: 2, width: 32 },
  longer: { layers: 1, heads: 2, globalTokens: 2, recent: 4, width: 32 },
  backbone: { tokens: 4, width: 32, layers: 1, mlpHidden: [32] },
  memoryBank: { stalenessProbe: 0 },
  train: { batchSize: 128, epochs: 1 },
} as const;
