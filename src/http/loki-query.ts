// The HTTP layer of Loki's query API, so Grafana's Loki data source and logcli work against Sluice
// unchanged. Thin, as every transport here: parse the request (loki-params.ts), parse the LogQL text
// (to answer syntax errors and log-vs-metric checks before any work), ask the backend, and wrap the
// answer in Loki's envelope, or map the failure to Loki's status and plain-text body
// (pkg/util/server/error.go): 400 for bad requests and query errors, 499 when the client went away,
// 504 when the query's time budget ran out, 500 otherwise (through the app's error handler).
// The backend is the seam to the evaluator and the storage-side query engine.

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { IngestError } from "../ingest/index.ts";
import { isLogQuery, parseQuery, type Query, QueryError } from "../query/index.ts";
import { httpStatusOf } from "./ingest-status.ts";
import {
  checkEntriesLimit,
  type Direction,
  type LokiParams,
  LokiRequestError,
  lokiParams,
  parseInstantQuery,
  parseLabelQuery,
  parseRangeQuery,
  parseSeriesQuery,
  parseVolumeInstantQuery,
  parseVolumeRangeQuery,
  type VolumeAggregateBy,
} from "./loki-params.ts";
import { sendPlainError } from "./replies.ts";

/** Backends throw it for a refusal worded like Loki's (a budget error, say): answered as is. */
export { LokiRequestError } from "./loki-params.ts";

// ---- what the backend answers ------------------------------------------------------------------

/** Labels as Loki prints them in results: a JSON object. */
export type LokiLabels = Record<string, string>;

/** One stream of a log query: values are [ns as a decimal string, line], in the query's direction. */
export interface LokiStream {
  stream: LokiLabels;
  values: [string, string][];
}
/** One series of a range metric query: [seconds since the epoch (may be fractional), value text]. */
export interface LokiMatrixSeries {
  metric: LokiLabels;
  values: [number, string][];
}
/** One sample of an instant metric query. */
export interface LokiVectorSample {
  metric: LokiLabels;
  value: [number, string];
}

/** Loki's `data` object of query and query_range (and of the volume endpoints, without stats). */
export type LokiData =
  | { resultType: "streams"; result: LokiStream[]; stats: object }
  | { resultType: "matrix"; result: LokiMatrixSeries[]; stats: object }
  | { resultType: "vector"; result: LokiVectorSample[]; stats: object }
  | { resultType: "scalar"; result: [number, string]; stats: object };

export interface LokiRangeRequest {
  readonly kind: "range";
  /** The LogQL text as sent, and as parsed here (parse errors never reach the backend). */
  readonly queryText: string;
  readonly query: Query;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly stepNs: bigint;
  readonly intervalNs: bigint;
  readonly limit: number;
  readonly direction: Direction;
}

export interface LokiInstantRequest {
  readonly kind: "instant";
  readonly queryText: string;
  /** Always a metric query: Loki refuses log queries at the instant endpoint. */
  readonly query: Query;
  readonly timeNs: bigint;
  readonly limit: number;
  readonly direction: Direction;
}

export interface LokiBoundsRequest {
  readonly startNs: bigint;
  readonly endNs: bigint;
}

export interface LokiIndexStats {
  streams: number;
  chunks: number;
  entries: number;
  bytes: number;
}

/**
 * What the routes need from the query engine. Every call gets the tenant (already validated) and a
 * signal aborted when the client disconnects or the time budget runs out; the backend stops then.
 * Selector texts (`query` of labels/stats/volume, series matchers) are the backend's to parse: a
 * QueryError it throws becomes a 400 with its message. A LokiRequestError it throws is answered
 * with its status and message as they are (the place for budget errors worded like Loki's, e.g.
 * 400 `maximum of series (500) reached for a single query`). Anything else is a 500.
 */
