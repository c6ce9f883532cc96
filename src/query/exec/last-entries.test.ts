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
import { QueryEngine } from "./engine.ts";

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

async function openFixture(partitionCount: number, blockRecordsMax: number): Promise<Fixture> {
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
      async (indexedPart, tailPart, asks) => {
        const { log, index, indexed } = await openFixture(3, 16);
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
        for (const ask of asks) {
          const answer = await indexed.lastServiceRecords(ask.tenant, ask.service, ask.count);
          assert.equal(answer.path, ask.count === 0 ? "scan" : "index");
          assert.deepEqual(
            answer.records,
            readLastOf(log, ask.tenant, ask.service, ask.count),
            JSON.stringify(ask),
          );
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
