// The Sluice HTTP transport: listens (and starts the OTLP/gRPC listener, src/grpc, on the same
// node), then opens a node (src/node: the logs, derived state and consumers) behind the recovery
// gate, and registers the routes over the node's parts. close() is the graceful shutdown: stop
// accepting, finish in-flight requests and gRPC calls, then close the node.

import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type { Logger } from "pino";
import type { ServeConfig } from "../config/index.ts";
import { type OtlpGrpcServer, startOtlpGrpcServer } from "../grpc/index.ts";
import { createNode, RecoveryStoppedError } from "../node/index.ts";
import { type SyslogListeners, startSyslog } from "../syslog/index.ts";
import { assignRequestId, registerAccessRoutes } from "./access-routes.ts";
import { type AnalyticsParts, registerAggregateRoutes } from "./aggregate-routes.ts";
import { type ServerContext, serverPhases } from "./context.ts";
import { answerEsRoot, isEsRoute, registerEsRoutes, sendEsError } from "./es-routes.ts";
import { engineBackend } from "./loki-backend.ts";
import { registerLokiPushRoute } from "./loki-push-route.ts";
import { registerLokiQueryRoutes } from "./loki-query.ts";
import { registerLokiTailRoute } from "./loki-tail-route.ts";
import { isOtlpProtobufRequest, otlpRefusals } from "./otlp-route.ts";
import { accessErrors, formatLimit, lingerBeforeClose, sendAccessError, sendPlainError } from "./replies.ts";
import { registerServiceRoutes, tenantOf } from "./service-routes.ts";
import { registerUiRoutes, uiPages } from "./ui-routes.ts";

export { RecoveryStoppedError };

export interface SluiceServer {
  app: FastifyInstance;
  port: number;
  /** The syslog listeners' bound ports (--syslog-tcp-port, --syslog-udp-port); null when off. */
  syslogTcpPort: number | null;
  syslogUdpPort: number | null;
  /** The OTLP/gRPC port bound (--otlp-grpc-port), null when it is -1 (no gRPC listener). */
  grpcPort: number | null;
  /**
   * Settles when recovery ends: resolves once the server is ready (/ready 200), rejects when a step
   * failed (what it opened is released; the listener stays until close()) or close() stopped it
   * (with a RecoveryStoppedError).
   */
  recovered: Promise<void>;
  /** Graceful shutdown, also during recovery: stop accepting, finish requests, release everything. */
  close(): Promise<void>;
}

/**
 * Listens first, then recovers (SluiceNode.open: both logs, the search index and query engine, the
 * idempotency keys, the analytics consumer). Until then /ready answers 503 and every other route 503
 * in its own error model (recoveryGate), so an orchestrator can tell "recovering" from "dead".
 * Opening a log is synchronous (src/log): while one opens, requests wait in the accept queue and are
 * answered when it returns; the idempotency rebuild yields between reads.
 */
export async function startServer(config: ServeConfig, logger: Logger): Promise<SluiceServer> {
  const node = createNode(config, logger);
  const { nodeId, dataDir } = node;
  const context: ServerContext = {
    config,
    nodeId,
    // The node assigns these during recovery; recoveryGate keeps every route that uses them
    // unreachable until then.
    get serviceLog() {
      return node.serviceLog;
    },
    get accessLog() {
      return node.accessLog;
    },
    get queryEngine() {
      return node.queryEngine;
    },
    admission: node.admission,
    tenantLimiter: node.tenantLimiter,
    pipeline: node.pipeline,
    idempotency: node.idempotency,
    metrics: node.metrics,
    logger,
    state: { phase: serverPhases.recovering },
  };
  const analytics: AnalyticsParts = node.analytics; // filled by recovery, behind the same gate
  const app = buildApp(context, analytics, () => ({ phase: context.state.phase, ...node.status() }));
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  // OTLP/gRPC on the same node and pipeline; behind the same phase (UNAVAILABLE until ready).
  let grpc: OtlpGrpcServer | null = null;
  if (config["otlp-grpc-port"] >= 0) {
    try {
      grpc = await startOtlpGrpcServer(
        {
          config,
          pipeline: node.pipeline,
          metrics: node.metrics,
          logger,
          notServing: () => (context.state.phase === serverPhases.ready ? null : notReadyMessage(context)),
        },
        config.host,
        config["otlp-grpc-port"],
      );
    } catch (error) {
      await app.close(); // a port in use fails start-up as the HTTP port does, leaving nothing open
      throw error;
    }
  }
  const grpcPort = grpc === null ? null : grpc.port;
  // Bound now (a port in use fails the start), read only once recovered (src/syslog/index.ts).
  let syslog: SyslogListeners;
  try {
    syslog = await startSyslog(config, node, logger);
  } catch (error) {
    await Promise.all([app.close(), grpc?.close()]);
    throw error;
  }
  const ports = { port, grpcPort, syslogTcpPort: syslog.tcpPort, syslogUdpPort: syslog.udpPort };
  logger.info({ ...ports, host: config.host, nodeId, dataDir }, "sluice recovering");

  const startedMs = performance.now();
  const recovered = node.open().then(() => {
    syslog.start();
    context.state.phase = serverPhases.ready;
    logger.info(
      {
        ...ports,
        host: config.host,
        nodeId,
        dataDir,
        partitions: config.partitions,
        fsync: config.fsync,
        recoveryMs: Math.round(performance.now() - startedMs),
      },
      "sluice listening",
    );
  });
  recovered.catch(() => {}); // the caller awaits it; a close() during recovery must not be unhandled
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      context.state.phase = serverPhases.stopping;
      node.stopRecovery(); // at its next step
      await syslog.close(); // stops reading; what was read is stored on the open logs
      // In-flight requests and calls finish on the open logs; then the node closes.
      await Promise.all([app.close(), grpc?.close()]);
      await node.close();
      logger.info("sluice stopped");
    })();
    return closing;
  };
  return { app, ...ports, recovered, close };
}

