// Typed errors of the query front end. Every failure to turn LogQL text into a Query is one of these;
// the HTTP layer maps `code` to its status (Loki answers 400 for all of them) and shows `message`,
// which is worded like Loki's (`parse error at line 1, col 13: syntax error: unexpected STRING`) so
// Grafana shows its users something familiar. Callers never match on message text, only on `code`.

export const queryErrorCodes = {
  /** The text is not LogQL: the grammar rejects it. */
  syntax: "QUERY_SYNTAX",
  /** Valid grammar that Loki rejects at parse time (empty-compatible selector, topk(1.5, …), …). */
  invalid: "QUERY_INVALID",
  /** An invalid RE2 pattern in a matcher or line filter. */
  regex: "QUERY_REGEX",
  /** Valid LogQL that Sluice does not evaluate yet: the message names the construct. */
  unsupported: "QUERY_UNSUPPORTED",
  /** The query exceeds a bound of queryLimits (length, depth, matchers, stages). */
  limit: "QUERY_LIMIT",
} as const;

export type QueryErrorCode = (typeof queryErrorCodes)[keyof typeof queryErrorCodes];

/** Where in the query text an error is: 1-based line and column (in characters, as Loki counts). */
export interface QueryPosition {
  /** UTF-16 index into the query string. */
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

export class QueryError extends Error {
  readonly code: QueryErrorCode;
  readonly position: QueryPosition;
  /** The message without Loki's `parse error at line L, col C: ` prefix. */
  readonly detail: string;
  constructor(code: QueryErrorCode, detail: string, position: QueryPosition, options?: { cause?: unknown }) {
    super(`parse error at line ${position.line}, col ${position.column}: ${detail}`, options);
    this.name = "QueryError";
    this.code = code;
    this.position = position;
    this.detail = detail;
  }
}

export class QuerySyntaxError extends QueryError {
  constructor(detail: string, position: QueryPosition) {
    super(queryErrorCodes.syntax, detail, position);
    this.name = "QuerySyntaxError";
  }
}

export class QueryInvalidError extends QueryError {
  constructor(detail: string, position: QueryPosition) {
    super(queryErrorCodes.invalid, detail, position);
    this.name = "QueryInvalidError";
  }
}

export class QueryRegexError extends QueryError {
  constructor(detail: string, position: QueryPosition, cause?: unknown) {
    super(queryErrorCodes.regex, detail, position, { cause });
    this.name = "QueryRegexError";
  }
}

export class QueryUnsupportedError extends QueryError {
  /** The construct, e.g. `pattern parser`, `quantile_over_time`, `on() vector matching`. */
  readonly construct: string;
  constructor(construct: string, position: QueryPosition) {
    super(queryErrorCodes.unsupported, `${construct} is not supported by Sluice yet`, position);
    this.name = "QueryUnsupportedError";
    this.construct = construct;
  }
}

export class QueryLimitError extends QueryError {
  constructor(detail: string, position: QueryPosition) {
    super(queryErrorCodes.limit, detail, position);
    this.name = "QueryLimitError";
  }
}

/** Line and column of a UTF-16 offset, counting characters (code points) as Go's text/scanner does. */
export function positionAt(text: string, offset: number): QueryPosition {
  let line = 1;
  let column = 1;
  for (let index = 0; index < offset && index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x0a) {
      line++;
      column = 1;
    } else if (code < 0xdc00 || code > 0xdfff) {
      column++; // a low surrogate continues the character its high surrogate began
    }
  }
  return { offset, line, column };
}

// ---- evaluation ---------------------------------------------------------------------------------
// Failures while a parsed query runs. They carry no position (the text parsed); Loki answers 400 for
// budget, pipeline and parameter errors (logqlmodel.ErrLimit, ErrPipeline, loghttp's validation) and
// 504 when the time budget runs out (its context deadline), which is how the HTTP layer maps `code`.

export const queryExecutionErrorCodes = {
  /** A memory budget ran out: series, points, kept bytes, or `limit` above the entries maximum. */
  budget: "QUERY_BUDGET",
  /** The time budget ran out or the client went away: the query's AbortSignal fired. */
  timeout: "QUERY_TIMEOUT",
  /** A metric sample still carries `__error__` (Loki's PipelineError): the user must filter it. */
  pipeline: "QUERY_PIPELINE",
  /** Parameters Loki rejects: step ≤ 0, too many steps, end before start, a log query as instant. */
  params: "QUERY_PARAMS",
} as const;

export type QueryExecutionErrorCode =
  (typeof queryExecutionErrorCodes)[keyof typeof queryExecutionErrorCodes];

export class QueryExecutionError extends Error {
  readonly code: QueryExecutionErrorCode;
  constructor(code: QueryExecutionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "QueryExecutionError";
    this.code = code;
  }
}
