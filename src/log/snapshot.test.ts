// Read snapshots (snapshot.ts) on real files: a snapshot reads exactly what Partition.read reads,
// keeps reading the pre-maintenance bytes after compaction and retention replace or delete its
// segments, reads from a worker thread, and gives every fd back on release.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import fc from "fast-check";
import { ServiceLogGenerator, storedRecordsFor } from "../loadgen/index.ts";
import type { LogRecord, StoredRecord } from "./batch.ts";
import {
  type LogOptions,
  PartitionLog,
  type PartitionSnapshot,
  readFromSnapshot,
  SnapshotPartition,
} from "./index.ts";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function openLog(options: Partial<LogOptions> = {}): PartitionLog {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-snapshot-test-"));
  directories.push(directory);
  return PartitionLog.open({ directory, partitionCount: 1, onEvent: () => {}, ...options });
}

function records(count: number, seed = 1): LogRecord[] {
  return storedRecordsFor(new ServiceLogGenerator({ seed }).batch(count));
}

async function fill(log: PartitionLog, input: readonly LogRecord[], appendRecords = 20): Promise<void> {
  for (let i = 0; i < input.length; i += appendRecords)
    await log.append(0, input.slice(i, i + appendRecords));
}

function summary(record: StoredRecord): string {
  return `${record.offset}/${record.timestampMs}/${Buffer.from(record.key).toString("hex")}/${Buffer.from(record.value).toString("hex")}`;
}

function readAllFromSnapshot(snapshot: PartitionSnapshot, bytesMax = 16 * 1024): StoredRecord[] {
  const all: StoredRecord[] = [];
  let offset = 0;
  for (;;) {
    const result = readFromSnapshot(snapshot, offset, { bytesMax });
    all.push(...result.records);
    if (result.nextOffset >= result.endOffset || result.nextOffset <= offset) return all;
    offset = result.nextOffset;
  }
}

