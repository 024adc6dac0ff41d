import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { CLS, DataError, SEP, TOKEN_OFFSET, Tokenizer } from '../../dist/index.js';
import { tempDir } from './fixtures.js';

const corpus = [
  'Toy Story (1995)',
  'Adventure Animation Children Comedy Fantasy',
  'The quick brown fox jumps over the lazy dog',
  'Über naïve café façade, Ærø and Øresund',
  '東京物語 千と千尋の神隠し 東京',
  'Emoji night 🎬🍿 party 🎉',
  ...Array.from({ length: 50 }, (_, i) => `story number ${i} of the animation collection`),
];

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('Tokenizer', () => {
  it('trains deterministically: same text, same vocabulary and ids', async () => {
    const a = await Tokenizer.train(corpus, { vocabSize: 400 });
    const b = await Tokenizer.train(corpus, { vocabSize: 400 });
    expect(a.json).toBe(b.json);
    expect(a.vocabSize).toBe(400 + TOKEN_OFFSET);
    const text = 'Toy Story of the animation collection';
    expect(Array.from(await a.encode(text))).toEqual(Array.from(await b.encode(text)));
  });

  it('caps the vocabulary at the first merges (a smaller vocabulary is a prefix of a larger one)', async () => {
    const small = await Tokenizer.train(corpus, { vocabSize: 300 });
    const large = await Tokenizer.train(corpus, { vocabSize: 420 });
    expect(small.vocabSize).toBe(300 + TOKEN_OFFSET);
    const vs = JSON.parse(small.json).model;
    const vl = JSON.parse(large.json).model;
    expect(vl.merges.slice(0, vs.merges.length)).toEqual(vs.merges);
    for (const [tok, id] of Object.entries(vs.vocab as Record<string, number>)) expect(vl.vocab[tok]).toBe(id);
    // Fewer merges: more tokens for the same text.
    const text = 'story number 7 of the animation collection';
    expect((await small.encode(text)).length).toBeGreaterThan((await large.encode(text)).length);
  });

  it('encodes any Unicode without unknowns and decodes it back (NFKC + lowercase)', async () => {
    const tok = await Tokenizer.train(corpus, { vocabSize: 350 });
    const samples = [
      'Emoji 🎉🧑‍🚀 and flags 🇫🇷',
      'CJK 東京 한국어 and unseen 龘',
      'Combining: e\u0301 a\u0308 n\u0303, precomposed é',
      'Ligature ﬁ and roman numeral Ⅻ',
      'Zero\u200bwidth and tab\tand RTL שלום مرحبا',
    ];
    for (const s of samples) {
      const ids = await tok.encode(s);
      for (const id of ids) {
        expect(id).toBeGreaterThanOrEqual(TOKEN_OFFSET);
        expect(id).toBeLessThan(tok.vocabSize);
      }
      const expected = s.normalize('NFKC').toLowerCase();
      expect((await tok.decode(ids)).trimStart()).toBe(expected);
    }
    // NFKC folds compatibility forms: the ligature and its letters encode alike.
    expect(Array.from(await tok.encode('ﬁ'))).toEqual(Array.from(await tok.encode('fi')));
    expect(Array.from(await tok.encode('TOY'))).toEqual(Array.from(await tok.encode('toy')));
  });

  it('packs fields as [CLS] f1 [SEP] f2 [SEP] with per-field caps and padding', async () => {
    const tok = await Tokenizer.train(corpus, { vocabSize: 350 });
    const maxTokens = [4, 3, 2];
    const row = await tok.encodeFields(['Toy Story of the animation collection', '', 'a b c d e f g'], maxTokens);
    expect(row.length).toBe(1 + 4 + 3 + 2 + 3);
    expect(row[0]).toBe(CLS);
    const title = await tok.encode('Toy Story of the animation collection');
    expect(Array.from(row.subarray(1, 5))).toEqual(Array.from(title.subarray(0, 4)));
    expect(row[5]).toBe(SEP); // title cut to 4 tokens
    expect(row[6]).toBe(SEP); // empty field: its [SEP] still marks it
    const third = await tok.encode('a b c d e f g');
    expect(Array.from(row.subarray(7, 9))).toEqual(Array.from(third.subarray(0, 2)));
    expect(row[9]).toBe(SEP);
    expect(Array.from(row.subarray(10))).toEqual([0, 0, 0]);
    // Batch packing equals row-by-row packing.
    const batch = await tok.encodeDocuments(
      [
        ['Toy Story of the animation collection', 'x'],
        ['', 'y'],
        ['a b c d e f g', 'z'],
      ],
      maxTokens,
    );
    expect(Array.from(batch.subarray(0, row.length))).toEqual(Array.from(row));
  });

  it('packs queries as [CLS] query, cut and padded', async () => {
    const tok = await Tokenizer.train(corpus, { vocabSize: 350 });
    const q = await tok.encodeQueries(['toy story', 'the quick brown fox jumps over the lazy dog'], 3);
    expect(q.length).toBe(8);
    expect(q[0]).toBe(CLS);
    expect(q[4]).toBe(CLS);
    const first = await tok.encode('toy story');
    expect(Array.from(q.subarray(1, 1 + first.length))).toEqual(Array.from(first));
    expect(q.subarray(5, 8).every((x) => x >= TOKEN_OFFSET)).toBe(true);
  });

  it('saves a standard tokenizer.json and loads it back', async () => {
    const tok = await Tokenizer.train(corpus, { vocabSize: 350 });
    const path = join(tmp.dir, 'tokenizer.json');
    tok.save(path);
    const json = JSON.parse(readFileSync(path, 'utf8'));
    expect(json.model.type).toBe('BPE');
    expect(json.pre_tokenizer.type).toBe('ByteLevel');
    expect(json.normalizer.normalizers.map((n: { type: string }) => n.type)).toEqual(['NFKC', 'Lowercase']);
    const back = await Tokenizer.load(path);
    expect(back.vocabSize).toBe(tok.vocabSize);
    expect(Array.from(await back.encode('Toy Story 🎬'))).toEqual(Array.from(await tok.encode('Toy Story 🎬')));
    await expect(Tokenizer.load(join(tmp.dir, 'absent.json'))).rejects.toThrow(DataError);
  });
});
