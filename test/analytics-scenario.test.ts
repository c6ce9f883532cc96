// The analytics stage end to end, over real HTTP on loopback against real `sluice serve` child
// processes (no mocks): reference B's scenario (64,000 entries in 3,200 batches from 2 parallel
// senders, 2,000 repeats answered 409) aggregated into exact minute, hour and day documents; the
// offline `sluice aggregates rebuild` reproducing them; late entries updating old windows and their
// rollups; GET /v1/aggregates's validation, tenancy, range, pagination and topN; key folding under
// --aggregate-keys-max; two tenants sharing a partition kept apart live and by the rebuild; the CLI's
// usage errors.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { referenceScenario, scenarioUserAgents } from "../src/loadgen/scenario.ts";
import {
  accessEntry,
  assertAccessError,
  fnv1a32,
  metricValue,
  type Sample,
  scrape,
} from "./support/http-client.ts";
import {
  type AggregateDocument,
  accessErrorProblem,
  aggregateDocuments,
  aggregateStatus,
  allDocuments,
  assertEveryReply,
  postBatches,
  queryAggregates,
  runSluice,
  waitForCaughtUp,
} from "./support/scenario-client.ts";
import { type ServerProcess, startServerProcess, temporaryDataDir } from "./support/server.ts";

const invalidArgument = { status: 400, category: "invalid_argument", code: "ING_1000" } as const;
const firefox = scenarioUserAgents[1][1];
const curl = scenarioUserAgents[3][1];

/** SIGTERM (SIGKILL when it takes over 10 s); resolves with the exit code. */
async function shutDown(server: ServerProcess): Promise<number | null> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.child.exitCode;
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 10_000);
  const code = await server.stop();
  clearTimeout(timer);
  // Exit 0 alone proves little: a process whose event loop runs dry also exits 0. The last line
  // says the shutdown ran to its end (consumer stopped, store and logs closed).
  if (code === 0)
    assert.ok(
      server.logs.at(-1)?.includes('"sluice stopped"'),
      `shutdown did not finish: ${server.logs.at(-1)}`,
    );
  return code;
}

function windowDocument(
  customerId: string,
  windowStart: string,
  requestsByPath: Record<string, number>,
  requestsByUserAgent: Record<string, number>,
  windowSize = "minute",
): AggregateDocument {
  return { customerId, windowStart, windowSize, requestsByPath, requestsByUserAgent };
}

function analyticsSamples(samples: readonly Sample[], name: string): Sample[] {
  return samples.filter((sample) => sample.name === name);
}

/** SHA-256 of every file of the analytics directory but SQLite's -shm (readers write read marks there). */
function storeFingerprint(dataDir: string): Record<string, string> {
  const directory = path.join(dataDir, "analytics");
  const fingerprint: Record<string, string> = {};
  for (const name of fs.readdirSync(directory).sort()) {
    if (name.endsWith("-shm")) {
      fingerprint[name] = "(shared memory index)";
      continue;
    }
    fingerprint[name] = crypto
      .createHash("sha256")
      .update(fs.readFileSync(path.join(directory, name)))
      .digest("hex");
  }
  return fingerprint;
}