function openFdCount(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

describe("read snapshots", () => {
  test("point reads (readAt) give the records of a full read at those offsets, live and from a snapshot", async () => {
    const log = openLog({ segmentBytesMax: 32 * 1024, indexIntervalBytes: 2048 });
    try {
      await fill(log, records(3000, 9), 13);
      await log.partition(0).compact(); // large compacted batches, then small ones
      await fill(log, records(400, 10), 7);
      const partition = log.partition(0);
      const all = new Map<number, string>();
      for (let offset = 0; offset < partition.endOffset; ) {
        const result = partition.read(offset);
        for (const record of result.records) all.set(record.offset, summary(record));
        offset = result.nextOffset;
      }
      const held = partition.readSnapshot();
      try {
        const reader = new SnapshotPartition(held.snapshot);
        const end = partition.endOffset;
        // One cache over many calls, as a query's scan keeps it: a stale batch would show.
        const liveCache = { batches: [] };
        const snapshotCache = { batches: [] };
        fc.assert(
          fc.property(fc.uniqueArray(fc.integer({ min: 0, max: end + 5 }), { maxLength: 40 }), (picked) => {
            const offsets = [...picked].sort((a, b) => a - b);
            const expected = offsets.filter((offset) => all.has(offset)).map((offset) => all.get(offset));
            assert.deepEqual(partition.readAt(offsets).map(summary), expected);
            assert.deepEqual(partition.readAt(offsets, liveCache).map(summary), expected);
            assert.deepEqual(reader.readAt(offsets, snapshotCache).map(summary), expected);
          }),
          { numRuns: 300 },
        );
        assert.ok(liveCache.batches.length <= 2 && snapshotCache.batches.length <= 2);
        assert.throws(() => partition.readAt([5, 3]), /ascend/);
      } finally {
        held.release();
      }
    } finally {
      await log.close();
    }
  });

  test("reads equal Partition.read for random offsets, byte bounds and end offsets", async () => {
    const log = openLog({ segmentBytesMax: 32 * 1024, indexIntervalBytes: 2048 });
    try {
      const input = records(3000, 7);
      await fill(log, input, 13);
      await log.partition(0).compact(); // compacted and uncompacted segments both
      await fill(log, records(500, 8), 7);
      const partition = log.partition(0);
      assert.ok(partition.stats().segmentCount > 4);
      const held = partition.readSnapshot();
      try {
        const reader = new SnapshotPartition(held.snapshot);
        const end = partition.endOffset;
        fc.assert(
          fc.property(
            fc.integer({ min: 0, max: end + 5 }),
            fc.integer({ min: 1, max: 64 * 1024 }),
            fc.option(fc.integer({ min: 0, max: end + 5 })),
            (fromOffset, bytesMax, endOffset) => {
              const options = endOffset === null ? { bytesMax } : { bytesMax, endOffset };
              const expected = partition.read(fromOffset, options);
              const actual = reader.read(fromOffset, options);
              assert.equal(actual.nextOffset, expected.nextOffset);
              assert.equal(actual.endOffset, expected.endOffset);
              assert.equal(actual.logStartOffset, expected.logStartOffset);
              assert.deepEqual(actual.records.map(summary), expected.records.map(summary));
            },
          ),
          { numRuns: 200 },
        );
        const timestamps = input.map((record) => record.timestampMs);
        fc.assert(
          fc.property(
            fc.integer({ min: Math.min(...timestamps) - 10, max: Math.max(...timestamps) + 10 }),
            (timestampMs) => {
              assert.equal(reader.offsetForTimestamp(timestampMs), partition.offsetForTimestamp(timestampMs));
            },
          ),
          { numRuns: 200 },
        );
        assert.equal(reader.endOffset, partition.endOffset);
      } finally {
        held.release();
      }
    } finally {
      await log.close();
    }
  });

  test("a snapshot sees the committed end when it was taken, not appends after it", async () => {
    const log = openLog({ segmentBytesMax: 1024 * 1024 });
    try {
      await fill(log, records(200, 1));
      const held = log.partition(0).readSnapshot();
      try {
        const before = readAllFromSnapshot(held.snapshot).map(summary);
        await fill(log, records(200, 2));
        assert.equal(log.partition(0).endOffset, 400);
        assert.equal(held.snapshot.endOffset, 200);
        assert.deepEqual(readAllFromSnapshot(held.snapshot).map(summary), before);
        assert.equal(before.length, 200);
      } finally {
        held.release();
      }
    } finally {
      await log.close();
    }
  });

  test("a snapshot survives compaction and retention of its segments", async () => {
    const log = openLog({ segmentBytesMax: 16 * 1024, retentionBytes: 40 * 1024 });
    try {
      // Appends of one record each: many small batches, which compaction rewrites into few.
      const input = records(1500, 3);
      await fill(log, input, 1);
      const partition = log.partition(0);
      const held = partition.readSnapshot();
      try {
        const before = readAllFromSnapshot(held.snapshot).map(summary);
        assert.equal(before.length, input.length);
        const outcome = await log.maintain();
        assert.ok(outcome.segmentsDeleted > 0, "retention deleted segments");
        assert.ok(outcome.segmentsCompacted > 0, "compaction rewrote segments");
        assert.ok(partition.logStartOffset > 0);
        assert.deepEqual(readAllFromSnapshot(held.snapshot).map(summary), before);
        assert.deepEqual(readAllFromSnapshot(held.snapshot, 1).map(summary), before);
      } finally {
        held.release();
      }
    } finally {
      await log.close();
    }
  });

  test("release closes every fd the snapshot opened, once", async () => {
    const log = openLog({ segmentBytesMax: 16 * 1024 });
    try {
      await fill(log, records(1000, 4));
      const partition = log.partition(0);
      assert.ok(partition.stats().segmentCount > 3);
      partition.read(0); // the fd LRU holds its own fds: open them before counting
      const fdsBefore = openFdCount();
      const held = partition.readSnapshot();
      assert.equal(openFdCount(), fdsBefore + held.snapshot.segments.length);
      held.release();
      assert.equal(openFdCount(), fdsBefore);
      held.release();
      assert.equal(openFdCount(), fdsBefore);
      const later = partition.readSnapshot(partition.endOffset - 1);
      assert.equal(later.snapshot.segments.length, 1, "from an offset: only the segments from it on");
      later.release();
      assert.equal(openFdCount(), fdsBefore);
    } finally {
      await log.close();
    }
  });

  test("a worker thread reads a snapshot taken on the main thread", async () => {
    const log = openLog({ segmentBytesMax: 16 * 1024 });
    try {
      await fill(log, records(800, 5));
      const held = log.partition(0).readSnapshot();
      try {
        const expected = readAllFromSnapshot(held.snapshot).map(summary);
        const source = `
          const { parentPort, workerData } = require("node:worker_threads");
          import(workerData.module).then(({ readFromSnapshot }) => {
            const out = [];
            let offset = 0;
            for (;;) {
              const result = readFromSnapshot(workerData.snapshot, offset, { bytesMax: 4096 });
              for (const r of result.records) out.push(r.offset + "/" + r.timestampMs + "/" + Buffer.from(r.key).toString("hex") + "/" + Buffer.from(r.value).toString("hex"));
              if (result.nextOffset >= result.endOffset) break;
              offset = result.nextOffset;
            }
            parentPort.postMessage(out);
          });`;
        const worker = new Worker(source, {
          eval: true,
          trackUnmanagedFds: false,
          workerData: { snapshot: held.snapshot, module: new URL("./snapshot.ts", import.meta.url).href },
        });
        const [read] = await Promise.all([
          new Promise<string[]>((resolve, reject) => {
            worker.once("message", resolve);
            worker.once("error", reject);
          }),
        ]);
        await worker.terminate();
        assert.deepEqual(read, expected);
      } finally {
        held.release();
      }
    } finally {
      await log.close();
    }
  });
});
