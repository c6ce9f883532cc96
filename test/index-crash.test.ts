// The search index under kill -9, at server level: a real `sluice serve` ingests over POST /v1/logs
// and is SIGKILLed mid-load, round after round on one data dir (the open blocks, never committed,
// are lost each time and re-read). After the last restart the index catches up (the
// sluice_index_lag_records gauge below a block); then every needle query answers the same on that
// server (--search-index on) as on the same data dir served with --search-index off (full scans),
// GET /v1/query too, and every acknowledged line is found.

import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";
import { indexLimits } from "../src/index/index.ts";
import { metricValue, scrape, send } from "./support/http-client.ts";
import { type ServerProcess, startServerProcess, temporaryDataDir } from "./support/server.ts";

const services = ["auth", "billing", "search", "payments", "rare-ledger"];
const words = [
  "login ok",
  "TIMEOUT calling upstream",
  "ord-88127361 paid",
  "10.0.3.7 refused",
  "Ünïcode ſtraße",
];
const workers = 8;
/** Two partitions, so that the data of a short test fills several blocks of 8,192 records in each. */
const serveArgs = ["--partitions", "2"];
/** A round is killed once this many lines of it were acknowledged, while its load still runs. */
const roundAckedMin = 12_000;
/** Per worker and round at most this many lines (batches × lines), within one query's limit (5,000). */
const batchesPerRound = 25;
const linesPerBatch = 200;
const rounds = 3;
const tenantOf = (worker: number) => (worker % 2 === 0 ? "fake" : "acme");
const baseMs = Date.now() - 3_600_000;
const startNs = `${BigInt(baseMs - 60_000) * 1_000_000n}`;
const endNs = `${BigInt(baseMs + 3_000_000) * 1_000_000n}`;

async function post(url: string, body: string, tenant: string): Promise<number> {
  try {
    const response = await fetch(`${url}/v1/logs`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "x-scope-orgid": tenant },
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0; // the server died mid-request: not acknowledged
  }
}

