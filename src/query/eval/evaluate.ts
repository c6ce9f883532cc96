// The LogQL evaluator's entry points: a parsed Query plus an EntrySource in, Loki's `data` object
// out (query_range: streams or matrix; query: vector or scalar). Pure code: the source is its only
// I/O, so it runs the same over the partition log, over a test's array, or in a worker thread.
//
// Every query runs within a budget: the AbortSignal is the time budget (QUERY_TIMEOUT), and the
// memory budget bounds what it keeps: a log query's kept bytes, a metric query's points (series ×
// steps) and its answer's series (Loki's max_query_series), each failing with QUERY_BUDGET.

import type { Query } from "../ast.ts";
import { QueryExecutionError, queryExecutionErrorCodes } from "../errors.ts";
import { queryEvalLimits } from "../limits.ts";
import type { EntrySource } from "../source.ts";
import { compareLabelSets, EvalContext, type QueryBudget, seriesLimitError } from "./context.ts";
import { formatSampleValue, pointTimeSeconds } from "./format-value.ts";
import { type Direction, evaluateLogQuery, labelsObject } from "./log-query.ts";
import { constantSeries, type Evaluated, evaluateMetric, type StepGrid, type StepSeries } from "./metric.ts";
import { type LokiPoint, type LokiResultData, type LokiSeries, lokiStats } from "./result.ts";

export type { QueryBudget } from "./context.ts";

/** query_range's parameters, decoded by the HTTP layer. */
export interface QueryParams {
  readonly startNs: bigint;
  readonly endNs: bigint;
  /** Log queries: entries answered at most (Loki's default is 100). Ignored by metric queries. */
  readonly limit: number;
  readonly direction: Direction;
  /** Metric queries: the distance between steps, > 0. */
  readonly stepNs: bigint;
  /** Log queries: answer an entry only if it is at least this far past the last one answered. */
  readonly intervalNs?: bigint;
  /** The time budget (and the client going away). */
  readonly signal: AbortSignal;
  readonly budget: QueryBudget;
}

/** /loki/api/v1/query's parameters. */
export interface InstantQueryParams {
  readonly timeNs: bigint;
  readonly limit: number;
  readonly direction: Direction;
  readonly signal: AbortSignal;
  readonly budget: QueryBudget;
}

/** The budget a query gets when the operator configured nothing (src/query/limits.ts). */
export const defaultQueryBudget: QueryBudget = {
  entriesMax: queryEvalLimits.entriesMax,
  seriesMax: queryEvalLimits.seriesMax,
  pointsMax: queryEvalLimits.pointsMax,
  bytesMax: queryEvalLimits.bytesMax,
};

/**
 * The checks Loki's loghttp applies to query_range's start, end and step, with its wording; the
 * HTTP layer may call it while decoding, evaluateRange calls it again. Throws QUERY_PARAMS.
 */
export function checkRangeParams(startNs: bigint, endNs: bigint, stepNs: bigint): void {
  if (endNs < startNs) throw paramsError("end timestamp must not be before or equal to start time");
  if (stepNs <= 0n) {
    throw paramsError(
      "zero or negative query resolution step widths are not accepted. Try a positive integer",
    );
  }
  // Go divides Durations as integers: (end − start) / step truncates, as bigint division does.
  if ((endNs - startNs) / stepNs > BigInt(queryEvalLimits.stepsPerSeriesMax)) {
    throw paramsError(
      "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter",
    );
  }
}

export async function evaluateRange(
  query: Query,
  source: EntrySource,
  params: QueryParams,
): Promise<LokiResultData> {
  const startedMs = performance.now();
  checkRangeParams(params.startNs, params.endNs, params.stepNs);
  const context = new EvalContext(params.signal, params.budget);
  context.checkAborted();
  if (query.kind === "log") {
    checkLimit(params.limit, params.budget);
    const result = await evaluateLogQuery(
      query,
      source,
      {
        startNs: params.startNs,
        endNs: params.endNs,
        limit: params.limit,
        direction: params.direction,
        intervalNs: params.intervalNs ?? 0n,
      },
      context,
    );
    return { resultType: "streams", result, stats: finishStats(context, startedMs) };
  }
  const grid: StepGrid = {
    startNs: params.startNs,
    stepNs: params.stepNs,
    count: Number((params.endNs - params.startNs) / params.stepNs) + 1,
  };
  const evaluated = await evaluateMetric(query, source, grid, context);
  // A scalar over a range is one label-less series with a point at every step (Loki's PopulateMatrixFromScalar).
  const series =
    evaluated.kind === "scalar" ? [constantSeries(evaluated.value, grid, context)] : evaluated.series;
  const result = toMatrix(series, grid, params.budget.seriesMax);
  context.measures.entriesReturned += result.reduce((total, one) => total + one.values.length, 0);
  return { resultType: "matrix", result, stats: finishStats(context, startedMs) };
}

