/**
 * MovieLens (ml-latest-small layout: ratings.csv, movies.csv, tags.csv, optional posters/)
 * into a lemur dataset. One document per movie, one sample per rating (label: rating >= 4),
 * histories from each user's strictly earlier ratings, a chronological train/test split with
 * cold-start flags. Built in a temporary folder that is renamed only when complete.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import { DataError, LemurError } from '../errors.js';
import type { SampleColumns } from './columns.js';
import { readCsv, type CsvSummary } from './csv.js';
import { writeDatasetFiles, type DocumentInput, type ImportResult } from './dataset.js';
import { buildFolderAtomically } from './files.js';
import { buildSequence, countBefore, groupByUser } from './history.js';
import { ImportIssues, type InvalidRowPolicy } from './import-report.js';
import { imageWarning, loadImages, resolveImageOptions, type ImageOptions, type ImageStats } from './images.js';
import type { DatasetManifest, TextFieldSpec } from './manifest.js';
import { Tokenizer } from './tokenizer.js';

export interface MovielensOptions {
  /** Folder of `<movieId>.jpg` posters; default `<source>/posters` when it exists; false: no images. */
  posters?: string | false;
  /** Image size and fit (default 32x32x3, cover). */
  image?: ImageOptions;
  /** Keep only the first N users (by userId): a fast subset. */
  maxUsers?: number;
  /** The newest fraction of ratings (by a global timestamp cut) that forms the test split. Default 0.2. */
  testFraction?: number;
  /**
   * The fraction of ratings just before the test period that forms the `valid` split (model
   * selection, early stopping). Default 0.1; 0: no validation split.
   */
  validFraction?: number;
  /** Longest history kept per sequence (the most recent ratings). Default 100. */
  historyLength?: number;
  /** Ratings >= this are positives and enter the `liked` history. Default 4. */
  likeThreshold?: number;
  /** Tokenizer vocabulary when one is trained (256 bytes + merges). Default 4000. */
  vocabSize?: number;
  /** A tokenizer.json to use instead of training one. */
  tokenizer?: string;
  /** Tokens kept per text field. Defaults: title 16, genres 8, tags 24. */
  maxTokens?: { title?: number; genres?: number; tags?: number };
  /** Dataset name in the manifest (default: the source folder's name). */
  name?: string;
  /** Replace an existing output folder. */
  overwrite?: boolean;
  /**
   * Rows that break a rule (a rating outside `ratingScale`, a negative timestamp, an id that
   * is not a non-negative integer, a movie missing from movies.csv): 'error' (default) stops
   * with the file, line and value; 'skip' drops them, counted in the summary and warned.
   */
  invalidRows?: InvalidRowPolicy;
  /** Valid ratings: min, max and step (default 0.5 to 5 in half stars, MovieLens' scale). */
  ratingScale?: { min: number; max: number; step?: number };
  /** Receives warning lines (missing/corrupt posters, dropped or repaired rows...). Default: console.warn. */
  onWarning?: (line: string) => void;
}

const RATINGS = ['userId', 'movieId', 'rating', 'timestamp'] as const;
const MOVIES = ['movieId', 'title', 'genres'] as const;
const TAGS = ['userId', 'movieId', 'tag', 'timestamp'] as const;

/** The rules every CSV field is read by; problems go to `issues` (error, drop or repair). */
class FieldReader {
  constructor(readonly issues: ImportIssues) {}

  /** A non-negative integer; `12.0` is read as 12 and counted as repaired; undefined: the row is dropped. */
  integer(path: string, column: string, line: number, text: string): number | undefined {
    const t = text.trim();
    const whole = /^\d+$/.test(t);
    if (whole || /^\d+\.0*$/.test(t)) {
      const v = Number(t);
      if (!Number.isSafeInteger(v)) return void this.issues.invalid(path, column, line, `${column} larger than 2^53 - 1`, t);
      if (!whole) this.issues.repair(path, line, `${column} written with a decimal point, read as the integer`, t);
      return v;
    }
    if (/^-\d+(\.0*)?$/.test(t)) return void this.issues.invalid(path, column, line, `negative ${column}`, t);
    return void this.issues.invalid(path, column, line, `expected a non-negative integer ${column}`, JSON.stringify(text));
  }
}

