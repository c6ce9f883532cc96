// Log maintenance off the main thread (compaction and retention's file work run as jobs of the log
// thread, src/log/compact-job.ts) and age retention by the server's append time, on real files.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { threadId } from "node:worker_threads";
import { ServiceLogGenerator, storedRecordsFor } from "../loadgen/index.ts";
import type { LogRecord, StoredRecord } from "./batch.ts";
import { acquireCompressor, Compressor, releaseCompressor } from "./compressor.ts";
import { type LogEvent, type LogOptions, PartitionLog, partitionDirectoryName } from "./index.ts";
import { nodeStorage } from "./storage.ts";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-maintenance-test-"));
  directories.push(directory);
  return directory;
}

function openLog(options: Partial<LogOptions> = {}): PartitionLog {
  return PartitionLog.open({
    directory: temporaryDirectory(),
    partitionCount: 1,
    onEvent: () => {},
    ...options,
  });
}

function records(count: number, seed = 1): LogRecord[] {
  return storedRecordsFor(new ServiceLogGenerator({ seed }).batch(count));
}

/** offset, timestamp, key and value: what "exact" compares. */
function summary(record: StoredRecord): [number, number, string, string] {
  return [
    record.offset,
    record.timestampMs,
    Buffer.from(record.key).toString(),
    Buffer.from(record.value).toString(),
  ];
}

function expected(input: readonly LogRecord[], from: number, to: number) {
  return input.slice(from, to).map((record, i) => summary({ ...record, offset: from + i }));
}