function buildApp(
  context: ServerContext,
  analytics: AnalyticsParts,
  nodeStatus: Parameters<typeof registerUiRoutes>[1]["nodeStatus"],
): FastifyInstance {
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
    if (tooLarge && routeUrl === "/v1/logs" && isOtlpProtobufRequest(request))
      return otlpRefusals.tooLarge(reply, config["body-bytes-max"]);
    if (routeUrl !== undefined && isEsRoute(routeUrl)) {
      if (tooLarge)
        return sendEsError(
          reply,
          413,
          "content_too_long_exception",
          `request body too large: the limit is ${config["body-bytes-max"]} bytes`,
        );
      const status = error.statusCode ?? 500;
      if (status >= 500) context.logger.error({ err: error, url: request.url }, "request failed");
      return sendEsError(
        reply,
        status,
        status >= 500 ? "exception" : "illegal_argument_exception",
        status >= 500 ? "internal server error" : error.message,
      );
    }
    if (tooLarge)
      return sendPlainError(reply, 413, `body too large: the limit is ${config["body-bytes-max"]} bytes`);
    const status = error.statusCode ?? 500;
    if (status >= 500) context.logger.error({ err: error, url: request.url }, "request failed");
    return sendPlainError(reply, status, status >= 500 ? "internal server error" : error.message);
  });
  app.setNotFoundHandler((_request, reply) => sendPlainError(reply, 404, "404 page not found"));
  registerServiceRoutes(app, context);
  registerLokiPushRoute(app, context);
  registerAccessRoutes(app, context);
  registerAggregateRoutes(app, analytics);
  registerLokiQueryRoutes(app, {
    backend: engineBackend(() => context.queryEngine),
    tenantOf,
    limits: { entriesLimitMax: config["query-entries-max"], queryTimeoutMs: config["query-timeout-ms"] },
    buildInfo: lokiBuildInfo,
  });
  registerLokiTailRoute(app, context);
  registerEsRoutes(app, context);
  // GET /: browsers get the web UI, every other client the Elasticsearch handshake.
  registerUiRoutes(app, { nodeStatus, rootForOthers: (_request, reply) => answerEsRoot(context, reply) });
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
const answeredWhileNotReady = new Set<string>(["/ready", "/healthz", "/metrics", ...uiPages, "/ui/:file"]);
/** Retry-After of a 503 while recovering or stopping: a probe interval, not a promise. */
const notReadyRetryAfterS = 1;

/**
 * Before recovery ends (and once shutdown begins), every route but answeredWhileNotReady answers
 * 503 in its own protocol's error model: reference B's routes (/logs, /v1/aggregates) its JSON body
 * with `unavailable`/SYS_9002, the Elasticsearch routes Elasticsearch's error body, the others plain
 * text. Unmatched URLs still get their 404.
 */
async function recoveryGate(context: ServerContext, request: FastifyRequest, reply: FastifyReply) {
  const { phase } = context.state;
  if (phase === serverPhases.ready) return;
  const routeUrl = request.routeOptions.url;
  if (routeUrl === undefined || answeredWhileNotReady.has(routeUrl)) return;
  const message = notReadyMessage(context);
  if (routeUrl === "/v1/logs" && isOtlpProtobufRequest(request))
    return otlpRefusals.notReady(reply, message, notReadyRetryAfterS);
  if (routeUrl === "/logs" || routeUrl.startsWith("/v1/aggregates")) {
    const requestId = assignRequestId(request, reply);
    return sendAccessError(reply, requestId, accessErrors.unavailable, message, notReadyRetryAfterS);
  }
  if (isEsRoute(routeUrl))
    return sendEsError(reply, 503, "cluster_block_exception", message, notReadyRetryAfterS);
  return sendPlainError(reply, 503, message, notReadyRetryAfterS);
}

function notReadyMessage(context: ServerContext): string {
  return context.state.phase === serverPhases.recovering
    ? "server is recovering (opening the logs and rebuilding derived state), retry later"
    : "server is shutting down";
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
