// The Sluice HTTP server: opens the logs under the data dir, rebuilds derived state, registers the
// routes and listens. close() is the graceful shutdown: stop accepting, finish in-flight requests,
// then flush and close the logs.

import crypto from "node:crypto";
import fs from "node:fs";
import { STATUS_CODES } from "node:http";
import os from "node:os";
import path from "node:path";
import type { Duplex } from "node:stream";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type { Logger } from "pino";
import { AggregateStore, AnalyticsConsumer, type AnalyticsEvent } from "../analytics/index.ts";
import { dataLayout, type ServeConfig, type Topic, topics } from "../config/index.ts";
import { BlockIndex, type IndexEvent, indexedBlocks } from "../index/index.ts";
import {
  Admission,
  IdempotencyTable,
  IngestPipeline,
  StreamLimiter,
  TenantLimiter,
} from "../ingest/index.ts";
import { type LogEvent, logLimits, PartitionLog } from "../log/index.ts";
import { createMetrics } from "../metrics/index.ts";
import { QueryEngine, QueryPool } from "../query/index.ts";
import { assignRequestId, registerAccessRoutes } from "./access-routes.ts";
import { type AnalyticsParts, registerAggregateRoutes } from "./aggregate-routes.ts";
import { appendRouted, type ServerContext, serverPhases } from "./context.ts";
import { engineBackend } from "./loki-backend.ts";
import { registerLokiQueryRoutes } from "./loki-query.ts";
import { registerLokiTailRoute } from "./loki-tail-route.ts";
import { accessErrors, formatLimit, lingerBeforeClose, sendAccessError, sendPlainError } from "./replies.ts";
import { registerServiceRoutes, tenantOf } from "./service-routes.ts";

export interface SluiceServer {
  app: FastifyInstance;
  port: number;
  /**
   * Settles when recovery ends: resolves once the server is ready (/ready 200), rejects when a step
   * failed (what it opened is released; the listener stays until close()) or close() stopped it
   * (with a RecoveryStoppedError).
   */
  recovered: Promise<void>;
  /** Graceful shutdown, also during recovery: stop accepting, finish requests, release everything. */
  close(): Promise<void>;
}

/** Recovery was stopped by close() (a signal) before it finished. */
export class RecoveryStoppedError extends Error {
  readonly code = "RECOVERY_STOPPED";
  constructor() {
    super("recovery stopped: the server is shutting down");
    this.name = "RecoveryStoppedError";
  }
}

/**
 * Listens first, then recovers: opens both logs (each partition's active segment is checked, a torn
 * tail cut, missing indexes rebuilt), rebuilds the idempotency keys from the access log and starts
 * the analytics consumer. Until then /ready answers 503 and every other route 503 in its own error
 * model (recoveryGate), so an orchestrator can tell "recovering" from "dead". Opening a log is
 * synchronous (src/log): while one opens, requests wait in the accept queue and are answered when it
 * returns; the idempotency rebuild yields between reads.
 */
