// Search benchmark (issue 13, "Proof and numbers"): a real `sluice serve` over --lines realistic
// reference A lines (ServiceLogGenerator messages spread over ~1,000 services, one of them rare, with
// order ids, UUIDs and IPs in the messages), against ripgrep over the same lines kept as raw NDJSON.
// The data is written straight into the data dir's topics/logs the way ingest stores it
// (src/ingest enrichAndRoute → PartitionLog.append), compacted, then served; the bench waits until
// the block index has sealed everything (GET /metrics sluice_index_lag_records). One line per figure:
//   search data            lines, NDJSON / data / index bytes, raw/(data+index)
//   search needle          {service=~".+"} |= "<rare token>" over all data, limit 100, vs rg -F -c
//   search auth timeout    {service="auth_service"} |= "timeout" over all data, limit 100
//   search count by level  sum by (level) (count_over_time({service=~".+"}[1m])), last hour, step 60s
//   search rare loki       {service="<rare>"} limit 100 over all data (the last 100 lines)
//   search rare v1         GET /v1/query?service=<rare>&limit=100
//   search ingest on|off   POST /v1/logs as fast as acknowledged, fresh server, alternated; medians
//   search fresh           ack → visible of a fresh unique token at half the --search-index on rate
// Latencies are over --runs repetitions after one warm-up each; rg runs as often, its page cache
// warmed first (and sluice's by the warm-up queries). The machine is shared: compare lines of one run.
// Usage: node bench/search.bench.ts [--lines 10000000] [--runs 7] [--dir /tmp/sluice-bench-search]
//                                   [--ingest-runs 3] [--ingest-seconds 6] [--fresh-seconds 10]
//                                   [--skip-ingest]

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { dataLayout, topics } from "../src/config/layout.ts";
import { enrichAndRoute, type ServiceLogEntry } from "../src/ingest/index.ts";
import { percentile, runLoad, ServiceLogGenerator, seededRandom } from "../src/loadgen/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import { npmStartNodeArgs, type ServerProcess, startServerProcess } from "../test/support/server.ts";
import { benchLine, formatCount } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    lines: { type: "string", default: "10000000" },
    runs: { type: "string", default: "7" },
    dir: { type: "string", default: path.join(os.tmpdir(), "sluice-bench-search") },
    "ingest-runs": { type: "string", default: "3" },
    "ingest-seconds": { type: "string", default: "6" },
    "fresh-seconds": { type: "string", default: "10" },
    "skip-ingest": { type: "boolean", default: false },
    /** The server's --query-timeout-ms: a query past it is a 504, counted as failed. */
    "query-timeout-ms": { type: "string", default: "60000" },
    /** Keep --dir at the end, and reuse one a previous --keep run left (for profiling the server). */
    keep: { type: "boolean", default: false },
    "server-node-args": { type: "string", default: "" },
  },
});
const lineCount = Number(args.lines);
const runs = Math.max(5, Number(args.runs));
const partitionCount = 4; // the server's default --partitions
const tenant = "fake"; // the Loki default tenant, which GET /v1/query and query_range both read
const rareService = "ledger_reconciler";
const rareFraction = 0.0001; // 0.01 % of lines
const servicesPerFamily = 250; // × the generator's 4 service families ≈ 1,000 services
const rgPath = "/usr/bin/rg";

// --- data -------------------------------------------------------------------------------------------

const random = seededRandom(99);
const digits = (count: number) => String(Math.floor(random() * 10 ** count)).padStart(count, "0");
const hex = (count: number) =>
  Array.from({ length: count }, () => Math.floor(random() * 16).toString(16)).join("");
const orderId = () => `ord-${digits(8)}`;
const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
const ip = () =>
  `10.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`;

/** A generated line made realistic: its service one of ~1,000, and ids in a share of messages. */
function realistic(log: ServiceLogEntry): void {
  if (random() < rareFraction) log.service = rareService;
  else {
    // Suffix 0 keeps the family's own name, so `auth_service` exists (1/250 of the auth family).
    const suffix = Math.floor(random() * servicesPerFamily);
    if (suffix > 0) log.service = `${log.service}_${String(suffix).padStart(3, "0")}`;
  }
  const roll = random();
  if (roll < 0.2) log.message += ` order=${orderId()}`;
  else if (roll < 0.3) log.message += ` request_id=${uuid()}`;
  else if (roll < 0.4) log.message += ` from ${ip()}`;
}

