// POST /logs with the idempotency table full vs empty, end to end: a real `sluice serve` (npm start's
// node flags) and the load generator in this process, over loopback. "full": the access log already
// holds --idempotency-keys-max batches within the retention, so the rebuild fills the table and
// every new batch is refused with 503 (the documented answer at the max); "empty": a fresh data dir,
// every batch is stored (202, after fsync). Before the expiry queue, each refusal swept the whole
// table. Prints one summary line:
//   idempotency full/empty  keys=… full: rps p50 p99 (statuses) | empty: rps p50 p99 (statuses)
// Usage: node bench/idempotency.bench.ts [--keys 1000000] [--seconds 8] [--warmup-seconds 2]
//                                        [--concurrency 16]

import fs from "node:fs";
import { parseArgs } from "node:util";
import { dataLayout, topics } from "../src/config/index.ts";
import { accessBatchKey } from "../src/ingest/index.ts";
import { type LoadSummary, percentile, runLoad } from "../src/loadgen/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import { npmStartNodeArgs, startServerProcess, temporaryDataDir } from "../test/support/server.ts";

const { values: args } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    seconds: { type: "string", default: "8" },
    "warmup-seconds": { type: "string", default: "2" },
    concurrency: { type: "string", default: "16" },
  },
});
const keyCount = Number(args.keys);
const durationS = Number(args.seconds);
const warmupS = Number(args["warmup-seconds"]);
const concurrency = Number(args.concurrency);
for (const [name, value] of Object.entries({ keyCount, durationS, warmupS, concurrency }))
  if (!(Number.isFinite(value) && value >= 0)) throw new Error(`bad ${name}: ${value}`);

const partitionCount = 4;
const body = Buffer.from(
  JSON.stringify([
    { receivedAt: "2025-12-28T18:03:15.000Z", method: "GET", path: "/", userAgent: "curl/8.5" },
  ]),
);

/** An access log holding `count` one-entry batches stored just now (so all within the retention). */
async function prefill(dataDir: string, count: number): Promise<void> {
  const log = PartitionLog.open({
    directory: dataLayout.topicDirectory(dataDir, topics.accessLogs),
    partitionCount,
  });
  const nowMs = Date.now();
  const perAppend = 5000;
  for (let first = 0; first < count; first += perAppend) {
    const appends = [];
    for (let partition = 0; partition < partitionCount; partition++) {
      const records = [];
      for (let index = first + partition; index < Math.min(count, first + perAppend); index += partitionCount)
        records.push({
          timestampMs: nowMs,
          key: accessBatchKey(`cus-${partition}`, `prefill-${index}`, "r"),
          value: body,
        });
      if (records.length > 0) appends.push(log.append(partition, records));
    }
    await Promise.all(appends);
  }
  await log.close();
}

/** Waits until the analytics consumer has caught up with the access log (it competes for CPU). */
async function analyticsCaughtUp(url: string): Promise<void> {
  for (;;) {
    const status = (await (await fetch(`${url}/v1/aggregates/status`)).json()) as { lagRecords: number };
    if (status.lagRecords === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function run(full: boolean): Promise<LoadSummary> {
  const dataDir = temporaryDataDir("sluice-bench-idempotency-");
  if (full) await prefill(dataDir, keyCount);
  const server = await startServerProcess({
    dataDir,
    nodeArgs: npmStartNodeArgs(),
    args: ["--partitions", String(partitionCount), "--idempotency-keys-max", String(keyCount)],
  });
  try {
    await analyticsCaughtUp(server.url);
    const load = {
      url: `${server.url}/logs`,
      format: "access" as const,
      batch: 20,
      total: 0,
      durationS,
      delayMs: 0,
      concurrency,
      rate: 0,
      tenant: null,
      prebuiltBodies: 256,
      seed: 7,
    };
    if (warmupS > 0) await runLoad({ ...load, durationS: warmupS, seed: 8 });
    return await runLoad(load);
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function describe(summary: LoadSummary): string {
  const sorted = [...summary.latenciesMs].sort((a, b) => a - b);
  const statuses = Object.entries(summary.statusCounts)
    .map(([status, count]) => `${status}:${count}`)
    .join(",");
  return `rps=${Math.round(summary.requests / summary.elapsedS)} p50=${percentile(sorted, 0.5).toFixed(2)}ms p99=${percentile(sorted, 0.99).toFixed(2)}ms (${statuses})`;
}

const full = await run(true);
const empty = await run(false);
console.log(
  `idempotency full/empty  keys=${keyCount} c=${concurrency} full: ${describe(full)} | empty: ${describe(empty)}`,
);