export async function startServer(config: ServeConfig, logger: Logger): Promise<SluiceServer> {
  const dataDir = path.resolve(config["data-dir"]);
  fs.mkdirSync(dataDir, { recursive: true });
  const nodeId = config["node-id"] ?? persistentNodeId(dataDir);
  const admission = new Admission({
    requestsMax: config["queue-requests-max"],
    bytesMax: config["queue-bytes-max"],
  });
  const tenantLimiter = new TenantLimiter({
    recordsPerS: config["tenant-records-per-s"],
    bytesPerS: config["tenant-bytes-per-s"],
  });
  const logs: Record<string, PartitionLog> = {}; // filled by recovery; the log gauges read it at scrape
  const metrics = createMetrics(
    logs,
    () => ({ requests: admission.requestsInFlight, bytes: admission.bytesInFlight }),
    { tenantsMax: config["metrics-tenants-max"] },
  );
  const context: ServerContext = {
    config,
    nodeId,
    // Assigned by recovery before the phase turns ready; recoveryGate keeps every route that uses
    // them unreachable until then.
    serviceLog: undefined as unknown as PartitionLog,
    accessLog: undefined as unknown as PartitionLog,
    admission,
    tenantLimiter,
    pipeline: new IngestPipeline({
      partitionCount: config.partitions,
      nodeId,
      limits: { entriesMax: config["batch-entries-max"], lineBytesMax: config["line-bytes-max"] },
      admission,
      tenantLimiter,
      streams: new StreamLimiter(config["streams-per-tenant-max"]),
      // The service log is opened by recovery; the gate keeps ingest routes away until then.
      appender: { append: (routed) => appendRouted(context, topics.serviceLogs, context.serviceLog, routed) },
    }),
    idempotency: new IdempotencyTable(config["idempotency-retention-ms"], config["idempotency-keys-max"]),
    queryEngine: undefined as unknown as QueryEngine,
    metrics,
    logger,
    state: { phase: serverPhases.recovering },
  };
  const analytics = {} as AnalyticsParts; // assigned by recovery, behind the same gate
  const app = buildApp(context, analytics);
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  logger.info({ port, host: config.host, nodeId, dataDir }, "sluice recovering");

  const opened = { serviceLog: null as PartitionLog | null, accessLog: null as PartitionLog | null };
  let analyticsStarted = false;
  let blockIndex: BlockIndex | null = null;
  let queryPool: QueryPool | null = null;
  let maintenance: NodeJS.Timeout | null = null;
  const release = async () => {
    if (maintenance !== null) clearInterval(maintenance);
    if (queryPool !== null) {
      await queryPool.close();
      queryPool = null;
    }
    if (blockIndex !== null) {
      context.metrics.indexLag.read = null;
      await blockIndex.close();
      blockIndex = null;
    }
    if (analyticsStarted) {
      analyticsStarted = false;
      await analytics.consumer.stop();
      analytics.store.close();
    }
    const closing = [opened.serviceLog, opened.accessLog].filter((log) => log !== null);
    opened.serviceLog = opened.accessLog = null;
    await Promise.all(closing.map((log) => log.close()));
  };
  const stopping = new AbortController();
  const recover = async () => {
    const startedMs = performance.now();
    const step = async (name: string, run: () => unknown) => {
      await yieldToEventLoop(); // answer what arrived meanwhile (503) before the next step
      if (stopping.signal.aborted) throw stopping.signal.reason;
      const stepStartedMs = performance.now();
      logger.info({ step: name }, "recovery step");
      await run();
      logger.info({ step: name, ms: Math.round(performance.now() - stepStartedMs) }, "recovery step done");
    };
    await step("open the service log", () => {
      opened.serviceLog = openLog(
        context,
        topics.serviceLogs,
        recordLimits(config["body-bytes-max"], config["batch-entries-max"]),
      );
      context.serviceLog = logs[topics.serviceLogs] = opened.serviceLog;
    });
    await step("open the search index", async () => {
      if (config["search-index"] === "on") {
        blockIndex = await BlockIndex.open(dataLayout.blockIndexDirectory(dataDir), context.serviceLog, {
          onEvent: (event) => logIndexEvent(logger, event),
        });
        blockIndex.start();
        const started = blockIndex;
        context.metrics.indexLag.read = () =>
          started.status().partitions.map((status) => Math.max(0, status.committedEnd - status.indexedTo));
      }
      const index = blockIndex;
      if (config["query-threads"] > 0) queryPool = new QueryPool({ threads: config["query-threads"] });
      context.queryEngine = new QueryEngine({
        ...(queryPool === null ? {} : { pool: queryPool }),
        log: context.serviceLog,
        limits: { queryTimeoutMs: config["query-timeout-ms"] },
        budget: { entriesMax: config["query-entries-max"] },
        ...(index === null ? {} : { blocks: (tenant: string) => indexedBlocks(index, tenant) }),
      });
    });
    await step("open the access log", () => {
      opened.accessLog = openLog(context, topics.accessLogs, accessLogLimits(config));
      context.accessLog = logs[topics.accessLogs] = opened.accessLog;
    });
    await step("rebuild the idempotency keys", async () => {
      const keysLoaded = await context.idempotency.rebuild(context.accessLog, Date.now(), {
        signal: stopping.signal,
        onProgress: (progress) => logger.info(progress, "rebuilding the idempotency keys"),
      });
      logger.info({ keysLoaded }, "idempotency keys rebuilt from the access log");
    });
    await step("start the analytics consumer", () => {
      Object.assign(analytics, startAnalytics(dataDir, context));
      analyticsStarted = true;
    });
    if (stopping.signal.aborted) throw stopping.signal.reason;
    context.state.phase = serverPhases.ready;
    maintenance = setInterval(() => {
      context.idempotency.sweep(Date.now());
      for (const log of [context.serviceLog, context.accessLog])
        log.maintain().catch((error) => logger.error({ err: error }, "log maintenance failed"));
    }, config["maintenance-interval-ms"]); // retention, compaction, idempotency key expiry
    maintenance.unref();
    logger.info(
      {
        port,
        host: config.host,
        nodeId,
        dataDir,
        partitions: config.partitions,
        fsync: config.fsync,
        recoveryMs: Math.round(performance.now() - startedMs),
      },
      "sluice listening",
    );
  };
  const recovered = recover().catch(async (error) => {
    // Nothing of a failed or stopped recovery is served: release what it opened (LOCKs, threads).
    await release();
    throw error;
  });
  recovered.catch(() => {}); // the caller awaits it; a close() during recovery must not be unhandled
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      context.state.phase = serverPhases.stopping;
      stopping.abort(new RecoveryStoppedError());
      await app.close();
      await recovered.catch(() => {}); // a stopped recovery released what it opened
      await release();
      logger.info("sluice stopped");
    })();
    return closing;
  };
  return { app, port, recovered, close };
}