function directoryBytes(directory: string): number {
  let bytes = 0;
  for (const entry of fs.readdirSync(directory, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) bytes += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  return bytes;
}

/**
 * Writes the lines into `dataDir`'s topics/logs as ingest stores them and, the same entries as
 * reference A keeps them (one enriched JSON per line), to `ndjsonFile`. Returns the needles (order
 * ids that occur, picked at spread-out lines) and the time range of the data.
 */
async function writeData(dataDir: string, ndjsonFile: string) {
  const meanStepMs = 275; // the generator advances 50–499 ms per line
  const startMs = Date.now() - lineCount * meanStepMs - 3_600_000;
  const generator = new ServiceLogGenerator({ seed: 42, startTimestampMs: startMs });
  const log = PartitionLog.open({
    directory: dataLayout.topicDirectory(dataDir, topics.serviceLogs),
    partitionCount,
    segmentBytesMax: 64 * 1024 * 1024,
    onEvent: () => {},
  });
  const ndjson = fs.openSync(ndjsonFile, "w");
  const batchLines = 10_000;
  const needleCount = 10;
  const needleEvery = Math.floor(lineCount / needleCount);
  const needles: string[] = [];
  let rareLines = 0;
  let firstMs = Number.POSITIVE_INFINITY;
  let lastMs = 0;
  for (let written = 0; written < lineCount; written += batchLines) {
    const entries: ServiceLogEntry[] = generator.batch(Math.min(batchLines, lineCount - written));
    for (let i = 0; i < entries.length; i++) {
      realistic(entries[i]);
      if (entries[i].service === rareService) rareLines++;
      if ((written + i) % needleEvery === Math.floor(needleEvery / 3)) {
        const needle = orderId();
        entries[i].message += ` order=${needle}`;
        needles.push(needle);
      }
    }
    firstMs = Math.min(firstMs, entries[0].timestamp);
    lastMs = Math.max(lastMs, entries.at(-1)!.timestamp);
    const receivedAtMs = entries.at(-1)!.timestamp + 5;
    const routed = enrichAndRoute(
      entries,
      { receivedAtMs, clientIp: "10.42.0.17", nodeId: "sluice-node-7f3a9c" },
      tenant,
      partitionCount,
    );
    const appends: Promise<unknown>[] = [];
    for (const [partition, columns] of routed) {
      appends.push(log.append(partition, columns));
      // The values are `0x01 json 0x01 json …` (the format byte before each): as NDJSON, each
      // format byte becomes the previous line's newline. JSON text never holds a raw 0x01.
      const text = Buffer.from(columns.values);
      for (let b = 0; b < text.length; b++) if (text[b] === 0x01) text[b] = 0x0a;
      fs.writeSync(ndjson, text, 1);
      fs.writeSync(ndjson, "\n");
    }
    await Promise.all(appends);
  }
  fs.closeSync(ndjson);
  for (let partition = 0; partition < partitionCount; partition++) await log.partition(partition).roll();
  await log.maintain(); // compaction of the sealed segments, as the server's maintenance does
  await log.close();
  return { needles, rareLines, firstMs, lastMs };
}

// --- measuring --------------------------------------------------------------------------------------

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
const p90 = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    0.9,
  );
const ms = (value: number) => value.toFixed(2);

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await run();
  return { ms: performance.now() - started, value };
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  const text = await response.text();
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

interface LokiStreams {
  data: { result: { values: unknown[] }[] };
}

function lokiRange(server: ServerProcess, query: string, startMs: number, endMs: number, extra = "") {
  const params = new URLSearchParams({
    query,
    start: String(BigInt(startMs) * 1_000_000n),
    end: String(BigInt(endMs) * 1_000_000n),
  });
  return `${server.url}/loki/api/v1/query_range?${params}${extra}`;
}

async function lokiLines(url: string): Promise<number> {
  const body = (await getJson(url)) as LokiStreams;
  return body.data.result.reduce((sum, stream) => sum + stream.values.length, 0);
}

