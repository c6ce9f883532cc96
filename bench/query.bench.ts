// GET /v1/query?service=X&limit=100 (reference A's "last 100 logs of a service") on a real server
// after loading it with realistic logs. Prints one summary line.
// Usage: node bench/query.bench.ts [--records 1000000]

import fs from "node:fs";
import { parseArgs } from "node:util";
import { runLoad } from "../src/loadgen/index.ts";
import { npmStartNodeArgs, startServerProcess } from "../test/support/server.ts";
import { benchLine, formatCount, latencySummary } from "./stats.ts";

const { values: args } = parseArgs({ options: { records: { type: "string", default: "1000000" } } });
const server = await startServerProcess({ nodeArgs: npmStartNodeArgs() });
try {
  const load = await runLoad({
    url: `${server.url}/v1/logs`,
    format: "v1",
    batch: 100,
    total: Number(args.records),
    durationS: 0,
    delayMs: 0,
    concurrency: 16,
    rate: 0,
    tenant: null,
    prebuiltBodies: 256,
    seed: 11,
  });
  const latenciesMs: number[] = [];
  for (let i = 0; i < 300; i++) {
    const started = performance.now();
    const response = await fetch(`${server.url}/v1/query?service=auth_service&limit=100`);
    const entries = (await response.json()) as unknown[];
    latenciesMs.push(performance.now() - started);
    if (entries.length !== 100) throw new Error(`query returned ${entries.length} entries`);
  }
  console.log(
    benchLine("query last-100 service", {
      stored_records: formatCount(load.recordsAcknowledged),
      latency: latencySummary(latenciesMs),
    }),
  );
} finally {
  await server.stop();
  fs.rmSync(server.dataDir, { recursive: true, force: true });
}
