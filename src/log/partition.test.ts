// Functional tests of the partition log's public surface, on real files in a temp directory.

import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { ServiceLogGenerator, storedRecordsFor } from "../loadgen/index.ts";
import { batchHeaderBytes, columnsOf, readHeader } from "./batch.ts";
import { acquireCompressor, releaseCompressor } from "./compressor.ts";
import {
  type LogEvent,
  type LogOptions,
  logErrorCodes,
  PartitionLog,
  partitionDirectoryName,
} from "./index.ts";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-log-test-"));
  directories.push(directory);
  return directory;
}

function openLog(options: Partial<LogOptions> = {}): PartitionLog {
  return PartitionLog.open({
    directory: temporaryDirectory(),
    partitionCount: 2,
    onEvent: () => {},
    ...options,
  });
}

function records(count: number, seed = 1) {
  return storedRecordsFor(new ServiceLogGenerator({ seed }).batch(count));
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString();
}

/** Reopens a closed log's directory and asserts that recovery had nothing to repair. */
function reopenUnrepaired(log: PartitionLog, partitionCount: number, why: string): PartitionLog {
  const events: LogEvent[] = [];
  const reopened = PartitionLog.open({
    directory: log.directory,
    partitionCount,
    onEvent: (event) => events.push(event),
  });
  assert.deepEqual(events, [], why);
  return reopened;
}

/** How many whole batches a segment file holds, walking its headers. */
function batchesIn(bytes: Buffer): number {
  let count = 0;
  for (let position = 0; position < bytes.length; count++) {
    const header = readHeader(bytes, position, bytes.length);
    assert.ok(typeof header !== "string", `a batch header at ${position}`);
    position += batchHeaderBytes + header.payloadBytes;
  }
  return count;
}

function readAll(log: PartitionLog, partition: number, fromOffset = 0) {
  const all = [];
  let offset = fromOffset;
  for (;;) {
    const result = log.read(partition, offset, { bytesMax: 4096 });
    all.push(...result.records);
    if (result.nextOffset >= result.endOffset) return all;
    assert.ok(result.nextOffset > offset, "reads make progress");
    offset = result.nextOffset;
  }
}

