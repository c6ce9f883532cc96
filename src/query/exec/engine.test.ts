// The engine and the listings over a real partition log: series, label names and values,
// /index/stats counts (chunks = batches × streams), /index/volume's Loki aggregation, the query
// facade through the evaluator, and the time budget's errors.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, test } from "node:test";
import { enrichAndRoute, type ServiceLogEntry } from "../../ingest/index.ts";
import { PartitionLog } from "../../log/index.ts";
import { QueryError } from "../errors.ts";
import { QueryEngine } from "./engine.ts";
import { QueryParameterError, QuerySeriesLimitError, QueryTimeoutError } from "./errors.ts";

const partitionCount = 4;
const opened: PartitionLog[] = [];
const directories: string[] = [];
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close();
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function openLog(): PartitionLog {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-engine-test-"));
  directories.push(directory);
  const log = PartitionLog.open({ directory, partitionCount, fsync: "interval", onEvent: () => {} });
  opened.push(log);
  return log;
}

async function ingest(log: PartitionLog, tenant: string, entries: ServiceLogEntry[]): Promise<void> {
  const enrichment = { receivedAtMs: 1, clientIp: "10.0.0.1", nodeId: "node-a" };
  for (const [partition, columns] of enrichAndRoute(entries, enrichment, tenant, partitionCount))
    await log.append(partition, columns);
}

const all = { startNs: 0n, endNs: 10_000_000_000n };

/** Two services, levels and a region label, one append (so one batch per partition) per call. */
async function fixture(): Promise<PartitionLog> {
  const log = openLog();
  await ingest(log, "t", [
    { timestamp: 1, service: "auth_service", level: "INFO", message: "login ok", labels: { region: "eu" } },
    {
      timestamp: 2,
      service: "auth_service",
      level: "ERROR",
      message: "login failed",
      labels: { region: "eu" },
    },
    { timestamp: 3, service: "auth_service", level: "INFO", message: "logout", labels: { region: "us" } },
    { timestamp: 4, service: "billing", message: "invoice 8812" },
  ]);
  await ingest(log, "t", [
    { timestamp: 5, service: "auth_service", level: "INFO", message: "again", labels: { region: "eu" } },
  ]);
  await ingest(log, "other", [
    { timestamp: 1, service: "auth_service", level: "INFO", message: "not yours" },
  ]);
  return log;
}

test("series, label names and values: the matching streams of the tenant only", async () => {
  const engine = new QueryEngine({ log: await fixture() });
  assert.deepEqual(
    await engine.series("t", ['{service="auth_service", level="INFO"}', '{service="billing"}'], all),
    [
      [
        ["level", "INFO"],
        ["region", "eu"],
        ["service", "auth_service"],
      ],
      [
        ["level", "INFO"],
        ["region", "us"],
        ["service", "auth_service"],
      ],
      [["service", "billing"]],
    ],
  );
  assert.deepEqual(await engine.labelNames("t", null, all), ["level", "region", "service"]);
  assert.deepEqual(await engine.labelNames("t", '{service="billing"}', all), ["service"]);
  assert.deepEqual(await engine.labelValues("t", "level", null, all), ["ERROR", "INFO"]);
  assert.deepEqual(await engine.labelValues("t", "region", '{level="INFO"}', all), ["eu", "us"]);
  assert.deepEqual(await engine.labelValues("other", "service", null, all), ["auth_service"]);
  assert.deepEqual(await engine.labelNames("nobody", null, all), []);
  // The time range applies: only billing's entry is at 4 ms.
  assert.deepEqual(
    await engine.labelValues("t", "service", null, { startNs: 4_000_000n, endNs: 5_000_000n }),
    ["billing"],
  );
});

test("index stats: streams, entries, line bytes, and chunks as batches × streams in them", async () => {
  const engine = new QueryEngine({ log: await fixture() });
  // auth_service: batch 1 holds three streams (INFO/eu, ERROR/eu, INFO/us), batch 2 one (INFO/eu).
  assert.deepEqual(await engine.indexStats("t", '{service="auth_service"}', all), {
    streams: 3,
    chunks: 4,
    entries: 4,
    bytes: "login ok".length + "login failed".length + "logout".length + "again".length,
  });
  assert.deepEqual(await engine.indexStats("t", '{service="nothing"}', all), {
    streams: 0,
    chunks: 0,
    entries: 0,
    bytes: 0,
  });
});

