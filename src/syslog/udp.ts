// Syslog over UDP: one datagram is one message (RFC 5426). Datagrams are decoded into one batch for
// the socket and flushed into the pipeline like a TCP connection's; UDP has no flow control, so
// when the queue is full (no admission ticket, or udpBatchesInFlightMax batches in the pipeline) a
// batch is dropped and counted (queue_full), as a full socket buffer would drop it. Before start()
// (recovery) datagrams are dropped and counted (not_ready).

import dgram from "node:dgram";
import { BatchSender, dropReasons, MessageBatch, type SyslogContext, syslogRoutes } from "./batch.ts";
import { syslogTransportLimits } from "./limits.ts";
import { peerHostOf } from "./tcp.ts";

const route = syslogRoutes.udp;

export class SyslogUdpListener {
  readonly #socket: dgram.Socket;
  readonly #context: SyslogContext;
  readonly #batch: MessageBatch;
  readonly #sender: BatchSender;
  #timer: NodeJS.Timeout | null = null;
  #started = false;
  #closing: Promise<void> | null = null;

  private constructor(context: SyslogContext, host: string) {
    this.#context = context;
    this.#batch = new MessageBatch(context, route);
    this.#sender = new BatchSender(context, route, {
      inFlightMax: syslogTransportLimits.udpBatchesInFlightMax,
      retry: false,
    });
    this.#socket = dgram.createSocket({ type: host.includes(":") ? "udp6" : "udp4" });
    this.#socket.on("message", (datagram, remote) => this.#receive(datagram, remote.address));
    this.#socket.on("error", (error) => context.logger.error({ err: error }, "syslog udp: socket error"));
  }

  /** Binds; rejects when the port cannot be had. */
  static async bind(
    context: SyslogContext,
    options: { host: string; port: number },
  ): Promise<SyslogUdpListener> {
    const listener = new SyslogUdpListener(context, options.host);
    const socket = listener.#socket;
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind({ port: options.port, address: options.host }, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    return listener;
  }

  get port(): number {
    return this.#socket.address().port;
  }

  start(): void {
    this.#started = true;
  }

  /** Stops receiving, stores the batch being collected, waits for the batches in the pipeline. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
      this.#flush();
      await this.#sender.drained();
    })();
    return this.#closing;
  }

  #receive(datagram: Buffer, address: string): void {
    if (!this.#started || this.#closing !== null) {
      const reason = this.#started ? dropReasons.shutdown : dropReasons.notReady;
      this.#context.syslogMetrics.dropped.inc({ route, reason });
      return;
    }
    this.#batch.add(datagram, false, Date.now(), peerHostOf(address));
    if (this.#batch.full) this.#flush();
    else if (this.#timer === null && this.#batch.messages.length > 0)
      this.#timer = setTimeout(() => this.#flush(), syslogTransportLimits.batchDelayMs);
  }

  #flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#sender.send(this.#batch.take());
  }
}
