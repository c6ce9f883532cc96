// Ingest latency while heavy full-scan queries run: on the main thread vs in the query pool
// (src/query/exec/pool.ts), in the same run, alternated. Appends go to a PartitionLog directly at a
// fixed rate (one append of `batch` entries every `intervalMs`); an append's latency counts from
// its scheduled time, so a main thread held by a query shows up as latency rather than as appends
// that were never sent. Meanwhile two clients each run a full-scan metric query back to back.
// Prints one summary line: append p99 with no query, with queries on the main thread, in the pool.
// Usage: node bench/query-pool.bench.ts [--entries 300000] [--rounds 3] [--round-ms 4000]

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { enrichAndRoute } from "../src/ingest/index.ts";
import { percentile, ServiceLogGenerator } from "../src/loadgen/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import { QueryEngine, QueryPool } from "../src/query/exec/index.ts";
import { benchLine, formatCount } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    entries: { type: "string", default: "300000" },
    rounds: { type: "string", default: "3" },
    "round-ms": { type: "string", default: "4000" },
  },
});
const entryCount = Number(args.entries);
const rounds = Number(args.rounds);
const roundMs = Number(args["round-ms"]);
const partitionCount = 4;
const batch = 20;
const intervalMs = 5; // 4,000 entries/s
const tenant = "t";
const enrichment = { receivedAtMs: 1, clientIp: "10.0.0.1", nodeId: "node-a" };
const startMs = Date.UTC(2026, 0, 1);

const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-query-pool-bench-"));
const log = PartitionLog.open({ directory, partitionCount, fsync: "interval", onEvent: () => {} });
const pool = new QueryPool({ threads: 2 });
try {
  const generator = new ServiceLogGenerator({ seed: 3, startTimestampMs: startMs });
  for (let i = 0; i < entryCount; i += 1000) {
    const appends = [];
    for (const [partition, columns] of enrichAndRoute(
      generator.batch(1000),
      enrichment,
      tenant,
      partitionCount,
    ))
      appends.push(log.append(partition, columns));
    await Promise.all(appends);
  }
  const query = 'sum by (level) (count_over_time({service=~".+"} |= "user" [1m]))';
  const params = {
    startNs: BigInt(startMs) * 1_000_000n,
    endNs: BigInt(startMs + entryCount * 300) * 1_000_000n,
    limit: 100,
    direction: "backward" as const,
    stepNs: 60_000_000_000n,
  };
  const engines = {
    none: null,
    main: new QueryEngine({ log }),
    pool: new QueryEngine({ log, pool }),
  };
  const latencies: Record<keyof typeof engines, number[]> = { none: [], main: [], pool: [] };
  const queriesDone: Record<keyof typeof engines, number> = { none: 0, main: 0, pool: 0 };
  const ingestGenerator = new ServiceLogGenerator({ seed: 4, startTimestampMs: startMs });

  for (let round = 0; round < rounds; round++) {
    for (const mode of ["none", "main", "pool"] as const) {
      const engine = engines[mode];
      let stop = false;
      const clients =
        engine === null
          ? []
          : [0, 1].map(async () => {
              while (!stop) {
                await engine.query(tenant, query, params);
                queriesDone[mode]++;
              }
            });
      const roundStart = performance.now();
      const appends: Promise<void>[] = [];
      for (let tick = 0; performance.now() - roundStart < roundMs; tick++) {
        const scheduledAt = roundStart + tick * intervalMs;
        const waitMs = scheduledAt - performance.now();
        if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
        const routed = enrichAndRoute(ingestGenerator.batch(batch), enrichment, tenant, partitionCount);
        appends.push(
          Promise.all([...routed].map(([partition, columns]) => log.append(partition, columns))).then(() => {
            latencies[mode].push(performance.now() - scheduledAt);
          }),
        );
      }
      await Promise.all(appends);
      stop = true;
      await Promise.all(clients);
    }
  }
  const p99 = (values: number[]) =>
    percentile(
      [...values].sort((a, b) => a - b),
      0.99,
    ).toFixed(1);
  const p50 = (values: number[]) =>
    percentile(
      [...values].sort((a, b) => a - b),
      0.5,
    ).toFixed(1);
  console.log(
    benchLine("query-pool ingest p99", {
      stored: formatCount(entryCount),
      appends_per_s: formatCount((1000 / intervalMs) * batch),
      idle_p50_p99: `${p50(latencies.none)}/${p99(latencies.none)}ms`,
      main_p50_p99: `${p50(latencies.main)}/${p99(latencies.main)}ms`,
      pool_p50_p99: `${p50(latencies.pool)}/${p99(latencies.pool)}ms`,
      queries_main: queriesDone.main,
      queries_pool: queriesDone.pool,
    }),
  );
} finally {
  await pool.close();
  await log.close();
  fs.rmSync(directory, { recursive: true, force: true });
}
