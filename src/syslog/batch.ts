// A batch of decoded syslog messages on its way into the ingest pipeline, shared by the TCP and UDP
// listeners: frames are decoded as they arrive (counted by format and change), collected up to
// syslogTransportLimits, then pushed with an admission ticket. TCP retries a refusal that passes
// (its connection paused meanwhile: flow control instead of buffering); UDP drops and counts.

import type { Logger } from "pino";
import {
  IngestError,
  type IngestPipeline,
  type PushResult,
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

export interface SenderOptions {
  /** Batches submitted to the pipeline and not yet durable, at most. */
  inFlightMax: number;
  /**
   * TCP: a refusal that passes is retried (the reader pauses while the sender is busy), until
   * `signal` aborts (shutdown: dropped then). UDP (false): dropped, and a batch that finds
   * inFlightMax batches in flight is dropped too (queue_full).
   */
  retry: boolean;
  signal?: AbortSignal;
  /** Called when the sender stops being busy: the reader may read again. */
  onIdle?: () => void;
}

/**
 * Submits batches to the pipeline in order, up to inFlightMax at once so that one connection's
 * appends share a group commit instead of each waiting for its own fsync. Measured (one connection,
 * 200,000 RFC 5424 messages, fsync always, shared 2-core host, 2026-12-04): one batch in flight,
 * each waited ~13 ms (sluice_log_append_duration_seconds): 24.6 k messages/s; four: 31–35 k
 * (bench/syslog.bench.ts; the rest of the time is the pipeline and the index, not syslog). A batch
 * is submitted only after the one before it was accepted, so a connection's messages are stored
 * in the order sent; only a batch the log refuses after accepting it (storage_overloaded) is
 * retried behind later ones.
 */
export class BatchSender {
  readonly #context: SyslogContext;
  readonly #route: SyslogRoute;
  readonly #options: SenderOptions;
  readonly #queue: TakenBatch[] = [];
  #inFlight = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #drainedWaiters: (() => void)[] = [];

  constructor(context: SyslogContext, route: SyslogRoute, options: SenderOptions) {
    this.#context = context;
    this.#route = route;
    this.#options = options;
    options.signal?.addEventListener(
      "abort",
      () => {
        if (this.#retryTimer === null) return;
        clearTimeout(this.#retryTimer);
        this.#retryTimer = null;
        this.#pump(); // one more attempt each, then dropped as shutdown
      },
      { once: true },
    );
  }

  /** Batches wait to be submitted, or inFlightMax are in flight: the reader should pause. */
  get busy(): boolean {
    return this.#queue.length > 0 || this.#inFlight >= this.#options.inFlightMax;
  }

  /** Anything queued or in flight. */
  get active(): boolean {
    return this.#queue.length > 0 || this.#inFlight > 0;
  }

  send(batch: TakenBatch): void {
    if (batch.messages.length === 0) return;
    if (!this.#options.retry && this.#inFlight >= this.#options.inFlightMax) {
      this.#context.metrics.rejectedRequests.inc({ route: this.#route, reason: rejectReasons.queueFull });
      this.#drop(batch, rejectReasons.queueFull);
      return;
    }
    this.#queue.push(batch);
    this.#pump(false);
  }

  /** Resolves once nothing is queued or in flight. */
  drained(): Promise<void> {
    if (!this.active) return Promise.resolve();
    return new Promise((resolve) => this.#drainedWaiters.push(resolve));
  }

  /** `wake`: tell the reader when no longer busy (not from send(): the reader is on the stack then). */
  #pump(wake = true): void {
    while (
      this.#retryTimer === null &&
      this.#queue.length > 0 &&
      this.#inFlight < this.#options.inFlightMax
    ) {
      const retryMs = this.#submit(this.#queue[0]!);
      if (retryMs !== null) {
        this.#retryLater(retryMs);
        break;
      }
      this.#queue.shift();
    }
    if (wake && !this.busy) this.#options.onIdle?.();
    if (!this.active) for (const resolve of this.#drainedWaiters.splice(0)) resolve();
  }

  #retryLater(retryMs: number): void {
    if (this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(
      () => {
        this.#retryTimer = null;
        this.#pump();
      },
      Math.min(retryMs, syslogTransportLimits.retryDelayMsMax),
    );
  }

  /** Submits or drops `batch`; the ms to wait before trying it again when it must be retried. */
  #submit(batch: TakenBatch): number | null {
    const { pipeline, metrics } = this.#context;
    const route = this.#route;
    const ticket = pipeline.tryAdmit(Math.max(1, batch.bytes));
    if (ticket === null) return this.#refused(batch, rejectReasons.queueFull, null);
    let durable: Promise<PushResult>;
    try {
      durable = pipeline.push({
        tenant: this.#context.tenant,
        streams: syslogStreams(batch.messages),
        receivedBytes: batch.bytes,
        // Now, not when the first message came: the tenant rates refill by this clock, so a retry
        // with the first attempt's time would never pass.
        receivedAtMs: Date.now(),
        clientIp: batch.clientIp,
      });
    } catch (error) {
      ticket.release();
      return this.#failed(batch, error);
    }
    this.#inFlight++;
    durable
      .then(
        (result) => {
          metrics.ingestedRecords.inc({ route, tenant: this.#context.tenant }, result.entries);
          metrics.ingestedBytes.inc({ route, tenant: this.#context.tenant }, batch.bytes);
        },
        (error) => {
          const retryMs = this.#failed(batch, error);
          if (retryMs !== null) {
            this.#queue.unshift(batch);
            this.#retryLater(retryMs);
          }
        },
      )
      .finally(() => {
        ticket.release();
        this.#inFlight--;
        this.#pump();
      });
    return null;
  }

  #failed(batch: TakenBatch, error: unknown): number | null {
    if (error instanceof IngestError)
      return this.#refused(batch, error.reason, error.retryAfterS === null ? null : error.retryAfterS * 1000);
    this.#context.syslogMetrics.dropped.inc(
      { route: this.#route, reason: dropReasons.internal },
      batch.messages.length,
    );
    this.#context.logger.error(
      { err: error, route: this.#route, messages: batch.messages.length },
      "syslog: append failed, messages dropped",
    );
    return null;
  }

  #refused(batch: TakenBatch, reason: RejectReason, retryAfterMs: number | null): number | null {
    this.#context.metrics.rejectedRequests.inc({ route: this.#route, reason });
    const passing = passingReasons.has(reason);
    if (passing && this.#options.retry && this.#options.signal?.aborted !== true)
      return retryAfterMs ?? syslogTransportLimits.retryDelayMsMax;
    this.#drop(batch, passing && this.#options.retry ? dropReasons.shutdown : reason);
    return null;
  }

  #drop(batch: TakenBatch, reason: string): void {
    const count = batch.messages.length;
    this.#context.syslogMetrics.dropped.inc({ route: this.#route, reason }, count);
    // An overloaded UDP listener drops a batch per flush: the counter tells, the log would flood.
    const level = this.#route === syslogRoutes.udp && reason === rejectReasons.queueFull ? "debug" : "warn";
    this.#context.logger[level]({ route: this.#route, reason, messages: count }, "syslog: messages dropped");
  }
}