export interface LokiQueryBackend {
  query(
    tenant: string,
    request: LokiRangeRequest | LokiInstantRequest,
    signal: AbortSignal,
  ): Promise<LokiData>;
  labelNames(
    tenant: string,
    request: LokiBoundsRequest & { query: string | null },
    signal: AbortSignal,
  ): Promise<string[]>;
  labelValues(
    tenant: string,
    name: string,
    request: LokiBoundsRequest & { query: string | null },
    signal: AbortSignal,
  ): Promise<string[]>;
  /** `matchers` empty: every stream of the tenant. */
  series(
    tenant: string,
    request: LokiBoundsRequest & { matchers: string[] },
    signal: AbortSignal,
  ): Promise<LokiLabels[]>;
  indexStats(
    tenant: string,
    request: LokiBoundsRequest & { query: string },
    signal: AbortSignal,
  ): Promise<LokiIndexStats>;
  /** `stepNs` null: one sample per series (vector); else a matrix over the steps. */
  volume(
    tenant: string,
    request: LokiBoundsRequest & {
      query: string;
      limit: number;
      targetLabels: string[];
      aggregateBy: VolumeAggregateBy;
      stepNs: bigint | null;
    },
    signal: AbortSignal,
  ): Promise<LokiData>;
}

export interface LokiQueryLimits {
  /** Loki's max_entries_limit_per_query: a log query's `limit` above it is a 400 (0: no maximum). */
  entriesLimitMax: number;
  /** Each request's time budget; past it the backend's signal aborts and the answer is a 504. */
  queryTimeoutMs: number;
}

/** Loki's /status/buildinfo (Prometheus's version info); Grafana reads `version`. */
export interface LokiBuildInfo {
  version: string;
  revision: string;
  branch: string;
  buildUser: string;
  buildDate: string;
  goVersion: string;
}

export interface LokiQueryDeps {
  backend: LokiQueryBackend;
  /** The tenant of a request; throws IngestError (400) for an invalid X-Scope-OrgID. */
  tenantOf(request: FastifyRequest): string;
  limits: LokiQueryLimits;
  buildInfo: LokiBuildInfo;
  /** Now in nanoseconds (the default end and time); injectable for tests. */
  nowNs?: () => bigint;
}

// ---- Loki's error texts for failures that are not the request's fault --------------------------

export const lokiFailureMessages = {
  /** pkg/util/server/error.go ErrClientCanceled, with status 499. */
  canceled: "the request was cancelled by the client",
  /** pkg/util/server/error.go ErrDeadlineExceeded, with status 504. */
  deadline:
    "request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed",
  /** logqlmodel.ErrUnsupportedSyntaxForInstantQuery, with status 400. */
  instantLogQuery:
    "log queries are not supported as an instant query type, please change your query to a range query type",
} as const;

const statusClientClosedRequest = 499;
const otherMethods = ["PUT", "DELETE", "PATCH"] as const;
const statusGatewayTimeout = 504;

// ---- routes ------------------------------------------------------------------------------------

type Handler = (context: {
  params: LokiParams;
  tenant: string;
  signal: AbortSignal;
  nowNs: bigint;
  request: FastifyRequest;
}) => Promise<string>;

