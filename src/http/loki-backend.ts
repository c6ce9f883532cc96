// The Loki query routes' backend (loki-query.ts's seam) over Sluice's QueryEngine: passes each
// request on with its parsed parameters and turns the engine's typed failures into the statuses and
// words Loki answers with — budgets and parameters 400, a spent time budget 504 — so the routes
// stay free of query-engine types.

import {
  ExecutionError,
  executionErrorCodes,
  PipelineError,
  type QueryEngine,
  QueryExecutionError,
  QueryPoolError,
  queryExecutionErrorCodes,
  queryPoolErrorCodes,
  RegexSyntaxError,
} from "../query/index.ts";
import type { LokiData, LokiQueryBackend } from "./loki-query.ts";
import { LokiRequestError } from "./loki-query.ts";

const statusGatewayTimeout = 504;

/** `engineOf` is asked at each request: the engine exists once recovery opened the log. */
export function engineBackend(engineOf: () => QueryEngine): LokiQueryBackend {
  return {
    query: (tenant, request, signal) =>
      answer(() =>
        request.kind === "range"
          ? engineOf().query(tenant, request.queryText, {
              startNs: request.startNs,
              endNs: request.endNs,
              limit: request.limit,
              direction: request.direction,
              stepNs: request.stepNs,
              ...(request.intervalNs > 0n ? { intervalNs: request.intervalNs } : {}),
              signal,
            })
          : engineOf().instantQuery(tenant, request.queryText, {
              timeNs: request.timeNs,
              limit: request.limit,
              direction: request.direction,
              signal,
            }),
      ) as Promise<LokiData>,
    labelNames: (tenant, request, signal) =>
      answer(() => engineOf().labelNames(tenant, request.query, { ...request, signal })),
    labelValues: (tenant, name, request, signal) =>
      answer(() => engineOf().labelValues(tenant, name, request.query, { ...request, signal })),
    series: (tenant, request, signal) =>
      answer(async () => {
        const streams = await engineOf().series(tenant, request.matchers, { ...request, signal });
        return streams.map((labels) => Object.fromEntries(labels));
      }),
    indexStats: (tenant, request, signal) =>
      answer(() => engineOf().indexStats(tenant, request.query, { ...request, signal })),
    volume: (tenant, request, signal) =>
      answer(async () => {
        const params = {
          startNs: request.startNs,
          endNs: request.endNs,
          limit: request.limit,
          targetLabels: request.targetLabels,
          aggregateBy: request.aggregateBy,
          signal,
        };
        if (request.stepNs === null) {
          const result = await engineOf().volume(tenant, request.query, params);
          return { resultType: "vector", result, stats: {} } satisfies LokiData;
        }
        const result = await engineOf().volumeRange(tenant, request.query, {
          ...params,
          stepNs: request.stepNs,
        });
        return { resultType: "matrix", result, stats: {} } satisfies LokiData;
      }),
  };
}

/** Runs one engine call, answering its typed failures the way Loki does. */
async function answer<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ExecutionError)
      throw new LokiRequestError(
        error.code === executionErrorCodes.timeout ? statusGatewayTimeout : 400,
        error.message,
      );
    if (error instanceof QueryExecutionError)
      throw new LokiRequestError(
        error.code === queryExecutionErrorCodes.timeout ? statusGatewayTimeout : 400,
        error.message,
      );
    // Every query thread busy and the queue full: the client should come back (Loki's 429 for
    // limits); a pool closing or a failed thread is the server's problem (500, logged).
    if (error instanceof QueryPoolError && error.code === queryPoolErrorCodes.full)
      throw new LokiRequestError(429, error.message);
    // Compiled again at execution (a pipeline's regexes): a refusal there is the query's fault too.
    if (error instanceof PipelineError || error instanceof RegexSyntaxError)
      throw new LokiRequestError(400, error.message);
    throw error;
  }
}
