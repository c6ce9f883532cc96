// The aggregate store and the consumer on real files: windows and rollups, late entries, folding
// into `other`, independence from how the log is chunked, offsets kept with the counts.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, test } from "node:test";
import fc from "fast-check";
import { type AccessEntry, accessBatchKey, accessBatchValue, RecordFormatError } from "../ingest/index.ts";
import { PartitionLog } from "../log/index.ts";
import { AggregationThread } from "./aggregation-thread.ts";
import {
  type AggregateDocument,
  AggregateStore,
  AnalyticsConsumer,
  type AnalyticsEvent,
  ChunkAggregator,
  consumeStep,
  StoreConflictError,
  StoreFormatError,
  type WindowSize,
} from "./index.ts";
import { packRecords } from "./records.ts";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-analytics-test-"));
  directories.push(directory);
  return directory;
}

function openStore(windowKeysMax = 1000, directory = temporaryDirectory()): AggregateStore {
  return AggregateStore.open(path.join(directory, "aggregates.db"), { windowKeysMax });
}

const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";
const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

interface Entry {
  customerId: string;
  at: string;
  method: string;
  path: string;
  userAgent: string;
}

function chunkOf(entries: readonly Entry[]): ChunkAggregator {
  const chunk = new ChunkAggregator();
  for (const entry of entries)
    chunk.add(entry.customerId, Date.parse(entry.at), entry.method, entry.path, entry.userAgent);
  return chunk;
}

const all = (store: AggregateStore, customerId: string, size: WindowSize): AggregateDocument[] =>
  store.query(customerId, size, -(2 ** 50), 2 ** 50, 10_000).documents;

test("entries count in their minute, hour and day; late entries update old windows and rollups", () => {
  const store = openStore();
  const entry = (at: string, pathName: string, userAgent: string): Entry => ({
    customerId: "cus-axon",
    at,
    method: "GET",
    path: pathName,
    userAgent,
  });
  store.apply(
    0,
    chunkOf([
      entry("2025-12-28T18:03:15.000Z", "/", chrome),
      entry("2025-12-28T18:03:16.000Z", "/about", firefox),
      entry("2025-12-28T18:04:01.000Z", "/", "curl/8.5.0"),
    ]),
    0,
    1,
  );
  assert.deepEqual(all(store, "cus-axon", "minute"), [
    {
      customerId: "cus-axon",
      windowStart: "2025-12-28T18:03:00Z",
      windowSize: "minute",
      requestsByPath: { "GET /": 1, "GET /about": 1 },
      requestsByUserAgent: { Chrome: 1, Firefox: 1 },
    },
    {
      customerId: "cus-axon",
      windowStart: "2025-12-28T18:04:00Z",
      windowSize: "minute",
      requestsByPath: { "GET /": 1 },
      requestsByUserAgent: { curl: 1 },
    },
  ]);
  // A late entry, an hour and a day behind, arrives in a later step.
  store.apply(0, chunkOf([entry("2025-12-27T17:10:00.000Z", "/", chrome)]), 1, 2);
  const minutes = all(store, "cus-axon", "minute");
  assert.equal(minutes.length, 3);
  assert.equal(minutes[0].windowStart, "2025-12-27T17:10:00Z");
  const hours = all(store, "cus-axon", "hour");
  assert.deepEqual(
    hours.map((document) => [document.windowStart, document.requestsByPath]),
    [
      ["2025-12-27T17:00:00Z", { "GET /": 1 }],
      ["2025-12-28T18:00:00Z", { "GET /": 2, "GET /about": 1 }],
    ],
  );
  const days = all(store, "cus-axon", "day");
  assert.deepEqual(
    days.map((document) => [document.windowStart, document.windowSize, document.requestsByUserAgent]),
    [
      ["2025-12-27T00:00:00Z", "day", { Chrome: 1 }],
      ["2025-12-28T00:00:00Z", "day", { Chrome: 1, Firefox: 1, curl: 1 }],
    ],
  );
  assert.equal(store.position(0).nextOffset, 2);
  assert.equal(store.position(0).entriesCounted, 4);
  assert.deepEqual(all(store, "someone-else", "minute"), []);
  store.close();
});

