// What every route needs, built once by the server and passed to each route module.

import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { ServeConfig } from "../config/index.ts";
import {
  type Admission,
  type IdempotencyTable,
  IngestError,
  rejectReasons,
  type TenantLimiter,
} from "../ingest/index.ts";
import {
  InvalidRecordError,
  LogOverloadedError,
  type PartitionLog,
  type RecordSet,
  RecordTooLargeError,
} from "../log/index.ts";
import type { Metrics } from "../metrics/index.ts";
import type { QueryEngine } from "../query/index.ts";

export interface ServerContext {
  config: ServeConfig;
  nodeId: string;
  serviceLog: PartitionLog;
  accessLog: PartitionLog;
  admission: Admission;
  tenantLimiter: TenantLimiter;
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
  if (!context.admission.tryAdmit(bytes)) return false;
  let released = false;
  reply.raw.once("close", () => {
    if (released) return;
    released = true;
    context.admission.release(bytes);
  });
  return true;
}

/**
 * Appends records grouped by partition; resolves when all are durable. Not itself async: a
 * suspended async frame would keep `routed` (and every record buffer in it) alive until the fsync.
 */
export function appendRouted(
  context: ServerContext,
  topic: string,
  log: PartitionLog,
  routed: Map<number, RecordSet>,
): Promise<void> {
  const startedMs = performance.now();
  const appends = Array.from(routed, ([partition, records]) => log.append(partition, records));
  return settleAppends(context, topic, startedMs, Promise.all(appends));
}

async function settleAppends(
  context: ServerContext,
  topic: string,
  startedMs: number,
  appends: Promise<unknown>,
): Promise<void> {
  try {
    await appends;
  } catch (error) {
    // The routes validate first, so these mean a limit of the log below a limit of the route.
    if (error instanceof RecordTooLargeError)
      throw new IngestError(413, rejectReasons.bodyTooLarge, error.message);
    if (error instanceof InvalidRecordError)
      throw new IngestError(400, rejectReasons.invalidEntry, error.message);
    if (error instanceof LogOverloadedError) {
      throw new IngestError(
        429,
        rejectReasons.storageOverloaded,
        "storage is busy, retry later",
        Math.max(1, Math.ceil(error.retryAfterMs / 1000)),
      );
    }
    throw error;
  }
  context.metrics.appendLatency.observe({ topic }, (performance.now() - startedMs) / 1000);
}

/** Host part of the peer address; IPv4-mapped IPv6 shown as plain IPv4, as Go's RemoteAddr does. */
export function clientIp(request: FastifyRequest): string {
  const address = request.socket.remoteAddress;
  if (!address) return "unknown";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
