/**
 * The subword tokenizer: a byte-level BPE (Hugging Face `tokenizers`, Rust) with NFKC +
 * lowercase normalisation. Byte-level means every Unicode string encodes without unknowns:
 * the 256 byte tokens are always in the vocabulary. Saved as a standard tokenizer.json.
 *
 * lemur token ids are the tokenizer's ids + 4; 0..3 are [PAD], [CLS], [SEP] and a reserved id.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Tokenizer as HfTokenizer } from 'tokenizers';

import { DataError, LemurError } from '../errors.js';
import { writeFileAtomic } from './files.js';

export const PAD = 0;
export const CLS = 1;
export const SEP = 2;
/** Added to every tokenizer id to make room for the reserved ids. */
export const TOKEN_OFFSET = 4;

const TRAIN_SCRIPT = fileURLToPath(new URL('./tokenizer-train.js', import.meta.url));

/** Default size of the tokenizer's own vocabulary (256 bytes + merges). */
export const DEFAULT_VOCAB_SIZE = 4000;

type TokenizersModule = typeof import('tokenizers');
let tokenizersModule: TokenizersModule | undefined;

/** Loaded on first use: importing lemur does not load the Rust addon until text is tokenized. */
async function hf(): Promise<TokenizersModule> {
  if (!tokenizersModule) {
    try {
      const m = (await import('tokenizers')) as TokenizersModule & { default?: TokenizersModule };
      tokenizersModule = m.Tokenizer ? m : m.default!;
    } catch (e) {
      throw new LemurError(`cannot load the 'tokenizers' package (Hugging Face tokenizers for Node): ${(e as Error).message}`);
    }
  }
  return tokenizersModule;
}

/** GPT-2's byte -> printable character map, so ids 0..255 are the byte values. */
function byteToChar(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i])));
  return out;
}

const NORMALIZER = { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] };
// add_prefix_space: a word at the start of a field encodes like the same word inside it.
const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };

/** tokenizer.json for a byte-level BPE with the given ranked merges, in a fixed key order. */
function tokenizerJson(merges: readonly [string, string][]): string {
  const vocab: Record<string, number> = {};
  let next = 0;
  for (const c of byteToChar()) vocab[c] = next++;
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = next++;
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: NORMALIZER,
    pre_tokenizer: BYTE_LEVEL,
    post_processor: null,
    decoder: BYTE_LEVEL,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  });
}

export interface TrainOptions {
  /** Size of the tokenizer's own vocabulary, 256 byte tokens included (>= 256). Default 4000. */
  vocabSize?: number;
}

/** Strings handed to the Rust encoder per call (bounds the JS arrays built per batch). */
const ENCODE_CHUNK = 8192;

export class Tokenizer {
  private constructor(
    private readonly hf: HfTokenizer,
    /** The tokenizer.json text (deterministic: same text in, same bytes out). */
    readonly json: string,
  ) {}