test("keys beyond windowKeysMax fold into other, per window and per dimension, and are counted", () => {
  const store = openStore(2);
  const at = "2025-12-28T18:03:00.000Z";
  const entries = ["/a", "/b", "/c", "/d", "/a", "/c"].map((pathName) => ({
    customerId: "c",
    at,
    method: "GET",
    path: pathName,
    userAgent: "curl/8",
  }));
  const counts = store.apply(0, chunkOf(entries), 0, 6);
  assert.deepEqual(counts, { entries: 6, pathsFolded: 3, agentsFolded: 0 });
  // A later step: a known key still counts as itself, a new one folds.
  store.apply(
    0,
    chunkOf([
      { customerId: "c", at, method: "GET", path: "/b", userAgent: "curl/8" },
      { customerId: "c", at, method: "GET", path: "/e", userAgent: "Wget/1" },
      { customerId: "c", at, method: "GET", path: "/f", userAgent: "python-requests/2" },
    ]),
    6,
    9,
  );
  const [minute] = all(store, "c", "minute");
  assert.deepEqual(minute.requestsByPath, { "GET /a": 2, "GET /b": 2, other: 5 });
  assert.deepEqual(minute.requestsByUserAgent, { curl: 7, Wget: 1, other: 1 });
  assert.deepEqual(all(store, "c", "hour")[0].requestsByPath, minute.requestsByPath);
  const position = store.position(0);
  assert.deepEqual([position.entriesCounted, position.pathsFolded, position.agentsFolded], [9, 5, 1]);
  assert.deepEqual(store.totals("minute"), { windows: 1, entries: 9, pathsFolded: 5, agentsFolded: 1 });
  store.close();
});

test("the documents do not depend on how the entries were split into steps", () => {
  const paths = ["/", "/a", "/b", "/c", "/d"];
  const agents = [chrome, firefox, "curl/8", "Googlebot/2.1", "x"];
  const entryArbitrary = fc.record({
    customerId: fc.constantFrom("c1", "c2"),
    at: fc
      .integer({ min: Date.UTC(2025, 11, 28, 22), max: Date.UTC(2025, 11, 29, 2) })
      .map((ms) => new Date(ms).toISOString()),
    method: fc.constantFrom("GET", "POST"),
    path: fc.constantFrom(...paths),
    userAgent: fc.constantFrom(...agents),
  });
  fc.assert(
    fc.property(
      fc.array(entryArbitrary, { minLength: 1, maxLength: 120 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }),
      (entries, cuts) => {
        const whole = openStore(3);
        whole.apply(0, chunkOf(entries), 0, entries.length);
        const split = openStore(3);
        let start = 0;
        for (let index = 0; start < entries.length; index++) {
          const end = Math.min(entries.length, start + cuts[index % cuts.length]);
          split.apply(0, chunkOf(entries.slice(start, end)), start, end);
          start = end;
        }
        for (const customerId of ["c1", "c2"]) {
          for (const size of ["minute", "hour", "day"] as const) {
            const expected = all(whole, customerId, size);
            assert.deepEqual(all(split, customerId, size), expected);
            // Every entry is counted exactly once per window size, folded or not.
            const total = (counts: Record<string, number>) =>
              Object.values(counts).reduce((a, b) => a + b, 0);
            const mine = entries.filter((entry) => entry.customerId === customerId).length;
            assert.equal(
              expected.reduce((sum, document) => sum + total(document.requestsByPath), 0),
              mine,
            );
            assert.equal(
              expected.reduce((sum, document) => sum + total(document.requestsByUserAgent), 0),
              mine,
            );
          }
        }
        whole.close();
        split.close();
      },
    ),
    { numRuns: 60 },
  );
});

test("query honours from (inclusive), to (exclusive) and limit, and says where the next page starts", () => {
  const store = openStore();
  const entries = [0, 1, 2, 3, 4].map((minute) => ({
    customerId: "c",
    at: new Date(Date.UTC(2025, 11, 28, 18, minute)).toISOString(),
    method: "GET",
    path: "/",
    userAgent: "curl/8",
  }));
  store.apply(0, chunkOf(entries), 0, 1);
  const from = Date.UTC(2025, 11, 28, 18, 1);
  const to = Date.UTC(2025, 11, 28, 18, 4);
  const page = store.query("c", "minute", from, to, 2);
  assert.deepEqual(
    page.documents.map((document) => document.windowStart),
    ["2025-12-28T18:01:00Z", "2025-12-28T18:02:00Z"],
  );
  assert.equal(page.nextStartMs, Date.UTC(2025, 11, 28, 18, 3));
  const rest = store.query("c", "minute", page.nextStartMs!, to, 2);
  assert.deepEqual(
    rest.documents.map((document) => document.windowStart),
    ["2025-12-28T18:03:00Z"],
  );
  assert.equal(rest.nextStartMs, null);
  store.close();
});

