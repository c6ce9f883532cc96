// GET /loki/api/v1/tail: Loki's live tail over a websocket (@fastify/websocket), as logcli and
// Grafana's live view use it. On connect it sends the backlog (the newest `limit` matching lines
// since `start`, oldest first), then follows the log: every tailPollMs it reads what was committed
// since the last look, partition by partition, through the query's pipeline, and sends the new
// lines in one message. Only what is durable is ever sent (reads stop at the committed end).
//
// Memory is bounded per connection: at most tailLimits.linesPerPollMax lines are read per partition
// and poll, and a poll stops taking partitions once its message holds sendBufferBytesMax (the rest
// of a burst waits for the next poll), so a message is at most about that plus one partition's
// lines of --line-bytes-max each. While the client reads slower than lines arrive (its send buffer
// over sendBufferBytesMax) new lines are dropped and reported in `dropped_entries`, as Loki reports
// lines a slow tail client missed. Connections are bounded per tenant and in all.

import websocket from "@fastify/websocket";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { WebSocket } from "ws";
import { IngestError } from "../ingest/index.ts";
import type { LogEntry } from "../model/stream.ts";
import {
  compilePipeline,
  defaultQueryBudget,
  type EntrySelection,
  ExecutionError,
  evaluateRange,
  isLogQuery,
  LogSource,
  PipelineError,
  type ProcessedEntry,
  parseQuery,
  QueryError,
  QueryExecutionError,
  RegexSyntaxError,
} from "../query/index.ts";
import type { ServerContext } from "./context.ts";
import { checkEntriesLimit, LokiRequestError, lokiParams, parseTailQuery } from "./loki-params.ts";
import { type DroppedTailEntry, formatTailMessage } from "./loki-tail.ts";
import { tenantOf } from "./service-routes.ts";

export const tailLimits = {
  // How often a tail looks for newly committed lines: the issue asks for new lines within 1 s; a
  // look at an idle log costs one endOffset read per partition.
  tailPollMs: 250,
  // Lines read per partition per poll. A burst larger than this is sent over the next polls.
  linesPerPollMax: 1000,
  // A client whose unsent data exceeds this is not reading: new lines are dropped (and reported)
  // until it catches up, so a stalled client cannot make the server buffer without bound.
  sendBufferBytesMax: 4 * 1024 * 1024,
  // Dropped lines listed per message (each is counted in the message either way).
  droppedListedMax: 100,
  // Open tails per tenant (Loki's default max_concurrent_tail_requests), and in all: each polls
  // every partition, so the total bounds the polling work.
  connectionsPerTenantMax: 10,
  connectionsMax: 50,
} as const;

const endOfTimeNs = (1n << 63n) - 1n;
/** Websocket close codes (RFC 6455): policy violation for a bad request, internal error otherwise. */
const closeCodes = { normal: 1000, policy: 1008, internal: 1011, tryAgainLater: 1013 } as const;

/** A request the client got wrong, answered by closing with its message (1008), not logged. */
function isRequestError(error: unknown): error is Error {
  return (
    error instanceof QueryError ||
    error instanceof LokiRequestError ||
    error instanceof IngestError ||
    error instanceof QueryExecutionError ||
    error instanceof ExecutionError ||
    error instanceof RegexSyntaxError ||
    error instanceof PipelineError
  );
}

export function registerLokiTailRoute(app: FastifyInstance, context: ServerContext): void {
  let open = 0;
  const openPerTenant = new Map<string, number>();
  app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  app.register(async (scope) => {
    scope.get("/loki/api/v1/tail", { websocket: true }, (socket, request) => {
      let tenant: string;
      try {
        // Browsers cannot set headers on a websocket: the UI sends the tenant as ?orgId= instead.
        const { orgId } = request.query as { orgId?: unknown };
        if (request.headers["x-scope-orgid"] === undefined && typeof orgId === "string")
          request.headers["x-scope-orgid"] = orgId;
        tenant = tenantOf(request);
      } catch (error) {
        socket.close(closeCodes.policy, closeReason((error as Error).message));
        return;
      }
      const tenantOpen = openPerTenant.get(tenant) ?? 0;
      if (open >= tailLimits.connectionsMax || tenantOpen >= tailLimits.connectionsPerTenantMax) {
        const bound =
          open >= tailLimits.connectionsMax
            ? `${tailLimits.connectionsMax} in all`
            : `${tailLimits.connectionsPerTenantMax} per tenant`;
        socket.close(closeCodes.tryAgainLater, `too many tails open (${bound})`);
        return;
      }
      open++;
      openPerTenant.set(tenant, tenantOpen + 1);
      socket.once("close", () => {
        open--;
        const left = (openPerTenant.get(tenant) ?? 1) - 1;
        if (left === 0) openPerTenant.delete(tenant);
        else openPerTenant.set(tenant, left);
      });
      runTail(context, socket, request, tenant).catch((error) => {
        if (socket.readyState !== socket.OPEN) return;
        const known = isRequestError(error);
        if (!known) context.logger.error({ err: error }, "tail failed");
        socket.close(
          known ? closeCodes.policy : closeCodes.internal,
          closeReason(known ? error.message : "internal error"),
        );
      });
    });
  });
}

