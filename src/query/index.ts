// The query stage's public surface. The HTTP layer needs parseQuery and the errors (to map `code` to
// a status; Loki answers 400 for every one of them); the planner and executor need the AST types,
// formatQuery (logs, cache keys) and the RE2-semantics regex wrapper; the evaluator and the entry
// sources need the compiled pipeline, selector matchers and line filters. Nothing else is exported.

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
export type { QueryErrorCode, QueryPosition } from "./errors.ts";
export {
  QueryError,
  QueryInvalidError,
  QueryLimitError,
  QueryRegexError,
  QuerySyntaxError,
  QueryUnsupportedError,
  queryErrorCodes,
} from "./errors.ts";
export type { CompiledMatchers, CompiledPipeline, ProcessedEntry } from "./eval/pipeline.ts";
export {
  compileLineFilters,
  compileMatchers,
  compilePipeline,
  PipelineError,
  pipelineErrorLabels,
} from "./eval/pipeline.ts";
export { formatQuery } from "./format.ts";
export { queryLimits } from "./limits.ts";
export { parseQuery } from "./parse.ts";
export type { CompiledRegex, RegexAnchoring } from "./regex.ts";
export { compileRegex, RegexSyntaxError, regexAnchorings } from "./regex.ts";
