/**
 * The data side of lemur: dataset files (docs/data-format.md), the tokenizer, images, the
 * MovieLens importer and the generator. The lower-level pieces (CSV, histories, images,
 * writeDatasetFiles, buildFolderAtomically) are exported as building blocks for other importers.
 */
export type { DocumentColumns, SampleColumns, SequenceColumns, RaggedInt32 } from './columns.js';
export {
  DATASET_FORMAT,
  DATASET_VERSION,
  MANIFEST_FILE,
  checkManifest,
  documentTokenWidth,
  type DatasetManifest,
  type TextFieldSpec,
  type ImageSpec,
  type CategoricalSpec,
  type SequenceSpec,
  type SplitStats,
} from './manifest.js';
export {
  openDataset,
  writeDatasetFiles,
  splitStats,
  type Dataset,
  type OpenOptions,
  type DatasetVerification,
  type DocumentInput,
  type ManifestInput,
  type DatasetContent,
  type ImportResult,
} from './dataset.js';
export {
  readArrowFile,
  writeArrowFile,
  int32Column,
  int64Column,
  float32Column,
  uint8Column,
  utf8Column,
  fixedSizeListColumn,
  listColumn,
  type ArrowFile,
  type ColumnData,
} from './arrow.js';
export { checksumOf, checksumOfFile, verifyChecksum, type FileChecksum } from './checksum.js';
export { buildFolderAtomically, writeFileAtomic, type FolderOptions } from './files.js';
export { Tokenizer, PAD, CLS, SEP, TOKEN_OFFSET, DEFAULT_VOCAB_SIZE, type TrainOptions } from './tokenizer.js';
export { loadImages, decodeImage, imageWarning, type ImageOptions, type ImageStats, type LoadedImages } from './images.js';
export { readCsv, CsvParser, type CsvSummary } from './csv.js';
export { ImportIssues, type ImportReport, type IssueCount, type InvalidRowPolicy } from './import-report.js';
export { groupByUser, buildSequence, countBefore, type UserEvents, type SequenceOptions } from './history.js';
export { importMovielens, type MovielensOptions } from './movielens.js';
export { generateDataset, type GeneratorOptions } from './generator.js';