async function runTail(
  context: ServerContext,
  socket: WebSocket,
  request: FastifyRequest,
  tenant: string,
): Promise<void> {
  const queryStart = request.url.indexOf("?");
  const params = lokiParams(queryStart < 0 ? "" : request.url.slice(queryStart + 1), undefined, undefined);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const tail = parseTailQuery(params, nowNs);
  const query = parseQuery(tail.query);
  if (!isLogQuery(query)) throw new LokiRequestError(400, "tail requires a log query, not a metric query");
  checkEntriesLimit(tail.limit, context.config["query-entries-max"]);
  const closed = new AbortController();
  socket.once("close", () => closed.abort());
  const log = context.serviceLog;
  // Everything committed now is the backlog's, read up to exactly these ends; the follow loop
  // starts where they stop, so no line is sent twice or skipped.
  const positions = Array.from({ length: log.partitionCount }, (_, id) => log.partition(id).endOffset);
  const startMs = Number(tail.startNs / 1_000_000n);
  const backlogSource = new LogSource({
    log,
    tenant,
    blocks: (id) => [{ fromOffset: log.partition(id).offsetForTimestamp(startMs), toOffset: positions[id] }],
  });
  const backlogEndNs = nowNs + 1n;
  // A log query's step only has to satisfy query_range's bound on points (11,000).
  const stepNs = maxBigint(1_000_000_000n, (backlogEndNs - tail.startNs) / 10_000n + 1n);
  const backlog = await evaluateRange(query, backlogSource, {
    startNs: tail.startNs,
    endNs: backlogEndNs,
    limit: tail.limit,
    direction: "backward",
    stepNs,
    signal: AbortSignal.any([closed.signal, AbortSignal.timeout(context.config["query-timeout-ms"])]),
    budget: { ...defaultQueryBudget, entriesMax: context.config["query-entries-max"] },
  });
  if (backlog.resultType === "streams") {
    const entries = backlog.result.flatMap(({ stream, values }) =>
      values.map(([ns, line]) => ({ timestampNs: BigInt(ns), labels: Object.entries(stream), line })),
    );
    entries.sort((a, b) => (a.timestampNs < b.timestampNs ? -1 : a.timestampNs > b.timestampNs ? 1 : 0));
    socket.send(formatTailMessage(entries));
  }

  const pipeline = compilePipeline(query.pipeline);
  // delay_for: a line goes out once it has been committed that long (Loki waits as long for slow
  // ingesters; here it is what the client asked for). Each poll notes the partitions' committed
  // ends, and follows up to the newest ends noted at least delay_for ago — a few polls' worth.
  const delayMs = tail.delayForS * 1000;
  const noted: { atMs: number; ends: number[] }[] = [];
  const endsToFollow = (nowMs: number): number[] => {
    const ends = Array.from({ length: log.partitionCount }, (_, id) => log.partition(id).endOffset);
    if (delayMs === 0) return ends;
    noted.push({ atMs: nowMs, ends });
    let due: number[] | null = null;
    while (noted.length > 0 && noted[0].atMs <= nowMs - delayMs) due = noted.shift()!.ends;
    if (due !== null) noted.unshift({ atMs: nowMs - delayMs, ends: due }); // still the newest due
    return due ?? positions;
  };
  try {
    while (!closed.signal.aborted) {
      await new Promise((wake) => setTimeout(wake, tailLimits.tailPollMs));
      if (closed.signal.aborted) break;
      const followTo = endsToFollow(Date.now());
      const sent: ProcessedEntry[] = [];
      let sentBytes = 0;
      const dropped: DroppedTailEntry[] = [];
      let droppedCount = 0;
      const slowClient = socket.bufferedAmount > tailLimits.sendBufferBytesMax;
      for (let id = 0; id < log.partitionCount && sentBytes < tailLimits.sendBufferBytesMax; id++) {
        const from = positions[id];
        const to = Math.min(followTo[id], from + tailLimits.linesPerPollMax);
        if (to <= from) continue;
        positions[id] = to;
        const source = new LogSource({
          log,
          tenant,
          blocks: (p) => (p === id ? [{ fromOffset: from, toOffset: to }] : []),
        });
        const selection: EntrySelection = {
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
          } else {
            sent.push(processed);
            sentBytes += processed.line.length + 64;
          }
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

function maxBigint(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** A close frame's reason is at most 123 bytes of UTF-8 (RFC 6455; ws throws past it): cut to fit. */
export function closeReason(message: string): string {
  const closeReasonBytesMax = 123;
  if (Buffer.byteLength(message) <= closeReasonBytesMax) return message;
  let cut = message.slice(0, closeReasonBytesMax - 1);
  while (Buffer.byteLength(`${cut}…`) > closeReasonBytesMax) cut = cut.slice(0, -1);
  return `${cut}…`;
}