function openLog(
  context: ServerContext,
  topic: Topic,
  limits: { recordBytesMax: number; appendBytesMax: number },
): PartitionLog {
  const { config } = context;
  return PartitionLog.open({
    ...limits,
    directory: dataLayout.topicDirectory(path.resolve(config["data-dir"]), topic),
    partitionCount: config.partitions,
    fsync: config.fsync as "always" | "interval",
    fsyncIntervalMs: config["fsync-interval-ms"],
    segmentBytesMax: config["segment-bytes-max"],
    retentionMs: config["retention-ms"] > 0 ? config["retention-ms"] : null,
    retentionBytes: config["retention-bytes"] > 0 ? config["retention-bytes"] : null,
    onEvent: (event) => logEvent(context.logger, topic, event, context),
  });
}

/** A stored record is at most its request body plus the enrichment; one append (a request's records
 * for one partition) at most the body plus the enrichment of every entry. */
function recordLimits(bodyBytesMax: number, entriesMax: number) {
  return {
    recordBytesMax: Math.max(logLimits.recordBytesMax, bodyBytesMax + 64 * 1024),
    appendBytesMax: Math.max(logLimits.appendBytesMax, bodyBytesMax + entriesMax * 512 + 64 * 1024),
  };
}

/** The access log's record limits for a configuration; the rebuild must open it with the same. */
export function accessLogLimits(config: ServeConfig): { recordBytesMax: number; appendBytesMax: number } {
  return recordLimits(config["access-body-bytes-max"], 1);
}

