// Typed failures of running a query (as opposed to parsing one: src/query/errors.ts). The HTTP
// layer maps `code` to a status: a timeout is Loki's 504, a series bound or a bad parameter its 400.

export const executionErrorCodes = {
  /** The query's time budget (executionLimits.queryTimeoutMs) ran out before it answered. */
  timeout: "QUERY_TIMEOUT",
  /** More distinct series than executionLimits.seriesMax / volumeSeriesMax. */
  seriesLimit: "QUERY_SERIES_LIMIT",
  /** A parameter the request cannot run with: a selector with a pipeline where only matchers fit. */
  parameter: "QUERY_PARAMETER",
} as const;

export type ExecutionErrorCode = (typeof executionErrorCodes)[keyof typeof executionErrorCodes];

export class ExecutionError extends Error {
  readonly code: ExecutionErrorCode;
  constructor(code: ExecutionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExecutionError";
    this.code = code;
  }
}

export class QueryTimeoutError extends ExecutionError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number, cause?: unknown) {
    super(executionErrorCodes.timeout, `query timed out after ${timeoutMs} ms`, { cause });
    this.name = "QueryTimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

export class QuerySeriesLimitError extends ExecutionError {
  readonly seriesMax: number;
  constructor(seriesMax: number) {
    super(
      executionErrorCodes.seriesLimit,
      `the query hit the max number of series limit (limit: ${seriesMax} series)`,
    );
    this.name = "QuerySeriesLimitError";
    this.seriesMax = seriesMax;
  }
}

export class QueryParameterError extends ExecutionError {
  constructor(message: string) {
    super(executionErrorCodes.parameter, message);
    this.name = "QueryParameterError";
  }
}

/**
 * Failures of the query pool (pool.ts), apart from the query's own errors, which reach the caller
 * as the main-thread engine would throw them. Not an ExecutionError: those are the query's fault
 * (400 or 504), these are the server's. The HTTP layer maps `full` to 429 (or 503) with
 * Retry-After, the others to 500.
 */
export const queryPoolErrorCodes = {
  /** Every worker is busy and the queue holds queryPoolLimits.queueMax tasks: try again later. */
  full: "QUERY_POOL_FULL",
  /** The worker thread running the task died (crashed, out of memory, stuck past its abort). */
  workerFailed: "QUERY_WORKER_FAILED",
  /** The pool was closed before the task ran or finished. */
  closed: "QUERY_POOL_CLOSED",
} as const;

export type QueryPoolErrorCode = (typeof queryPoolErrorCodes)[keyof typeof queryPoolErrorCodes];

export class QueryPoolError extends Error {
  readonly code: QueryPoolErrorCode;
  constructor(code: QueryPoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "QueryPoolError";
    this.code = code;
  }
}
