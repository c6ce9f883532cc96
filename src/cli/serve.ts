// `sluice serve`: configuration, the server's own JSON logs (pino), and signal handling. SIGTERM and
// SIGINT shut down gracefully; a second signal exits at once.

import v8 from "node:v8";
import pino from "pino";
import { AnalyticsError } from "../analytics/index.ts";
import { ConfigError, helpText, resolveConfig } from "../config/index.ts";
import { startServer } from "../http/index.ts";
import { RecordFormatError } from "../ingest/index.ts";
import { LogError } from "../log/index.ts";

export async function serve(argv: readonly string[]): Promise<number> {
  let resolved: ReturnType<typeof resolveConfig>;
  try {
    resolved = resolveConfig(argv, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`sluice serve: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (resolved.help) {
    process.stdout.write(helpText("serve"));
    return 0;
  }
  const { config } = resolved;
  const heapProblem = heapTooSmall(config["queue-bytes-max"]);
  if (heapProblem !== null) {
    process.stderr.write(`sluice serve: ${heapProblem}\n`);
    return 2;
  }
  const logger = pino({ level: config["log-level"], base: { component: "sluice" } });
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    // Operating failures at start (a locked data dir, an unreadable aggregate store, an access-log
    // record of a newer format the idempotency rebuild cannot read): one clear line.
    if (error instanceof LogError || error instanceof AnalyticsError || error instanceof RecordFormatError) {
      process.stderr.write(`sluice serve: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  let signals = 0;
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) process.exit(1);
      logger.info({ signal }, "shutting down");
      server.close().then(resolve, (error) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  return 0;
}

// Memory model (docs/operations.md): request bodies in flight are bounded by --queue-bytes-max, and
// each body byte costs about this many heap bytes while parsed, enriched and encoded (measured with
// test/server-overload.test.ts). The V8 heap limit (node --max-old-space-size) bounds the garbage on
// top; it must leave room for the queue, or a full queue would crash the process instead of being
// answered with 429.
const heapBytesPerQueueByte = 6;
const heapBytesBase = 64 * 1024 * 1024;

function heapTooSmall(queueBytesMax: number): string | null {
  const needed = heapBytesBase + heapBytesPerQueueByte * queueBytesMax;
  const limit = v8.getHeapStatistics().heap_size_limit;
  if (limit >= needed) return null;
  const mib = (bytes: number) => Math.ceil(bytes / 2 ** 20);
  return `--queue-bytes-max ${queueBytesMax} needs a V8 heap of at least ${mib(needed)} MiB, this process has ${mib(limit)} MiB: lower --queue-bytes-max or start node with --max-old-space-size=${mib(needed)}`;
}