/** The analytics consumer over the access log, with its store under <data-dir>/analytics. */
function startAnalytics(dataDir: string, context: ServerContext): AnalyticsParts {
  const { logger, metrics } = context;
  const store = AggregateStore.open(dataLayout.aggregateStoreFile(dataDir), {
    windowKeysMax: context.config["aggregate-keys-max"],
  });
  const consumer = AnalyticsConsumer.start(context.accessLog, store, {
    onEvent: (event: AnalyticsEvent) => {
      metrics.analyticsEvents.inc({ kind: event.kind });
      if ("error" in event) logger.error({ ...event, err: event.error }, `analytics: ${event.kind}`);
      else logger.warn(event, `analytics: ${event.kind}`);
    },
    onStep: (_partition, step, committedAtMs) => {
      metrics.analyticsEntries.inc(step.entries);
      for (const appendedMs of step.recordTimestampsMs)
        metrics.analyticsFreshness.observe(Math.max(0, committedAtMs - appendedMs) / 1000);
    },
  });
  metrics.analyticsStatus.read = () => consumer.status(Date.now());
  return { store, consumer };
}

function buildApp(context: ServerContext, analytics: AnalyticsParts): FastifyInstance {
  const { config } = context;
  const app = Fastify({
    logger: false,
    bodyLimit: Math.max(config["body-bytes-max"], config["access-body-bytes-max"]),
    requestTimeout: config["request-timeout-ms"],
    // Node checks request and header timeouts only this often (30 s by default), so a slow client
    // would otherwise outlive --request-timeout-ms by up to half a minute.
    http: { connectionsCheckingInterval: Math.min(1000, Math.floor(config["request-timeout-ms"] / 2)) },
    return503OnClosing: true,
    clientErrorHandler: answerClientError,
  });
  app.server.headersTimeout = Math.min(config["request-timeout-ms"], 10_000);
  app.server.maxConnections = config["connections-max"];
  // Bodies stay raw bytes: each route decodes its own protocol and reports errors in its own model.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
  app.addHook("onRequest", async (request, reply) => recoveryGate(context, request, reply));
  app.addHook("onResponse", async (request, reply) => {
    context.metrics.httpRequests.inc({
      route: request.routeOptions.url ?? "unmatched",
      method: request.method,
      status: String(reply.statusCode),
    });
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const tooLarge = error.code === "FST_ERR_CTP_BODY_TOO_LARGE";
    if (tooLarge) lingerBeforeClose(request.raw.socket);
    const routeUrl = request.routeOptions.url;
    if (routeUrl === "/logs" || routeUrl?.startsWith("/v1/aggregates")) {
      const requestId = request.sluiceRequestId ?? "";
      if (tooLarge)
        return sendAccessError(
          reply,
          requestId,
          accessErrors.invalidArgument,
          `batch too large: must be <= ${formatLimit(config["access-body-bytes-max"])}`,
        );
      if ((error.statusCode ?? 500) < 500)
        return sendAccessError(reply, requestId, accessErrors.invalidArgument, error.message);
      context.logger.error({ err: error, url: request.url }, "request failed");
      return sendAccessError(reply, requestId, accessErrors.internal, "internal server error");
    }
    if (tooLarge)
      return sendPlainError(reply, 413, `body too large: the limit is ${config["body-bytes-max"]} bytes`);
    const status = error.statusCode ?? 500;
    if (status >= 500) context.logger.error({ err: error, url: request.url }, "request failed");
    return sendPlainError(reply, status, status >= 500 ? "internal server error" : error.message);
  });
  app.setNotFoundHandler((_request, reply) => sendPlainError(reply, 404, "404 page not found"));
  registerServiceRoutes(app, context);
  registerAccessRoutes(app, context);
  registerAggregateRoutes(app, analytics);
  registerLokiQueryRoutes(app, {
    backend: engineBackend(() => context.queryEngine),
    tenantOf,
    limits: { entriesLimitMax: config["query-entries-max"], queryTimeoutMs: config["query-timeout-ms"] },
    buildInfo: lokiBuildInfo,
  });
  registerLokiTailRoute(app, context);
  app.get("/metrics", async (_request, reply) => {
    const body = await context.metrics.registry.metrics();
    return reply.header("content-type", context.metrics.registry.contentType).send(body);
  });
  app.get("/ready", async (_request, reply) =>
    context.state.phase === serverPhases.ready
      ? reply.header("content-type", "text/plain").send("ready\n")
      : sendPlainError(reply, 503, `not ready: ${context.state.phase}`),
  );
  app.get("/healthz", async (_request, reply) => reply.header("content-type", "text/plain").send("ok\n"));
  return app;
}