describe("append and read", () => {
  test("appends get contiguous offsets and read back byte for byte", async () => {
    const log = openLog();
    const input = records(250);
    const first = await log.append(0, input.slice(0, 100));
    const second = await log.append(0, input.slice(100));
    assert.deepEqual(first, { baseOffset: 0, recordCount: 100 });
    assert.deepEqual(second, { baseOffset: 100, recordCount: 150 });
    const stored = readAll(log, 0);
    assert.equal(stored.length, 250);
    stored.forEach((record, i) => {
      assert.equal(record.offset, i);
      assert.equal(record.timestampMs, input[i].timestampMs);
      assert.equal(text(record.key), text(input[i].key));
      assert.equal(text(record.value), text(input[i].value));
    });
    assert.equal(log.read(1, 0).records.length, 0, "the other partition stays empty");
    await log.close();
  });

  test("timestamps going backwards, empty values and binary keys survive", async () => {
    const log = openLog();
    const input = [
      { timestampMs: 5_000, key: new Uint8Array([0, 255, 1]), value: new Uint8Array() },
      { timestampMs: 10, key: new Uint8Array(), value: Buffer.from("ü€\u0000") },
      { timestampMs: 2 ** 50, key: Buffer.from("k"), value: Buffer.from("big timestamp") },
    ];
    await log.append(1, input);
    const stored = log.read(1, 0).records;
    assert.deepEqual(
      stored.map((record) => [record.timestampMs, [...record.key], text(record.value)]),
      input.map((record) => [record.timestampMs, [...record.key], text(record.value)]),
    );
    await log.close();
  });

  test("concurrent appends share fsyncs (group commit)", async () => {
    const log = openLog();
    const input = records(100);
    const results = await Promise.all(Array.from({ length: 64 }, () => log.append(0, input)));
    const offsets = results.map((result) => result.baseOffset).sort((a, b) => a - b);
    assert.deepEqual(
      offsets,
      Array.from({ length: 64 }, (_, i) => i * 100),
      "each append got its own range",
    );
    const stats = log.stats().partitions[0];
    assert.equal(stats.appendedRecords, 6400);
    assert.ok(stats.fsyncCount <= 8, `64 concurrent appends took ${stats.fsyncCount} fsyncs`);
    await log.close();
  });

  test("bad appends are refused with typed errors and nothing is stored", async () => {
    const log = openLog({ recordBytesMax: 100, appendBytesMax: 1000 });
    const cases: Array<[unknown, string]> = [
      [[], logErrorCodes.invalidRecord],
      [[{ timestampMs: 1, key: "text", value: new Uint8Array() }], logErrorCodes.invalidRecord],
      [[{ timestampMs: 1.5, key: new Uint8Array(), value: new Uint8Array() }], logErrorCodes.invalidRecord],
      [
        [{ timestampMs: 2 ** 60, key: new Uint8Array(), value: new Uint8Array() }],
        logErrorCodes.invalidRecord,
      ],
      [[null], logErrorCodes.invalidRecord],
      [[{ timestampMs: 1, key: new Uint8Array(), value: new Uint8Array(101) }], logErrorCodes.recordTooLarge],
      [
        Array.from({ length: 11 }, () => ({
          timestampMs: 1,
          key: new Uint8Array(),
          value: new Uint8Array(100),
        })),
        logErrorCodes.recordTooLarge,
      ],
    ];
    for (const [input, code] of cases) {
      await assert.rejects(log.append(0, input as never), (error: { code: string }) => error.code === code);
    }
    assert.equal(log.partition(0).endOffset, 0);
    await log.close();
  });

  test("appends as columns are stored like the same records one by one, in one group commit with them", async () => {
    const log = openLog();
    const first = records(30, 1);
    const second = records(50, 2);
    const third = records(20, 3);
    // One turn: all three join one flight, so the batch mixes both forms.
    const results = await Promise.all([
      log.append(0, columnsOf(first)),
      log.append(0, second),
      log.append(0, columnsOf(third)),
    ]);
    assert.deepEqual(
      results.map((result) => result.baseOffset),
      [0, 30, 80],
    );
    const stored = readAll(log, 0);
    assert.deepEqual(
      stored.map((record) => [record.timestampMs, text(record.key), text(record.value)]),
      [...first, ...second, ...third].map((record) => [
        record.timestampMs,
        text(record.key),
        text(record.value),
      ]),
    );
    await log.close();
  });

  test("bad columns are refused with typed errors and nothing is stored", async () => {
    const log = openLog({ recordBytesMax: 100, appendBytesMax: 1000 });
    const good = columnsOf([{ timestampMs: 1, key: Buffer.from("k"), value: Buffer.from("value") }]);
    const cases: Array<[unknown, string]> = [
      [{ ...good, count: 0 }, logErrorCodes.invalidRecord],
      [{ ...good, count: 2 }, logErrorCodes.invalidRecord], // columns shorter than count
      [{ ...good, timestampsMs: [1] }, logErrorCodes.invalidRecord],
      [{ ...good, timestampsMs: Float64Array.of(1.5) }, logErrorCodes.invalidRecord],
      [{ ...good, timestampsMs: Float64Array.of(2 ** 60) }, logErrorCodes.invalidRecord],
      [{ ...good, values: Buffer.from("valu") }, logErrorCodes.invalidRecord], // lengths do not add up
      [
        { ...good, valueLengths: Uint32Array.of(101), values: Buffer.alloc(101) },
        logErrorCodes.recordTooLarge,
      ],
      [undefined, logErrorCodes.invalidRecord],
    ];
    for (const [input, code] of cases) {
      await assert.rejects(log.append(0, input as never), (error: { code: string }) => error.code === code);
    }
    assert.equal(log.partition(0).endOffset, 0);
    await log.close();
  });

  test("a full pending queue answers LOG_OVERLOADED and stores every accepted append", async () => {
    const log = openLog({ pendingBytesMax: 20_000 });
    const input = records(40);
    const outcomes = await Promise.allSettled(Array.from({ length: 200 }, () => log.append(0, input)));
    const accepted = outcomes.filter((outcome) => outcome.status === "fulfilled").length;
    const overloaded = outcomes.filter(
      (outcome) => outcome.status === "rejected" && outcome.reason.code === logErrorCodes.overloaded,
    ).length;
    assert.ok(overloaded > 0, "some appends were pushed back");
    assert.equal(accepted + overloaded, 200, "no other failure");
    assert.equal(readAll(log, 0).length, accepted * 40);
    const rejected = outcomes.find((outcome) => outcome.status === "rejected") as PromiseRejectedResult;
    assert.ok(rejected.reason.retryAfterMs > 0);
    await log.close();
  });

  test("read honours bytesMax but always returns a whole batch, and continues from nextOffset", async () => {
    const log = openLog();
    await log.append(0, records(300));
    const first = log.read(0, 0, { bytesMax: 1 });
    assert.equal(first.records.length, 300, "one whole batch even when the budget is tiny");
    await log.append(0, records(10, 2));
    const rest = log.read(0, first.nextOffset);
    assert.deepEqual(
      rest.records.map((record) => record.offset),
      Array.from({ length: 10 }, (_, i) => 300 + i),
    );
    assert.equal(
      log.read(0, 5, { bytesMax: 1 }).records[0].offset,
      5,
      "reading mid-batch starts at the offset",
    );
    await log.close();
  });

  test("waitForData resolves when a record at the offset is committed", async () => {
    const log = openLog();
    let woke = false;
    const waiting = log
      .partition(0)
      .waitForData(0)
      .then(() => {
        woke = true;
      });
    // A whole commit on the other partition (many event-loop turns, a log-thread round trip): the
    // waiter must not wake for it. Waiting on that event, not on a sleep, keeps this timing-free.
    await log.append(1, records(1));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(woke, false);
    await log.append(0, records(1));
    await waiting;
    assert.equal(woke, true);
    await log.close();
  });
  test("waitForData on one signal, many times, leaves no listener behind; abort wakes the waiter", async () => {
    const log = openLog();
    const partition = log.partition(0);
    const controller = new AbortController();
    for (let round = 0; round < 50; round++) {
      const waiting = partition.waitForData(round, controller.signal);
      await log.append(0, records(1, round + 1));
      await waiting;
    }
    assert.equal(getEventListeners(controller.signal, "abort").length, 0, "listeners accumulate");
    let woke = false;
    const aborted = partition.waitForData(1000, controller.signal).then(() => {
      woke = true;
    });
    assert.equal(getEventListeners(controller.signal, "abort").length, 1);
    controller.abort();
    await aborted;
    assert.equal(woke, true);
    await log.close();
  });
});