test("offsets and counts survive a reopen; a foreign or newer file is refused with a typed error", () => {
  const directory = temporaryDirectory();
  const store = openStore(1000, directory);
  store.apply(
    3,
    chunkOf([{ customerId: "c", at: "2025-12-28T18:03:00Z", method: "GET", path: "/", userAgent: "x" }]),
    0,
    41,
  );
  // A step that does not start at the committed offset would double-count or skip: refused whole.
  assert.throws(
    () =>
      store.apply(
        3,
        chunkOf([{ customerId: "c", at: "2025-12-28T18:03:00Z", method: "GET", path: "/", userAgent: "x" }]),
        0,
        42,
      ),
    StoreConflictError,
  );
  assert.equal(store.position(3).nextOffset, 41);
  store.close();
  const reopened = openStore(1000, directory);
  assert.equal(reopened.position(3).nextOffset, 41);
  assert.equal(reopened.position(0).nextOffset, 0);
  assert.equal(all(reopened, "c", "day").length, 1);
  reopened.close();
  const db = path.join(directory, "aggregates.db");
  const { DatabaseSync } = process.getBuiltinModule("node:sqlite");
  const raw = new DatabaseSync(db);
  raw.exec("UPDATE meta SET value = '99' WHERE name = 'format_version'");
  raw.close();
  assert.throws(() => openStore(1000, directory), StoreFormatError);
  const garbage = path.join(temporaryDirectory(), "aggregates.db");
  fs.writeFileSync(garbage, Buffer.alloc(8192, 7));
  assert.throws(() => AggregateStore.open(garbage, { windowKeysMax: 10 }), StoreFormatError);
});

/** An access log and an aggregate store in a fresh temporary directory. */
function openLogAndStore(partitionCount: number): { log: PartitionLog; store: AggregateStore } {
  const directory = temporaryDirectory();
  const log = PartitionLog.open({
    directory: path.join(directory, "log"),
    partitionCount,
    onEvent: () => {},
  });
  return { log, store: openStore(1000, directory) };
}

/**
 * Waits until every partition's lag is 0. The bound only turns a hang into a failure: a consumer
 * that is merely slow (a loaded machine, a worker thread starting) must not fail the test, so it is
 * a minute, not the few hundred ms a step takes.
 */
