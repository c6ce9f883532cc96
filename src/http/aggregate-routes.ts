// GET /v1/aggregates: the per-window access-log aggregates of one customer (x-customer-id), in the
// reference's document shape, with POST /logs's error model. GET /v1/aggregates/status: the
// analytics consumer's position and lag per partition.

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  type AggregateDocument,
  type AggregateStore,
  type AnalyticsConsumer,
  analyticsLimits,
  formatWindowStart,
  isWindowSize,
  otherKey,
  type WindowSize,
  windowSizes,
} from "../analytics/index.ts";
import { parseRfc3339 } from "../ingest/index.ts";
import { assignRequestId, customerIdProblem, firstValue, header } from "./access-routes.ts";
import { accessErrors, sendAccessError } from "./replies.ts";

export interface AnalyticsParts {
  store: AggregateStore;
  consumer: AnalyticsConsumer;
}

interface AggregateQuery {
  customerId: string;
  size: WindowSize;
  fromMs: number;
  toMs: number;
  limit: number;
  topN: number | null;
}

// Unbounded ends of the range: receivedAt is RFC 3339 (years 0000–9999), well inside these.
const earliestMs = -(2 ** 50);
const latestMs = 2 ** 50;

export function registerAggregateRoutes(app: FastifyInstance, analytics: AnalyticsParts): void {
  app.get("/v1/aggregates", async (request, reply) => {
    const requestId = assignRequestId(request, reply);
    const parsed = parseQuery(request);
    if (typeof parsed === "string")
      return sendAccessError(reply, requestId, accessErrors.invalidArgument, parsed);
    const { documents, nextStartMs } = analytics.store.query(
      parsed.customerId,
      parsed.size,
      parsed.fromMs,
      parsed.toMs,
      parsed.limit,
    );
    if (nextStartMs !== null) reply.header("x-next-window-start", formatWindowStart(nextStartMs));
    const body = parsed.topN === null ? documents : documents.map((document) => topN(document, parsed.topN!));
    return reply.header("content-type", "application/json").send(JSON.stringify(body));
  });

  app.get("/v1/aggregates/status", async (request, reply: FastifyReply) => {
    assignRequestId(request, reply);
    const partitions = analytics.consumer.status(Date.now());
    const sum = (pick: (status: (typeof partitions)[number]) => number) =>
      partitions.reduce((total, status) => total + pick(status), 0);
    return reply.header("content-type", "application/json").send(
      JSON.stringify({
        lagRecords: sum((status) => status.lagRecords),
        lagSeconds: Math.max(0, ...partitions.map((status) => status.lagSeconds)),
        entriesCounted: sum((status) => status.entriesCounted),
        pathsFolded: sum((status) => status.pathsFolded),
        userAgentsFolded: sum((status) => status.agentsFolded),
        windowKeysMax: analytics.store.windowKeysMax,
        partitions,
      }),
    );
  });
}

function parseQuery(request: FastifyRequest): AggregateQuery | string {
  const problem = customerIdProblem(request);
  if (problem !== null) return problem;
  const query = request.query as Record<string, string | string[] | undefined>;
  const single = (name: string): string | undefined => firstValue(query[name]);
  const sizeText = single("windowSize") ?? windowSizes.minute;
  if (!isWindowSize(sizeText)) return "invalid windowSize: must be one of minute, hour, day";
  const time = (name: string, fallback: number): number | string => {
    const text = single(name);
    if (text === undefined || text === "") return fallback;
    return parseRfc3339(text.trim()) ?? `invalid ${name}: must be RFC 3339, e.g. 2025-12-28T18:03:00Z`;
  };
  const fromMs = time("from", earliestMs);
  if (typeof fromMs === "string") return fromMs;
  const toMs = time("to", latestMs);
  if (typeof toMs === "string") return toMs;
  if (fromMs >= toMs) return "invalid range: from must be before to";
  const count = (name: string, fallback: number | null, max: number): number | null | string => {
    const text = single(name);
    if (text === undefined || text === "") return fallback;
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < 1 || value > max)
      return `invalid ${name}: must be an integer between 1 and ${max}`;
    return value;
  };
  const limit = count("limit", analyticsLimits.queryWindowsDefault, analyticsLimits.queryWindowsMax);
  if (typeof limit === "string") return limit;
  const top = count("topN", null, analyticsLimits.windowKeysMax * 1000);
  if (typeof top === "string") return top;
  return {
    customerId: header(request, "x-customer-id")!.trim(),
    size: sizeText,
    fromMs,
    toMs,
    limit: limit!,
    topN: top,
  };
}

/** The N largest keys of each map (ties by name), the rest summed into `other`. */
function topN(document: AggregateDocument, keep: number): AggregateDocument {
  const fold = (counts: Record<string, number>): Record<string, number> => {
    const entries = Object.entries(counts).filter(([key]) => key !== otherKey);
    if (entries.length <= keep) return counts;
    entries.sort(([keyA, countA], [keyB, countB]) => countB - countA || (keyA < keyB ? -1 : 1));
    const result: Record<string, number> = Object.fromEntries(entries.slice(0, keep));
    let other = counts[otherKey] ?? 0;
    for (const [, count] of entries.slice(keep)) other += count;
    result[otherKey] = other;
    return result;
  };
  return {
    ...document,
    requestsByPath: fold(document.requestsByPath),
    requestsByUserAgent: fold(document.requestsByUserAgent),
  };
}
