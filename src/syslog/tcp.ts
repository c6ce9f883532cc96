// Syslog over TCP: a listener and its connections. Each connection frames its bytes (framing.ts),
// decodes frames into a batch and hands full batches to its BatchSender (batch.ts). While the
// sender is busy (tcpBatchesInFlightMax batches not yet durable, or one waiting to be retried) the
// socket is paused, so a sender faster than the log is held back by TCP's own flow control (its
// writes block; rsyslog queues on its side) instead of growing a buffer here: per connection at
// most one frame, one read, the batch being collected and the sender's batches are held.
//
// Before start() (recovery), connections are accepted up to the bound but not read: the kernel's
// buffers and the sender wait. close() stops accepting, stops reading, stores what was read.

import net from "node:net";
import { BatchSender, dropReasons, MessageBatch, type SyslogContext, syslogRoutes } from "./batch.ts";
import { SyslogFramer } from "./framing.ts";
import { syslogTransportLimits } from "./limits.ts";

export interface TcpListenerOptions {
  host: string;
  /** 0: a free port. */
  port: number;
  connectionsMax: number;
  idleTimeoutMs: number;
  /** A frame longer than this is cut (--line-bytes-max plus the header allowance). */
  frameBytesMax: number;
}

const route = syslogRoutes.tcp;

export class SyslogTcpListener {
  readonly #server: net.Server;
  readonly #context: SyslogContext;
  readonly #options: TcpListenerOptions;
  readonly #connections = new Set<TcpConnection>();
  readonly #stopping = new AbortController();
  #started = false;
  #closing: Promise<void> | null = null;

  private constructor(context: SyslogContext, options: TcpListenerOptions) {
    this.#context = context;
    this.#options = options;
    this.#server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) =>
      this.#accept(socket),
    );
    this.#server.maxConnections = options.connectionsMax;
    this.#server.on("drop", () => context.syslogMetrics.connections.inc({ outcome: "refused" }));
    this.#server.on("error", (error) => context.logger.error({ err: error }, "syslog tcp: listener error"));
  }

  /** Binds; rejects when the port cannot be had (in use, no permission). */
  static async listen(context: SyslogContext, options: TcpListenerOptions): Promise<SyslogTcpListener> {
    const listener = new SyslogTcpListener(context, options);
    const server = listener.#server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port: options.port, host: options.host }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return listener;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Starts reading: every connection accepted so far, and each one after. */
  start(): void {
    this.#started = true;
    for (const connection of this.#connections) connection.start();
  }

  /** Stops accepting, then ends every connection once what it read is stored (or dropped, counted). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopping.abort();
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      await Promise.all([...this.#connections].map((connection) => connection.close()));
      await closed;
    })();
    return this.#closing;
  }

  #accept(socket: net.Socket): void {
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    this.#context.syslogMetrics.connections.inc({ outcome: "accepted" });
    const connection = new TcpConnection(this.#context, socket, this.#options, this.#stopping.signal);
    this.#connections.add(connection);
    connection.done.then(() => this.#connections.delete(connection));
    if (this.#started) connection.start();
  }
}

class TcpConnection {
  readonly done: Promise<void>;
  readonly #context: SyslogContext;
  readonly #socket: net.Socket;
  readonly #options: TcpListenerOptions;
  readonly #framer: SyslogFramer;
  readonly #batch: MessageBatch;
  readonly #sender: BatchSender;
  readonly #peerHost: string;
  #chunkAtMs = 0;
  #timer: NodeJS.Timeout | null = null;
  #finishing = false;
  #resolveDone: () => void = () => {};

  constructor(context: SyslogContext, socket: net.Socket, options: TcpListenerOptions, signal: AbortSignal) {
    this.#context = context;
    this.#socket = socket;
    this.#options = options;
    this.#framer = new SyslogFramer(options.frameBytesMax);
    this.#batch = new MessageBatch(context, route);
    this.#sender = new BatchSender(context, route, {
      inFlightMax: syslogTransportLimits.tcpBatchesInFlightMax,
      retry: true,
      signal,
      onIdle: () => this.#readAgain(),
    });
    this.#peerHost = peerHostOf(socket.remoteAddress);
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    socket.on("error", (error) =>
      context.logger.debug({ err: error, peer: this.#peerHost }, "syslog tcp: connection error"),
    );
    socket.on("end", () => this.#finish());
    socket.on("close", () => this.#finish());
  }

  start(): void {
    if (this.#finishing) return;
    // on(), not setTimeout's callback (a once listener): a timeout while paused by us is ignored,
    // and the next one must still close an idle connection.
    this.#socket.on("timeout", () => {
      if (this.#sender.active) {
        // Paused by us (backpressure), not idle. A fired timeout is re-armed only by socket activity,
        // and a paused socket has none: arm it again, or a connection idle from here stays forever.
        this.#socket.setTimeout(this.#options.idleTimeoutMs);
        return;
      }
      this.#context.syslogMetrics.connections.inc({ outcome: "idle_closed" });
      this.#finish();
    });
    this.#socket.setTimeout(this.#options.idleTimeoutMs);
    this.#socket.on("data", (chunk: Buffer) => {
      if (this.#finishing) return; // shutdown: what is still arriving is not read (no ack was given)
      this.#chunkAtMs = Date.now();
      this.#framer.push(chunk);
      this.#drain();
    });
    this.#socket.resume();
  }

  /** Shutdown: stop reading, store what was read, close the socket. */
  close(): Promise<void> {
    this.#finish();
    return this.done;
  }

  /** Decodes the framer's whole frames into the batch, handing each full one to the sender. */
  #drain(): void {
    while (!this.#sender.busy) {
      const frame = this.#framer.next();
      if (frame === null) break;
      this.#batch.add(frame.bytes, frame.cut, this.#chunkAtMs, this.#peerHost);
      if (this.#batch.full) this.#flush();
    }
    if (this.#sender.busy) this.#socket.pause();
    else if (this.#timer === null && this.#batch.messages.length > 0)
      this.#timer = setTimeout(() => this.#flush(), syslogTransportLimits.batchDelayMs);
  }

  #flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#sender.send(this.#batch.take());
    if (this.#sender.busy) this.#socket.pause();
  }

  /** The sender has room again: decode what the framer holds, then read the socket again. */
  #readAgain(): void {
    if (this.#finishing) return;
    this.#drain();
    if (!this.#sender.busy) this.#socket.resume();
  }

  /** The end (the sender's FIN, an error, idle, shutdown): store what was read, then close. Once. */
  #finish(): void {
    if (this.#finishing) return;
    this.#finishing = true;
    this.#socket.pause();
    // Whole frames still in the framer (a shutdown while paused) and the last one without its LF;
    // they are at most one read's worth, so queueing them all in the sender stays bounded.
    for (let frame = this.#framer.next(); frame !== null; frame = this.#framer.next()) {
      this.#batch.add(frame.bytes, frame.cut, this.#chunkAtMs, this.#peerHost);
      if (this.#batch.full) this.#flush();
    }
    const last = this.#framer.end();
    if (last === "truncated")
      this.#context.syslogMetrics.dropped.inc({ route, reason: dropReasons.truncated });
    else if (last !== null) this.#batch.add(last.bytes, last.cut, this.#chunkAtMs, this.#peerHost);
    this.#flush();
    void this.#sender.drained().then(() => {
      this.#socket.end();
      this.#socket.destroySoon();
      this.#resolveDone();
    });
  }
}

/** Host part of a peer address; IPv4-mapped IPv6 shown as plain IPv4 (as src/http's clientIp). */
export function peerHostOf(address: string | undefined): string {
  if (!address) return "unknown";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