describe("segments, indexes and lookups", () => {
  test("segments roll by size, are named by base offset, and reads cross them", async () => {
    const log = openLog({ segmentBytesMax: 8192, indexIntervalBytes: 512 });
    const input = records(2000);
    for (let i = 0; i < input.length; i += 50) await log.append(0, input.slice(i, i + 50));
    const directory = path.join(log.directory, partitionDirectoryName(0));
    const names = fs.readdirSync(directory).filter((name) => name.endsWith(".log"));
    assert.ok(names.length > 5, `expected many segments, got ${names.length}`);
    assert.equal(names[0], "00000000000000000000.log");
    const bases = names.map((name) => Number.parseInt(name, 10));
    const stored = readAll(log, 0);
    assert.equal(stored.length, 2000);
    for (const base of bases) assert.equal(stored[base].offset, base, "a segment starts at its base offset");
    for (const offset of [0, 1, 49, 50, 999, 1234, 1999]) {
      assert.equal(log.read(0, offset, { bytesMax: 1 }).records[0].offset, offset);
    }
    await log.close();
  });

  test("segments roll under concurrent appends: flights held for a roll land in order", async () => {
    const segmentBytesMax = 12 * 1024;
    const log = openLog({ segmentBytesMax, indexIntervalBytes: 512 });
    const input = records(3000);
    await log.append(1, input.slice(0, 10)); // the log thread is up: later flights take milliseconds
    const appends = [];
    // Appends of 10 records in bursts a millisecond apart: a flight per burst, several out at once
    // when a roll falls due, so flights are held back for it and must still land in order.
    for (let i = 0; i < input.length; i += 10) {
      appends.push(log.append(0, input.slice(i, i + 10)));
      if (i % 40 === 30) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const results = await Promise.all(appends);
    assert.deepEqual(
      results.map((result) => result.baseOffset),
      Array.from({ length: 300 }, (_, i) => i * 10),
      "offsets follow the order of the appends",
    );
    const stored = readAll(log, 0);
    assert.equal(stored.length, 3000);
    assert.deepEqual(
      stored.map((record) => record.offset),
      Array.from({ length: 3000 }, (_, i) => i),
    );
    const directory = path.join(log.directory, partitionDirectoryName(0));
    const segments = fs.readdirSync(directory).filter((name) => name.endsWith(".log"));
    // How many depends on how the bursts batch (a loaded machine groups more records per flight, and
    // bigger batches compress better); several rolls under concurrent appends is the point.
    assert.ok(segments.length >= 3, `expected several segments, got ${segments.length}`);
    for (const name of segments) {
      const bytes = fs.readFileSync(path.join(directory, name));
      const batches = batchesIn(bytes);
      assert.ok(bytes.length <= segmentBytesMax || batches === 1, `${name}: ${bytes.length} bytes`);
    }
    await log.close();
    const reopened = PartitionLog.open({ directory: log.directory, partitionCount: 2, onEvent: () => {} });
    assert.equal(readAll(reopened, 0).length, 3000);
    await reopened.close();
  });

  test("with two log threads each partition's flights stay on one thread, in order", async () => {
    const log = openLog({ partitionCount: 4, compressionThreads: 2 });
    const input = records(40);
    await Promise.all([0, 1, 2, 3].map((partition) => log.append(partition, input))); // threads up
    const appends = [];
    for (let turn = 0; turn < 60; turn++) {
      for (let partition = 0; partition < 4; partition++) appends.push(log.append(partition, input));
      await new Promise((resolve) => setImmediate(resolve)); // a flight per partition per turn
    }
    const results = await Promise.all(appends);
    for (let partition = 0; partition < 4; partition++) {
      const offsets = results.filter((_, i) => i % 4 === partition).map((result) => result.baseOffset);
      assert.deepEqual(
        offsets,
        Array.from({ length: 60 }, (_, i) => 40 + i * 40),
        `partition ${partition}`,
      );
      assert.equal(readAll(log, partition).length, 40 * 61);
    }
    await log.close();
  });

  test("a log thread dying mid-flight fails those appends, leaves no bytes behind, and the next succeed", async () => {
    const events: LogEvent[] = [];
    const log = openLog({ onEvent: (event) => events.push(event) });
    const failed: Array<Promise<void>> = [];
    const compressor = acquireCompressor(1); // the process's one pool, shared with the log
    try {
      // The thread is stalled first, so both flights are certainly out and unanswered when it dies
      // (killing it during a real compression raced with a fast machine finishing the flight).
      compressor.stallWorkerForTest(0);
      failed.push(assert.rejects(log.append(0, records(4_000)), { code: logErrorCodes.write }));
      await new Promise((resolve) => setImmediate(resolve)); // the first flight has left
      // The second continues behind the first.
      failed.push(assert.rejects(log.append(0, records(20, 2)), { code: logErrorCodes.write }));
      await new Promise((resolve) => setImmediate(resolve));
      await compressor.crashWorkerForTest(0);
    } finally {
      await releaseCompressor(compressor);
    }
    await Promise.all(failed);
    assert.ok(events.some((event) => event.kind === "write-failed"));
    const after = records(30, 3);
    assert.deepEqual(await log.append(0, after), { baseOffset: 0, recordCount: 30 });
    await log.close();
    const reopened = reopenUnrepaired(
      log,
      2,
      "recovery found nothing to cut: the failed flights left no bytes",
    );
    const stored = readAll(reopened, 0);
    assert.deepEqual(
      stored.map((record) => text(record.value)),
      after.map((record) => text(record.value)),
    );
    await reopened.close();
  });

  test("segments roll by age", async () => {
    const log = openLog({ segmentAgeMaxMs: 1 });
    await log.append(0, records(5));
    await new Promise((resolve) => setTimeout(resolve, 10));
    await log.append(0, records(5));
    assert.equal(log.stats().partitions[0].segmentCount, 2);
    await log.close();
  });

  test("readLast returns the newest records, oldest first, across segments and with a key filter", async () => {
    const log = openLog({ segmentBytesMax: 4096, indexIntervalBytes: 256 });
    const input = records(1500);
    for (let i = 0; i < input.length; i += 30) await log.append(0, input.slice(i, i + 30));
    const last = log.readLast(0, 100);
    assert.deepEqual(
      last.map((record) => record.offset),
      Array.from({ length: 100 }, (_, i) => 1400 + i),
    );
    const auth = Buffer.from("auth_service");
    const expected = input
      .map((record, offset) => ({ offset, key: text(record.key) }))
      .filter((record) => record.key === "auth_service")
      .slice(-40)
      .map((record) => record.offset);
    assert.deepEqual(
      log.readLast(0, 40, (record) => auth.equals(record.key)).map((record) => record.offset),
      expected,
    );
    assert.equal(log.readLast(0, 5000).length, 1500, "asking for more than exists returns everything");
    assert.equal(log.readLast(1, 10).length, 0);
    await log.close();
  });

  test("offsetForTimestamp finds the first record at or after a time, even with out-of-order timestamps", async () => {
    const log = openLog({ segmentBytesMax: 4096, indexIntervalBytes: 256 });
    const timestamps = Array.from({ length: 600 }, (_, i) => 1_000_000 + i * 100 + (i % 7 === 0 ? -350 : 0));
    const input = timestamps.map((timestampMs, i) => ({
      timestampMs,
      key: Buffer.from("k"),
      value: Buffer.from(`v${i}`),
    }));
    for (let i = 0; i < input.length; i += 25) await log.append(0, input.slice(i, i + 25));
    const partition = log.partition(0);
    for (const target of [0, 1_000_000, 1_000_050, 1_020_000, 1_030_001, 1_059_900, 2_000_000]) {
      const expected = timestamps.findIndex((timestampMs) => timestampMs >= target);
      assert.equal(
        partition.offsetForTimestamp(target),
        expected < 0 ? 600 : expected,
        `timestamp ${target}`,
      );
    }
    const fromTime = log.readFromTimestamp(0, 1_030_001);
    assert.equal(
      fromTime.records[0].offset,
      timestamps.findIndex((timestampMs) => timestampMs >= 1_030_001),
    );
    await log.close();
  });

  test("open file descriptors stay within openFilesMax however many segments are read", async () => {
    const log = openLog({ segmentBytesMax: 2048, openFilesMax: 3 });
    const input = records(1000);
    for (let i = 0; i < input.length; i += 20) await log.append(0, input.slice(i, i + 20));
    assert.ok(log.stats().partitions[0].segmentCount > 10);
    assert.equal(readAll(log, 0).length, 1000);
    assert.ok(log.stats().openFiles <= 3, `open files: ${log.stats().openFiles}`);
    await log.close();
  });
});

describe("retention, truncation, compaction", () => {
  test("retention by bytes deletes whole sealed segments from the head, never the active one", async () => {
    const log = openLog({ segmentBytesMax: 4096, retentionBytes: 10_000 });
    const input = records(3000);
    for (let i = 0; i < input.length; i += 50) await log.append(0, input.slice(i, i + 50));
    const before = log.stats().partitions[0];
    await log.maintain();
    const after = log.stats().partitions[0];
    assert.ok(after.segmentCount < before.segmentCount);
    assert.ok(after.sizeBytes <= 10_000 + 4096, `kept ${after.sizeBytes} bytes`);
    const start = log.partition(0).logStartOffset;
    assert.ok(start > 0);
    const stored = readAll(log, 0, 0);
    assert.equal(stored[0].offset, start, "a read below the log start begins at the log start");
    assert.equal(stored.at(-1)!.offset, 2999);
    const onlyActive = openLog({ retentionBytes: 1 });
    await onlyActive.append(0, records(10));
    await onlyActive.maintain();
    assert.equal(readAll(onlyActive, 0).length, 10, "the active segment is never deleted");
    await onlyActive.close();
    await log.close();
  });

  test("retention by age follows each segment's last append (its file's mtime), not record timestamps", async () => {
    const log = openLog({ retentionMs: 60_000 });
    const now = Date.now();
    await log.append(0, [{ timestampMs: now - 3_600_000, key: Buffer.from("old"), value: Buffer.from("1") }]);
    await log.partition(0).roll();
    await log.append(0, [{ timestampMs: now, key: Buffer.from("new"), value: Buffer.from("2") }]);
    await log.partition(0).roll();
    await log.append(0, [{ timestampMs: now, key: Buffer.from("active"), value: Buffer.from("3") }]);
    assert.equal((await log.maintain(now)).segmentsDeleted, 0, "an old timestamp appended now is young");
    const first = path.join(log.directory, partitionDirectoryName(0), "00000000000000000000.log");
    fs.utimesSync(first, (now - 3_600_000) / 1000, (now - 3_600_000) / 1000); // appended an hour ago
    assert.equal((await log.maintain(now)).segmentsDeleted, 1);
    assert.deepEqual(
      readAll(log, 0).map((record) => text(record.key)),
      ["new", "active"],
    );
    await log.close();
  });

  test("truncateTo cuts inside a batch and across segments; appends continue from the cut", async () => {
    const log = openLog({ segmentBytesMax: 4096 });
    const input = records(900);
    for (let i = 0; i < input.length; i += 100) await log.append(0, input.slice(i, i + 100));
    assert.ok(log.stats().partitions[0].segmentCount > 1);
    await log.truncateTo(0, 437);
    assert.equal(log.partition(0).endOffset, 437);
    const kept = readAll(log, 0);
    assert.equal(kept.length, 437);
    assert.equal(text(kept[436].value), text(input[436].value));
    const next = await log.append(0, records(3, 9));
    assert.equal(next.baseOffset, 437);
    await log.truncateTo(0, 0);
    assert.equal(log.partition(0).endOffset, 0);
    assert.equal((await log.append(0, records(1))).baseOffset, 0);
    await log.truncateTo(0, 5000); // beyond the end: nothing changes
    assert.equal(log.partition(0).endOffset, 1);
    await log.close();
  });

  test("leader epochs are stamped on batches and recovered on open", async () => {
    const log = openLog();
    await log.append(0, records(5));
    log.partition(0).setLeaderEpoch(7);
    await log.append(0, records(5));
    assert.throws(() => log.partition(0).setLeaderEpoch(3), /leader epochs only grow/);
    const directory = log.directory;
    await log.close();
    const reopened = PartitionLog.open({ directory, partitionCount: 2, onEvent: () => {} });
    assert.equal(reopened.partition(0).leaderEpoch, 7);
    assert.equal(reopened.partition(1).leaderEpoch, 0);
    await reopened.close();
  });

  test("compaction keeps every record and offset and shrinks the segments", async () => {
    const log = openLog({ segmentBytesMax: 64 * 1024 });
    const input = records(6000);
    for (let i = 0; i < input.length; i += 20) await log.append(0, input.slice(i, i + 20));
    const before = readAll(log, 0).map((record) => [record.offset, record.timestampMs, text(record.value)]);
    const bytesBefore = log.stats().partitions[0].sizeBytes;
    const { segmentsCompacted } = await log.maintain();
    assert.ok(segmentsCompacted > 0);
    assert.equal((await log.maintain()).segmentsCompacted, 0, "a compacted segment is not compacted again");
    const bytesAfter = log.stats().partitions[0].sizeBytes;
    assert.ok(bytesAfter < bytesBefore * 0.9, `${bytesBefore} -> ${bytesAfter}`);
    const after = readAll(log, 0).map((record) => [record.offset, record.timestampMs, text(record.value)]);
    assert.deepEqual(after, before);
    assert.deepEqual(
      log.readLast(0, 3).map((record) => record.offset),
      [5997, 5998, 5999],
    );
    const directory = log.directory;
    await log.close();
    const reopened = PartitionLog.open({ directory, partitionCount: 2, onEvent: () => {} });
    assert.deepEqual(
      readAll(reopened, 0).map((record) => [record.offset, record.timestampMs, text(record.value)]),
      before,
    );
    await reopened.close();
  });
});

describe("failures on the append path", () => {
  const smallRecord = (i: number, bytes = 40) => ({
    timestampMs: i,
    key: Buffer.from(`k${i}`),
    value: Buffer.from(`value-${i}-`.padEnd(bytes, "-")),
  });
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  test("roll() while flights are out: every acknowledged record stays readable, also after reopen", async () => {
    const log = openLog({ partitionCount: 1 });
    await log.append(0, [smallRecord(-1)]);
    const appends: Array<Promise<{ baseOffset: number }>> = [];
    const sent: number[] = [];
    for (let round = 0; round < 20; round++) {
      for (let t = 0; t < 3; t++) {
        for (let j = 0; j < 4; j++) {
          sent.push(sent.length);
          appends.push(log.append(0, [smallRecord(sent.length - 1, 2000)]));
        }
        await turn();
      }
      await log.partition(0).roll(); // flights of the last turns are still on the log thread
    }
    const results = await Promise.all(appends);
    const check = (reader: PartitionLog) => {
      results.forEach((result, i) => {
        const [record] = reader.read(0, result.baseOffset, { endOffset: result.baseOffset + 1 }).records;
        assert.equal(text(record.value), text(smallRecord(i, 2000).value), `append ${i}`);
      });
    };
    check(log);
    assert.ok(log.stats().partitions[0].segmentCount >= 20);
    await log.close();
    const reopened = reopenUnrepaired(log, 1, "nothing to repair on reopen");
    check(reopened);
    await reopened.close();
  });

  test("roll() under a steady stream of appends returns at the next flight boundary", async () => {
    const log = openLog({ partitionCount: 1 });
    await log.append(0, [smallRecord(-1)]); // the log thread is up
    // Counted in appends, not in time: the appenders stop by themselves this many appends after the
    // roll was asked for. A roll() that waits for a quiet moment only returns after that.
    const appendsAfterRollMax = 3000;
    let stop = false;
    let next = 0;
    let rollAskedAt: number | null = null;
    let warmedUp: () => void = () => {};
    const warm = new Promise<void>((resolve) => {
      warmedUp = resolve;
    });
    const acked: Array<{ i: number; offset: number }> = [];
    const appenders = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const i = next++;
        acked.push({ i, offset: (await log.append(0, [smallRecord(i, 200)])).baseOffset });
        if (acked.length === 40) warmedUp(); // the load is running: flights are out back to back
        if (rollAskedAt !== null && next - rollAskedAt > appendsAfterRollMax) stop = true;
      }
    });
    await warm;
    rollAskedAt = next;
    let stoppedWhenRolled = true;
    await log
      .partition(0)
      .roll()
      .then(() => {
        stoppedWhenRolled = stop;
      });
    assert.equal(
      stoppedWhenRolled,
      false,
      `roll() returned only once the appends stopped (${appendsAfterRollMax} after it was asked)`,
    );
    const appendedBeforeStop = next;
    stop = true;
    await Promise.all(appenders);
    assert.ok(appendedBeforeStop > 20, `the load was running (${appendedBeforeStop} appends)`);
    assert.equal(log.stats().partitions[0].segmentCount, 2);
    for (const { i, offset } of acked) {
      const [record] = log.read(0, offset, { endOffset: offset + 1 }).records;
      assert.equal(text(record.value), text(smallRecord(i, 200).value));
    }
    await log.close();
  });

  test("roll() on a partition failed by an fsync is refused", async () => {
    const log = openLog({ partitionCount: 1 });
    await log.append(0, [smallRecord(0)]);
    const compressor = acquireCompressor(1);
    const write = compressor.write.bind(compressor);
    let armed = true;
    compressor.write = (job, lane, storage) =>
      write(job, lane, storage).then((outcome) => {
        if (!armed) return outcome;
        armed = false;
        return { ok: false, stage: "sync", message: "EIO: i/o error", code: "EIO" };
      });
    try {
      await assert.rejects(log.append(0, [smallRecord(1)]), { code: logErrorCodes.write });
      await assert.rejects(log.partition(0).roll(), /failed until reopened/);
      assert.equal(log.stats().partitions[0].segmentCount, 1, "nothing was sealed");
    } finally {
      delete (compressor as { write?: unknown }).write;
      await releaseCompressor(compressor);
    }
    await log.close();
  });

  test("an index write that fails rejects its append, and nothing of it becomes readable", async (t) => {
    const log = openLog({ partitionCount: 1, indexIntervalBytes: 1 });
    await log.append(0, [smallRecord(0)]);
    let armed = true;
    const appendFileSync = fs.appendFileSync;
    t.mock.method(fs, "appendFileSync", (...args: Parameters<typeof fs.appendFileSync>) => {
      if (armed && String(args[0]).endsWith(".index")) {
        armed = false;
        throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
      }
      return appendFileSync(...args);
    });
    await assert.rejects(log.append(0, [smallRecord(1)]), { code: logErrorCodes.write });
    assert.deepEqual(await log.append(0, [smallRecord(2)]), { baseOffset: 1, recordCount: 1 });
    assert.deepEqual(
      readAll(log, 0).map((record) => text(record.value)),
      [smallRecord(0), smallRecord(2)].map((record) => text(record.value)),
    );
    await log.close();
  });

  test("a roll that fails after sealing fails the partition: appends are refused, none hang", async (t) => {
    const log = openLog({ partitionCount: 2, segmentBytesMax: 2000, codec: "none" });
    await log.append(0, [smallRecord(0, 1500)]);
    let armed = true;
    const openSync = fs.openSync;
    t.mock.method(fs, "openSync", (...args: Parameters<typeof fs.openSync>) => {
      if (armed && args[1] === "wx+") {
        armed = false;
        throw Object.assign(new Error("EMFILE: too many open files"), { code: "EMFILE" });
      }
      return openSync(...args);
    });
    const bounded = <T>(promise: Promise<T>) =>
      Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error("hung")), 5000))]);
    await assert.rejects(bounded(log.append(0, [smallRecord(1, 1500)])), { code: logErrorCodes.write });
    await assert.rejects(bounded(log.append(0, [smallRecord(2)])), /failed until reopened/);
    assert.deepEqual(await bounded(log.append(1, [smallRecord(3)])), { baseOffset: 0, recordCount: 1 });
    await bounded(log.close());
  });

  test("appends issued while a failed flight is being cut back are not failed with it", async () => {
    const log = openLog({ partitionCount: 1 });
    await log.append(0, [smallRecord(-1)]);
    const compressor = acquireCompressor(1); // the log's own (shared) log thread
    const write = compressor.write.bind(compressor);
    let calls = 0;
    let failedAtMs = 0; // when the failed flight's outcome reached the partition
    compressor.write = (job, lane, storage) => {
      const call = calls++;
      if (call === 0) job.fd = 987_654; // this flight's write fails on the log thread (EBADF)
      const outcome = write(job, lane, storage);
      if (call === 0)
        // Reported after 10 ms, so the next flight is out behind it by then.
        return outcome.then(
          (o) =>
            new Promise((r) =>
              setTimeout(() => {
                failedAtMs = performance.now();
                r(o);
              }, 10),
            ),
        );
      // The flight behind it answers late, so the failure is handled while it is still out.
      return call === 1 ? outcome.then((o) => new Promise((r) => setTimeout(() => r(o), 40))) : outcome;
    };
    try {
      const results: Array<{ i: number; ok: boolean; issuedAfterFailure: boolean }> = [];
      const appends = [];
      for (let i = 0; i < 30; i++) {
        const issuedMs = performance.now();
        appends.push(
          log.append(0, [smallRecord(i)]).then(
            () => results.push({ i, ok: true, issuedAfterFailure: false }),
            () => results.push({ i, ok: false, issuedAfterFailure: failedAtMs > 0 && issuedMs > failedAtMs }),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await Promise.all(appends);
      const failed = results.filter((result) => !result.ok);
      assert.ok(failed.length >= 1 && failed.length <= 3, `${failed.length} failed`);
      assert.deepEqual(
        failed.filter((result) => result.issuedAfterFailure),
        [],
        "nothing issued after the failure was reported fails",
      );
      assert.equal(readAll(log, 0).length, 1 + results.filter((result) => result.ok).length);
    } finally {
      delete (compressor as { write?: unknown }).write; // back to the prototype's method
      await releaseCompressor(compressor);
    }
    await log.close();
  });
});

describe("lifecycle", () => {
  test("close flushes pending appends, later appends fail with LOG_CLOSED, reopen sees everything", async () => {
    const log = openLog();
    const pending = Array.from({ length: 10 }, () => log.append(1, records(10)));
    await log.close();
    await Promise.all(pending);
    await assert.rejects(
      log.append(1, records(1)),
      (error: { code: string }) => error.code === logErrorCodes.closed,
    );
    const reopened = PartitionLog.open({ directory: log.directory, partitionCount: 2, onEvent: () => {} });
    assert.equal(readAll(reopened, 1).length, 100);
    await reopened.close();
  });

  test("fsync interval mode acknowledges after write and keeps data across reopen", async () => {
    const log = openLog({ fsync: "interval", fsyncIntervalMs: 10 });
    await log.append(0, records(50));
    // The 10 ms timer fsyncs soon; poll rather than trust one sleep on a loaded disk.
    for (
      let deadline = Date.now() + 5000;
      log.stats().partitions[0].fsyncCount === 0 && Date.now() < deadline;
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(log.stats().partitions[0].fsyncCount >= 1, "the interval timer fsynced the partition");
    await log.close();
    const reopened = PartitionLog.open({ directory: log.directory, partitionCount: 2, onEvent: () => {} });
    assert.equal(readAll(reopened, 0).length, 50);
    await reopened.close();
  });

  test("a second open of the same directory is refused; a lock left by a dead process is taken over", async () => {
    const log = openLog();
    assert.throws(
      () => PartitionLog.open({ directory: log.directory, partitionCount: 2 }),
      (error: { code: string }) => error.code === logErrorCodes.locked,
    );
    await log.close();
    fs.writeFileSync(path.join(log.directory, "LOCK"), "999999999");
    const reopened = PartitionLog.open({ directory: log.directory, partitionCount: 2, onEvent: () => {} });
    await reopened.close();
  });

  test("configuration errors are clear: partition count changes, bad limits", async () => {
    const log = openLog();
    await log.close();
    assert.throws(
      () => PartitionLog.open({ directory: log.directory, partitionCount: 3 }),
      /created with 2 partitions; configured 3/,
    );
    assert.throws(() => openLog({ segmentBytesMax: -1 }), /segmentBytesMax must be a positive integer/);
    assert.throws(() => openLog({ partitionCount: 0 }), /partitionCount must be an integer/);
    assert.throws(() => openLog({ fsync: "sometimes" as never }), /fsync must be "always" or "interval"/);
  });

  test("consumer offsets are durable, only move forward, and validate names", async () => {
    const log = openLog();
    const consumer = log.consumer("analytics");
    assert.equal(consumer.get(0), 0);
    await Promise.all([consumer.commit(0, 10), consumer.commit(1, 4), consumer.commit(0, 25)]);
    await consumer.commit(0, 20);
    assert.equal(consumer.get(0), 25);
    assert.throws(() => log.consumer("../escape"), /consumer name/);
    await log.close();
    const reopened = PartitionLog.open({ directory: log.directory, partitionCount: 2, onEvent: () => {} });
    assert.equal(reopened.consumer("analytics").get(0), 25);
    assert.equal(reopened.consumer("analytics").get(1), 4);
    assert.equal(reopened.consumer("indexer").get(0), 0);
    await reopened.close();
  });
});
