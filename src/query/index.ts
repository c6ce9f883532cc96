// The query stage's public surface. The HTTP layer needs parseQuery and the errors (to map `code` to
// a status; Loki answers 400 for every parse error), evaluateRange / evaluateInstant with their
// parameters and Loki-shaped results, and checkRangeParams to validate query_range while decoding;
// the planner and executor need the AST types, formatQuery (logs, cache keys) and the RE2-semantics
// regex wrapper; the evaluator and the entry sources need the compiled pipeline, selector matchers
// and line filters. Nothing else is exported.

export type {
  BinaryExpr,
  BinaryOp,
  CompareOp,
  DropKeepStage,
  Extraction,
  Grouping,
  LabelFilter,
  LabelFilterStage,
  LabelMatcher,
  LabelSelection,
  LineFilterOp,
  LineFilterStage,
  LineFormatStage,
  LogQuery,
  MatchOp,
  MetricExpr,
  NumberLiteral,
  ParserFlag,
  ParserStage,
  PipelineStage,
  Query,
  RangeAggregation,
  RangeOp,
  VectorAggregation,
  VectorLiteral,
  VectorOp,
} from "./ast.ts";
export { isLogQuery } from "./ast.ts";
export type { QueryErrorCode, QueryExecutionErrorCode, QueryPosition } from "./errors.ts";
export {
  QueryError,
  QueryExecutionError,
  QueryInvalidError,
  QueryLimitError,
  QueryRegexError,
  QuerySyntaxError,
  QueryUnsupportedError,
  queryErrorCodes,
  queryExecutionErrorCodes,
} from "./errors.ts";
export type { InstantQueryParams, QueryBudget, QueryParams } from "./eval/evaluate.ts";
export { checkRangeParams, defaultQueryBudget, evaluateInstant, evaluateRange } from "./eval/evaluate.ts";
export type { CompiledMatchers, CompiledPipeline, ProcessedEntry } from "./eval/pipeline.ts";
export {
  compileLineFilters,
  compileMatchers,
  compilePipeline,
  PipelineError,
  pipelineErrorLabels,
} from "./eval/pipeline.ts";
export type {
  LokiLabels,
  LokiPoint,
  LokiResultData,
  LokiSample,
  LokiSeries,
  LokiStats,
  LokiStream,
} from "./eval/result.ts";
export { QueryEngine, type QueryEngineOptions } from "./exec/engine.ts";
export { ExecutionError, executionErrorCodes, QueryPoolError, queryPoolErrorCodes } from "./exec/errors.ts";
export type { CandidateBlocks, OffsetRange } from "./exec/log-source.ts";
export { LogSource } from "./exec/log-source.ts";
export { QueryPool } from "./exec/pool.ts";
export { formatQuery } from "./format.ts";
export { executionLimits, queryEvalLimits, queryLimits } from "./limits.ts";
export { parseQuery } from "./parse.ts";
export type { CompiledRegex, RegexAnchoring } from "./regex.ts";
export { compileRegex, RegexSyntaxError, regexAnchorings } from "./regex.ts";
export type { EntrySelection, EntrySource } from "./source.ts";
