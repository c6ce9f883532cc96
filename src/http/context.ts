// What every route needs, built once by the server and passed to each route module.

import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { ServeConfig } from "../config/index.ts";
import {
  type Admission,
  type IdempotencyTable,
  type IngestPipeline,
  logAppender,
  type TenantLimiter,
} from "../ingest/index.ts";
import type { PartitionLog, RecordSet } from "../log/index.ts";
import type { Metrics } from "../metrics/index.ts";
import type { QueryEngine } from "../query/index.ts";

export interface ServerContext {
  config: ServeConfig;
  nodeId: string;
  serviceLog: PartitionLog;
  accessLog: PartitionLog;
  admission: Admission;
  tenantLimiter: TenantLimiter;
  /** The ingest pipeline over serviceLog (validation, limits, admission, append). */
  pipeline: IngestPipeline;
  idempotency: IdempotencyTable;
  /** Queries over serviceLog (the Loki API, the tail); assigned by recovery with the log. */
  queryEngine: QueryEngine;
  metrics: Metrics;
  logger: Logger;
  /** /ready answers 200 only when ready; other routes answer 503 while recovering or stopping. */
  state: { phase: ServerPhase };
}

/** recovering: listening, the logs and derived state not yet open; ready: serving; stopping: shutting down. */
export const serverPhases = { recovering: "recovering", ready: "ready", stopping: "stopping" } as const;
export type ServerPhase = (typeof serverPhases)[keyof typeof serverPhases];

export { topics } from "../config/index.ts";

/** A request's media type: its Content-Type without parameters, lowercased ("" when none is sent). */
export function mediaTypeOf(request: FastifyRequest): string {
  return String(request.headers["content-type"] ?? "")
    .split(";")[0]!
    .trim()
    .toLowerCase();
}

/** A request's Content-Encoding, trimmed and lowercased ("" when none is sent). */
export function contentEncodingOf(request: FastifyRequest): string {
  return String(request.headers["content-encoding"] ?? "")
    .trim()
    .toLowerCase();
}

/**
 * Admits a request into the bounded ingest queue before its body is read, reserving its declared
 * length (or the route's body limit when the length is unknown). The reservation is released when
 * the response closes, whether it finished or the client went away.
 */
export function admit(
  context: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  bodyBytesMax: number,
): boolean {
  const declared = Number(request.headers["content-length"]);
  const bytes =
    Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, bodyBytesMax) : bodyBytesMax;
  const ticket = context.pipeline.tryAdmit(bytes);
  if (ticket === null) return false;
  reply.raw.once("close", () => ticket.release());
  return true;
}

/** Appends records grouped by partition to `log`; resolves when all are durable (logAppender). */
export function appendRouted(
  context: ServerContext,
  topic: string,
  log: PartitionLog,
  routed: Map<number, RecordSet>,
): Promise<void> {
  return logAppender(log, (seconds) => context.metrics.appendLatency.observe({ topic }, seconds)).append(
    routed,
  );
}

/** Host part of the peer address; IPv4-mapped IPv6 shown as plain IPv4, as Go's RemoteAddr does. */
export function clientIp(request: FastifyRequest): string {
  const address = request.socket.remoteAddress;
  if (!address) return "unknown";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
