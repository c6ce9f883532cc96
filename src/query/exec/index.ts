// The executor's public surface: the engine the HTTP layer calls, its errors, and the source the
// evaluator and index builders are tested against.
export {
  type InstantQueryParams,
  type LastRecords,
  type LastRecordsParams,
  type ListingParams,
  QueryEngine,
  type QueryEngineOptions,
  type RangeQueryParams,
  type VolumeParams,
} from "./engine.ts";
export {
  ExecutionError,
  type ExecutionErrorCode,
  executionErrorCodes,
  QueryParameterError,
  QueryPoolError,
  type QueryPoolErrorCode,
  QuerySeriesLimitError,
  QueryTimeoutError,
  queryPoolErrorCodes,
} from "./errors.ts";
export type { LastRecordsStats } from "./last-entries.ts";
export {
  type CandidateBlocks,
  LogSource,
  type LogSourceOptions,
  type OffsetRange,
  type ScanStats,
} from "./log-source.ts";
export { QueryPool, type QueryPoolOptions } from "./pool.ts";
export type { IndexStats, VolumeSample } from "./series.ts";
