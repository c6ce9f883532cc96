// End-to-end ingest benchmarks (issue 5): a real `sluice serve` process and the load generator in
// this process, over loopback, acknowledged after fsync. Each prints one summary line:
//   ingest v1 max       POST /v1/logs, batches of 100, as fast as acknowledged (concurrency 16)
//   ingest v1 half      POST /v1/logs at half the rate the max run reached: latency percentiles
//   ingest access max   POST /logs, batches of 20 (entries/s), concurrency 16
// Usage: node bench/ingest.bench.ts [--seconds 8]

import fs from "node:fs";
import { parseArgs } from "node:util";
import { formatSummary, type LoadOptions, runLoad } from "../src/loadgen/index.ts";
import { npmStartNodeArgs, startServerProcess } from "../test/support/server.ts";

const { values: args } = parseArgs({
  options: { seconds: { type: "string", default: "8" }, concurrency: { type: "string", default: "16" } },
});
const durationS = Number(args.seconds);
const concurrency = Number(args.concurrency);

async function run(
  name: string,
  options: Partial<LoadOptions> & Pick<LoadOptions, "format" | "batch">,
): Promise<number> {
  const server = await startServerProcess({ nodeArgs: npmStartNodeArgs() });
  try {
    const summary = await runLoad({
      url: `${server.url}${options.format === "access" ? "/logs" : "/v1/logs"}`,
      total: 0,
      durationS,
      delayMs: 0,
      concurrency,
      rate: 0,
      tenant: null,
      prebuiltBodies: 256,
      seed: 7,
      ...options,
    });
    console.log(`${name.padEnd(20)} ${formatSummary(summary)}`);
    return summary.recordsAcknowledged / summary.elapsedS;
  } finally {
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
}

const maxRate = await run("ingest v1 max", { format: "v1", batch: 100 });
await run("ingest v1 half", { format: "v1", batch: 100, rate: Math.floor(maxRate / 2) });
await run("ingest access max", { format: "access", batch: 20 });