function readAll(log: PartitionLog, fromOffset = 0): StoredRecord[] {
  const all: StoredRecord[] = [];
  let offset = fromOffset;
  for (;;) {
    const result = log.read(0, offset, { bytesMax: 64 * 1024 });
    all.push(...result.records);
    if (result.nextOffset >= result.endOffset) return all;
    offset = result.nextOffset;
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

function partitionFiles(log: PartitionLog): string[] {
  return fs.readdirSync(path.join(log.directory, partitionDirectoryName(0)));
}

async function fill(log: PartitionLog, input: readonly LogRecord[]): Promise<void> {
  for (let i = 0; i < input.length; i += 20) await log.append(0, input.slice(i, i + 20));
}

describe("compaction and retention on the log thread", () => {
  test("maintenance jobs run on the worker thread, and inline on the calling thread with zero threads", async () => {
    const directory = temporaryDirectory();
    const job = (name: string) => {
      fs.writeFileSync(path.join(directory, name), "x");
      return { kind: "delete" as const, directory, paths: [path.join(directory, name)], closeFds: [] };
    };
    const pooled = new Compressor(1);
    const inline = new Compressor(0);
    try {
      const onThread = await pooled.maintain(job("a"), 0, nodeStorage);
      assert.ok(onThread.ok && onThread.threadId !== threadId, "the log thread did the deletes");
      const here = await inline.maintain(job("b"), 0, nodeStorage);
      assert.ok(here.ok && here.threadId === threadId, "zero threads: inline");
      assert.deepEqual(fs.readdirSync(directory), []);
    } finally {
      await pooled.close();
      await inline.close();
    }
  });

  test("a compaction waits on its thread, not on the main thread: timers run, reads stay exact", async () => {
    const events: LogEvent[] = [];
    const log = openLog({ segmentBytesMax: 64 * 1024, onEvent: (event) => events.push(event) });
    const input = records(6000);
    await fill(log, input);
    const segmentsBefore = log.stats().partitions[0].segmentCount;
    assert.ok(segmentsBefore > 3, `segments: ${segmentsBefore}`);
    const filesBefore = partitionFiles(log).sort();
    const compressor = acquireCompressor(1); // the log's own (shared) log thread
    try {
      // Stalled, the thread answers nothing: whatever compaction work it was handed stays there.
      compressor.stallWorkerForTest(0);
      let settled = false;
      const compaction = log
        .partition(0)
        .compact()
        .finally(() => {
          settled = true;
        });
      const failed = assert.rejects(compaction, /exited/);
      // A main-thread timer callback runs while the compaction is out ...
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(settled, false, "the compaction is in flight on the stalled thread");
      // ... reads of the segment being compacted are exact meanwhile ...
      assert.deepEqual(readAll(log).map(summary), expected(input, 0, input.length));
      // ... and the main thread did no part of the rewrite: not even the output file exists.
      assert.deepEqual(partitionFiles(log).sort(), filesBefore);
      await compressor.crashWorkerForTest(0);
      await failed;
    } finally {
      await releaseCompressor(compressor);
    }
    assert.deepEqual(readAll(log).map(summary), expected(input, 0, input.length), "old file, old index");
    // The replacement thread compacts them all.
    assert.equal(await log.partition(0).compact(), segmentsBefore - 1);
    assert.equal(events.filter((event) => event.kind === "segment-compacted").length, segmentsBefore - 1);
    assert.deepEqual(readAll(log).map(summary), expected(input, 0, input.length));
    assert.ok(!partitionFiles(log).some((name) => name.endsWith(".compacting")));
    await log.close();
  });

  test("compaction during concurrent appends, rolls and reads is exact, and reopens unrepaired", async () => {
    const events: LogEvent[] = [];
    const log = openLog({ segmentBytesMax: 64 * 1024, onEvent: (event) => events.push(event) });
    const input = records(16_000, 3);
    await fill(log, input.slice(0, 4000));
    let appended = 4000;
    let appending = true;
    const appender = (async () => {
      // Four appends per turn, so flights, rolls and landings go on through every compaction.
      while (appended < input.length) {
        const batch: Array<Promise<unknown>> = [];
        for (let k = 0; k < 4 && appended < input.length; k++, appended += 25)
          batch.push(log.append(0, input.slice(appended, appended + 25)));
        await Promise.all(batch);
      }
      appending = false;
    })();
    let reads = 0;
    const reader = (async () => {
      let seed = 1;
      while (appending) {
        await turn();
        const end = log.partition(0).endOffset;
        seed = (seed * 48271) % 2147483647;
        const from = seed % end;
        const window = log.read(0, from, { bytesMax: 16 * 1024 }).records.map(summary);
        assert.deepEqual(window, expected(input, from, from + window.length), `read from ${from}`);
        assert.deepEqual(
          log.readLast(0, 3).map(summary),
          expected(input, end - 3, end),
          `last 3 before ${end}`,
        );
        reads++;
      }
    })();
    let compacted = 0;
    while (appending) {
      compacted += await log.partition(0).compact();
      await turn(); // with nothing to compact, compact() settles without leaving the microtask queue
    }
    await Promise.all([appender, reader]);
    compacted += await log.partition(0).compact();
    assert.ok(compacted >= 10, `compacted ${compacted} segments while appending`);
    assert.ok(reads > 0);
    assert.ok(events.some((event) => event.kind === "segment-rolled"));
    assert.deepEqual(readAll(log).map(summary), expected(input, 0, input.length));
    const directory = log.directory;
    await log.close();
    const reopenEvents: LogEvent[] = [];
    const reopened = PartitionLog.open({
      directory,
      partitionCount: 1,
      onEvent: (event) => reopenEvents.push(event),
    });
    assert.deepEqual(reopenEvents, [], "every compacted segment has its sealed index");
    assert.deepEqual(readAll(reopened).map(summary), expected(input, 0, input.length));
    await reopened.close();
  });

  test("close() during a compaction stops it and leaves each segment old or new, nothing to repair", async () => {
    const log = openLog({ segmentBytesMax: 64 * 1024 });
    const input = records(8000, 5);
    await fill(log, input);
    const compaction = log.partition(0).compact();
    await turn();
    await log.close(); // waits for the job out, which stops at its next step
    await compaction;
    const events: LogEvent[] = [];
    const reopened = PartitionLog.open({
      directory: log.directory,
      partitionCount: 1,
      onEvent: (event) => events.push(event),
    });
    assert.deepEqual(events, []);
    assert.ok(!partitionFiles(reopened).some((name) => name.endsWith(".compacting")));
    assert.deepEqual(readAll(reopened).map(summary), expected(input, 0, input.length));
    await reopened.close();
  });

  test("retention's deletes run on the log thread and leave no file of a deleted segment", async () => {
    const events: LogEvent[] = [];
    const log = openLog({
      segmentBytesMax: 4096,
      retentionBytes: 10_000,
      onEvent: (event) => events.push(event),
    });
    await fill(log, records(3000));
    const compressor = acquireCompressor(1);
    const maintain = compressor.maintain.bind(compressor);
    const threads: number[] = [];
    compressor.maintain = async (job, lane, storage) => {
      const outcome = await maintain(job, lane, storage);
      if (job.kind === "delete" && outcome.ok) threads.push(outcome.threadId);
      return outcome;
    };
    try {
      assert.ok((await log.maintain()).segmentsDeleted > 0);
    } finally {
      delete (compressor as { maintain?: unknown }).maintain; // back to the prototype's
      await releaseCompressor(compressor);
    }
    assert.ok(threads.length > 0 && threads.every((thread) => thread !== threadId));
    const deleted = events.flatMap((event) => (event.kind === "segment-deleted" ? [event.baseOffset] : []));
    const names = partitionFiles(log);
    for (const base of deleted)
      assert.ok(!names.some((name) => name.startsWith(String(base).padStart(20, "0"))));
    await log.close();
  });
});

describe("age retention by the server's append time", () => {
  const year3000Ms = Date.UTC(3000, 0, 1);
  const hourMs = 3_600_000;

  /** Sets every sealed segment's mtime: the i-th was last appended to `ageMs(i)` before `nowMs`. */
  function backdate(log: PartitionLog, nowMs: number, ageMs: (i: number) => number): void {
    const names = partitionFiles(log)
      .filter((name) => name.endsWith(".log"))
      .sort();
    names.slice(0, -1).forEach((name, i) => {
      const seconds = (nowMs - ageMs(i)) / 1000;
      fs.utimesSync(path.join(log.directory, partitionDirectoryName(0), name), seconds, seconds);
    });
  }

  test("a record stamped in the year 3000 does not hold retention; compaction keeps a segment's age", async () => {
    const log = openLog({ segmentBytesMax: 4096, retentionMs: hourMs });
    await log.append(0, [{ timestampMs: year3000Ms, key: Buffer.from("far"), value: Buffer.from("future") }]);
    await fill(log, records(2000));
    const segments = log.stats().partitions[0].segmentCount;
    assert.ok(segments > 10, `segments: ${segments}`);
    const nowMs = Date.now() + 10 * hourMs; // injected: no waiting on the wall clock
    // Sealed segments 0..5 were last appended to 12..7 hours before nowMs, the rest within the hour.
    backdate(log, nowMs, (i) => (i < 6 ? (12 - i) * hourMs : hourMs / 2));
    // Compaction rewrites them: the ages must survive it.
    assert.equal(await log.partition(0).compact(), segments - 1);
    assert.equal(
      await log.partition(0).enforceRetention(nowMs),
      6,
      "the six old segments, the year 3000 first",
    );
    assert.ok(log.partition(0).logStartOffset > 1);
    assert.equal(await log.partition(0).enforceRetention(nowMs), 0, "stops at the first young segment");
    assert.equal(await log.partition(0).enforceRetention(nowMs + 2 * hourMs), segments - 7, "then the rest");
    assert.equal(log.stats().partitions[0].segmentCount, 1, "never the active segment");
    await log.close();
  });

  test("record timestamps in the past do not expire a segment appended now", async () => {
    const log = openLog({ segmentBytesMax: 4096, retentionMs: hourMs });
    const old = records(1000).map((record) => ({ ...record, timestampMs: 1000 })); // 1970
    await fill(log, old);
    assert.equal(await log.partition(0).enforceRetention(Date.now()), 0);
    assert.equal(readAll(log).length, 1000);
    await log.close();
  });
});
