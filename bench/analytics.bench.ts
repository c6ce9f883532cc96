// End-to-end analytics benchmark (issue 6): POST /logs → visible per-minute aggregates, on a real
// `sluice serve` over loopback. While the load runs, a prober posts a one-entry batch with a unique
// path every 100 ms (rotating over four customers, one per partition) and polls GET /v1/aggregates
// every 25 ms until that path is counted: the time from its 202 to visible is the freshness (to
// within the poll interval). After the load, the
// time until the consumer has caught up (lag 0) gives the sustained rate at which entries became
// visible. One line per configuration:
//   analytics b=<batch> c=<senders>   entries_per_s (acknowledged), visible_per_s, freshness pXX
// Usage: node bench/analytics.bench.ts [--seconds 8] [--tenants 16] [--concurrency 16]

import fs from "node:fs";
import { parseArgs } from "node:util";
import { runLoad } from "../src/loadgen/index.ts";
import { partitionFor } from "../src/model/hash.ts";
import { npmStartNodeArgs, startServerProcess } from "../test/support/server.ts";
import { benchLine, formatCount, latencySummary } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "8" },
    tenants: { type: "string", default: "16" },
    concurrency: { type: "string", default: "16" },
  },
});
const durationS = Number(args.seconds);
const tenants = Number(args.tenants);
const partitions = 4;

// One probe customer per partition, so every consumer loop is measured.
const probeCustomers: string[] = [];
for (let index = 0; probeCustomers.length < partitions; index++) {
  const name = `probe-${index}`;
  if (partitionFor(name, partitions) === probeCustomers.length) probeCustomers.push(name);
}
const probeMinute = "2020-01-01T00:00:00Z";

async function probe(baseUrl: string, number: number): Promise<number | null> {
  const customerId = probeCustomers[number % probeCustomers.length];
  const path = `/probe-${number}`;
  const body = JSON.stringify([
    { receivedAt: "2020-01-01T00:00:30.000Z", method: "GET", path, userAgent: "curl/8.5.0" },
  ]);
  const posted = await fetch(`${baseUrl}/logs`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-customer-id": customerId },
    body,
  });
  if (posted.status !== 202) return null;
  const acknowledgedMs = performance.now();
  const query = `${baseUrl}/v1/aggregates?windowSize=minute&from=${probeMinute}&to=2020-01-01T00:01:00Z`;
  while (performance.now() - acknowledgedMs < 30_000) {
    const reply = await fetch(query, { headers: { "x-customer-id": customerId } });
    const documents = (await reply.json()) as Array<{ requestsByPath: Record<string, number> }>;
    if (documents[0]?.requestsByPath[`GET ${path}`] === 1) return performance.now() - acknowledgedMs;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`probe ${path} not visible after 30 s`);
}

async function lagRecords(baseUrl: string): Promise<number> {
  const status = (await (await fetch(`${baseUrl}/v1/aggregates/status`)).json()) as { lagRecords: number };
  return status.lagRecords;
}

async function run(batch: number, concurrency: number): Promise<void> {
  const server = await startServerProcess({ nodeArgs: npmStartNodeArgs() });
  try {
    let loading = true;
    const freshnessMs: number[] = [];
    let lagMax = 0;
    const prober = (async () => {
      for (let number = 0; loading; number++) {
        const startedMs = performance.now();
        const ms = await probe(server.url, number);
        if (ms !== null) freshnessMs.push(ms);
        lagMax = Math.max(lagMax, await lagRecords(server.url));
        await new Promise((resolve) =>
          setTimeout(resolve, Math.max(0, 100 - (performance.now() - startedMs))),
        );
      }
    })();
    const startedMs = performance.now();
    const summary = await runLoad({
      url: `${server.url}/logs`,
      format: "access",
      batch,
      total: 0,
      durationS,
      delayMs: 0,
      concurrency,
      rate: 0,
      tenant: "cus-bench",
      tenants,
      prebuiltBodies: 64,
      seed: 7,
    });
    loading = false;
    await prober;
    while ((await lagRecords(server.url)) > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const visibleS = (performance.now() - startedMs) / 1000;
    const rejected = Object.entries(summary.statusCounts).filter(([status]) => status !== "202");
    console.log(
      benchLine(`analytics b=${batch} c=${concurrency}`, {
        entries_per_s: formatCount(summary.recordsAcknowledged / summary.elapsedS),
        visible_per_s: formatCount(summary.recordsAcknowledged / visibleS),
        drain_ms: Math.round((visibleS - summary.elapsedS) * 1000),
        lag_max_records: lagMax,
        probes: freshnessMs.length,
        freshness: latencySummary(freshnessMs),
        non_202:
          rejected.length === 0 ? "none" : rejected.map(([status, count]) => `${status}x${count}`).join(","),
      }),
    );
  } finally {
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
}

await run(500, Number(args.concurrency));
await run(20, Number(args.concurrency));