/** Release year from a title like "Heat (1995)" (the last such group) -> year - 1899 in 1..130, 0 unknown. */
function yearFeature(title: string): number {
  const all = [...title.matchAll(/\((\d{4})(?:[-–]\d{0,4})?\)/g)];
  if (all.length === 0) return 0;
  return Math.max(1, Math.min(130, Number(all[all.length - 1][1]) - 1899));
}

/** The movies' tags, deduplicated case-insensitively, most used first, joined by ", ". */
function readTags(path: string, docOf: Map<number, number>, numDocs: number, read: FieldReader): { text: string[]; rows: number; unknownMovie: number } {
  const perDoc: Map<string, { tag: string; count: number; first: number }>[] = Array.from({ length: numDocs }, () => new Map());
  let rows = 0;
  let unknownMovie = 0;
  if (existsSync(path))
    noteEncoding(path, read.issues, readCsv(path, TAGS, (f, row, ix, line) => {
      rows++;
      const movieId = read.integer(path, 'movieId', line, f[ix.movieId]);
      if (movieId === undefined || read.integer(path, 'userId', line, f[ix.userId]) === undefined) return;
      const d = docOf.get(movieId);
      if (d === undefined) return void unknownMovie++;
      const tag = f[ix.tag].replace(/\s+/g, ' ').trim();
      if (!tag) return;
      const key = tag.toLowerCase();
      const e = perDoc[d].get(key);
      if (e) e.count++;
      else perDoc[d].set(key, { tag, count: 1, first: row });
    }));
  const text = perDoc.map((m) =>
    [...m.values()]
      .sort((a, b) => b.count - a.count || a.first - b.first)
      .map((e) => e.tag)
      .join(', '),
  );
  return { text, rows, unknownMovie };
}

/** Lines that were not UTF-8 (read as Windows-1252 by readCsv) are counted as repairs. */
function noteEncoding(path: string, issues: ImportIssues, summary: CsvSummary): CsvSummary {
  issues.repairMany(path, 'not valid UTF-8, read as Windows-1252', summary.nonUtf8Lines, summary.nonUtf8Examples);
  return summary;
}

