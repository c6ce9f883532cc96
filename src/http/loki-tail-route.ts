// GET /loki/api/v1/tail: Loki's live tail over a websocket (@fastify/websocket), as logcli and
// Grafana's live view use it. On connect it sends the backlog (the newest `limit` matching lines
// since `start`, oldest first), then follows the log: every tailPollMs it reads what was committed
// since the last look, partition by partition, through the query's pipeline, and sends the new
// lines in one message. Only what is durable is ever sent (reads stop at the committed end).
//
// Memory is bounded per connection: at most tailLimits.linesPerPollMax lines are read per poll
// (the rest of a burst waits for the next poll), and while the client reads slower than lines
// arrive (its send buffer over tailLimits.sendBufferBytesMax) new lines are dropped and reported in
// `dropped_entries`, as Loki reports lines a slow tail client missed. Connections are bounded too.

import websocket from "@fastify/websocket";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { WebSocket } from "ws";
import { IngestError } from "../ingest/index.ts";
import type { LogEntry } from "../model/stream.ts";
import {
  compilePipeline,
  isLogQuery,
  LogSource,
  type ProcessedEntry,
  parseQuery,
  QueryError,
} from "../query/index.ts";
import type { ServerContext } from "./context.ts";
import { LokiRequestError, lokiParams, parseTailQuery } from "./loki-params.ts";
import { type DroppedTailEntry, formatTailMessage } from "./loki-tail.ts";
import { tenantOf } from "./service-routes.ts";

export const tailLimits = {
  // How often a tail looks for newly committed lines: the issue asks for new lines within 1 s; a
  // look at an idle log costs one endOffset read per partition.
  tailPollMs: 250,
  // Lines read per poll per connection. A burst larger than this is sent over the next polls.
  linesPerPollMax: 5000,
  // A client whose unsent data exceeds this is not reading: new lines are dropped (and reported)
  // until it catches up, so a stalled client cannot make the server buffer without bound.
  sendBufferBytesMax: 4 * 1024 * 1024,
  // Dropped lines listed per message (each is counted in the message either way).
  droppedListedMax: 100,
  // Open tails at once; each polls every partition. Loki's default max_concurrent_tail_requests.
  connectionsMax: 10,
} as const;

const endOfTimeNs = (1n << 63n) - 1n;
/** Websocket close codes (RFC 6455): policy violation for a bad request, internal error otherwise. */
const closeCodes = { normal: 1000, policy: 1008, internal: 1011, tryAgainLater: 1013 } as const;

export function registerLokiTailRoute(app: FastifyInstance, context: ServerContext): void {
  let open = 0;
  app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  app.register(async (scope) => {
    scope.get("/loki/api/v1/tail", { websocket: true }, (socket, request) => {
      if (open >= tailLimits.connectionsMax) {
        socket.close(closeCodes.tryAgainLater, `too many tails open (${tailLimits.connectionsMax})`);
        return;
      }
      open++;
      socket.once("close", () => open--);
      runTail(context, socket, request).catch((error) => {
        if (socket.readyState === socket.OPEN) {
          const known =
            error instanceof QueryError || error instanceof LokiRequestError || error instanceof IngestError;
          if (!known) context.logger.error({ err: error }, "tail failed");
          socket.close(
            known ? closeCodes.policy : closeCodes.internal,
            known ? error.message : "internal error",
          );
        }
      });
    });
  });
}

async function runTail(context: ServerContext, socket: WebSocket, request: FastifyRequest): Promise<void> {
  const tenant = tenantOf(request);
  const queryStart = request.url.indexOf("?");
  const params = lokiParams(queryStart < 0 ? "" : request.url.slice(queryStart + 1), undefined, undefined);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const tail = parseTailQuery(params, nowNs);
  const query = parseQuery(tail.query);
  if (!isLogQuery(query)) throw new LokiRequestError(400, "tail requires a log query, not a metric query");
  const closed = new AbortController();
  socket.once("close", () => closed.abort());
  const log = context.serviceLog;
  // Everything committed now is the backlog's; the follow loop starts exactly where it ends.
  const positions = Array.from({ length: log.partitionCount }, (_, id) => log.partition(id).endOffset);

  const backlog = await context.queryEngine.query(tenant, tail.query, {
    startNs: tail.startNs,
    endNs: nowNs + 1n,
    limit: tail.limit,
    direction: "backward",
    stepNs: 1_000_000_000n,
    signal: closed.signal,
  });
  if (backlog.resultType === "streams") {
    const entries = backlog.result.flatMap(({ stream, values }) =>
      values.map(([ns, line]) => ({ timestampNs: BigInt(ns), labels: Object.entries(stream), line })),
    );
    entries.sort((a, b) => (a.timestampNs < b.timestampNs ? -1 : a.timestampNs > b.timestampNs ? 1 : 0));
    socket.send(formatTailMessage(entries));
  }

  const pipeline = compilePipeline(query.pipeline);
  try {
    while (!closed.signal.aborted) {
      await new Promise((wake) => setTimeout(wake, tailLimits.tailPollMs));
      if (closed.signal.aborted) break;
      const sent: ProcessedEntry[] = [];
      const dropped: DroppedTailEntry[] = [];
      let droppedCount = 0;
      const slowClient = socket.bufferedAmount > tailLimits.sendBufferBytesMax;
      for (let id = 0; id < log.partitionCount; id++) {
        const from = positions[id];
        const to = Math.min(log.partition(id).endOffset, from + tailLimits.linesPerPollMax);
        if (to <= from) continue;
        positions[id] = to;
        const source = new LogSource({
          log,
          tenant,
          blocks: (p) => (p === id ? [{ fromOffset: from, toOffset: to }] : []),
        });
        const selection = {
          matchers: query.matchers,
          lineFilters: [],
          startNs: 0n,
          endNs: endOfTimeNs,
          direction: "forward" as const,
          cutoffNs: () => null,
          signal: closed.signal,
        };
        for await (const entry of source.select(selection)) {
          const processed = pipeline.process(entry as LogEntry);
          if (processed === null) continue;
          if (slowClient) {
            droppedCount++;
            if (dropped.length < tailLimits.droppedListedMax)
              dropped.push({ timestampNs: processed.timestampNs, labels: processed.labels });
          } else sent.push(processed);
        }
      }
      if (sent.length > 0 || droppedCount > 0) {
        socket.send(formatTailMessage(sent, dropped));
      }
    }
  } finally {
    pipeline.close();
  }
}