async function ready(server: ServerProcess): Promise<void> {
  for (;;) {
    const reply = await send(`${server.url}/ready`).catch(() => null);
    if (reply?.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Loads from `workers` clients and SIGKILLs the server mid-load, once `roundAckedMin` lines were
 * acknowledged; returns the ids of the acknowledged lines.
 */
async function loadAndKill(server: ServerProcess, round: number): Promise<string[]> {
  const acknowledged: string[] = [];
  let stop = false;
  let enough: () => void = () => {};
  const enoughAcknowledged = new Promise<void>((resolve) => {
    enough = resolve;
  });
  const senders = Array.from({ length: workers }, async (_, worker) => {
    for (let n = 0; n < batchesPerRound && !stop; n++) {
      const ids = Array.from({ length: linesPerBatch }, (_, i) => `r${round}-w${worker}-${n}-${i}`);
      const body = JSON.stringify(
        ids.map((id, i) => ({
          timestamp: baseMs + round * 1_000_000 + worker * 100_000 + n * linesPerBatch + i,
          service: services[(i * 7 + n) % (i % 50 === 0 ? 5 : 4)],
          level: i % 3 === 0 ? "ERROR" : "INFO",
          message: `${id} ${words[(i + n) % words.length]}`,
        })),
      );
      if ((await post(server.url, body, tenantOf(worker))) === 200) acknowledged.push(...ids);
      if (acknowledged.length >= roundAckedMin) enough();
    }
  });
  // A sender that finished early must not hold the kill back: whichever comes first.
  await Promise.race([enoughAcknowledged, Promise.all(senders)]);
  await server.kill();
  stop = true;
  await Promise.all(senders);
  return acknowledged;
}

interface Ask {
  tenant: string;
  path: string;
  params: Record<string, string>;
}

const logQuery = (tenant: string, query: string, limit: number, direction = "forward"): Ask => ({
  tenant,
  path: "/loki/api/v1/query_range",
  params: { query, start: startNs, end: endNs, limit: String(limit), direction },
});

function asks(needles: readonly string[]): Ask[] {
  const list: Ask[] = [];
  for (let round = 0; round < rounds; round++)
    for (let worker = 0; worker < workers; worker++)
      list.push(logQuery(tenantOf(worker), `{service=~".+"} |= "r${round}-w${worker}-"`, 5_000));
  for (const tenant of ["fake", "acme"]) {
    for (const needle of needles) {
      list.push(logQuery(tenant, `{service=~".+"} |= "${needle} "`, 10, "backward"));
      list.push(logQuery(tenant, `{level="INFO"} |~ "(?i)${needle} "`, 10));
    }
    list.push(logQuery(tenant, '{service="rare-ledger"}', 100, "backward"));
    list.push(logQuery(tenant, '{level="ERROR"} |~ "(?i)timeout" != "r0-"', 500, "backward"));
    list.push(logQuery(tenant, '{service="auth"} |= "ord-88127361" or "10.0.3.7"', 300));
    list.push(logQuery(tenant, '{service=~"pay.*|search"} |= "absent-needle-4242"', 100));
    list.push({
      tenant,
      path: "/loki/api/v1/query_range",
      params: {
        query: 'sum by (level) (count_over_time({service=~".+"} |= "ſtraße" [5m]))',
        start: startNs,
        end: endNs,
        step: "60s",
      },
    });
    for (const service of services)
      list.push({ tenant, path: "/v1/query", params: { service, limit: "100" } });
  }
  return list;
}

async function answer(server: ServerProcess, ask: Ask): Promise<unknown> {
  const reply = await send(`${server.url}${ask.path}?${new URLSearchParams(ask.params)}`, {
    headers: { "x-scope-orgid": ask.tenant },
  });
  assert.equal(reply.status, 200, `${ask.path} ${JSON.stringify(ask.params)}: ${reply.text}`);
  if (ask.path === "/v1/query") return reply.text; // byte for byte
  const { data } = JSON.parse(reply.text);
  return { resultType: data.resultType, result: data.result }; // stats hold timings
}

test("after kill -9 while indexing, the index catches up and answers as full scans do", {
  timeout: 120_000,
}, async (t) => {
  const dataDir = temporaryDataDir("sluice-index-crash-");
  const running = new Set<ServerProcess>();
  const start = async (searchIndex: "on" | "off") => {
    const server = await startServerProcess({ dataDir, args: [...serveArgs, "--search-index", searchIndex] });
    running.add(server);
    server.child.once("exit", () => running.delete(server));
    await ready(server);
    return server;
  };
  try {
    const acknowledged: string[] = [];
    for (let round = 0; round < rounds; round++) {
      acknowledged.push(...(await loadAndKill(await start("on"), round)));
    }
    assert.ok(
      acknowledged.length >= rounds * roundAckedMin,
      `only ${acknowledged.length} lines were acknowledged`,
    );

    const indexed = await start("on");
    // Caught up: every partition's unindexed tail is less than one block (the open one).
    let lags: number[] = [];
    for (;;) {
      const samples = await scrape(indexed.url);
      lags = samples.filter((s) => s.name === "sluice_index_lag_records").map((s) => s.value);
      if (lags.length > 0 && lags.every((lag) => lag < indexLimits.blockRecordsMax)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const lagTotal = lags.reduce((sum, lag) => sum + lag, 0);
    assert.ok(acknowledged.length - lagTotal > indexLimits.blockRecordsMax, "some blocks are sealed");
    assert.equal(metricValue(await scrape(indexed.url), "sluice_index_lag_records"), lagTotal);

    const needles = Array.from({ length: 8 }, (_, i) => acknowledged[(i * 7919) % acknowledged.length]);
    const list = asks(needles);
    const withIndex = [];
    for (const ask of list) withIndex.push(await answer(indexed, ask));
    assert.equal(await indexed.stop(), 0);

    const scanning = await start("off");
    for (let i = 0; i < list.length; i++)
      assert.deepEqual(withIndex[i], await answer(scanning, list[i]), JSON.stringify(list[i]));
    assert.equal(await scanning.stop(), 0);

    // Every acknowledged line is found (by the per round and worker queries, the first asks).
    const found = new Set<string>();
    for (let i = 0; i < rounds * workers; i++) {
      const { result } = withIndex[i] as { result: { values: [string, string][] }[] };
      for (const stream of result) for (const [, line] of stream.values) found.add(line.split(" ")[0]);
    }
    const missing = acknowledged.filter((id) => !found.has(id));
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged lines not found`);
    for (const needle of needles) {
      const tenant = tenantOf(Number(/-w(\d+)-/.exec(needle)?.[1]));
      const at = list.findIndex(
        (ask) => ask.tenant === tenant && ask.params.query === `{service=~".+"} |= "${needle} "`,
      );
      assert.ok(JSON.stringify(withIndex[at]).includes(`${needle} `), `needle ${needle} found`);
    }
    t.diagnostic(
      `${rounds} kills; ${acknowledged.length} acknowledged lines; ${list.length} queries equal with and without the index; lag at the end ${lagTotal}`,
    );
  } finally {
    for (const server of running) await server.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
