// Typed failures of the block index. Bugs are assertions; these are operating failures.

export const indexErrorCodes = {
  storeFormat: "INDEX_STORE_FORMAT",
  storeIo: "INDEX_STORE_IO",
  storeConflict: "INDEX_STORE_CONFLICT",
} as const;

export type IndexErrorCode = (typeof indexErrorCodes)[keyof typeof indexErrorCodes];

export class IndexError extends Error {
  readonly code: IndexErrorCode;
  constructor(code: IndexErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "IndexError";
    this.code = code;
  }
}

/** The index store is of another format version, or not an index store: delete it to rebuild. */
export class IndexStoreFormatError extends IndexError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(indexErrorCodes.storeFormat, message, options);
    this.name = "IndexStoreFormatError";
  }
}

/** SQLite failed to read or write (disk full, I/O error); the step is retried. */
export class IndexStoreIoError extends IndexError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(indexErrorCodes.storeIo, message, options);
    this.name = "IndexStoreIoError";
  }
}

/** A block was committed from a position the store is not at (two writers, or a bug). */
export class IndexStoreConflictError extends IndexError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(indexErrorCodes.storeConflict, message, options);
    this.name = "IndexStoreConflictError";
  }
}
