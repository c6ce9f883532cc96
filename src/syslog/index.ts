// Public surface of the syslog transport: the TCP and UDP listeners of --syslog-tcp-port and
// --syslog-udp-port over a node's ingest pipeline. startSyslog binds them (a port in use fails the
// start, as the HTTP port does); nothing is read until start() (after recovery); close() stops
// accepting and stores what was read before it resolves.

import type { Logger } from "pino";
import type { ServeConfig } from "../config/index.ts";
import type { IngestPipeline } from "../ingest/index.ts";
import { createSyslogMetrics, type Metrics } from "../metrics/index.ts";
import type { SyslogContext } from "./batch.ts";
import { syslogTransportLimits } from "./limits.ts";
import { SyslogTcpListener } from "./tcp.ts";
import { SyslogUdpListener } from "./udp.ts";

export { syslogRoutes } from "./batch.ts";
export { type Frame, SyslogFramer } from "./framing.ts";
export { syslogTransportLimits } from "./limits.ts";

export interface SyslogListeners {
  /** The bound ports; null when that listener is off (-1). */
  tcpPort: number | null;
  udpPort: number | null;
  /** Starts reading (call once the node is recovered). */
  start(): void;
  /** Stops both listeners; resolves once what they read is stored or counted as dropped. */
  close(): Promise<void>;
}

/** The node's parts the listeners write through. */
export interface SyslogNode {
  pipeline: IngestPipeline;
  metrics: Metrics;
}

/** The TCP and UDP ports a configuration asks for (-1: that listener is off). */
export function syslogPorts(config: ServeConfig): { tcpPort: number; udpPort: number } {
  const shared = config["syslog-port"];
  return {
    tcpPort: config["syslog-tcp-port"] >= 0 ? config["syslog-tcp-port"] : shared,
    udpPort: config["syslog-udp-port"] >= 0 ? config["syslog-udp-port"] : shared,
  };
}

/**
 * Bytes the TCP listener's connections may hold at once (the start-up heap check): each at most one
 * frame being read (--line-bytes-max plus its header) and one batch being collected. 0 when off.
 */
export function syslogBufferBytesMax(config: ServeConfig): number {
  if (syslogPorts(config).tcpPort < 0) return 0;
  const perConnection =
    config["line-bytes-max"] + syslogTransportLimits.headerBytesMax + syslogTransportLimits.batchBytesMax;
  return config["syslog-connections-max"] * perConnection;
}

export async function startSyslog(
  config: ServeConfig,
  node: SyslogNode,
  logger: Logger,
): Promise<SyslogListeners> {
  const { tcpPort, udpPort } = syslogPorts(config);
  if (tcpPort < 0 && udpPort < 0) return { tcpPort: null, udpPort: null, start() {}, close: async () => {} };
  const tenant = config["syslog-tenant"]; // checked by the config (its pattern in options.ts)
  const context: SyslogContext = {
    pipeline: node.pipeline,
    metrics: node.metrics,
    syslogMetrics: createSyslogMetrics(node.metrics.registry),
    logger,
    tenant,
  };
  const host = config["syslog-host"] ?? config.host;
  const tcp =
    tcpPort < 0
      ? null
      : await SyslogTcpListener.listen(context, {
          host,
          port: tcpPort,
          connectionsMax: config["syslog-connections-max"],
          idleTimeoutMs: config["syslog-idle-timeout-ms"],
          frameBytesMax: config["line-bytes-max"] + syslogTransportLimits.headerBytesMax,
        });
  let udp: SyslogUdpListener | null = null;
  try {
    udp =
      udpPort < 0
        ? null
        : await bindUdp(
            context,
            host,
            udpPort,
            udpPort === 0 && config["syslog-port"] === 0 ? tcp?.port : undefined,
          );
  } catch (error) {
    await tcp?.close();
    throw error;
  }
  return {
    tcpPort: tcp?.port ?? null,
    udpPort: udp?.port ?? null,
    start() {
      tcp?.start();
      udp?.start();
    },
    async close() {
      await Promise.all([tcp?.close(), udp?.close()]);
    },
  };
}

/**
 * The UDP listener; with `--syslog-port 0` on the TCP listener's port (one number for both, as with
 * a fixed --syslog-port) when that UDP port is free, else on a free port of its own.
 */
async function bindUdp(context: SyslogContext, host: string, port: number, tcpPort: number | undefined) {
  if (tcpPort !== undefined) {
    try {
      return await SyslogUdpListener.bind(context, { host, port: tcpPort });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    }
  }
  return SyslogUdpListener.bind(context, { host, port });
}