/** Routes that answer in every phase: readiness, liveness and the metrics (which read only what is open). */
const answeredWhileNotReady = new Set(["/ready", "/healthz", "/metrics"]);
/** Retry-After of a 503 while recovering or stopping: a probe interval, not a promise. */
const notReadyRetryAfterS = 1;

/**
 * Before recovery ends (and once shutdown begins), every route but answeredWhileNotReady answers
 * 503 in its own protocol's error model: reference B's routes (/logs, /v1/aggregates) its JSON body
 * with `unavailable`/SYS_9002, the others plain text. Unmatched URLs still get their 404.
 */
async function recoveryGate(context: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const { phase } = context.state;
  if (phase === serverPhases.ready) return;
  const routeUrl = request.routeOptions.url;
  if (routeUrl === undefined || answeredWhileNotReady.has(routeUrl)) return;
  const message =
    phase === serverPhases.recovering
      ? "server is recovering (opening the logs and rebuilding derived state), retry later"
      : "server is shutting down";
  if (routeUrl === "/logs" || routeUrl.startsWith("/v1/aggregates")) {
    const requestId = assignRequestId(request, reply);
    return sendAccessError(reply, requestId, accessErrors.unavailable, message, notReadyRetryAfterS);
  }
  return sendPlainError(reply, 503, message, notReadyRetryAfterS);
}

/** Malformed requests, timeouts and oversized headers: a plain-text answer, then the socket closes. */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (socket.destroyed || !socket.writable) return;
  const status =
    error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
  const body = `${status} ${STATUS_CODES[status]}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** A node id generated once per data directory and kept in <data-dir>/node-id. */
function persistentNodeId(dataDir: string): string {
  const file = dataLayout.nodeIdFile(dataDir);
  try {
    const existing = fs.readFileSync(file, "utf8").trim();
    if (existing) return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const id = `${os
    .hostname()
    .replace(/[^A-Za-z0-9.-]/g, "-")
    .slice(0, 40)}-${crypto.randomBytes(4).toString("hex")}`;
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, `${id}\n`, { flush: true });
  fs.renameSync(temporary, file);
  return id;
}

/**
 * /loki/api/v1/status/buildinfo. Grafana's Loki data source reads `version` to decide which API
 * features it may use; Sluice answers the Loki version whose query API it serves, and names itself
 * in `revision` and `branch`.
 */
const lokiBuildInfo = {
  version: "3.4.0",
  revision: `sluice-${process.env.npm_package_version ?? "0.1.0"}`,
  branch: "sluice",
  buildUser: "sluice",
  buildDate: "",
  goVersion: `node ${process.version}`,
};

function logIndexEvent(logger: Logger, event: IndexEvent): void {
  if ("error" in event) logger.warn({ ...event, err: event.error }, `search index: ${event.kind}`);
  else logger.info(event, `search index: ${event.kind}`);
}

function logEvent(logger: Logger, topic: string, event: LogEvent, context: ServerContext): void {
  if (event.kind === "damaged-batch") {
    context.metrics.damagedBatches.inc({ topic });
    logger.error({ topic, ...event }, "damaged batch skipped");
  } else if (event.kind === "recovered") {
    if (event.report.damaged.length > 0)
      context.metrics.damagedBatches.inc({ topic }, event.report.damaged.length);
    logger.warn({ topic, ...event }, "partition recovered");
  } else if (event.kind === "write-failed")
    logger.error({ topic, err: event.error, partition: event.partition }, "log write failed");
  else logger.info({ topic, ...event }, event.kind);
}
