// Typed errors of the partition log: operating failures and bad input. A violated assertion is a bug
// and throws AssertionError instead; callers never match on message text, only on `code`.

export const logErrorCodes = {
  invalidRecord: "LOG_INVALID_RECORD",
  recordTooLarge: "LOG_RECORD_TOO_LARGE",
  overloaded: "LOG_OVERLOADED",
  closed: "LOG_CLOSED",
  write: "LOG_WRITE_FAILED",
  locked: "LOG_LOCKED",
  config: "LOG_CONFIG",
  offsetOutOfRange: "LOG_OFFSET_OUT_OF_RANGE",
} as const;

export type LogErrorCode = (typeof logErrorCodes)[keyof typeof logErrorCodes];

export class LogError extends Error {
  readonly code: LogErrorCode;
  constructor(code: LogErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LogError";
    this.code = code;
  }
}

export class InvalidRecordError extends LogError {
  constructor(message: string) {
    super(logErrorCodes.invalidRecord, message);
    this.name = "InvalidRecordError";
  }
}

export class RecordTooLargeError extends LogError {
  constructor(message: string) {
    super(logErrorCodes.recordTooLarge, message);
    this.name = "RecordTooLargeError";
  }
}

/** The partition's pending-append queue is full; retry after the next group commit. */
export class LogOverloadedError extends LogError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super(logErrorCodes.overloaded, message);
    this.name = "LogOverloadedError";
    this.retryAfterMs = retryAfterMs;
  }
}

export class LogClosedError extends LogError {
  constructor() {
    super(logErrorCodes.closed, "the partition log is closed");
    this.name = "LogClosedError";
  }
}

export class LogWriteError extends LogError {
  constructor(message: string, cause: unknown) {
    super(logErrorCodes.write, message, { cause });
    this.name = "LogWriteError";
  }
}

export class LogLockedError extends LogError {
  constructor(message: string) {
    super(logErrorCodes.locked, message);
    this.name = "LogLockedError";
  }
}

export class LogConfigError extends LogError {
  constructor(message: string) {
    super(logErrorCodes.config, message);
    this.name = "LogConfigError";
  }
}