export function registerLokiQueryRoutes(app: FastifyInstance, deps: LokiQueryDeps): void {
  const nowNs = deps.nowNs ?? (() => BigInt(Date.now()) * 1_000_000n);
  const { backend, limits } = deps;
  const route = (url: string, handler: Handler) => {
    app.route({
      method: ["GET", "POST"],
      url,
      handler: (request, reply) => serve(request, reply, deps, nowNs(), handler),
    });
    // Loki's router (gorilla/mux) answers a known path with another method 405 and no body.
    app.route({ method: [...otherMethods], url, handler: async (_request, reply) => reply.code(405).send() });
  };

  route("/loki/api/v1/query_range", async ({ params, tenant, signal, nowNs }) => {
    const range = parseRangeQuery(params, nowNs);
    const query = parseQuery(range.query);
    if (isLogQuery(query)) checkEntriesLimit(range.limit, limits.entriesLimitMax);
    const { query: queryText, ...rest } = range;
    const data = await backend.query(tenant, { kind: "range", queryText, query, ...rest }, signal);
    return successBody(data);
  });

  route("/loki/api/v1/query", async ({ params, tenant, signal, nowNs }) => {
    const instant = parseInstantQuery(params, nowNs);
    const query = parseQuery(instant.query);
    if (isLogQuery(query)) throw new LokiRequestError(400, lokiFailureMessages.instantLogQuery);
    const { query: queryText, ...rest } = instant;
    const data = await backend.query(tenant, { kind: "instant", queryText, query, ...rest }, signal);
    return successBody(data);
  });

  route("/loki/api/v1/labels", async ({ params, tenant, signal, nowNs }) => {
    const names = await backend.labelNames(tenant, parseLabelQuery(params, nowNs), signal);
    return successBody(names);
  });

  route("/loki/api/v1/label/:name/values", async ({ params, tenant, signal, nowNs, request }) => {
    const { name } = request.params as { name: string };
    const values = await backend.labelValues(tenant, name, parseLabelQuery(params, nowNs), signal);
    return successBody(values);
  });

  route("/loki/api/v1/series", async ({ params, tenant, signal, nowNs }) => {
    const series = await backend.series(tenant, parseSeriesQuery(params, nowNs), signal);
    return successBody(series);
  });

  route("/loki/api/v1/index/stats", async ({ params, tenant, signal, nowNs }) => {
    const { query, startNs, endNs } = parseRangeQuery(params, nowNs); // Loki parses stats as a range query
    const stats = await backend.indexStats(tenant, { query, startNs, endNs }, signal);
    const { streams, chunks, bytes, entries } = stats; // Loki's field order (IndexStatsResponse)
    return `${JSON.stringify({ streams, chunks, bytes, entries })}\n`;
  });

  route("/loki/api/v1/index/volume", async ({ params, tenant, signal, nowNs }) => {
    const data = await backend.volume(tenant, parseVolumeInstantQuery(params, nowNs), signal);
    return successBody(volumeData(data));
  });

  route("/loki/api/v1/index/volume_range", async ({ params, tenant, signal, nowNs }) => {
    const data = await backend.volume(tenant, parseVolumeRangeQuery(params, nowNs), signal);
    return successBody(volumeData(data));
  });

  app.get("/loki/api/v1/status/buildinfo", async (_request, reply) => {
    const { version, revision, branch, buildUser, buildDate, goVersion } = deps.buildInfo;
    return sendJson(
      reply,
      `${JSON.stringify({ version, revision, branch, buildUser, buildDate, goVersion })}\n`,
    );
  });
}

/** The volume endpoints answer Prometheus's data object: resultType and result, no stats. */
function volumeData(data: LokiData): { resultType: string; result: unknown } {
  return { resultType: data.resultType, result: data.result };
}

function successBody(data: unknown): string {
  return `${JSON.stringify({ status: "success", data })}\n`;
}

function sendJson(reply: FastifyReply, body: string): FastifyReply {
  return reply.code(200).header("content-type", "application/json; charset=utf-8").send(body);
}

async function serve(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: LokiQueryDeps,
  nowNs: bigint,
  handler: Handler,
): Promise<FastifyReply> {
  const clientGone = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) clientGone.abort();
  };
  reply.raw.once("close", onClose);
  const timeout = AbortSignal.timeout(deps.limits.queryTimeoutMs);
  const signal = AbortSignal.any([clientGone.signal, timeout]);
  try {
    const tenant = deps.tenantOf(request);
    const rawQuery = request.url.includes("?") ? request.url.slice(request.url.indexOf("?") + 1) : "";
    const body = request.body instanceof Uint8Array ? request.body : undefined;
    const params = lokiParams(rawQuery, body, request.headers["content-type"]);
    const answer = await handler({ params, tenant, signal, nowNs, request });
    return sendJson(reply, answer);
  } catch (error) {
    const failure = lokiFailure(error, clientGone.signal.aborted, timeout.aborted);
    if (failure === null) throw error; // a bug or an I/O failure: the app's error handler logs it, 500
    return sendPlainError(reply, failure.status, failure.message);
  } finally {
    reply.raw.off("close", onClose);
  }
}

/**
 * Loki's status for a failure (pkg/util/server/error.go), or null for one that is a 500. Client
 * cancellation wins over everything (the backend's error is then a consequence of the abort).
 */
export function lokiFailure(
  error: unknown,
  clientGone: boolean,
  timedOut: boolean,
): { status: number; message: string } | null {
  if (clientGone) return { status: statusClientClosedRequest, message: lokiFailureMessages.canceled };
  if (timedOut) return { status: statusGatewayTimeout, message: lokiFailureMessages.deadline };
  if (error instanceof LokiRequestError) return { status: error.status, message: error.message };
  if (error instanceof QueryError) return { status: 400, message: error.message };
  if (error instanceof IngestError) return { status: httpStatusOf(error), message: error.message };
  return null;
}