export async function evaluateInstant(
  query: Query,
  source: EntrySource,
  params: InstantQueryParams,
): Promise<LokiResultData> {
  const startedMs = performance.now();
  if (query.kind === "log") {
    // Loki's ErrUnsupportedSyntaxForInstantQuery (querier/http.go), a 400.
    throw paramsError(
      "log queries are not supported as an instant query type, please change your query to a range query type",
    );
  }
  const context = new EvalContext(params.signal, params.budget);
  context.checkAborted();
  const grid: StepGrid = { startNs: params.timeNs, stepNs: 1n, count: 1 };
  const evaluated: Evaluated = await evaluateMetric(query, source, grid, context);
  const timeSeconds = pointTimeSeconds(params.timeNs);
  if (evaluated.kind === "scalar") {
    const result: LokiPoint = [timeSeconds, formatSampleValue(evaluated.value)];
    return { resultType: "scalar", result, stats: finishStats(context, startedMs) };
  }
  const samples = evaluated.series.filter((series) => series.present[0] === 1);
  if (samples.length > params.budget.seriesMax) throw seriesLimitError(params.budget.seriesMax);
  // Loki sorts an instant vector by labels (labels.Compare) unless the query sorts by value.
  samples.sort((a, b) => compareLabelSets(a.labels, b.labels));
  const result = samples.map((series) => ({
    metric: labelsObject(series.labels),
    value: [timeSeconds, formatSampleValue(series.values[0] as number)] as LokiPoint,
  }));
  context.measures.entriesReturned += result.length;
  return { resultType: "vector", result, stats: finishStats(context, startedMs) };
}

/** Series with at least one point, sorted as Prometheus sorts a Matrix (labels.Compare). */
function toMatrix(series: readonly StepSeries[], grid: StepGrid, seriesMax: number): LokiSeries[] {
  const answered = series.filter((one) => one.present.includes(1));
  if (answered.length > seriesMax) throw seriesLimitError(seriesMax);
  answered.sort((a, b) => compareLabelSets(a.labels, b.labels));
  const timesSeconds: number[] = [];
  for (let index = 0; index < grid.count; index++) {
    timesSeconds.push(pointTimeSeconds(grid.startNs + BigInt(index) * grid.stepNs));
  }
  return answered.map((one) => {
    const values: LokiPoint[] = [];
    for (let index = 0; index < grid.count; index++) {
      if (one.present[index] === 1) {
        values.push([timesSeconds[index] as number, formatSampleValue(one.values[index] as number)]);
      }
    }
    return { metric: labelsObject(one.labels), values };
  });
}

function checkLimit(limit: number, budget: QueryBudget): void {
  if (!(Number.isInteger(limit) && limit >= 0))
    throw paramsError(`limit must be a non-negative integer, got ${limit}`);
  if (budget.entriesMax !== undefined && limit > budget.entriesMax) {
    // Loki's util/validation ErrMaxEntriesLimit wording.
    throw new QueryExecutionError(
      queryExecutionErrorCodes.budget,
      `max entries limit per query exceeded, limit > max_entries_limit_per_query (${limit} > ${budget.entriesMax})`,
    );
  }
}

function finishStats(context: EvalContext, startedMs: number) {
  context.measures.execTimeSeconds = (performance.now() - startedMs) / 1000;
  return lokiStats(context.measures);
}

function paramsError(message: string): QueryExecutionError {
  return new QueryExecutionError(queryExecutionErrorCodes.params, message);
}
