// A batch of decoded syslog messages on its way into the ingest pipeline, shared by the TCP and UDP
// listeners: frames are decoded as they arrive (counted by format and change), collected up to
// syslogTransportLimits, then pushed with an admission ticket. TCP retries a refusal that passes
// (its connection paused meanwhile: flow control instead of buffering); UDP drops and counts.

import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import {
  IngestError,
  type IngestPipeline,
  parseSyslogMessage,
  type RejectReason,
  rejectReasons,
  type SyslogMessage,
  syslogStreams,
} from "../ingest/index.ts";
import type { Metrics, SyslogMetrics } from "../metrics/index.ts";
import { syslogTransportLimits } from "./limits.ts";

export const syslogRoutes = { tcp: "syslog-tcp", udp: "syslog-udp" } as const;
export type SyslogRoute = (typeof syslogRoutes)[keyof typeof syslogRoutes];

/** What a listener writes through: the node's pipeline and metrics, the tenant it writes as. */
export interface SyslogContext {
  pipeline: IngestPipeline;
  metrics: Metrics;
  syslogMetrics: SyslogMetrics;
  logger: Logger;
  tenant: string;
}

/** Why messages were dropped without a pipeline reason. */
export const dropReasons = {
  /** The connection closed inside an octet-counted frame. */
  truncated: "truncated",
  /** A UDP datagram while the queue (or the UDP batches in flight) was full. */
  queueFull: rejectReasons.queueFull,
  /** A UDP datagram before recovery finished. */
  notReady: "not_ready",
  /** A batch still refused (for a reason that passes) when the server shut down. */
  shutdown: "shutdown",
  /** A batch whose append failed for a reason that is not a refusal (logged). */
  internal: "internal",
} as const;

/** The pipeline's refusals that pass with time: worth a retry while the TCP sender waits. */
const passingReasons = new Set<RejectReason>([
  rejectReasons.queueFull,
  rejectReasons.tenantRateLimited,
  rejectReasons.storageOverloaded,
]);

export class MessageBatch {
  readonly route: SyslogRoute;
  readonly #context: SyslogContext;
  readonly #messagesMax: number;
  messages: SyslogMessage[] = [];
  bytes = 0;
  clientIp = "";

  constructor(context: SyslogContext, route: SyslogRoute) {
    this.#context = context;
    this.route = route;
    this.#messagesMax = Math.min(syslogTransportLimits.batchMessagesMax, context.pipeline.limits.entriesMax);
  }

  get full(): boolean {
    return this.messages.length >= this.#messagesMax || this.bytes >= syslogTransportLimits.batchBytesMax;
  }

  /** Decodes a frame into the batch (an empty frame adds nothing); counts its format and changes. */
  add(frame: Uint8Array, cut: boolean, receivedAtMs: number, peerHost: string): void {
    const message = parseSyslogMessage(frame, {
      receivedAtMs,
      peerHost,
      lineBytesMax: this.#context.pipeline.limits.lineBytesMax,
    });
    if (message === null) return;
    const { syslogMetrics } = this.#context;
    syslogMetrics.messages.inc({ route: this.route, format: message.format });
    if (message.invalidUtf8) syslogMetrics.altered.inc({ route: this.route, change: "invalid_utf8" });
    if (cut || message.lineCut) syslogMetrics.altered.inc({ route: this.route, change: "cut" });
    if (this.messages.length === 0) this.clientIp = peerHost;
    this.messages.push(message);
    this.bytes += frame.length;
  }

  /** The collected messages, leaving this batch empty for the next ones. */
  take(): TakenBatch {
    const taken = { messages: this.messages, bytes: this.bytes, clientIp: this.clientIp };
    this.messages = [];
    this.bytes = 0;
    return taken;
  }
}

export interface TakenBatch {
  messages: SyslogMessage[];
  bytes: number;
  clientIp: string;
}

export interface SendOptions {
  /** Retry refusals that pass, while this returns true (TCP: until shutdown); false: drop (UDP). */
  retrying: () => boolean;
  /** Aborts a wait between retries (shutdown). */
  signal?: AbortSignal;
}

/** Pushes a batch; resolves once it is durable, or dropped and counted. Never rejects. */
export async function sendBatch(
  context: SyslogContext,
  route: SyslogRoute,
  batch: TakenBatch,
  options: SendOptions,
) {
  if (batch.messages.length === 0) return;
  const { pipeline, metrics, syslogMetrics, tenant } = context;
  const streams = syslogStreams(batch.messages);
  const count = batch.messages.length;
  const bytes = Math.max(1, batch.bytes);
  for (;;) {
    let reason: RejectReason | null = null;
    let retryAfterMs: number = syslogTransportLimits.retryDelayMsMax;
    const ticket = pipeline.tryAdmit(bytes);
    if (ticket === null) reason = rejectReasons.queueFull;
    else {
      try {
        const result = await pipeline.push({
          tenant,
          streams,
          receivedBytes: batch.bytes,
          // Now, not when the first message came: the tenant rates refill by this clock, so a retry
          // with the first attempt's time would never pass.
          receivedAtMs: Date.now(),
          clientIp: batch.clientIp,
        });
        metrics.ingestedRecords.inc({ route, tenant }, result.entries);
        metrics.ingestedBytes.inc({ route, tenant }, batch.bytes);
        return;
      } catch (error) {
        if (!(error instanceof IngestError)) {
          syslogMetrics.dropped.inc({ route, reason: dropReasons.internal }, count);
          context.logger.error(
            { err: error, route, messages: count },
            "syslog: append failed, messages dropped",
          );
          return;
        }
        reason = error.reason;
        if (error.retryAfterS !== null) retryAfterMs = error.retryAfterS * 1000;
      } finally {
        ticket.release();
      }
    }
    metrics.rejectedRequests.inc({ route, reason });
    if (!passingReasons.has(reason) || !options.retrying()) {
      const dropped =
        passingReasons.has(reason) && route === syslogRoutes.tcp ? dropReasons.shutdown : reason;
      syslogMetrics.dropped.inc({ route, reason: dropped }, count);
      // An overloaded UDP listener drops a batch per flush: the counter tells, the log would flood.
      const level = route === syslogRoutes.udp && dropped === rejectReasons.queueFull ? "debug" : "warn";
      context.logger[level]({ route, reason: dropped, messages: count }, "syslog: messages dropped");
      return;
    }
    try {
      await sleep(Math.min(retryAfterMs, syslogTransportLimits.retryDelayMsMax), undefined, {
        signal: options.signal,
      });
    } catch {
      // shutdown: one more attempt, then retrying() says no
    }
  }
}
