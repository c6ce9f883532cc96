// `sluice serve`: configuration, the server's own JSON logs (pino), and signal handling. SIGTERM and
// SIGINT shut down gracefully; a second signal exits at once.

import pino from "pino";
import { ConfigError, helpText, resolveConfig } from "../config/index.ts";
import { startServer } from "../http/index.ts";

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
  const logger = pino({ level: config["log-level"], base: { component: "sluice" } });
  const server = await startServer(config, logger);
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
