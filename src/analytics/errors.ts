// Typed failures of the analytics stage. Bugs are assertions; these are operating failures.

export const analyticsErrorCodes = {
  storeFormat: "ANALYTICS_STORE_FORMAT",
  storeIo: "ANALYTICS_STORE_IO",
  storeConflict: "ANALYTICS_STORE_CONFLICT",
} as const;

export type AnalyticsErrorCode = (typeof analyticsErrorCodes)[keyof typeof analyticsErrorCodes];

export class AnalyticsError extends Error {
  readonly code: AnalyticsErrorCode;
  constructor(code: AnalyticsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AnalyticsError";
    this.code = code;
  }
}

/** The aggregate store is of another format version, or not an aggregate store at all. */
export class StoreFormatError extends AnalyticsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(analyticsErrorCodes.storeFormat, message, options);
    this.name = "StoreFormatError";
  }
}

/** SQLite failed to read or write (disk full, I/O error); the step is retried. */
export class StoreIoError extends AnalyticsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(analyticsErrorCodes.storeIo, message, options);
    this.name = "StoreIoError";
  }
}

/** A step did not start where the store's committed offset is: applying it would lose or double-count. */
export class StoreConflictError extends AnalyticsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(analyticsErrorCodes.storeConflict, message, options);
    this.name = "StoreConflictError";
  }
}
