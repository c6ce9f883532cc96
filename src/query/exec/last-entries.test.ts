// Reference A's last-N through the block index, over a real PartitionLog and a real BlockIndex:
// for random data (many services, rare ones, several tenants and partitions, an unindexed tail) and
// random limits the answer equals PartitionLog.readLast's with the key filter, record for record;
// and for a service rare among 1,000 in its partition the indexed read opens only its blocks.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, test } from "node:test";
import fc from "fast-check";
import { BlockIndex, indexedBlocks } from "../../index/index.ts";
import { enrichAndRoute, type ServiceLogEntry, serviceStreamKey } from "../../ingest/index.ts";
import { PartitionLog } from "../../log/index.ts";
import { partitionFor } from "../../model/hash.ts";
import { parseQuery } from "../parse.ts";
import { QueryEngine } from "./engine.ts";
import { LogSource } from "./log-source.ts";
import { QueryPool } from "./pool.ts";

/** The stream matchers of a log query's text. */
function parseSelector(text: string) {
  const query = parseQuery(text);
  assert.equal(query.kind, "log");
  return query.kind === "log" ? query.matchers : [];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function temporaryDirectory(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-last-entries-"));
  cleanups.push(async () => fs.rmSync(directory, { recursive: true, force: true }));
  return directory;
}

async function ingest(log: PartitionLog, tenant: string, entries: readonly ServiceLogEntry[]): Promise<void> {
  const enrichment = { receivedAtMs: 7, clientIp: "10.0.0.1", nodeId: "node-a" };
  for (const [partition, columns] of enrichAndRoute(entries, enrichment, tenant, log.partitionCount))
    await log.append(partition, columns);
}

/** Resolves once the index has sealed everything committed so far (blockOpenMsMax 0 seals when caught up). */
async function caughtUp(index: BlockIndex): Promise<void> {
  for (;;) {
    if (index.status().partitions.every((p) => p.indexedTo >= p.committedEnd)) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

interface Fixture {
  log: PartitionLog;
  index: BlockIndex;
  indexed: QueryEngine;
}

async function openFixture(
  partitionCount: number,
  blockRecordsMax: number,
  sparseStreamRecordsMax?: number,
): Promise<Fixture> {
  const directory = temporaryDirectory();
  const log = PartitionLog.open({
    directory: path.join(directory, "log"),
    partitionCount,
    fsync: "interval",
    onEvent: () => {},
  });
  const index = await BlockIndex.open(path.join(directory, "index"), log, {
    blockRecordsMax,
    blockOpenMsMax: 0,
    ...(sparseStreamRecordsMax === undefined ? {} : { sparseStreamRecordsMax }),
  });
  cleanups.push(async () => {
    await index.close();
    await log.close();
  });
  return { log, index, indexed: new QueryEngine({ log, blocks: (tenant) => indexedBlocks(index, tenant) }) };
}

function readLastOf(log: PartitionLog, tenant: string, service: string, count: number) {
  const key = serviceStreamKey(tenant, service);
  if (count === 0) return [];
  return log.readLast(partitionFor(service, log.partitionCount), count, (record) => key.equals(record.key));
}

const services = [
  ...Array.from({ length: 12 }, (_, i) => `common-${i}`),
  ...Array.from({ length: 6 }, (_, i) => `rare-${i}`),
];
const tenants = ["fake", "acme", "t-3"];

const entryArbitrary = fc.record({
  tenant: fc.constantFrom(...tenants),
  // Rare services are picked 1 time in ~20 and there are six of them: some get none, some one.
  service: fc.oneof(
    { weight: 19, arbitrary: fc.constantFrom(...services.slice(0, 12)) },
    { weight: 1, arbitrary: fc.constantFrom(...services.slice(12)) },
  ),
  level: fc.constantFrom("INFO", "ERROR", undefined),
  region: fc.constantFrom("eu", "us", undefined),
  timestamp: fc.integer({ min: 1_000, max: 9_000 }),
  word: fc.constantFrom("ok", "fail", "ord-1234567", "Ünï"),
});

test("last N through the index equals readLast for random data, tenants and limits", async () => {
  // The same reads on a pool's worker (over a snapshot) must give the same records.
  const pool = new QueryPool({ threads: 1 });
  cleanups.push(() => pool.close());
  await fc.assert(
    fc.asyncProperty(
      fc.array(entryArbitrary, { minLength: 1, maxLength: 600 }),
      fc.array(entryArbitrary, { maxLength: 60 }),
      fc.array(
        fc.record({
          tenant: fc.constantFrom(...tenants),
          service: fc.constantFrom(...services, "absent"),
          count: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 700 })),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      // 1 or 2: in a block of 16 a common stream is often dense, a rare one sparse (its records
      // are read at their offsets); 32: every stream is sparse in every block.
      fc.constantFrom(1, 2, 32),
      async (indexedPart, tailPart, asks, sparseStreamRecordsMax) => {
        const { log, index, indexed } = await openFixture(3, 16, sparseStreamRecordsMax);
        const toEntry = (e: (typeof indexedPart)[number], i: number): ServiceLogEntry => ({
          timestamp: e.timestamp,
          service: e.service,
          ...(e.level === undefined ? {} : { level: e.level }),
          ...(e.region === undefined ? {} : { labels: { region: e.region } }),
          message: `${e.word} #${i}`,
        });
        // Appends of a few entries each, one tenant per append: many batches, tenants interleaved.
        const appendAll = async (part: typeof indexedPart, from: number) => {
          for (let i = 0; i < part.length; i += 7)
            for (const tenant of tenants) {
              const group = part
                .slice(i, i + 7)
                .map((e, j) => ({ e, j: from + i + j }))
                .filter(({ e }) => e.tenant === tenant);
              if (group.length > 0)
                await ingest(
                  log,
                  tenant,
                  group.map(({ e, j }) => toEntry(e, j)),
                );
            }
        };
        await appendAll(indexedPart, 0);
        index.start();
        await caughtUp(index);
        await index.stop();
        await appendAll(tailPart, indexedPart.length); // the unindexed tail
        const pooled = new QueryEngine({ log, blocks: (tenant) => indexedBlocks(index, tenant), pool });
        for (const ask of asks) {
          const answer = await indexed.lastServiceRecords(ask.tenant, ask.service, ask.count);
          assert.equal(answer.path, ask.count === 0 ? "scan" : "index");
          const expected = readLastOf(log, ask.tenant, ask.service, ask.count);
          assert.deepEqual(answer.records, expected, JSON.stringify(ask));
          const onWorker = await pooled.lastServiceRecords(ask.tenant, ask.service, ask.count);
          assert.deepEqual(onWorker.records, expected, `pool: ${JSON.stringify(ask)}`);
          assert.deepEqual(onWorker.stats, answer.stats);
        }
        await cleanups.pop()?.();
      },
    ),
    // No shrinking: every run builds a log and an index, so a shrink would take minutes.
    { numRuns: 25, endOnFailure: true },
  );
});

test("without an index the engine answers with readLast", async () => {
  const { log } = await openFixture(2, 16);
  await ingest(
    log,
    "fake",
    Array.from({ length: 40 }, (_, i) => ({ timestamp: i, service: i % 2 ? "a" : "b", message: `m${i}` })),
  );
  const plain = new QueryEngine({ log });
  const answer = await plain.lastServiceRecords("fake", "a", 5);
  assert.equal(answer.path, "scan");
  assert.deepEqual(answer.records, readLastOf(log, "fake", "a", 5));
  assert.equal(answer.records.length, 5);
});

test("a service rare among 1,000 in its partition: only its blocks and the tail are read", async () => {
  const blockRecordsMax = 512;
  const { log, index, indexed } = await openFixture(1, blockRecordsMax);
  const noise = (from: number, count: number): ServiceLogEntry[] =>
    Array.from({ length: count }, (_, i) => ({
      timestamp: 1_000 + from + i,
      service: `svc-${(from + i) % 1000}`,
      level: "INFO",
      message: `request ${from + i} served`,
    }));
  const rare = (i: number): ServiceLogEntry => ({
    timestamp: 500 + i,
    service: "rare-billing",
    level: "ERROR",
    message: `rare ${i}`,
  });
  // 40,000 records; the rare service's three lie far back, in two blocks.
  await ingest(log, "fake", [...noise(0, 2_000), rare(0), rare(1)]);
  await ingest(log, "fake", [...noise(2_000, 8_000), rare(2)]);
  for (let from = 10_000; from < 40_000; from += 5_000) await ingest(log, "fake", noise(from, 5_000));
  index.start();
  await caughtUp(index);
  await index.stop();
  await ingest(log, "fake", noise(40_000, 100)); // a small unindexed tail

  const answer = await indexed.lastServiceRecords("fake", "rare-billing", 100);
  assert.deepEqual(answer.records, readLastOf(log, "fake", "rare-billing", 100));
  assert.equal(answer.records.length, 3);
  assert.equal(answer.path, "index");
  assert.equal(answer.stats.rangesGiven, 3, "two blocks and the tail");
  assert.ok(
    answer.stats.recordsRead <= 2 * blockRecordsMax + 100,
    `read ${answer.stats.recordsRead} of ${log.partition(0).endOffset} records`,
  );
  // A service in every block: its last 3 are in the tail and the newest two blocks.
  const common = await indexed.lastServiceRecords("fake", "svc-7", 100);
  assert.deepEqual(common.records, readLastOf(log, "fake", "svc-7", 100));
  assert.equal(common.records.length, 41);
  const busy = await indexed.lastServiceRecords("fake", "svc-7", 3);
  assert.deepEqual(busy.records, readLastOf(log, "fake", "svc-7", 3));
  assert.ok(busy.stats.recordsRead <= 100 + 2 * blockRecordsMax, `read ${busy.stats.recordsRead}`);
});

test("a rare service spread thinly (about one record per block): each block is read at its offsets only", async () => {
  const blockRecordsMax = 512;
  const { log, index, indexed } = await openFixture(1, blockRecordsMax, 4);
  // 20,000 records of 1,000 services (about one record per block each: all sparse), "rare-thin"
  // once every 500 records (about one per block), and "busy", dense in every full block.
  const entries: ServiceLogEntry[] = [];
  for (let i = 0; i < 20_000; i++) {
    entries.push({ timestamp: 1_000 + i, service: `svc-${i % 1000}`, level: "INFO", message: `m ${i}` });
    if (i % 20 === 0) entries.push({ timestamp: 1_000 + i, service: "busy", message: `busy ${i}` });
    if (i % 500 === 250) entries.push({ timestamp: 1_000 + i, service: "rare-thin", message: `rare ${i}` });
  }
  for (let i = 0; i < entries.length; i += 2_000) await ingest(log, "fake", entries.slice(i, i + 2_000));
  index.start();
  await caughtUp(index);
  await index.stop();
  await ingest(log, "fake", [{ timestamp: 99_000, service: "rare-thin", message: "in the tail" }]);

  const answer = await indexed.lastServiceRecords("fake", "rare-thin", 100);
  assert.deepEqual(answer.records, readLastOf(log, "fake", "rare-thin", 100));
  assert.equal(answer.records.length, 41);
  const blocks = answer.stats.rangesGiven - 1; // the tail is the last range
  assert.ok(blocks >= 40, `${blocks} candidate blocks`);
  assert.equal(answer.stats.pointReads, blocks, "every block is read at its offsets");
  // The blocks give exactly the rare records; the tail (one record) is read whole.
  assert.equal(answer.stats.recordsRead, 41);
  // On a pool's worker: the same records and reads, and the snapshot's fds given back.
  const pool = new QueryPool({ threads: 1 });
  cleanups.push(() => pool.close());
  const pooled = new QueryEngine({ log, blocks: (tenant) => indexedBlocks(index, tenant), pool });
  await pooled.lastServiceRecords("fake", "rare-thin", 1); // the worker thread's own fds open first
  const fdsBefore = fs.readdirSync("/proc/self/fd").length;
  const onWorker = await pooled.lastServiceRecords("fake", "rare-thin", 100);
  assert.deepEqual(onWorker.records, answer.records);
  assert.deepEqual(onWorker.stats, answer.stats);
  await new Promise((resolve) => setTimeout(resolve, 20)); // the pool releases after the worker's answer
  assert.equal(fs.readdirSync("/proc/self/fd").length, fdsBefore, "the snapshot's fds are released");
  const aborted = new AbortController();
  aborted.abort(new Error("gone"));
  await assert.rejects(
    pooled.lastServiceRecords("fake", "rare-thin", 100, { signal: aborted.signal }),
    /gone/,
  );
  const last5 = await indexed.lastServiceRecords("fake", "rare-thin", 5);
  assert.deepEqual(last5.records, readLastOf(log, "fake", "rare-thin", 5));
  assert.ok(last5.stats.pointReads <= 4, `${last5.stats.pointReads} point reads for the last 5`);

  // A dense service still reads its blocks whole, with the same answer as readLast.
  const busy = await indexed.lastServiceRecords("fake", "busy", 60);
  assert.deepEqual(busy.records, readLastOf(log, "fake", "busy", 60));
  assert.ok(busy.stats.pointReads <= 1, "only a short last block may hold it sparsely");
  assert.ok(busy.stats.rangesRead >= 2);

  // LogQL over the same data: {service="rare-thin"} (and with a line filter) equals a full scan,
  // reading only the rare records; a selector also matching the busy service reads blocks whole.
  const naive = new QueryEngine({ log });
  const range = { startNs: 0n, endNs: 100_000n * 1_000_000n, limit: 100, stepNs: 10_000_000_000n };
  for (const [text, pointRead] of [
    ['{service="rare-thin"}', true],
    ['{service="rare-thin"} |= "rare 1"', true],
    ['{service=~"rare-thin|svc-7"}', true],
    ['{service=~"rare-thin|busy"}', false],
  ] as const)
    for (const direction of ["forward", "backward"] as const) {
      const expected = await naive.query("fake", text, { ...range, direction });
      const source = new LogSource({ log, tenant: "fake", blocks: indexedBlocks(index, "fake") });
      const lines: string[] = [];
      for await (const entry of source.select({
        matchers: parseSelector(text),
        lineFilters: [],
        startNs: range.startNs,
        endNs: range.endNs,
        direction,
        cutoffNs: () => null,
        signal: new AbortController().signal,
      }))
        lines.push(entry.line);
      const actual = await indexed.query("fake", text, { ...range, direction });
      assert.deepEqual(actual.result, expected.result, `${text} ${direction}`);
      if (pointRead) {
        assert.ok(source.stats.rangesPointRead >= 40, `${text}: ${source.stats.rangesPointRead} point reads`);
        assert.ok(source.stats.recordsRead <= 100, `${text}: read ${source.stats.recordsRead} records`);
      } else assert.ok(source.stats.rangesPointRead <= 1, `${text}: only a short last block is sparse`);
    }
});
