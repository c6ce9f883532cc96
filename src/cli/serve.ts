// `sluice serve`: configuration, the server's own JSON logs (pino), and signal handling. SIGTERM and
// SIGINT shut down gracefully; a second signal exits at once.

import v8 from "node:v8";
import pino from "pino";
import { AnalyticsError } from "../analytics/index.ts";
import { ConfigError, helpText, resolveConfig } from "../config/index.ts";
import { startServer } from "../http/index.ts";
import { RecordFormatError } from "../ingest/index.ts";
import { LogError } from "../log/index.ts";
import { syslogBufferBytesMax } from "../syslog/index.ts";
import { heapProblem } from "./heap.ts";

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
  const heapTooSmall = heapProblem(
    {
      queueBytesMax: config["queue-bytes-max"],
      idempotencyKeysMax: config["idempotency-keys-max"],
      syslogBufferBytesMax: syslogBufferBytesMax(config),
    },
    v8.getHeapStatistics().heap_size_limit,
  );
  if (heapTooSmall !== null) {
    process.stderr.write(`sluice serve: ${heapTooSmall}\n`);
    return 2;
  }
  const logger = pino({ level: config["log-level"], base: { component: "sluice" } });
  // Listening comes first (a port in use fails here); recovery then runs behind /ready 503.
  const server = await startServer(config, logger);
  let signals = 0;
  let stopping: Promise<void> | null = null;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) process.exit(1);
      logger.info({ signal }, "shutting down");
      stopping = server.close();
      stopping.then(resolve, (error) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  try {
    await server.recovered;
  } catch (error) {
    if (stopping !== null) {
      await stopped; // a signal during recovery: a clean shutdown
      return 0;
    }
    // Operating failures (a locked data dir, an unreadable aggregate store, an access-log record of a
    // newer format the idempotency rebuild cannot read) in one clear line; a bug
    // with its stack. Either way the listener closes, so no half-started server is left listening.
    const typed =
      error instanceof LogError || error instanceof AnalyticsError || error instanceof RecordFormatError;
    const detail =
      typed || !(error instanceof Error) ? String((error as Error).message ?? error) : error.stack;
    logger.error({ err: error }, "recovery failed");
    process.stderr.write(`sluice serve: recovery failed, exiting: ${detail}\n`);
    await server.close();
    return 1;
  }
  await stopped;
  return 0;
}
