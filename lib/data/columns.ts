/**
 * The in-memory form of a dataset that the native loader consumes: typed arrays viewed
 * zero-copy over the Arrow files (see docs/data-format.md). Produced by openDataset().
 */

/** A ragged column: row r holds values[offsets[r] .. offsets[r+1]). */
export interface RaggedInt32 {
  offsets: Int32Array; // length rows + 1
  values: Int32Array;
}

export interface SequenceColumns {
  name: string;
  offsets: Int32Array; // length rows + 1, offsets[0] may be non-zero only if sliced: normalised to start at 0
  values: Int32Array; // document indices
  action?: Int32Array; // same length as values
  age?: Float32Array; // same length as values
}

export interface SampleColumns {
  rows: number;
  label: Float32Array;
  doc: Int32Array;
  user: Int32Array;
  query: Int32Array;
  timestamp: BigInt64Array;
  /** [rows * queryTokenWidth] token ids, or undefined without query text. */
  queryTokens?: Int32Array;
  queryTokenWidth: number;
  categorical: { name: string; values: Int32Array }[];
  dense: { name: string; values: Float32Array }[];
  sequences: SequenceColumns[];
  coldStart?: Uint8Array;
}

export interface DocumentColumns {
  rows: number;
  docId: BigInt64Array;
  /** [rows * tokenWidth] packed token ids. */
  tokens: Int32Array;
  tokenWidth: number;
  /** [rows * height * width * channels] HWC uint8, or undefined without images. */
  images?: Uint8Array;
  imageShape?: [height: number, width: number, channels: number];
  /** 1 where the document has an image. */
  hasImage?: Uint8Array;
  categorical: { name: string; values: Int32Array }[];
  /** Raw text of each text field (not sent to native code). */
  text: Record<string, (row: number) => string>;
}