test("volume: aggregated by the matchers' labels, or targetLabels, or label names; largest first", async () => {
  const engine = new QueryEngine({ log: await fixture() });
  const at = Number(all.endNs) / 1e9;
  assert.deepEqual(await engine.volume("t", '{service=~".+", level!="ERROR"}', all), [
    {
      metric: { level: "INFO", service: "auth_service" },
      value: [at, String("login ok".length + "logout".length + "again".length)],
    },
    { metric: { service: "billing" }, value: [at, String("invoice 8812".length)] },
  ]);
  assert.deepEqual(
    await engine.volume("t", '{service="auth_service"}', { ...all, targetLabels: ["region"] }),
    [
      {
        metric: { region: "eu" },
        value: [at, String("login ok".length + "login failed".length + "again".length)],
      },
      { metric: { region: "us" }, value: [at, String("logout".length)] },
    ],
  );
  assert.deepEqual(
    await engine.volume("t", '{service=~".+"}', {
      ...all,
      aggregateBy: "labels",
      targetLabels: ["region", "level"],
    }),
    [
      { metric: { level: "" }, value: [at, String(8 + 12 + 6 + 5)] },
      { metric: { region: "" }, value: [at, String(8 + 12 + 6 + 5)] },
    ],
  );
  assert.equal((await engine.volume("t", '{service=~".+"}', { ...all, limit: 1 })).length, 1);
});

test("query: parses, evaluates over the tenant's entries, newest first by default", async () => {
  const engine = new QueryEngine({ log: await fixture() });
  const result = await engine.query("t", '{service="auth_service", region="eu"}', {
    ...all,
    limit: 2,
    direction: "backward",
    stepNs: 1_000_000_000n,
  });
  // Loki orders streams by their label text: level="ERROR" before level="INFO".
  assert.equal(result.resultType, "streams");
  assert.deepEqual(result.result, [
    {
      stream: { level: "ERROR", region: "eu", service: "auth_service" },
      values: [["2000000", "login failed"]],
    },
    {
      stream: { level: "INFO", region: "eu", service: "auth_service" },
      values: [["5000000", "again"]],
    },
  ]);
  assert.equal(result.stats.summary.totalEntriesReturned, 2);
});

test("errors: a metric query where a selector is required, the series bound, the caller's abort, the time budget", async () => {
  const log = await fixture();
  const engine = new QueryEngine({ log });
  await assert.rejects(
    engine.labelNames("t", 'count_over_time({service="x"}[1m])', all),
    QueryParameterError,
  );
  await assert.rejects(
    engine.query("t", "{", { ...all, limit: 1, direction: "forward", stepNs: 1n }),
    QueryError,
  );
  const bounded = new QueryEngine({ log, limits: { seriesMax: 2 } });
  await assert.rejects(bounded.series("t", ['{service=~".+"}'], all), QuerySeriesLimitError);
  const caller = new AbortController();
  caller.abort(new Error("client went away"));
  await assert.rejects(
    engine.series("t", ['{service=~".+"}'], { ...all, signal: caller.signal }),
    /client went away/,
  );
  // A budget of 0 ms has run out by the first read step, whatever the machine's speed: the scan
  // yields to the event loop (setImmediate) after every step, and the timer fires by then or after
  // the next step; a step per batch and 200 batches leave it far more turns than it needs.
  const busy = openLog();
  for (let i = 0; i < 200; i++) await ingest(busy, "t", [{ timestamp: i, service: "s", message: `m${i}` }]);
  const impatient = new QueryEngine({ log: busy, limits: { queryTimeoutMs: 0, readStepBytes: 1 } });
  await assert.rejects(impatient.series("t", ['{service="s"}'], all), QueryTimeoutError);
});