async function caughtUp(consumer: AnalyticsConsumer): Promise<void> {
  for (let attempt = 0; attempt < 6000; attempt++) {
    if (consumer.status(Date.now()).every((status) => status.lagRecords === 0)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail("the consumer did not catch up");
}

/** A GET / at 2025-12-28T18:03:<second>Z. */
function accessEntry(second: number, userAgent: string): AccessEntry {
  return { receivedAtMs: Date.UTC(2025, 11, 28, 18, 3, second), method: "GET", path: "/", userAgent };
}

/** The request body of `entries`, as a client sends it. */
function accessBody(entries: AccessEntry[]): Buffer {
  const body = entries.map((entry) => ({
    receivedAt: new Date(entry.receivedAtMs).toISOString(),
    method: entry.method,
    path: entry.path,
    userAgent: entry.userAgent,
  }));
  return Buffer.from(JSON.stringify(body));
}

/** A batch's record as POST /logs stores it (src/ingest/FORMAT.md). */
function accessRecord(customerId: string, key: string, entries: AccessEntry[]) {
  return {
    timestampMs: Date.now(),
    key: accessBatchKey(customerId, key, `request-${key}`),
    value: accessBatchValue(accessBody(entries)),
  };
}

test("the consumer follows the access log, skips undecodable records loudly, and reports its lag", async () => {
  const { log, store } = openLogAndStore(2);
  const entry = (second: number) => accessEntry(second, chrome);
  await log.append(0, [accessRecord("c0", "b1", [entry(1), entry(2)])]);
  await log.append(0, [
    { timestampMs: Date.now(), key: Buffer.from("c0\nbad"), value: Buffer.from("{not json") },
  ]);
  await log.append(1, [accessRecord("c1", "b2", [entry(3)])]);
  const events: AnalyticsEvent[] = [];
  const steps: number[] = [];
  const consumer = AnalyticsConsumer.start(log, store, {
    onEvent: (event) => events.push(event),
    onStep: (partition, step) => steps.push(partition, step.entries),
  });
  await caughtUp(consumer);
  await log.append(0, [accessRecord("c0", "b3", [entry(4), entry(5), entry(6)])]);
  await caughtUp(consumer);
  const status = consumer.status(Date.now());
  assert.deepEqual(
    status.map((partition) => [partition.committedOffset, partition.endOffset, partition.entriesCounted]),
    [
      [3, 3, 5],
      [1, 1, 1],
    ],
  );
  assert.equal(events.filter((event) => event.kind === "undecodable-record").length, 1);
  assert.equal(all(store, "c0", "minute")[0].requestsByPath["GET /"], 5);
  assert.equal(all(store, "c1", "minute")[0].requestsByUserAgent.Chrome, 1);
  await consumer.stop();
  // Nothing left: a step returns null; the same records replayed into a fresh store give the same counts.
  assert.equal(
    consumeStep(log, store, 0, () => {}),
    null,
  );
  const replay = openStore(1000, temporaryDirectory());
  for (const partition of [0, 1]) while (consumeStep(log, replay, partition, () => {}) !== null);
  for (const customerId of ["c0", "c1"])
    assert.deepEqual(all(replay, customerId, "hour"), all(store, customerId, "hour"));
  replay.close();
  store.close();
  await log.close();
});

test("query pages stop at a row budget on a window boundary, always with one whole window", () => {
  const store = openStore();
  const entries: Entry[] = [];
  for (let minute = 0; minute < 5; minute++)
    for (let key = 0; key < 3 + minute; key++)
      entries.push({
        customerId: "c",
        at: new Date(Date.UTC(2025, 11, 28, 18, minute)).toISOString(),
        method: "GET",
        path: `/p${key}`,
        userAgent: "curl/8",
      });
  store.apply(0, chunkOf(entries), 0, 1);
  const full = store.query("c", "minute", -(2 ** 50), 2 ** 50, 100).documents;
  assert.equal(full.length, 5);
  // Window m holds 3 + m path rows and 1 agent row; a budget of 5 rows takes one window at a time.
  const pages: AggregateDocument[][] = [];
  let from = -(2 ** 50);
  for (;;) {
    const page = store.query("c", "minute", from, 2 ** 50, 100, 5);
    assert.ok(page.documents.length >= 1, "a page always holds at least one window");
    pages.push(page.documents);
    if (page.nextStartMs === null) break;
    from = page.nextStartMs;
  }
  assert.deepEqual(pages.flat(), full);
  assert.deepEqual(
    pages.map((page) => page.length),
    [2, 1, 1, 1],
    "windows of 4 and 5 rows: the first page takes two (4 < 5), then one each",
  );
  store.close();
});

test("a user-agent family named __proto__ is counted as an own key", () => {
  const store = openStore();
  store.apply(
    0,
    chunkOf([
      { customerId: "c", at: "2025-12-28T18:03:00Z", method: "GET", path: "/", userAgent: "__proto__/1.0" },
      { customerId: "c", at: "2025-12-28T18:03:01Z", method: "GET", path: "/", userAgent: "curl/8" },
    ]),
    0,
    1,
  );
  const [document] = all(store, "c", "minute");
  assert.equal(JSON.stringify(document.requestsByUserAgent), '{"__proto__":1,"curl":1}');
  assert.equal(Object.getPrototypeOf(document.requestsByUserAgent), Object.prototype);
  store.close();
});

test("a store ahead of its log (fsync interval + power loss) is moved back to the log's end, loudly", async () => {
  const { log, store } = openLogAndStore(1);
  const entry = (second: number) => accessEntry(second, "curl/8");
  await log.append(0, [accessRecord("c", "b1", [entry(1)])]);
  // The store counted 5 records the log no longer has.
  store.apply(
    0,
    chunkOf([{ customerId: "c", at: "2025-12-28T18:00:00Z", method: "GET", path: "/", userAgent: "x" }]),
    0,
    5,
  );
  const events: AnalyticsEvent[] = [];
  const consumer = AnalyticsConsumer.start(log, store, {
    onEvent: (event) => events.push(event),
    onStep: () => {},
  });
  assert.deepEqual(
    events.filter((event) => event.kind === "store-ahead-of-log"),
    [{ kind: "store-ahead-of-log", partition: 0, storeOffset: 5, logEndOffset: 1 }],
  );
  try {
    await log.append(0, [accessRecord("c", "b2", [entry(2), entry(3)])]);
    await caughtUp(consumer);
    assert.equal(
      consumer.status(Date.now())[0].committedOffset,
      2,
      "the new record, at offset 1, is counted",
    );
  } finally {
    await consumer.stop();
  }
  assert.equal(
    all(store, "c", "minute").find((d) => d.windowStart === "2025-12-28T18:03:00Z")?.requestsByPath["GET /"],
    2,
  );
  store.close();
  await log.close();
});

test("a hook that throws after a committed step neither wedges the partition nor counts twice", async () => {
  const { log, store } = openLogAndStore(1);
  const entry = (second: number) => accessEntry(second, "curl/8");
  await log.append(0, [{ timestampMs: Date.now(), key: Buffer.from("c\nbad"), value: Buffer.from("[1]") }]);
  await log.append(0, [accessRecord("c", "b1", [entry(1), entry(2)])]);
  let thrown = 0;
  const events: AnalyticsEvent[] = [];
  const consumer = AnalyticsConsumer.start(log, store, {
    onEvent: (event) => {
      events.push(event);
      if (event.kind === "undecodable-record" && thrown++ === 0) throw new Error("a metrics hook failed");
    },
    onStep: () => {},
  });
  try {
    await caughtUp(consumer);
    await log.append(0, [accessRecord("c", "b2", [entry(3)])]);
    await caughtUp(consumer);
    const [status] = consumer.status(Date.now());
    assert.deepEqual([status.committedOffset, status.lagRecords, status.entriesCounted], [3, 0, 3]);
    assert.equal(thrown, 1);
  } finally {
    await consumer.stop();
  }
  assert.equal(all(store, "c", "minute")[0].requestsByPath["GET /"], 3);
  store.close();
  await log.close();
});

test("the aggregation thread refuses a step that does not start at the committed offset, with its class", async () => {
  const directory = temporaryDirectory();
  const store = openStore(1000, directory);
  const thread = new AggregationThread(store.file, store.windowKeysMax);
  await assert.rejects(thread.apply(0, packRecords([]), 5, 6), StoreConflictError);
  const reply = await thread.apply(0, packRecords([]), 0, 6);
  assert.equal(reply.position.nextOffset, 6);
  await thread.close();
  assert.equal(store.position(0).nextOffset, 6);
  store.close();
});

test("records without the format byte (both legacy formats) are counted like current ones", async () => {
  const { log, store } = openLogAndStore(1);
  const entry = (second: number) => accessEntry(second, "curl/8");
  await log.append(0, [
    // The first format: two-part key, {requestId, entries: [[receivedAtMs, method, path, userAgent]]}.
    {
      timestampMs: Date.now(),
      key: Buffer.from("c\nold-1"),
      value: Buffer.from(
        JSON.stringify({ requestId: "r", entries: [[entry(1).receivedAtMs, "GET", "/", "curl/8"]] }),
      ),
    },
    // The next one: three-part key, the body as received.
    {
      timestampMs: Date.now(),
      key: accessBatchKey("c", "old-2", "r2"),
      value: accessBody([entry(2), entry(3)]),
    },
    accessRecord("c", "new-1", [entry(4)]),
  ]);
  const events: AnalyticsEvent[] = [];
  while (consumeStep(log, store, 0, (event) => events.push(event)) !== null);
  assert.deepEqual(events, []);
  assert.equal(store.position(0).nextOffset, 3);
  assert.equal(all(store, "c", "minute")[0].requestsByPath["GET /"], 4);
  store.close();
  await log.close();
});

test("a record of an unknown format fails the step (nothing after it counts) instead of being skipped", async () => {
  const { log, store } = openLogAndStore(1);
  const entry = (second: number) => accessEntry(second, "curl/8");
  const newer = { ...accessRecord("c", "b2", [entry(2)]), value: Buffer.from([0x07, 0x5b, 0x5d]) };
  await log.append(0, [accessRecord("c", "b1", [entry(1)]), newer, accessRecord("c", "b3", [entry(3)])]);
  // The rebuild's path (main thread): the typed error, and no commit.
  assert.throws(() => consumeStep(log, store, 0, () => {}), RecordFormatError);
  assert.equal(store.position(0).nextOffset, 0);
  // The server's path (the aggregation thread): the step fails with the error's own class, again.
  const failures: Error[] = [];
  const consumer = AnalyticsConsumer.start(log, store, {
    onEvent: (event) => {
      if (event.kind === "step-failed") failures.push(event.error);
    },
    onStep: () => {},
  });
  try {
    while (failures.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    await consumer.stop();
  }
  assert.ok(
    failures.every((error) => error instanceof RecordFormatError),
    String(failures[0]),
  );
  assert.equal(store.position(0).nextOffset, 0, "nothing was committed past the unknown record");
  assert.deepEqual(all(store, "c", "minute"), []);
  store.close();
  await log.close();
});