  /**
   * Trains a byte-level BPE on the texts. `tokenizers`' train() takes no trainer options, so
   * it trains with its defaults (all merges down to count 1, up to 30,000 tokens) and the
   * result is cut to the first merges: BPE merges are ranked, so this equals training with
   * that vocabulary size. Deterministic for the same texts.
   */
  static async train(texts: Iterable<string>, options: TrainOptions = {}): Promise<Tokenizer> {
    const vocabSize = options.vocabSize ?? DEFAULT_VOCAB_SIZE;
    if (!Number.isSafeInteger(vocabSize) || vocabSize < 256)
      throw new LemurError(`tokenizer vocabSize must be an integer >= 256 (the byte tokens), got ${vocabSize}`);
    const dir = mkdtempSync(join(tmpdir(), 'lemur-tokenizer-'));
    try {
      // One text per line: the trainer reads its corpus from files, line by line.
      const lines: string[] = [];
      for (const t of texts) {
        const line = t.replace(/[\r\n\u2028\u2029\u0085]+/g, ' ');
        if (line.trim()) lines.push(line);
      }
      const corpus = join(dir, 'corpus.txt');
      writeFileSync(corpus, lines.join('\n'));
      const saved = join(dir, 'trained.json');
      // In a child process: the Rust trainer writes progress lines to stdout.
      await new Promise<void>((done, fail) =>
        execFile(process.execPath, [TRAIN_SCRIPT, corpus, saved], { maxBuffer: 1 << 20 }, (error, _stdout, stderr) =>
          error ? fail(new LemurError(`tokenizer training failed: ${stderr.trim() || error.message}`)) : done(),
        ),
      );
      const trained = JSON.parse(readFileSync(saved, 'utf8')) as { model: { merges: (string | [string, string])[] } };
      const all = trained.model.merges.map((x) => (typeof x === 'string' ? (x.split(' ', 2) as [string, string]) : x));
      // Keep the first merges until the vocabulary (bytes + merged tokens) has vocabSize tokens.
      const seen = new Set(byteToChar());
      const kept: [string, string][] = [];
      for (const [a, b] of all) {
        if (seen.size >= vocabSize) break;
        kept.push([a, b]);
        seen.add(a + b);
      }
      return Tokenizer.fromJSON(tokenizerJson(kept));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** A tokenizer from tokenizer.json text (any byte-level BPE written by lemur or Hugging Face). */
  static async fromJSON(json: string): Promise<Tokenizer> {
    const m = await hf();
    try {
      return new Tokenizer(m.Tokenizer.fromString(json), json);
    } catch (e) {
      throw new DataError(`not a valid tokenizer.json: ${(e as Error).message}`);
    }
  }

  /** Loads a tokenizer.json file. */
  static async load(path: string): Promise<Tokenizer> {
    let json: string;
    try {
      json = readFileSync(path, 'utf8');
    } catch (e) {
      throw new DataError(`cannot read: ${(e as Error).message}`, path);
    }
    try {
      return await Tokenizer.fromJSON(json);
    } catch (e) {
      throw new DataError((e as Error).message, path);
    }
  }

  /** Writes tokenizer.json atomically. */
  save(path: string): void {
    writeFileAtomic(path, this.json);
  }

  /** Number of lemur token ids (tokenizer vocabulary + the 4 reserved ids): the manifest's vocabSize. */
  get vocabSize(): number {
    return this.hf.getVocabSize(true) + TOKEN_OFFSET;
  }

  /** Token ids (lemur ids, offset by 4) of each text, in one batched call per chunk. */
  async encodeBatch(texts: readonly string[]): Promise<Int32Array[]> {
    const out: Int32Array[] = [];
    for (let at = 0; at < texts.length; at += ENCODE_CHUNK) {
      const encodings = await this.hf.encodeBatch(texts.slice(at, at + ENCODE_CHUNK) as string[], { addSpecialTokens: false });
      for (const e of encodings) {
        const ids = e.getIds();
        const row = new Int32Array(ids.length);
        for (let i = 0; i < ids.length; i++) row[i] = ids[i] + TOKEN_OFFSET;
        out.push(row);
      }
    }
    return out;
  }

  async encode(text: string): Promise<Int32Array> {
    return (await this.encodeBatch([text]))[0];
  }

  /** Text of lemur token ids; reserved ids (padding, [CLS], [SEP]) are skipped. */
  async decode(ids: ArrayLike<number>): Promise<string> {
    const raw: number[] = [];
    for (let i = 0; i < ids.length; i++) if (ids[i] >= TOKEN_OFFSET) raw.push(ids[i] - TOKEN_OFFSET);
    return this.hf.decode(raw, false);
  }

  /** One document row: `[CLS] f1 [SEP] f2 [SEP] ...`, each field cut to its maxTokens, 0-padded. */
  async encodeFields(fields: readonly string[], maxTokens: readonly number[]): Promise<Int32Array> {
    return this.encodeDocuments(
      fields.map((f) => [f]),
      maxTokens,
    );
  }

  /**
   * Packs many documents at once: `fields[k][row]` is field k of a document. Returns
   * [rows * width] ids, width = 1 + sum(maxTokens) + number of fields.
   */
  async encodeDocuments(fields: readonly (readonly string[])[], maxTokens: readonly number[]): Promise<Int32Array> {
    if (fields.length !== maxTokens.length) throw new LemurError(`${fields.length} fields but ${maxTokens.length} maxTokens`);
    const rows = fields.length ? fields[0].length : 0;
    const width = maxTokens.reduce((w, n) => w + n + 1, 1);
    const out = new Int32Array(rows * width);
    for (let r = 0; r < rows; r++) out[r * width] = CLS;
    const at = new Int32Array(rows).fill(1);
    for (let k = 0; k < fields.length; k++) {
      if (fields[k].length !== rows) throw new LemurError(`field ${k} has ${fields[k].length} rows, field 0 has ${rows}`);
      const encoded = await this.encodeBatch(fields[k]);
      for (let r = 0; r < rows; r++) {
        const ids = encoded[r];
        const n = Math.min(ids.length, maxTokens[k]);
        const base = r * width + at[r];
        out.set(n === ids.length ? ids : ids.subarray(0, n), base);
        out[base + n] = SEP; // every field ends with [SEP], even an empty one: field types are counted from them
        at[r] += n + 1;
      }
    }
    return out;
  }

  /** One query row: `[CLS] query` cut to maxTokens and 0-padded; width 1 + maxTokens. */
  async encodeQuery(query: string, maxTokens: number): Promise<Int32Array> {
    return this.encodeQueries([query], maxTokens);
  }

  /** Query rows: `[CLS] query` cut to maxTokens and 0-padded; width 1 + maxTokens. */
  async encodeQueries(queries: readonly string[], maxTokens: number): Promise<Int32Array> {
    const width = 1 + maxTokens;
    const out = new Int32Array(queries.length * width);
    const encoded = await this.encodeBatch(queries);
    for (let r = 0; r < queries.length; r++) {
      out[r * width] = CLS;
      const ids = encoded[r];
      out.set(ids.subarray(0, Math.min(ids.length, maxTokens)), r * width + 1);
    }
    return out;
  }
}