/** Imports a MovieLens folder into a lemur dataset at `out`. */
export async function importMovielens(source: string, out: string, options: MovielensOptions = {}): Promise<ImportResult> {
  const started = performance.now();
  const src = resolve(source);
  const testFraction = options.testFraction ?? 0.2;
  const validFraction = options.validFraction ?? 0.1;
  const historyLength = options.historyLength ?? 100;
  const likeThreshold = options.likeThreshold ?? 4;
  const warn = options.onWarning ?? ((line: string) => console.warn(`lemur: ${line}`));
  if (!(testFraction > 0 && testFraction < 1)) throw new LemurError(`testFraction must be in (0, 1), got ${testFraction}`);
  if (!(validFraction >= 0 && validFraction + testFraction < 1))
    throw new LemurError(`validFraction must be >= 0 and leave a train split (validFraction + testFraction < 1), got ${validFraction}`);
  if (!Number.isSafeInteger(historyLength) || historyLength < 1) throw new LemurError(`historyLength must be a positive integer, got ${historyLength}`);
  if (options.maxUsers !== undefined && !(Number.isSafeInteger(options.maxUsers) && options.maxUsers > 0))
    throw new LemurError(`maxUsers must be a positive integer, got ${options.maxUsers}`);
  const fields: TextFieldSpec[] = [
    { name: 'title', maxTokens: options.maxTokens?.title ?? 16 },
    { name: 'genres', maxTokens: options.maxTokens?.genres ?? 8 },
    { name: 'tags', maxTokens: options.maxTokens?.tags ?? 24 },
  ];
  const posterDir = options.posters === false ? undefined : (options.posters ?? (existsSync(join(src, 'posters')) ? join(src, 'posters') : undefined));
  if (typeof options.posters === 'string' && !existsSync(options.posters)) throw new DataError('posters: no such folder (posters: false imports without images)', options.posters);
  const imageOptions = resolveImageOptions(options.image);
  const scale = { step: 0.5, ...(options.ratingScale ?? { min: 0.5, max: 5 }) };
  if (!(Number.isFinite(scale.min) && Number.isFinite(scale.max) && scale.min <= scale.max && scale.step >= 0))
    throw new LemurError(`ratingScale must have finite min <= max and step >= 0, got ${JSON.stringify(options.ratingScale)}`);
  if (options.invalidRows !== undefined && options.invalidRows !== 'error' && options.invalidRows !== 'skip')
    throw new LemurError(`invalidRows must be 'error' or 'skip', got ${JSON.stringify(options.invalidRows)}`);
  const issues = new ImportIssues(options.invalidRows ?? 'error');
  const read = new FieldReader(issues);

  let imageStats: ImageStats | undefined;
  const manifest = await buildFolderAtomically(out, { overwrite: options.overwrite }, async (tmp) => {
    // Movies: one document each, in file order.
    const moviesPath = join(src, 'movies.csv');
    const movieIds: number[] = [];
    const titles: string[] = [];
    const genres: string[] = [];
    const docOf = new Map<number, number>();
    const movieLine = new Map<number, number>();
    noteEncoding(moviesPath, issues, readCsv(moviesPath, MOVIES, (f, _row, ix, line) => {
      const id = read.integer(moviesPath, 'movieId', line, f[ix.movieId]);
      if (id === undefined) return;
      if (docOf.has(id)) return void issues.invalid(moviesPath, 'movieId', line, `movieId already on line ${movieLine.get(id)}`, String(id));
      movieLine.set(id, line);
      docOf.set(id, movieIds.length);
      movieIds.push(id);
      titles.push(f[ix.title].trim());
      const g = f[ix.genres].trim();
      genres.push(g === '(no genres listed)' ? '' : g.split('|').join(' '));
    }));
    const numDocs = movieIds.length;
    if (numDocs === 0) throw new DataError('no movies', moviesPath);
    const tags = readTags(join(src, 'tags.csv'), docOf, numDocs, read);

    // Ratings, kept as parallel arrays in file order.
    const ratingsPath = join(src, 'ratings.csv');
    const rUser: number[] = [];
    const rDoc: number[] = [];
    const rRating: number[] = [];
    const rTime: number[] = [];
    const seen = new Map<string, number>(); // exact rows -> first line, to report duplicates
    const onScale = (r: number) => scale.step === 0 || Math.abs((r - scale.min) / scale.step - Math.round((r - scale.min) / scale.step)) < 1e-6;
    const ratingsRead = noteEncoding(ratingsPath, issues, readCsv(ratingsPath, RATINGS, (f, _row, ix, line) => {
      const movieId = read.integer(ratingsPath, 'movieId', line, f[ix.movieId]);
      const userId = read.integer(ratingsPath, 'userId', line, f[ix.userId]);
      const timestamp = read.integer(ratingsPath, 'timestamp', line, f[ix.timestamp]);
      if (movieId === undefined || userId === undefined || timestamp === undefined) return;
      const d = docOf.get(movieId);
      if (d === undefined) return void issues.invalid(ratingsPath, 'movieId', line, 'movieId not in movies.csv', String(movieId));
      const text = f[ix.rating].trim();
      const rating = Number(text);
      if (text === '' || !Number.isFinite(rating)) return void issues.invalid(ratingsPath, 'rating', line, 'expected a number', JSON.stringify(f[ix.rating]));
      if (rating < scale.min || rating > scale.max || !onScale(rating))
        return void issues.invalid(ratingsPath, 'rating', line, `rating outside the scale ${scale.min} to ${scale.max}${scale.step ? ` in steps of ${scale.step}` : ''}`, text);
      const key = `${userId},${movieId},${rating},${timestamp}`;
      const first = seen.get(key);
      if (first !== undefined) return void issues.drop(ratingsPath, line, 'exact duplicate of an earlier row', `same as line ${first}`);
      seen.set(key, line);
      rUser.push(userId);
      rDoc.push(d);
      rRating.push(rating);
      rTime.push(timestamp);
    }));

    // Users: sorted userIds; the subset keeps the first maxUsers.
    let userIds = [...new Set(rUser)].sort((a, b) => a - b);
    if (options.maxUsers !== undefined) userIds = userIds.slice(0, options.maxUsers);
    const userOf = new Map(userIds.map((u, i) => [u, i]));
    const keep: number[] = [];
    for (let i = 0; i < rUser.length; i++) if (userOf.has(rUser[i])) keep.push(i);
    const n = keep.length;
    if (n === 0) throw new DataError('no ratings', ratingsPath);
    const user = new Int32Array(n);
    const doc = new Int32Array(n);
    const rating = new Float32Array(n);
    const time = new Float64Array(n);
    const action = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      const i = keep[k];
      user[k] = userOf.get(rUser[i])!;
      doc[k] = rDoc[i];
      rating[k] = rRating[i];
      time[k] = rTime[i];
      action[k] = Math.round(rRating[i] * 2); // half stars: 1..10
    }

    // Chronological order (file order among equal timestamps) and the global cuts:
    // train < validCut <= valid < testCut <= test.
    const order = Int32Array.from({ length: n }, (_, k) => k).sort((a, b) => time[a] - time[b] || a - b);
    const cutAt = (fraction: number) => time[order[Math.min(n - 1, Math.floor(n * (1 - fraction)))]];
    const cut = cutAt(testFraction);
    const validCut = validFraction > 0 ? cutAt(testFraction + validFraction) : cut;
    const inTrain = new Uint8Array(numDocs);
    let trainRows = 0;
    let validRows = 0;
    for (let k = 0; k < n; k++)
      if (time[k] < validCut) {
        inTrain[doc[k]] = 1;
        trainRows++;
      } else if (time[k] < cut) validRows++;
    if (trainRows === 0 || trainRows + validRows === n) throw new DataError(`the split at timestamp ${cut} leaves a split empty`, ratingsPath, 'timestamp');
    if (validFraction > 0 && validRows === 0)
      throw new DataError(`the validation period [${validCut}, ${cut}) holds no rating (timestamps too coarse for validFraction ${validFraction})`, ratingsPath, 'timestamp');

    // Histories: every earlier rating (`rated`, action = half stars) and earlier likes (`liked`).
    const numUsers = userIds.length;
    const rated = groupByUser(numUsers, order, user, doc, time, action);
    const liked = groupByUser(numUsers, order, user, doc, time, undefined, (e) => rating[e] >= likeThreshold);

    const makeSplit = (rows: Int32Array, cold: boolean): SampleColumns => {
      const m = rows.length;
      const su = new Int32Array(m);
      const st = new Float64Array(m);
      const c: SampleColumns = {
        rows: m,
        label: new Float32Array(m),
        doc: new Int32Array(m),
        user: su,
        query: su, // no query text: the user is the query (docs/data-format.md, Ids)
        timestamp: new BigInt64Array(m),
        queryTokenWidth: 0,
        categorical: [
          { name: 'hour', values: new Int32Array(m) },
          { name: 'weekday', values: new Int32Array(m) },
        ],
        dense: [{ name: 'activity', values: new Float32Array(m) }],
        sequences: [],
      };
      for (let j = 0; j < m; j++) {
        const k = rows[j];
        su[j] = user[k];
        st[j] = time[k];
        c.doc[j] = doc[k];
        c.label[j] = rating[k] >= likeThreshold ? 1 : 0;
        c.timestamp[j] = BigInt(time[k]);
        const date = new Date(time[k] * 1000);
        c.categorical[0].values[j] = date.getUTCHours();
        c.categorical[1].values[j] = date.getUTCDay();
      }
      const before = countBefore(rated, su, st);
      for (let j = 0; j < m; j++) c.dense[0].values[j] = Math.log1p(before[j]);
      c.sequences.push(buildSequence(rated, su, st, { name: 'rated', maxLength: historyLength, age: true, action: true }));
      c.sequences.push(buildSequence(liked, su, st, { name: 'liked', maxLength: historyLength, age: true, action: false }));
      if (cold) {
        c.coldStart = new Uint8Array(m);
        for (let j = 0; j < m; j++) c.coldStart[j] = inTrain[c.doc[j]] ? 0 : 1;
      }
      return c;
    };
    // Cold start (valid and test): the movie is never rated in the train period, so the model
    // has no trained ID for it.
    const trainIdx = new Int32Array(trainRows);
    const validIdx = new Int32Array(validRows);
    const testIdx = new Int32Array(n - trainRows - validRows);
    let a = 0;
    let v = 0;
    let b = 0;
    for (let k = 0; k < n; k++) {
      const e = order[k];
      if (time[e] < validCut) trainIdx[a++] = e;
      else if (time[e] < cut) validIdx[v++] = e;
      else testIdx[b++] = e;
    }
    const splits: Record<string, SampleColumns> = { train: makeSplit(trainIdx, false) };
    if (validRows > 0) splits.valid = makeSplit(validIdx, true);
    splits.test = makeSplit(testIdx, true);

    // Text: one tokenizer pass over all documents, batched.
    const tokenizer = options.tokenizer
      ? await Tokenizer.load(options.tokenizer)
      : await Tokenizer.train([...titles, ...genres, ...tags.text], { vocabSize: options.vocabSize });
    const tokens = await tokenizer.encodeDocuments(
      [titles, genres, tags.text],
      fields.map((f) => f.maxTokens),
    );

    const documents: DocumentInput = {
      docId: BigInt64Array.from(movieIds, (x) => BigInt(x)),
      text: { title: titles, genres, tags: tags.text },
      tokens,
      categorical: [{ name: 'year', values: Int32Array.from(titles, yearFeature) }],
    };
    if (posterDir) {
      const loaded = await loadImages(
        movieIds.map((id) => join(posterDir, `${id}.jpg`)),
        imageOptions,
      );
      documents.images = loaded.pixels;
      documents.hasImage = loaded.hasImage;
      imageStats = loaded.stats;
      const line = imageWarning(loaded.stats, 'posters');
      if (line) warn(line);
    }

    let moviesRated = 0;
    const rated1 = new Uint8Array(numDocs);
    for (let k = 0; k < n; k++) if (!rated1[doc[k]]) (rated1[doc[k]] = 1), moviesRated++;
    for (const w of issues.warnings(basename)) warn(w);
    return writeDatasetFiles(tmp, {
      manifest: {
        name: options.name ?? basename(src),
        createdBy: 'lemur import movielens',
        numDocuments: numDocs,
        numUsers,
        numQueries: numUsers,
        textFields: fields,
        queryTokens: 0,
        image: posterDir ? { height: imageOptions.height, width: imageOptions.width, channels: imageOptions.channels } : null,
        categorical: [
          { name: 'hour', cardinality: 24 },
          { name: 'weekday', cardinality: 7 },
        ],
        documentCategorical: [{ name: 'year', cardinality: 131 }],
        dense: ['activity'],
        sequences: [
          { name: 'rated', maxLength: historyLength, action: true, age: true },
          { name: 'liked', maxLength: historyLength, action: false, age: true },
        ],
        sourceStats: {
          ratings: n,
          ratingsInFile: ratingsRead.records,
          ...issues.stats(basename),
          users: numUsers,
          movies: numDocs,
          moviesRated,
          tags: tags.rows,
          tagsOfUnknownMovies: tags.unknownMovie,
          likeThreshold,
          testFraction,
          validFraction,
          validTimestamp: validCut,
          splitTimestamp: cut,
          maxUsers: options.maxUsers ?? null,
          postersDecoded: imageStats?.decoded ?? 0,
          postersMissing: imageStats?.missing ?? 0,
          postersCorrupt: imageStats?.corrupt ?? 0,
        },
      },
      documents,
      splits,
      tokenizer,
    });
  });
  return { dir: resolve(out), manifest, seconds: (performance.now() - started) / 1000, images: imageStats, report: issues.report() };
}
