/** Errors lemur raises. Each names what was wrong and, where it helps, how to fix it. */

/** Base class: every error thrown by lemur itself is a LemurError. */
export class LemurError extends Error {
  override name = 'LemurError';
}

/** The native addon could not be loaded (missing, or built for another LibTorch). */
export class NativeLoadError extends LemurError {
  override name = 'NativeLoadError';
}

/** A configuration value is invalid; `field` is its dotted path (e.g. `backbone.tokens`). */
export class ConfigError extends LemurError {
  override name = 'ConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`config.${field}: ${message}`);
  }
}

/**
 * Input data is invalid; names the file, column and first bad row where known. Text sources
 * (CSV) give the 1-based `line` as editors count it, shown as `file:line`; binary ones the
 * 0-based data `row`.
 */
export class DataError extends LemurError {
  override name = 'DataError';
  constructor(
    message: string,
    readonly file?: string,
    readonly column?: string,
    readonly row?: number,
    readonly line?: number,
  ) {
    const where = file && line !== undefined ? `${file}:${line}` : file;
    super(
      [where, column && `column '${column}'`, row !== undefined && line === undefined && `row ${row}`]
        .filter(Boolean)
        .join(', ') + (file || column || row !== undefined ? ': ' : '') + message,
    );
  }
}

/** A long operation was cancelled through its AbortSignal; `partial` holds what it did. */
export class AbortError extends LemurError {
  override name = 'AbortError';
  constructor(
    message: string,
    readonly partial?: unknown,
  ) {
    super(message);
  }
}