// ===============================================================================================
// 1–3 build on each other: one data dir, the scenario posted once.
describe("reference scenario: 64,000 entries aggregated, rebuilt, and joined by late entries", () => {
  const scenario = referenceScenario();
  const customerId = scenario.customerId;
  // Made in before(), not here: a run that filters these tests out would never remove it.
  let dataDir = "";
  let server: ServerProcess | undefined;
  let served: Record<"minute" | "hour" | "day", AggregateDocument[]> | undefined;

  const current = (): ServerProcess => {
    assert.ok(server, "server not started");
    return server;
  };
  const scenarioResults = () => {
    assert.ok(served, "the scenario test did not record its documents");
    return served;
  };

  before(async () => {
    dataDir = temporaryDataDir("sluice-analytics-scenario-");
    server = await startServerProcess({ dataDir });
  });
  after(async () => {
    if (server) await shutDown(server);
    if (dataDir !== "") fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test("2 senders post 3,200 batches (all 202), 2,000 repeats (all 409); the documents are exact", async (t) => {
    const { url } = current();
    assert.equal(scenario.batches.length, 3200);
    assert.equal(scenario.repeatKeys.length, 2000);

    // While the senders run, the status is read over and over: it must stay consistent (see
    // aggregateStatus) and, as every record holds 20 entries and its counts commit with its offset,
    // each partition's entriesCounted must be 20 × its committedOffset at every instant.
    let sending = true;
    const lagSamples: number[] = [];
    let lastCounted = 0;
    const watcher = (async () => {
      while (sending) {
        const status = await aggregateStatus(url);
        for (const partition of status.partitions)
          assert.equal(partition.entriesCounted, 20 * partition.committedOffset, JSON.stringify(partition));
        assert.ok(status.entriesCounted >= lastCounted, "entriesCounted never goes down");
        lastCounted = status.entriesCounted;
        lagSamples.push(status.lagRecords);
        // Pacing only: each assertion above holds at any instant, so how many reads a machine
        // manages (one or thousands) changes no outcome; lagSamples feeds a diagnostic alone.
        await new Promise((wake) => setTimeout(wake, 20));
      }
    })();
    watcher.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
    let accepted: Awaited<ReturnType<typeof postBatches>>;
    try {
      accepted = await postBatches(url, customerId, scenario.batches, 2);
    } finally {
      sending = false;
    }
    await watcher;
    t.diagnostic(
      `status read ${lagSamples.length} times while sending; lagRecords > 0 in ${lagSamples.filter((lag) => lag > 0).length}, max ${Math.max(0, ...lagSamples)}`,
    );
    assertEveryReply(
      accepted,
      scenario.batches.map((batch) => batch.key),
      (reply) => (reply.status === 202 && reply.text === "" ? null : `${reply.status} ${reply.text}`),
      "first sends (want 202 with an empty body)",
    );

    const byKey = new Map(scenario.batches.map((batch) => [batch.key, batch]));
    const repeats = scenario.repeatKeys.map((key) => byKey.get(key)!);
    const repeated = await postBatches(url, customerId, repeats, 2);
    assertEveryReply(
      repeated,
      scenario.repeatKeys,
      (reply) =>
        accessErrorProblem(reply, {
          status: 409,
          category: "resource_conflict",
          code: "ING_1001",
          description: "log batch already processed",
        }),
      "repeats (want 409 ING_1001 log batch already processed)",
    );

    const status = await waitForCaughtUp(url, 64_000);
    assert.equal(status.lagSeconds, 0);
    assert.equal(status.pathsFolded, 0);
    assert.equal(status.userAgentsFolded, 0);
    assert.equal(status.windowKeysMax, 1000);
    assert.deepEqual(
      status.partitions.map((partition) => partition.partition),
      [0, 1, 2, 3],
    );
    for (const partition of status.partitions) {
      assert.equal(partition.committedOffset, partition.endOffset, `partition ${partition.partition}`);
      assert.equal(partition.lagRecords, 0);
      assert.equal(partition.lagSeconds, 0);
    }
    // One record per accepted batch, none for the repeats; every entry counted once.
    assert.equal(
      status.partitions.reduce((sum, partition) => sum + partition.endOffset, 0),
      3200,
      "records in the access log",
    );
    assert.equal(
      status.partitions.reduce((sum, partition) => sum + partition.entriesCounted, 0),
      64_000,
    );

    const documents = await allDocuments(url, customerId);
    assert.deepEqual(
      documents.minute,
      scenario.expectedMinutes.map((expected) => ({ customerId, windowSize: "minute", ...expected })),
    );
    const perKey = (keys: readonly string[]) => Object.fromEntries(keys.map((key) => [key, 16_000]));
    const pathKeys = Object.keys(scenario.expectedMinutes[0].requestsByPath);
    const families = Object.keys(scenario.expectedMinutes[0].requestsByUserAgent);
    assert.deepEqual(pathKeys, ["GET /", "GET /about", "GET /careers", "GET /contact"]);
    assert.deepEqual(families, ["Chrome", "Firefox", "Googlebot", "curl"]);
    assert.deepEqual(documents.hour, [
      windowDocument(customerId, "2025-12-28T18:00:00Z", perKey(pathKeys), perKey(families), "hour"),
    ]);
    assert.deepEqual(documents.day, [
      windowDocument(customerId, "2025-12-28T00:00:00Z", perKey(pathKeys), perKey(families), "day"),
    ]);

    const samples = await scrape(url);
    assert.equal(metricValue(samples, "sluice_analytics_entries_total"), 64_000);
    // One freshness observation per record made visible.
    assert.equal(metricValue(samples, "sluice_analytics_freshness_seconds_count"), 3200);
    for (const name of ["sluice_analytics_lag_records", "sluice_analytics_lag_seconds"]) {
      const gauges = analyticsSamples(samples, name);
      assert.deepEqual(
        gauges.map((sample) => sample.labels.partition).sort(),
        ["0", "1", "2", "3"],
        `${name} per partition`,
      );
      for (const gauge of gauges)
        assert.equal(gauge.value, 0, `${name}{partition=${gauge.labels.partition}}`);
    }
    assert.equal(metricValue(samples, "sluice_analytics_paths_folded"), 0);
    served = documents;
  });

  test("rebuild against the running server exits 1 (stop the server first) and changes nothing", async () => {
    const { url } = current();
    const before = scenarioResults();
    const fingerprint = storeFingerprint(dataDir);
    assert.ok("aggregates.db" in fingerprint, `store files: ${Object.keys(fingerprint)}`);

    const result = await runSluice(["aggregates", "rebuild", "--data-dir", dataDir]);
    assert.equal(result.status, 1, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.match(result.stderr, /stop the server first/);
    assert.doesNotMatch(result.stdout, /entries \d/, "no rebuild summary");

    assert.deepEqual(storeFingerprint(dataDir), fingerprint, "the store files are unchanged");
    assert.deepEqual(await allDocuments(url, customerId), before);
    const status = await aggregateStatus(url);
    assert.equal(status.entriesCounted, 64_000);
    assert.equal(status.lagRecords, 0);
  });

  test("after SIGTERM, aggregates rebuild recomputes identical documents from the log", async () => {
    const before = scenarioResults();
    assert.equal(await shutDown(current()), 0, "serve exits 0 on SIGTERM");
    const storeFile = path.join(dataDir, "analytics", "aggregates.db");
    const inodeBefore = fs.statSync(storeFile).ino;

    const result = await runSluice(["aggregates", "rebuild", "--data-dir", dataDir]);
    assert.equal(result.status, 0, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.match(result.stdout, /^records 3200 · entries 64000 \([\d,]+\/s\)$/m, result.stdout);
    assert.notEqual(fs.statSync(storeFile).ino, inodeBefore, "the rebuilt store replaced the old one");
    assert.equal(fs.existsSync(`${storeFile}.rebuild`), false, "no build file left behind");

    server = await startServerProcess({ dataDir });
    const status = await waitForCaughtUp(server.url, 64_000);
    assert.equal(
      status.partitions.reduce((sum, partition) => sum + partition.endOffset, 0),
      3200,
    );
    assert.deepEqual(await allDocuments(server.url, customerId), before);
    // The rebuilt store carries the consumer offsets: the restarted consumer recounts nothing.
    assert.equal(metricValue(await scrape(server.url), "sluice_analytics_entries_total"), 0);
  });

  test("late entries (minutes and days late) land in their own minute, hour and day windows", async () => {
    const { url } = current();
    const before = scenarioResults();
    const late = [
      accessEntry({ receivedAt: "2025-12-28T17:59:30Z", path: "/about", userAgent: firefox }),
      accessEntry({ receivedAt: "2025-12-27T10:00:00Z", path: "/about", userAgent: firefox }),
    ];
    const [reply] = await postBatches(url, customerId, [{ key: "late-000001", entries: late }]);
    assert.equal(reply.status, 202, reply.text);
    await waitForCaughtUp(url, 64_002);

    const one = (windowStart: string, windowSize: string) =>
      windowDocument(customerId, windowStart, { "GET /about": 1 }, { Firefox: 1 }, windowSize);
    const day28 = structuredClone(before.day[0]);
    day28.requestsByPath["GET /about"] += 1;
    day28.requestsByUserAgent.Firefox += 1;
    const after = await allDocuments(url, customerId);
    assert.deepEqual(after, {
      minute: [
        one("2025-12-27T10:00:00Z", "minute"),
        one("2025-12-28T17:59:00Z", "minute"),
        ...before.minute,
      ],
      hour: [one("2025-12-27T10:00:00Z", "hour"), one("2025-12-28T17:00:00Z", "hour"), ...before.hour],
      day: [one("2025-12-27T00:00:00Z", "day"), day28],
    });
    const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);
    assert.equal(total(after.day[1].requestsByPath), 64_001);
    assert.equal(total(after.day[1].requestsByUserAgent), 64_001);
  });
});

// ===============================================================================================
describe("GET /v1/aggregates: validation, tenancy, range, pagination, topN", () => {
  const customerId = "cus-axon";
  // 64 entries: four minute windows 18:03–18:06, 4 per path and per family each…
  const small = referenceScenario({ batchCount: 16, batchEntries: 4, repeatCount: 0 });
  // …plus 5 more in 18:03 so that window's keys have distinct counts.
  const skew = [
    ...Array.from({ length: 3 }, () => accessEntry({ path: "/about", userAgent: curl })),
    ...Array.from({ length: 2 }, () => accessEntry({ path: "/careers", userAgent: firefox })),
  ];
  const expected = small.expectedMinutes.map((window) => ({ customerId, windowSize: "minute", ...window }));
  expected[0].requestsByPath = { "GET /": 4, "GET /about": 7, "GET /careers": 6, "GET /contact": 4 };
  expected[0].requestsByUserAgent = { Chrome: 4, Firefox: 6, Googlebot: 4, curl: 7 };
  const minute = (hhmm: string) => `2025-12-28T${hhmm}:00Z`;

  let server: ServerProcess | undefined;
  const url = () => {
    assert.ok(server, "server not started");
    return server.url;
  };
  before(async () => {
    server = await startServerProcess();
    const replies = await postBatches(server.url, customerId, [
      ...small.batches,
      { key: "skew-1", entries: skew },
    ]);
    const other = await postBatches(server.url, "cus-bolt", [{ key: "bolt-1", entries: [accessEntry()] }]);
    for (const reply of [...replies, ...other]) assert.equal(reply.status, 202, reply.text);
    await waitForCaughtUp(server.url, 64 + 5 + 1);
  });
  after(async () => {
    if (server) {
      await shutDown(server);
      fs.rmSync(server.dataDir, { recursive: true, force: true });
    }
  });

  test("the minute documents are exact and ordered by windowStart", async () => {
    const reply = await queryAggregates(url(), customerId, { windowSize: "minute" });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers.get("x-next-window-start"), null);
    assert.deepEqual(JSON.parse(reply.text), expected);
  });

  const errors: Array<[string, string | null, Record<string, string>, string]> = [
    ["no x-customer-id", null, { windowSize: "minute" }, "customerID is required"],
    ["a blank x-customer-id", "   ", { windowSize: "minute" }, "customerID is required"],
    [
      "windowSize week",
      customerId,
      { windowSize: "week" },
      "invalid windowSize: must be one of minute, hour, day",
    ],
    [
      "windowSize minutes",
      customerId,
      { windowSize: "minutes" },
      "invalid windowSize: must be one of minute, hour, day",
    ],
    [
      "from a word",
      customerId,
      { from: "yesterday" },
      "invalid from: must be RFC 3339, e.g. 2025-12-28T18:03:00Z",
    ],
    [
      "from a date only",
      customerId,
      { from: "2025-12-28" },
      "invalid from: must be RFC 3339, e.g. 2025-12-28T18:03:00Z",
    ],
    [
      "from without a zone",
      customerId,
      { from: "2025-12-28T18:03:00" },
      "invalid from: must be RFC 3339, e.g. 2025-12-28T18:03:00Z",
    ],
    [
      "from in Unix ms",
      customerId,
      { from: "1766944980000" },
      "invalid from: must be RFC 3339, e.g. 2025-12-28T18:03:00Z",
    ],
    [
      "to at hour 25",
      customerId,
      { to: "2025-12-28T25:00:00Z" },
      "invalid to: must be RFC 3339, e.g. 2025-12-28T18:03:00Z",
    ],
    [
      "to on February 30",
      customerId,
      { to: "2025-02-30T00:00:00Z" },
      "invalid to: must be RFC 3339, e.g. 2025-12-28T18:03:00Z",
    ],
    [
      "from equal to to",
      customerId,
      { from: minute("18:05"), to: minute("18:05") },
      "invalid range: from must be before to",
    ],
    [
      "from after to",
      customerId,
      { from: minute("18:06"), to: minute("18:04") },
      "invalid range: from must be before to",
    ],
    ["limit 0", customerId, { limit: "0" }, "invalid limit: must be an integer between 1 and 10000"],
    ["limit 10001", customerId, { limit: "10001" }, "invalid limit: must be an integer between 1 and 10000"],
    ["limit -1", customerId, { limit: "-1" }, "invalid limit: must be an integer between 1 and 10000"],
    ["limit 1.5", customerId, { limit: "1.5" }, "invalid limit: must be an integer between 1 and 10000"],
    ["limit abc", customerId, { limit: "abc" }, "invalid limit: must be an integer between 1 and 10000"],
    ["topN 0", customerId, { topN: "0" }, "invalid topN: must be an integer between 1 and 1000000"],
    [
      "topN 1000001",
      customerId,
      { topN: "1000001" },
      "invalid topN: must be an integer between 1 and 1000000",
    ],
    ["topN 2.0", customerId, { topN: "2.0" }, "invalid topN: must be an integer between 1 and 1000000"],
    ["topN x", customerId, { topN: "x" }, "invalid topN: must be an integer between 1 and 1000000"],
  ];
  for (const [index, [name, customer, query, description]] of errors.entries()) {
    test(`400 ${description}: ${name}`, async () => {
      const requestId = `agg-error-${index}`;
      const reply = await queryAggregates(url(), customer, query, { "x-request-id": requestId });
      const body = assertAccessError(reply, { ...invalidArgument, description });
      assert.equal(body.requestId, requestId, "x-request-id is echoed");
    });
  }

  test("x-request-id is generated when absent, on 400 and 200 alike, and echoed on 200", async () => {
    const bad = await queryAggregates(url(), customerId, { windowSize: "week" });
    const generated = assertAccessError(bad, {
      ...invalidArgument,
      description: "invalid windowSize: must be one of minute, hour, day",
    }).requestId;
    const good = await queryAggregates(url(), customerId, { windowSize: "minute" });
    assert.equal(good.status, 200);
    assert.ok((good.headers.get("x-request-id") ?? "").length > 0, "generated on 200");
    assert.notEqual(good.headers.get("x-request-id"), generated, "a new id per request");
    const echoed = await queryAggregates(
      url(),
      customerId,
      { windowSize: "minute" },
      { "x-request-id": "agg-ok-1" },
    );
    assert.equal(echoed.status, 200);
    assert.equal(echoed.headers.get("x-request-id"), "agg-ok-1");
  });

  test("the limits' bounds themselves are accepted", async () => {
    const bounds: Array<Record<string, string>> = [
      { limit: "1" },
      { limit: "10000" },
      { topN: "1" },
      { topN: "1000000" },
    ];
    for (const query of bounds) {
      const reply = await queryAggregates(url(), customerId, { windowSize: "minute", ...query });
      assert.equal(reply.status, 200, `${JSON.stringify(query)}: ${reply.text}`);
    }
  });

  test("tenant isolation: each customer sees only its own windows", async () => {
    for (const windowSize of ["minute", "hour", "day"]) {
      const reply = await queryAggregates(url(), "cus-nobody", { windowSize });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.text, "[]", `${windowSize} windows of a customer that sent nothing`);
    }
    assert.deepEqual(await aggregateDocuments(url(), "cus-bolt", { windowSize: "minute" }), [
      windowDocument("cus-bolt", minute("18:03"), { "GET /about": 1 }, { Firefox: 1 }),
    ]);
    assert.deepEqual(await aggregateDocuments(url(), "cus-bolt", { windowSize: "day" }), [
      windowDocument("cus-bolt", "2025-12-28T00:00:00Z", { "GET /about": 1 }, { Firefox: 1 }, "day"),
    ]);
    const axonDay = await aggregateDocuments(url(), customerId, { windowSize: "day" });
    assert.equal(axonDay.length, 1);
    assert.equal(axonDay[0].requestsByPath["GET /about"], 19, "cus-bolt's entry is not counted for cus-axon");
  });

  test("from is inclusive and to exclusive (on windowStart), in any RFC 3339 offset", async () => {
    const starts = async (query: Record<string, string>) =>
      (await aggregateDocuments(url(), customerId, { windowSize: "minute", ...query })).map(
        (document) => document.windowStart,
      );
    assert.deepEqual(await starts({ from: minute("18:04"), to: minute("18:06") }), [
      minute("18:04"),
      minute("18:05"),
    ]);
    assert.deepEqual(await starts({ from: "2025-12-28T19:04:00+01:00", to: "2025-12-28T19:06:00+01:00" }), [
      minute("18:04"),
      minute("18:05"),
    ]);
    assert.deepEqual(await starts({ from: minute("18:05") }), [minute("18:05"), minute("18:06")]);
    assert.deepEqual(await starts({ to: minute("18:04") }), [minute("18:03")]);
    assert.deepEqual(await starts({ from: minute("18:07") }), []);
    assert.deepEqual(await starts({ to: minute("18:03") }), []);
    const ranged = await aggregateDocuments(url(), customerId, {
      windowSize: "minute",
      from: minute("18:03"),
      to: "2025-12-28T18:03:00.001Z",
    });
    assert.deepEqual(ranged, [expected[0]]);
    assert.equal(
      (await aggregateDocuments(url(), customerId, { windowSize: "hour", to: "2025-12-28T18:00:00Z" }))
        .length,
      0,
    );
    assert.equal(
      (await aggregateDocuments(url(), customerId, { windowSize: "hour", from: "2025-12-28T18:00:00Z" }))
        .length,
      1,
    );
  });

  test("limit=3 pages through all four minute windows with x-next-window-start", async () => {
    const first = await queryAggregates(url(), customerId, { windowSize: "minute", limit: 3 });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(JSON.parse(first.text), expected.slice(0, 3));
    const next = first.headers.get("x-next-window-start");
    assert.equal(next, minute("18:06"));
    const second = await queryAggregates(url(), customerId, { windowSize: "minute", limit: 3, from: next! });
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(JSON.parse(second.text), expected.slice(3));
    assert.equal(second.headers.get("x-next-window-start"), null, "the last page has no next");

    const exact = await queryAggregates(url(), customerId, { windowSize: "minute", limit: 4 });
    assert.equal(exact.headers.get("x-next-window-start"), null, "limit equal to the count: no next");
    // The next page is only announced when it lies inside the range.
    const bounded = await queryAggregates(url(), customerId, {
      windowSize: "minute",
      limit: 1,
      to: minute("18:05"),
    });
    assert.deepEqual(JSON.parse(bounded.text), expected.slice(0, 1));
    assert.equal(bounded.headers.get("x-next-window-start"), minute("18:04"));
    const boundedAll = await queryAggregates(url(), customerId, {
      windowSize: "minute",
      limit: 2,
      to: minute("18:05"),
    });
    assert.deepEqual(JSON.parse(boundedAll.text), expected.slice(0, 2));
    assert.equal(boundedAll.headers.get("x-next-window-start"), null);
  });

  test("topN=2 keeps the two largest keys of each map and sums the rest into other", async () => {
    const documents = await aggregateDocuments(url(), customerId, { windowSize: "minute", topN: 2 });
    assert.equal(documents.length, 4);
    assert.deepEqual(documents[0], {
      ...expected[0],
      requestsByPath: { "GET /about": 7, "GET /careers": 6, other: 8 },
      requestsByUserAgent: { curl: 7, Firefox: 6, other: 8 },
    });
    // The other windows are all ties (4 each): any two kept, the other two summed.
    for (const document of documents.slice(1)) {
      for (const counts of [document.requestsByPath, document.requestsByUserAgent]) {
        assert.equal(Object.keys(counts).length, 3, JSON.stringify(counts));
        assert.equal(counts.other, 8, JSON.stringify(counts));
        for (const [key, count] of Object.entries(counts)) if (key !== "other") assert.equal(count, 4);
      }
    }
    assert.deepEqual(
      (await aggregateDocuments(url(), customerId, { windowSize: "hour", topN: 2 }))[0],
      windowDocument(
        customerId,
        "2025-12-28T18:00:00Z",
        { "GET /about": 19, "GET /careers": 18, other: 32 },
        { curl: 19, Firefox: 18, other: 32 },
        "hour",
      ),
    );
    assert.deepEqual(
      (await aggregateDocuments(url(), customerId, { windowSize: "minute", topN: 1, limit: 1 }))[0],
      {
        ...expected[0],
        requestsByPath: { "GET /about": 7, other: 14 },
        requestsByUserAgent: { curl: 7, other: 14 },
      },
    );
    // N at or above the number of keys changes nothing (and adds no other).
    for (const topN of [4, 1_000_000])
      assert.deepEqual(await aggregateDocuments(url(), customerId, { windowSize: "minute", topN }), expected);
  });
});

// ===============================================================================================
describe("--aggregate-keys-max 10: further new keys fold into other, per window and size", () => {
  const customerId = "cus-many";
  let server: ServerProcess | undefined;
  const url = () => {
    assert.ok(server, "server not started");
    return server.url;
  };
  before(async () => {
    server = await startServerProcess({ args: ["--aggregate-keys-max", "10"] });
  });
  after(async () => {
    if (server) {
      await shutDown(server);
      fs.rmSync(server.dataDir, { recursive: true, force: true });
    }
  });

  const second = (at: number) => `2025-12-28T18:03:${String(at).padStart(2, "0")}Z`;
  const pathName = (index: number) => `/p${String(index).padStart(2, "0")}`;

  test("50 distinct paths in one minute: 10 keys + other 40 in the minute, hour and day", async () => {
    const entries = Array.from({ length: 50 }, (_, index) =>
      accessEntry({ receivedAt: second(index), path: pathName(index), userAgent: curl }),
    );
    const [reply] = await postBatches(url(), customerId, [{ key: "many-paths", entries }]);
    assert.equal(reply.status, 202, reply.text);
    const status = await waitForCaughtUp(url(), 50);
    assert.equal(status.windowKeysMax, 10);
    assert.equal(status.pathsFolded, 40);
    assert.equal(status.userAgentsFolded, 0);

    const kept: Record<string, number> = {};
    for (let index = 0; index < 10; index++) kept[`GET ${pathName(index)}`] = 1;
    const paths = { ...kept, other: 40 };
    assert.deepEqual(await allDocuments(url(), customerId), {
      minute: [windowDocument(customerId, "2025-12-28T18:03:00Z", paths, { curl: 50 })],
      hour: [windowDocument(customerId, "2025-12-28T18:00:00Z", paths, { curl: 50 }, "hour")],
      day: [windowDocument(customerId, "2025-12-28T00:00:00Z", paths, { curl: 50 }, "day")],
    });
    const samples = await scrape(url());
    assert.equal(metricValue(samples, "sluice_analytics_paths_folded"), 40);
  });

  test("user-agent families fold separately; a fuller hour folds more than its minute", async () => {
    // 12 new families in 18:10: the minute keeps 10; the hour already holds curl, so it keeps 9.
    const entries = Array.from({ length: 12 }, (_, index) =>
      accessEntry({
        receivedAt: `2025-12-28T18:10:${String(index).padStart(2, "0")}Z`,
        path: pathName(0),
        userAgent: `tool${String(index).padStart(2, "0")}/1.0`,
      }),
    );
    const [reply] = await postBatches(url(), customerId, [{ key: "many-agents", entries }]);
    assert.equal(reply.status, 202, reply.text);
    const status = await waitForCaughtUp(url(), 62);
    assert.equal(status.pathsFolded, 40);
    assert.equal(status.userAgentsFolded, 2, "folded entries of minute windows only");

    const families = (count: number) =>
      Object.fromEntries(
        Array.from({ length: count }, (_, index) => [`tool${String(index).padStart(2, "0")}`, 1]),
      );
    const hourPaths: Record<string, number> = { "GET /p00": 13 };
    for (let index = 1; index < 10; index++) hourPaths[`GET ${pathName(index)}`] = 1;
    hourPaths.other = 40;
    const documents = await allDocuments(url(), customerId);
    assert.deepEqual(
      documents.minute[1],
      windowDocument(customerId, "2025-12-28T18:10:00Z", { "GET /p00": 12 }, { ...families(10), other: 2 }),
    );
    assert.equal(documents.minute.length, 2);
    assert.deepEqual(documents.hour, [
      windowDocument(
        customerId,
        "2025-12-28T18:00:00Z",
        hourPaths,
        { curl: 50, ...families(9), other: 3 },
        "hour",
      ),
    ]);
    assert.deepEqual(documents.day, [
      windowDocument(
        customerId,
        "2025-12-28T00:00:00Z",
        hourPaths,
        { curl: 50, ...families(9), other: 3 },
        "day",
      ),
    ]);
  });

  test("topN adds the keys it drops to the other bucket the window already has", async () => {
    const [hour] = await aggregateDocuments(url(), customerId, { windowSize: "hour", topN: 1 });
    assert.deepEqual(hour.requestsByPath, { "GET /p00": 13, other: 9 + 40 });
    assert.deepEqual(hour.requestsByUserAgent, { curl: 50, other: 9 + 3 });
    const [minute] = await aggregateDocuments(url(), customerId, { windowSize: "minute", topN: 2, limit: 1 });
    assert.equal(minute.windowStart, "2025-12-28T18:03:00Z");
    // All ten kept paths tie at 1: any two stay, the other eight join the 40 already folded.
    assert.equal(Object.keys(minute.requestsByPath).length, 3, JSON.stringify(minute.requestsByPath));
    assert.equal(minute.requestsByPath.other, 48);
    for (const [key, count] of Object.entries(minute.requestsByPath))
      if (key !== "other") assert.equal(count, 1, key);
  });
});

// ===============================================================================================
describe("two tenants in one partition stay apart, live and after a rebuild", () => {
  // Interleaved batches of two customers routed to the same partition: the rebuild reads them in
  // 1 MiB chunks, so one aggregation step sees both customers' entries in the same windows.
  const first = "cus-axon";
  const partition = fnv1a32(first) % 4;
  let second = "";
  for (let index = 0; second === ""; index++)
    if (fnv1a32(`cus-share-${index}`) % 4 === partition) second = `cus-share-${index}`;
  const batches = Array.from({ length: 80 }, (_, index) => {
    const customerId = index % 2 === 0 ? first : second;
    const entries = Array.from({ length: 10 }, (_, slot) =>
      accessEntry({
        receivedAt: `2025-12-28T18:03:${String(slot).padStart(2, "0")}Z`,
        path: customerId === first ? "/mine" : "/theirs",
        userAgent: customerId === first ? curl : firefox,
      }),
    );
    return { key: `shared-${index}`, customerId, entries };
  });
  const expectedOf = (customerId: string) => {
    const paths = { [customerId === first ? "GET /mine" : "GET /theirs"]: 400 };
    const agents = { [customerId === first ? "curl" : "Firefox"]: 400 };
    return {
      minute: [windowDocument(customerId, "2025-12-28T18:03:00Z", paths, agents)],
      hour: [windowDocument(customerId, "2025-12-28T18:00:00Z", paths, agents, "hour")],
      day: [windowDocument(customerId, "2025-12-28T00:00:00Z", paths, agents, "day")],
    };
  };
  let dataDir = "";
  let server: ServerProcess | undefined;
  after(async () => {
    if (server) await shutDown(server);
    if (dataDir !== "") fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test("each customer's documents hold only its own entries", async () => {
    dataDir = temporaryDataDir("sluice-analytics-shared-");
    server = await startServerProcess({ dataDir });
    const replies = await postBatches(server.url, first, batches, 2);
    for (const reply of replies) assert.equal(reply.status, 202, reply.text);
    const status = await waitForCaughtUp(server.url, 800);
    assert.deepEqual(
      status.partitions.map((each) => each.endOffset),
      [0, 1, 2, 3].map((each) => (each === partition ? 80 : 0)),
      "both customers' batches are in one partition",
    );
    for (const customerId of [first, second])
      assert.deepEqual(await allDocuments(server.url, customerId), expectedOf(customerId), customerId);

    assert.equal(await shutDown(server), 0);
    const result = await runSluice(["aggregates", "rebuild", "--data-dir", dataDir]);
    assert.equal(result.status, 0, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.match(result.stdout, /^records 80 · entries 800 \(/m, result.stdout);
    server = await startServerProcess({ dataDir });
    await waitForCaughtUp(server.url, 800);
    for (const customerId of [first, second])
      assert.deepEqual(
        await allDocuments(server.url, customerId),
        expectedOf(customerId),
        `${customerId} rebuilt`,
      );
  });
});

// ===============================================================================================
describe("sluice aggregates: usage errors", () => {
  for (const [name, args, complaint] of [
    ["no action", [], "missing action"],
    ["an unknown action", ["frobnicate"], 'unknown action "frobnicate"'],
  ] as const) {
    test(`${name}: exit 2 with the usage on stderr`, async () => {
      const result = await runSluice(["aggregates", ...args]);
      assert.equal(result.status, 2, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
      assert.ok(result.stderr.includes(complaint), result.stderr);
      assert.match(result.stderr, /usage: sluice aggregates rebuild/);
      assert.equal(result.stdout, "");
    });
  }
});