async function metricLines(server: ServerProcess, pattern: RegExp): Promise<number[]> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => pattern.test(line))
    .map((line) => Number(line.slice(line.lastIndexOf(" ") + 1)));
}

async function waitForIndex(server: ServerProcess): Promise<number> {
  const started = performance.now();
  for (;;) {
    const lags = await metricLines(server, /^sluice_index_lag_records\{/);
    if (lags.length === partitionCount && lags.every((lag) => lag === 0)) return performance.now() - started;
    if (performance.now() - started > 30 * 60_000) throw new Error(`index not caught up: lags ${lags}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * --runs timings of `run` after one warm-up; the warm-up's value is returned for checks. A failed
 * request (the server's 504 past --query-timeout-ms) counts as `failed`, its time still recorded.
 */
async function repeat<T>(
  run: (i: number) => Promise<T>,
): Promise<{ latenciesMs: number[]; first: T | "failed"; failed: number }> {
  let failed = 0;
  const attempt = async (i: number): Promise<T | "failed"> => {
    try {
      return await run(i);
    } catch (error) {
      failed++;
      console.log(`# failed: ${(error as Error).message.slice(0, 300)}`);
      return "failed";
    }
  };
  const first = await attempt(0);
  const latenciesMs: number[] = [];
  for (let i = 0; i < runs; i++) latenciesMs.push((await timed(() => attempt(i))).ms);
  return { latenciesMs, first, failed };
}

/** The summary fields of a repeat(). */
function latencyFields(result: { latenciesMs: number[]; failed: number }) {
  return {
    p50: `${ms(median(result.latenciesMs))}ms`,
    p90: `${ms(p90(result.latenciesMs))}ms`,
    ...(result.failed > 0 ? { failed: result.failed } : {}),
  };
}

function ripgrepCount(token: string, file: string): { ms: number; count: number } {
  const started = performance.now();
  const result = spawnSync(rgPath, ["-F", "-c", token, file], { encoding: "utf8" });
  const elapsed = performance.now() - started;
  if (result.status !== 0 && result.status !== 1) throw new Error(`rg failed: ${result.stderr}`);
  return { ms: elapsed, count: result.status === 1 ? 0 : Number(result.stdout.trim()) };
}

async function ingestRate(searchIndex: "on" | "off"): Promise<number> {
  const server = await startServerProcess({
    nodeArgs: npmStartNodeArgs(),
    args: ["--search-index", searchIndex],
  });
  try {
    const load = {
      url: `${server.url}/v1/logs`,
      format: "v1" as const,
      batch: 100,
      total: 0,
      durationS: Number(args["ingest-seconds"]),
      delayMs: 0,
      concurrency: 64,
      rate: 0,
      tenant: null,
      prebuiltBodies: 256,
      seed: 7,
    };
    await runLoad({ ...load, durationS: 2, seed: 8 }); // warm-up, not counted (as ingest.bench.ts)
    const summary = await runLoad(load);
    return summary.recordsAcknowledged / summary.elapsedS;
  } finally {
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
}

/** Ack → visible of unique tokens, one at a time, while runLoad sends `rate` records/s. */
async function freshness(rate: number) {
  const server = await startServerProcess({ nodeArgs: npmStartNodeArgs(), args: ["--search-index", "on"] });
  try {
    const durationS = Number(args["fresh-seconds"]);
    const loading = runLoad({
      url: `${server.url}/v1/logs`,
      format: "v1",
      batch: 100,
      total: 0,
      durationS,
      delayMs: 0,
      concurrency: 64,
      rate,
      tenant: null,
      prebuiltBodies: 256,
      seed: 9,
    });
    const visibleMs: number[] = [];
    let missed = 0;
    const until = performance.now() + durationS * 1000 - 1500;
    for (let probe = 0; performance.now() < until; probe++) {
      const token = `fresh-${process.pid}-${probe}-${hex(8)}`;
      const nowMs = Date.now();
      const response = await fetch(`${server.url}/v1/logs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([
          { timestamp: nowMs, service: "fresh_probe", level: "INFO", message: `probe ${token}` },
        ]),
      });
      if (!response.ok) throw new Error(`probe ingest answered ${response.status}: ${await response.text()}`);
      await response.arrayBuffer();
      const ackedAt = performance.now();
      const url = lokiRange(
        server,
        `{service=~".+"} |= "${token}"`,
        nowMs - 60_000,
        nowMs + 60_000,
        "&limit=10",
      );
      for (;;) {
        if ((await lokiLines(url)) > 0) {
          visibleMs.push(performance.now() - ackedAt);
          break;
        }
        if (performance.now() - ackedAt > 10_000) {
          missed++;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const load = await loading;
    return { visibleMs, missed, loadRate: load.recordsAcknowledged / load.elapsedS };
  } finally {
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
}

// --- the run ----------------------------------------------------------------------------------------

const dataDir = path.join(args.dir, "data");
const ndjsonFile = path.join(args.dir, "raw.ndjson");
const keptFile = path.join(args.dir, "kept.json");
const reuse = args.keep && fs.existsSync(keptFile);
if (!reuse) {
  fs.rmSync(args.dir, { recursive: true, force: true });
  fs.mkdirSync(args.dir, { recursive: true });
}
try {
  const writeStarted = performance.now();
  const written: Awaited<ReturnType<typeof writeData>> = reuse
    ? JSON.parse(fs.readFileSync(keptFile, "utf8"))
    : await writeData(dataDir, ndjsonFile);
  if (args.keep) fs.writeFileSync(keptFile, JSON.stringify(written));
  const { needles, rareLines, firstMs, lastMs } = written;
  const writeS = (performance.now() - writeStarted) / 1000;
  const server = await startServerProcess({
    dataDir,
    nodeArgs: [...npmStartNodeArgs(), ...args["server-node-args"].split(" ").filter((word) => word !== "")],
    // No retention (the data spans weeks) and no maintenance during the measurements.
    args: [
      ...["--retention-ms", "0", "--maintenance-interval-ms", String(24 * 3600 * 1000)],
      ...["--query-timeout-ms", args["query-timeout-ms"]],
    ],
  });
  try {
    const indexWaitMs = await waitForIndex(server);
    const ndjsonBytes = fs.statSync(ndjsonFile).size;
    const dataBytes = directoryBytes(dataLayout.topicDirectory(dataDir, topics.serviceLogs));
    // SQLite's WAL holds recent blocks until a checkpoint: the directory counts both.
    const indexBytes = directoryBytes(dataLayout.blockIndexDirectory(dataDir));
    console.log(
      benchLine("search data", {
        lines: formatCount(lineCount),
        rare_lines: rareLines,
        write_s: writeS.toFixed(1),
        index_wait_s: (indexWaitMs / 1000).toFixed(1),
        ndjson_MB: (ndjsonBytes / 1e6).toFixed(1),
        data_MB: (dataBytes / 1e6).toFixed(1),
        index_MB: (indexBytes / 1e6).toFixed(2),
        index_of_data_pct: ((100 * indexBytes) / dataBytes).toFixed(2),
        "raw/data": (ndjsonBytes / dataBytes).toFixed(2),
        "raw/(data+index)": (ndjsonBytes / (dataBytes + indexBytes)).toFixed(2),
      }),
    );
    const rangeStartMs = firstMs - 1000;
    const rangeEndMs = lastMs + 1000;

    // Rare-token needle vs ripgrep. Warm both page caches first: rg reads the file once, sluice's
    // warm-up query per needle reads what it will read.
    const haveRg = fs.existsSync(rgPath);
    if (!haveRg) console.log(`# ${rgPath} not found: the needle/ripgrep ratio is skipped`);
    else ripgrepCount("warm-the-page-cache", ndjsonFile);
    const needleUrl = (needle: string) =>
      lokiRange(server, `{service=~".+"} |= "${needle}"`, rangeStartMs, rangeEndMs, "&limit=100");
    let needleFailed = 0;
    const needleLines = async (needle: string) => {
      try {
        return await lokiLines(needleUrl(needle));
      } catch (error) {
        needleFailed++;
        console.log(`# failed: ${(error as Error).message.slice(0, 300)}`);
        return -1;
      }
    };
    for (const needle of needles) await needleLines(needle);
    needleFailed = 0;
    const sluiceMs: number[] = [];
    const rgMs: number[] = [];
    let mismatches = 0;
    for (let i = 0; i < Math.max(runs, needles.length); i++) {
      const needle = needles[i % needles.length];
      const found = await timed(() => needleLines(needle));
      sluiceMs.push(found.ms);
      if (haveRg) {
        const rg = ripgrepCount(needle, ndjsonFile);
        rgMs.push(rg.ms);
        if (rg.count !== found.value) mismatches++;
      }
    }
    console.log(
      benchLine("search needle", {
        runs: sluiceMs.length,
        p50: `${ms(median(sluiceMs))}ms`,
        p90: `${ms(p90(sluiceMs))}ms`,
        ...(needleFailed > 0 ? { failed: needleFailed } : {}),
        ...(haveRg
          ? {
              rg_p50: `${ms(median(rgMs))}ms`,
              "rg/sluice": (median(rgMs) / median(sluiceMs)).toFixed(1),
              count_mismatches: mismatches,
            }
          : { rg: "missing" }),
      }),
    );

    const auth = await repeat(() =>
      lokiLines(
        lokiRange(server, '{service="auth_service"} |= "timeout"', rangeStartMs, rangeEndMs, "&limit=100"),
      ),
    );
    console.log(
      benchLine("search auth timeout", {
        lines: auth.first,
        ...latencyFields(auth),
      }),
    );

    const count = await repeat(async () => {
      const body = (await getJson(
        lokiRange(
          server,
          'sum by (level) (count_over_time({service=~".+"}[1m]))',
          lastMs - 3_600_000,
          lastMs,
          "&step=60",
        ),
      )) as { data: { result: unknown[] } };
      return body.data.result.length;
    });
    console.log(
      benchLine("search count by level", {
        series: count.first,
        ...latencyFields(count),
      }),
    );

    const rareLoki = await repeat(() =>
      lokiLines(lokiRange(server, `{service="${rareService}"}`, rangeStartMs, rangeEndMs, "&limit=100")),
    );
    console.log(
      benchLine("search rare loki", {
        lines: rareLoki.first,
        ...latencyFields(rareLoki),
      }),
    );
    const rareV1 = await repeat(
      async () =>
        ((await getJson(`${server.url}/v1/query?service=${rareService}&limit=100`)) as unknown[]).length,
    );
    console.log(
      benchLine("search rare v1", {
        lines: rareV1.first,
        ...latencyFields(rareV1),
      }),
    );
  } finally {
    await server.stop();
  }
  // Free the page cache's hold before the ingest runs.
  if (!args.keep) fs.rmSync(args.dir, { recursive: true, force: true });

  if (!args["skip-ingest"]) {
    const rates: Record<"on" | "off", number[]> = { on: [], off: [] };
    for (let i = 0; i < Number(args["ingest-runs"]); i++)
      for (const mode of i % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const))
        rates[mode].push(await ingestRate(mode));
    const on = median(rates.on);
    const off = median(rates.off);
    console.log(
      benchLine("search ingest on|off", {
        on_records_per_s: formatCount(on),
        off_records_per_s: formatCount(off),
        index_cost_pct: ((100 * (off - on)) / off).toFixed(1),
        on_runs: rates.on.map(formatCount).join("/"),
        off_runs: rates.off.map(formatCount).join("/"),
      }),
    );
    const fresh = await freshness(Math.floor(on / 2));
    const sorted = [...fresh.visibleMs].sort((a, b) => a - b);
    console.log(
      benchLine("search fresh", {
        rate: formatCount(Math.floor(on / 2)),
        achieved: formatCount(fresh.loadRate),
        probes: sorted.length,
        missed_10s: fresh.missed,
        p50: `${ms(percentile(sorted, 0.5))}ms`,
        p99: `${ms(percentile(sorted, 0.99))}ms`,
        max: `${ms(sorted.at(-1) ?? Number.NaN)}ms`,
      }),
    );
  }
} finally {
  if (!args.keep) fs.rmSync(args.dir, { recursive: true, force: true });
}
