// `sluice aggregates rebuild`: recompute every aggregate from the access log (retention permitting)
// while the server is stopped. Takes the same options (flags, SLUICE_* env, config file) as serve,
// so it finds the same data dir, partition count and aggregate-keys-max.

import fs from "node:fs";
import path from "node:path";
import { AnalyticsError, rebuildAggregates } from "../analytics/index.ts";
import { ConfigError, dataLayout, helpText, resolveConfig, topics } from "../config/index.ts";
import { RecordFormatError } from "../ingest/index.ts";
import { LogError, LogLockedError, PartitionLog } from "../log/index.ts";
import { accessLogLimits } from "../node/index.ts";

const usage = `usage: sluice aggregates rebuild [options]

Recomputes the per-window access-log aggregates from the access log into a new store and swaps it
in when complete. Stop the server first. Options are those of sluice serve (see --help); it uses
--data-dir, --partitions and --aggregate-keys-max.
`;

export async function aggregates(argv: readonly string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === "--help" || action === "-h" || action === "help") {
    process.stdout.write(usage);
    return 0;
  }
  if (action !== "rebuild") {
    process.stderr.write(
      `sluice aggregates: ${action === undefined ? "missing action" : `unknown action ${JSON.stringify(action)}`}\n\n${usage}`,
    );
    return 2;
  }
  let config: ReturnType<typeof resolveConfig>["config"];
  try {
    const resolved = resolveConfig(rest, process.env);
    if (resolved.help) {
      process.stdout.write(`${usage}\n${helpText("aggregates rebuild")}`);
      return 0;
    }
    config = resolved.config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`sluice aggregates rebuild: ${error.message}\n`);
    return 2;
  }
  const dataDir = path.resolve(config["data-dir"]);
  const logDirectory = dataLayout.topicDirectory(dataDir, topics.accessLogs);
  if (!fs.existsSync(path.join(logDirectory, "log.json"))) {
    process.stderr.write(
      `sluice aggregates rebuild: no access log under ${logDirectory}: nothing to rebuild from\n`,
    );
    return 1;
  }
  let log: PartitionLog;
  try {
    log = PartitionLog.open({
      ...accessLogLimits(config), // the server's limits: a record it may write must read back whole
      directory: logDirectory,
      partitionCount: config.partitions,
      onEvent: (event) => {
        // Recovery reports and damaged batches: the rebuild cannot count what the log cannot read.
        if (event.kind === "damaged-batch" || event.kind === "recovered")
          process.stderr.write(`rebuild: log: ${JSON.stringify(event)}\n`);
      },
    });
  } catch (error) {
    if (error instanceof LogLockedError) {
      process.stderr.write(
        `sluice aggregates rebuild: ${error.message}\nstop the server first: the rebuild replaces the store the server writes\n`,
      );
      return 1;
    }
    if (error instanceof LogError) {
      process.stderr.write(`sluice aggregates rebuild: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const storeFile = dataLayout.aggregateStoreFile(dataDir);
  let lastReportMs = 0;
  try {
    const summary = rebuildAggregates(log, storeFile, {
      windowKeysMax: config["aggregate-keys-max"],
      onProgress: (progress) => {
        const nowMs = performance.now();
        if (nowMs - lastReportMs < 1000) return;
        lastReportMs = nowMs;
        const percent =
          progress.recordsTotal === 0 ? 100 : (100 * progress.recordsDone) / progress.recordsTotal;
        process.stderr.write(
          `rebuild: partition ${progress.partition + 1}/${log.partitionCount} ${percent.toFixed(0)}% · ${progress.entries.toLocaleString("en-US")} entries so far\n`,
        );
      },
    });
    const seconds = summary.durationMs / 1000;
    process.stdout.write(
      [
        `rebuilt ${storeFile} in ${seconds.toFixed(1)} s`,
        `records ${summary.records} · entries ${summary.entries} (${Math.round(summary.entries / Math.max(seconds, 0.001)).toLocaleString("en-US")}/s)`,
        `windows minute ${summary.windows.minute} · hour ${summary.windows.hour} · day ${summary.windows.day}`,
        `folded into other: paths ${summary.pathsFolded} · user agents ${summary.agentsFolded}`,
        `skipped: undecodable records ${summary.undecodableRecords} · records expired by retention ${summary.expiredRecords} · records in damaged batches ${summary.damagedRecords}`,
        "",
      ].join("\n"),
    );
    return 0;
  } catch (error) {
    if (error instanceof AnalyticsError || error instanceof RecordFormatError) {
      process.stderr.write(`sluice aggregates rebuild: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await log.close();
  }
}
