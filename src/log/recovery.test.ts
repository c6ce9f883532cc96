// Damage tests: a log is written and closed cleanly, its files are damaged the way crashes and bad
// disks damage them, and the log is reopened. Each test checks what recovery promises (segment.ts,
// Segment.open / #recover; scan.ts): whole batches before the damage are intact, a torn or corrupt
// tail of the active segment is cut back and reported with what was lost, a corrupt batch elsewhere
// becomes a gap of offsets that readers skip and report, lost index files are rebuilt, and the
// reopened log takes new appends at the right offsets.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { seededRandom } from "../loadgen/index.ts";
import {
  batchHeaderBytes,
  codecs,
  compressPayloadSync,
  crcMatches,
  encodeHeader,
  encodePayload,
  readHeader,
} from "./batch.ts";
import {
  type LogEvent,
  type LogOptions,
  type LogRecord,
  PartitionLog,
  partitionDirectoryName,
  type StoredRecord,
} from "./index.ts";

// ---------------------------------------------------------------------------------------------------
// Helpers

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory(label: string): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-recovery-${label}-`));
  directories.push(directory);
  return directory;
}

/** Small limits: many index entries (some batches unindexed), small read chunks; rolls are explicit. */
function logOptions(directory: string, events: LogEvent[]): LogOptions {
  return {
    directory,
    partitionCount: 1,
    segmentBytesMax: 1024 * 1024,
    indexIntervalBytes: 700,
    readChunkBytes: 1024,
    onEvent: (event) => events.push(event),
  };
}

/** Seeded, so every run writes the same bytes and a failure reproduces. */
const random = seededRandom;

const words = [
  "GET",
  "POST",
  "/api/users",
  "timeout",
  "auth_service",
  "200",
  "503",
  "retry",
  "ok",
  "user=42",
];

/** The record stored at `offset`: deterministic, with timestamps that sometimes go backwards. */
function recordAt(offset: number): LogRecord {
  const next = random(offset * 7919 + 17);
  const wordCount = Math.floor(next() * 30);
  const value = Array.from({ length: wordCount }, () => words[Math.floor(next() * words.length)]).join(" ");
  return {
    timestampMs: 1_766_000_000_000 + offset * 40 - Math.floor(next() * 200),
    key: Buffer.from(`svc-${offset % 3}`),
    value: Buffer.from(offset % 11 === 0 ? "" : `${offset} ${value}`),
  };
}

interface Expected {
  offset: number;
  timestampMs: number;
  key: string;
  value: string;
}

function expectedAt(offset: number): Expected {
  const record = recordAt(offset);
  return {
    offset,
    timestampMs: record.timestampMs,
    key: Buffer.from(record.key).toString(),
    value: Buffer.from(record.value).toString(),
  };
}

function plain(record: StoredRecord): Expected {
  return {
    offset: record.offset,
    timestampMs: record.timestampMs,
    key: Buffer.from(record.key).toString(),
    value: Buffer.from(record.value).toString(),
  };
}

async function appendBatch(log: PartitionLog, recordCount: number): Promise<void> {
  const baseOffset = log.partition(0).endOffset;
  const records = Array.from({ length: recordCount }, (_, i) => recordAt(baseOffset + i));
  const result = await log.append(0, records);
  assert.deepEqual(result, { baseOffset, recordCount });
}

/** One batch on disk, as parsed straight from the file (independently of the log's own scanner). */
interface BatchOnDisk {
  position: number;
  totalBytes: number;
  baseOffset: number;
  recordCount: number;
  payloadBytes: number;
}

function batchesIn(logPath: string): BatchOnDisk[] {
  const file = fs.readFileSync(logPath);
  const batches: BatchOnDisk[] = [];
  for (let position = 0; position < file.length; ) {
    const header = readHeader(file, position, 0xffffffff);
    assert.ok(typeof header !== "string", `${logPath}@${position}: ${header}`);
    assert.ok(crcMatches(file, position, header), `${logPath}@${position}: checksum`);
    const totalBytes = batchHeaderBytes + header.payloadBytes;
    batches.push({
      position,
      totalBytes,
      baseOffset: header.baseOffset,
      recordCount: header.recordCount,
      payloadBytes: header.payloadBytes,
    });
    position += totalBytes;
  }
  return batches;
}

function offsetsOf(batch: BatchOnDisk): number[] {
  return Array.from({ length: batch.recordCount }, (_, i) => batch.baseOffset + i);
}

function segmentPath(directory: string, baseOffset: number, extension: string): string {
  return path.join(
    directory,
    partitionDirectoryName(0),
    `${String(baseOffset).padStart(20, "0")}${extension}`,
  );
}

/** Reads everything with small reads, asserting progress; returns the records as plain values. */
function readAll(log: PartitionLog): Expected[] {
  const partition = log.partition(0);
  const records: Expected[] = [];
  let next = 0;
  for (let calls = 0; next < partition.endOffset; calls++) {
    assert.ok(calls < 10_000, "read loop is bounded");
    const result = partition.read(next, { bytesMax: 600 });
    assert.ok(result.nextOffset > next, `read(${next}) made progress`);
    records.push(...result.records.map(plain));
    next = result.nextOffset;
  }
  return records;
}

/**
 * The log must answer exactly as a model holding `expected` (the surviving records, with gaps where
 * batches were lost) would: full reads, reads from every surviving batch start, readLast with and
 * without a filter, and offsetForTimestamp around every stored timestamp.
 */
function assertAnswers(log: PartitionLog, expected: readonly Expected[], endOffset: number): void {
  const partition = log.partition(0);
  assert.equal(partition.endOffset, endOffset, "endOffset");
  assert.deepEqual(readAll(log), expected, "read all");
  for (const from of [0, ...expected.filter((_, i) => i % 7 === 0).map((record) => record.offset + 1)]) {
    const result = partition.read(from, { bytesMax: 300 });
    const wanted = expected.filter((record) => record.offset >= from);
    assert.deepEqual(result.records.map(plain), wanted.slice(0, result.records.length), `read(${from})`);
    if (wanted.length > 0) assert.ok(result.records.length > 0, `read(${from}) returns data`);
  }
  for (const count of [0, 1, 7, 50, expected.length, expected.length + 5]) {
    assert.deepEqual(
      partition.readLast(count).map(plain),
      count === 0 ? [] : expected.slice(-count),
      `readLast(${count})`,
    );
  }
  const isService1 = (record: { key: Uint8Array | string }) =>
    (typeof record.key === "string" ? record.key : Buffer.from(record.key).toString()) === "svc-1";
  assert.deepEqual(
    partition.readLast(25, isService1).map(plain),
    expected.filter(isService1).slice(-25),
    "readLast(25, key svc-1)",
  );
  const timestamps = new Set<number>();
  for (const record of expected) for (const delta of [-1, 0, 1]) timestamps.add(record.timestampMs + delta);
  timestamps.add(Number.MIN_SAFE_INTEGER);
  timestamps.add(Number.MAX_SAFE_INTEGER);
  for (const timestampMs of timestamps) {
    const first = expected.find((record) => record.timestampMs >= timestampMs);
    assert.equal(
      partition.offsetForTimestamp(timestampMs),
      first?.offset ?? endOffset,
      `offsetForTimestamp(${timestampMs})`,
    );
  }
}

function recoveredEvents(events: readonly LogEvent[]) {
  return events.flatMap((event) => (event.kind === "recovered" ? [event] : []));
}

function damagedBatchEvents(events: readonly LogEvent[]) {
  return events.flatMap((event) => (event.kind === "damaged-batch" ? [event] : []));
}

/** After recovery the log takes appends at `endOffset` and survives another clean reopen unchanged. */
async function assertAppendsContinue(
  directory: string,
  log: PartitionLog,
  survivors: readonly Expected[],
  endOffset: number,
): Promise<void> {
  const appended = [
    { timestampMs: 1_766_000_999_000, key: Buffer.from("after"), value: Buffer.from("first after recovery") },
    { timestampMs: 1_766_000_998_000, key: Buffer.from("after"), value: Buffer.from("") },
  ];
  assert.deepEqual(await log.append(0, appended), { baseOffset: endOffset, recordCount: 2 });
  const expected = [
    ...survivors,
    ...appended.map((record, i) => ({
      offset: endOffset + i,
      timestampMs: record.timestampMs,
      key: record.key.toString(),
      value: record.value.toString(),
    })),
  ];
  assertAnswers(log, expected, endOffset + 2);
  await log.close();
  const events: LogEvent[] = [];
  const reopened = PartitionLog.open(logOptions(directory, events));
  try {
    assert.deepEqual(recoveredEvents(events), [], "the repaired log reopens without recovery work");
    assertAnswers(reopened, expected, endOffset + 2);
  } finally {
    await reopened.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// The damaged logs

/**
 * A template log: two sealed segments and an active one, each of batches of 1..19 records. Tests copy
 * it into a fresh directory and damage the copy.
 */
interface Template {
  directory: string;
  segmentBases: number[];
  endOffset: number;
}

const batchPlan = [
  [3, 1, 12, 7, 1, 19, 5, 2],
  [9, 4, 1, 1, 15, 6, 3],
  [2, 11, 1, 8, 17, 4, 6, 10, 5],
];

async function buildTemplate(): Promise<Template> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-recovery-template-"));
  const events: LogEvent[] = [];
  const log = PartitionLog.open(logOptions(directory, events));
  const segmentBases: number[] = [];
  for (let s = 0; s < batchPlan.length; s++) {
    if (s > 0) await log.partition(0).roll();
    segmentBases.push(log.partition(0).endOffset);
    for (const recordCount of batchPlan[s]) await appendBatch(log, recordCount);
  }
  const endOffset = log.partition(0).endOffset;
  await log.close();
  assert.deepEqual(
    events.map((event) => event.kind),
    ["segment-rolled", "segment-rolled"],
  );
  return { directory, segmentBases, endOffset };
}

let template: Template;
before(async () => {
  template = await buildTemplate();
});
after(() => {
  fs.rmSync(template.directory, { recursive: true, force: true });
});

function allExpected(): Expected[] {
  return Array.from({ length: template.endOffset }, (_, offset) => expectedAt(offset));
}

function copyTemplate(label: string): string {
  const directory = temporaryDirectory(label);
  fs.cpSync(template.directory, directory, { recursive: true });
  return directory;
}

function activeBase(): number {
  return template.segmentBases[template.segmentBases.length - 1];
}

function flipBit(filePath: string, position: number, bit: number): void {
  const fd = fs.openSync(filePath, "r+");
  try {
    const byte = Buffer.alloc(1);
    assert.equal(fs.readSync(fd, byte, 0, 1, position), 1);
    byte[0] ^= 1 << bit;
    fs.writeSync(fd, byte, 0, 1, position);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------
// Tests

describe("the template log", () => {
  test("reads back whole before any damage, and reopens without recovery work", async () => {
    const events: LogEvent[] = [];
    const directory = copyTemplate("clean");
    const log = PartitionLog.open(logOptions(directory, events));
    assert.deepEqual(events, []);
    assert.equal(log.partition(0).stats().segmentCount, 3);
    assertAnswers(log, allExpected(), template.endOffset);
    assert.equal(log.partition(0).stats().damagedRegionsFound, 0);
    await assertAppendsContinue(directory, log, allExpected(), template.endOffset);
  });
});

describe("a torn active segment (log file cut at any byte)", () => {
  /**
   * Cut positions in the active segment: at every batch boundary, one byte into every header, right
   * after every header (no payload), in the middle of every payload, and a few seeded random bytes.
   * (Each trial pays for a reopen and an append, so the list is chosen rather than exhaustive.)
   */
  function cutPositions(batches: readonly BatchOnDisk[]): number[] {
    const positions = new Set<number>();
    for (const batch of batches) {
      for (const at of [0, 1, batchHeaderBytes, batchHeaderBytes + Math.floor(batch.payloadBytes / 2)]) {
        positions.add(batch.position + at);
      }
    }
    const next = random(42);
    const fileBytes = batches[batches.length - 1].position + batches[batches.length - 1].totalBytes;
    for (let i = 0; i < 6; i++) positions.add(Math.floor(next() * fileBytes));
    return [...positions].sort((a, b) => a - b);
  }

  test("keeps every whole batch, drops the torn one, reports it, and appends continue", async () => {
    const batches = batchesIn(segmentPath(template.directory, activeBase(), ".log"));
    const positions = cutPositions(batches);
    assert.ok(positions.length > 35, "many cut positions");
    for (const cut of positions) {
      const directory = copyTemplate("torn");
      const logPath = segmentPath(directory, activeBase(), ".log");
      fs.truncateSync(logPath, cut);
      const whole = batches.filter((batch) => batch.position + batch.totalBytes <= cut);
      const torn = batches.find((batch) => batch.position < cut && cut < batch.position + batch.totalBytes);
      const lastWhole = whole[whole.length - 1];
      const endOffset = lastWhole ? lastWhole.baseOffset + lastWhole.recordCount : activeBase();
      const survivors = allExpected().filter((record) => record.offset < endOffset);
      const lostRecords = torn && cut - torn.position >= batchHeaderBytes ? torn.recordCount : 0;

      const events: LogEvent[] = [];
      const log = PartitionLog.open(logOptions(directory, events));
      const context = `cut at ${cut}`;
      const recovered = recoveredEvents(events);
      assert.ok(
        recovered.every((event) => event.segmentBaseOffset === activeBase()),
        context,
      );
      if (torn) {
        assert.equal(recovered.length, 1, context);
        const report = recovered[0].report;
        assert.equal(report.truncatedBytes, cut - torn.position, context);
        assert.equal(report.lostRecordsAtLeast, lostRecords, context);
        assert.equal(report.damaged.length, 1, context);
        assert.deepEqual(
          {
            position: report.damaged[0].position,
            tail: report.damaged[0].tail,
            recordCountAtLeast: report.damaged[0].recordCountAtLeast,
          },
          { position: torn.position, tail: true, recordCountAtLeast: lostRecords },
          context,
        );
      } else {
        for (const event of recovered) {
          assert.deepEqual(
            [event.report.damaged, event.report.truncatedBytes, event.report.lostRecordsAtLeast],
            [[], 0, 0],
            context,
          );
        }
      }
      assert.equal(log.partition(0).stats().lostRecordsAtOpen, lostRecords, context);
      assert.equal(fs.statSync(logPath).size, torn ? torn.position : cut, `${context}: torn bytes cut off`);
      assertAnswers(log, survivors, endOffset);
      await assertAppendsContinue(directory, log, survivors, endOffset);
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe("a corrupt batch in the middle of a segment", () => {
  for (const where of ["sealed", "active"] as const) {
    for (const part of ["payload", "header"] as const) {
      test(`a flipped bit in the ${part} of a middle batch of the ${where} segment becomes a skipped gap`, async () => {
        const directory = copyTemplate(`flip-${where}-${part}`);
        const segmentBase = where === "sealed" ? template.segmentBases[1] : activeBase();
        const logPath = segmentPath(directory, segmentBase, ".log");
        const batches = batchesIn(logPath);
        const victim = batches.slice(Math.floor(batches.length / 2)).find((batch) => batch.recordCount > 1);
        assert.ok(victim && victim !== batches[batches.length - 1], "a middle batch of several records");
        const sizeBefore = fs.statSync(logPath).size;
        // Payload: a bit in its middle (caught by the checksum). Header: a bit of the magic number
        // (the scanner must resynchronise on the next batch).
        const position =
          part === "payload"
            ? victim.position + batchHeaderBytes + Math.floor(victim.payloadBytes / 2)
            : victim.position;
        flipBit(logPath, position, 3);

        const events: LogEvent[] = [];
        const log = PartitionLog.open(logOptions(directory, events));
        const gap = new Set(offsetsOf(victim));
        const survivors = allExpected().filter((record) => !gap.has(record.offset));
        assert.equal(log.partition(0).stats().lostRecordsAtOpen, 0, "nothing after the damage is lost");
        assert.equal(fs.statSync(logPath).size, sizeBefore, "a damaged batch in the middle is not cut");
        for (const event of recoveredEvents(events)) {
          assert.equal(event.report.truncatedBytes, 0);
          assert.equal(event.report.lostRecordsAtLeast, 0);
        }
        assertAnswers(log, survivors, template.endOffset);

        // Reported, once, with the exact region, whether recovery or a reader met it first.
        const regions = [
          ...recoveredEvents(events).flatMap((event) =>
            event.report.damaged.map((region) => ({ segmentBaseOffset: event.segmentBaseOffset, region })),
          ),
          ...damagedBatchEvents(events).map((event) => ({
            segmentBaseOffset: event.segmentBaseOffset,
            region: event.region,
          })),
        ];
        assert.ok(regions.length > 0, "the damage is reported");
        for (const { segmentBaseOffset, region } of regions) {
          assert.equal(segmentBaseOffset, segmentBase);
          assert.deepEqual(
            [region.position, region.endPosition, region.tail],
            [victim.position, victim.position + victim.totalBytes, false],
          );
          assert.equal(region.recordCountAtLeast, part === "payload" ? victim.recordCount : 0);
        }
        assert.equal(damagedBatchEvents(events).length, 1, "readers report the region once");
        assert.equal(log.partition(0).stats().damagedRegionsFound, 1);
        await assertAppendsContinue(directory, log, survivors, template.endOffset);
      });
    }
  }

  test("compaction of a sealed segment with a corrupt batch keeps the gap and every other record", async () => {
    const directory = copyTemplate("flip-compact");
    const logPath = segmentPath(directory, template.segmentBases[0], ".log");
    const batches = batchesIn(logPath);
    const victim = batches[2];
    flipBit(logPath, victim.position + batchHeaderBytes + Math.floor(victim.payloadBytes / 2), 0);
    const events: LogEvent[] = [];
    const log = PartitionLog.open(logOptions(directory, events));
    const gap = new Set(offsetsOf(victim));
    const survivors = allExpected().filter((record) => !gap.has(record.offset));
    assert.equal(await log.partition(0).compact(), 2);
    assertAnswers(log, survivors, template.endOffset);
    assert.deepEqual(
      batchesIn(logPath).flatMap(offsetsOf),
      survivors.filter((record) => record.offset < template.segmentBases[1]).map((record) => record.offset),
      "the compacted file holds every surviving record of the segment and nothing else",
    );
    await assertAppendsContinue(directory, log, survivors, template.endOffset);
  });
});

describe("a sealed segment whose log file lost its end", () => {
  test("its sealed index is not trusted: whole batches stay readable, the rest is a reported gap", async () => {
    const directory = copyTemplate("sealed-cut");
    const segmentBase = template.segmentBases[1];
    const logPath = segmentPath(directory, segmentBase, ".log");
    const batches = batchesIn(logPath);
    const torn = batches[batches.length - 3];
    const cut = torn.position + batchHeaderBytes + Math.floor(torn.payloadBytes / 2);
    fs.truncateSync(logPath, cut);

    const events: LogEvent[] = [];
    const log = PartitionLog.open(logOptions(directory, events));
    const recovered = recoveredEvents(events);
    assert.deepEqual(
      recovered.map((event) => [event.segmentBaseOffset, event.report.indexRebuilt]),
      [[segmentBase, true]],
    );
    assert.deepEqual(
      recovered[0].report.damaged.map((region) => [region.position, region.recordCountAtLeast, region.tail]),
      [[torn.position, torn.recordCount, true]],
    );
    const lost = new Set(batches.filter((batch) => batch.position >= torn.position).flatMap(offsetsOf));
    const survivors = allExpected().filter((record) => !lost.has(record.offset));
    assertAnswers(log, survivors, template.endOffset);
    assert.deepEqual(
      damagedBatchEvents(events).map((event) => [event.segmentBaseOffset, event.region.position]),
      [[segmentBase, torn.position]],
      "readers report the torn end of the sealed segment",
    );
    await log.close();
    const reopenedEvents: LogEvent[] = [];
    const reopened = PartitionLog.open(logOptions(directory, reopenedEvents));
    try {
      assert.deepEqual(recoveredEvents(reopenedEvents), [], "the rebuilt sealed index is trusted next time");
      assertAnswers(reopened, survivors, template.endOffset);
    } finally {
      await reopened.close();
    }
  });
});

describe("a corrupt last batch of the active segment", () => {
  for (const part of ["payload", "crc"] as const) {
    test(`a flipped bit in the ${part} of the tail batch is cut back and reported with its records`, async () => {
      const directory = copyTemplate(`flip-tail-${part}`);
      const logPath = segmentPath(directory, activeBase(), ".log");
      const batches = batchesIn(logPath);
      const tail = batches[batches.length - 1];
      assert.ok(tail.recordCount > 1);
      const position =
        part === "payload"
          ? tail.position + batchHeaderBytes + Math.floor(tail.payloadBytes / 2)
          : tail.position + 60;
      flipBit(logPath, position, 6);

      const events: LogEvent[] = [];
      const log = PartitionLog.open(logOptions(directory, events));
      const recovered = recoveredEvents(events);
      assert.equal(recovered.length, 1);
      assert.equal(recovered[0].segmentBaseOffset, activeBase());
      const report = recovered[0].report;
      assert.equal(report.truncatedBytes, tail.totalBytes);
      assert.equal(report.lostRecordsAtLeast, tail.recordCount);
      assert.deepEqual(
        report.damaged.map((region) => [region.position, region.tail, region.recordCountAtLeast]),
        [[tail.position, true, tail.recordCount]],
      );
      assert.equal(log.partition(0).stats().lostRecordsAtOpen, tail.recordCount);
      assert.equal(fs.statSync(logPath).size, tail.position);
      const survivors = allExpected().filter((record) => record.offset < tail.baseOffset);
      assertAnswers(log, survivors, tail.baseOffset);
      assert.deepEqual(damagedBatchEvents(events), [], "the cut tail is gone: readers meet no damage");
      await assertAppendsContinue(directory, log, survivors, tail.baseOffset);
    });
  }
});

describe("garbage after the last batch of the active segment (a torn write of the next batch)", () => {
  function garbage(kind: string): { bytes: Buffer; lostRecords: number } {
    const next = random(kind.length * 101);
    const noise = (length: number) => Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
    if (kind === "short noise") return { bytes: noise(17), lostRecords: 0 };
    if (kind === "long noise") return { bytes: noise(3000), lostRecords: 0 };
    if (kind === "zeros") return { bytes: Buffer.alloc(4096), lostRecords: 0 };
    // A real next batch, cut short inside its payload or just after its header.
    const records = Array.from({ length: 9 }, (_, i) => recordAt(template.endOffset + i));
    const encoded = encodePayload(records);
    const payload = compressPayloadSync(encoded.raw, codecs.zstd, 3);
    const meta = { baseOffset: template.endOffset, sourcePosition: -1, leaderEpoch: 0, codec: codecs.zstd };
    const batch = Buffer.concat([encodeHeader(meta, encoded, payload), payload]);
    const length = kind === "torn batch payload" ? batch.length - 5 : batchHeaderBytes;
    return { bytes: batch.subarray(0, length), lostRecords: 9 };
  }

  for (const kind of ["short noise", "long noise", "zeros", "torn batch payload", "torn batch header only"]) {
    test(`${kind} is cut back and the log is otherwise untouched`, async () => {
      const directory = copyTemplate("garbage");
      const logPath = segmentPath(directory, activeBase(), ".log");
      const sizeBefore = fs.statSync(logPath).size;
      const { bytes, lostRecords } = garbage(kind);
      fs.appendFileSync(logPath, bytes);

      const events: LogEvent[] = [];
      const log = PartitionLog.open(logOptions(directory, events));
      const recovered = recoveredEvents(events);
      assert.equal(recovered.length, 1);
      assert.equal(recovered[0].segmentBaseOffset, activeBase());
      assert.equal(recovered[0].report.truncatedBytes, bytes.length);
      assert.equal(recovered[0].report.lostRecordsAtLeast, lostRecords);
      assert.ok(recovered[0].report.damaged.every((region) => region.position >= sizeBefore && region.tail));
      assert.equal(log.partition(0).stats().lostRecordsAtOpen, lostRecords);
      assert.equal(fs.statSync(logPath).size, sizeBefore);
      assertAnswers(log, allExpected(), template.endOffset);
      assert.deepEqual(damagedBatchEvents(events), []);
      await assertAppendsContinue(directory, log, allExpected(), template.endOffset);
    });
  }
});

describe("lost or damaged index files", () => {
  type IndexDamage = "delete .index" | "delete .timeindex" | "delete both" | "append garbage" | "truncate";
  const damages: IndexDamage[] = [
    "delete .index",
    "delete .timeindex",
    "delete both",
    "append garbage",
    "truncate",
  ];

  function damageIndex(directory: string, segmentBase: number, damage: IndexDamage): void {
    const offsetIndex = segmentPath(directory, segmentBase, ".index");
    const timeIndex = segmentPath(directory, segmentBase, ".timeindex");
    assert.ok(fs.statSync(offsetIndex).size >= 16 && fs.statSync(timeIndex).size >= 24, "index has entries");
    if (damage === "delete .index" || damage === "delete both") fs.rmSync(offsetIndex);
    if (damage === "delete .timeindex" || damage === "delete both") fs.rmSync(timeIndex);
    if (damage === "append garbage") {
      fs.appendFileSync(offsetIndex, Buffer.from("0123456789abcdef0123456789abcdef"));
      fs.appendFileSync(timeIndex, Buffer.alloc(36, 0xff));
    }
    if (damage === "truncate") {
      fs.truncateSync(offsetIndex, fs.statSync(offsetIndex).size - 13); // mid-entry
      fs.truncateSync(timeIndex, fs.statSync(timeIndex).size - 12);
    }
  }

  const targets = {
    sealed: "a sealed segment",
    active: "the active segment",
    every: "every segment",
  } as const;
  for (const where of ["sealed", "active", "every"] as const) {
    for (const damage of damages) {
      test(`${damage} of ${targets[where]}: rebuilt on open, same answers as before`, async () => {
        const directory = copyTemplate("index");
        const bases =
          where === "sealed"
            ? [template.segmentBases[1]]
            : where === "active"
              ? [activeBase()]
              : template.segmentBases;
        const indexFilesBefore = bases.map((base) => [
          fs.readFileSync(segmentPath(directory, base, ".index")),
          fs.readFileSync(segmentPath(directory, base, ".timeindex")),
        ]);
        for (const base of bases) damageIndex(directory, base, damage);

        const events: LogEvent[] = [];
        const log = PartitionLog.open(logOptions(directory, events));
        const recovered = recoveredEvents(events);
        for (const event of recovered) {
          assert.deepEqual(event.report.damaged, [], "index damage is not log damage");
          assert.equal(event.report.truncatedBytes, 0);
          assert.equal(event.report.lostRecordsAtLeast, 0);
        }
        // Every sealed segment whose index was damaged reports the rebuild; so does the active one,
        // except when its index merely lost entries at the end (the normal state after a crash, since
        // the active index is not fsynced: recovery rescans that tail anyway).
        const mustReport = bases.filter((base) => base !== activeBase() || damage !== "truncate");
        assert.deepEqual(
          recovered.filter((event) => event.report.indexRebuilt).map((event) => event.segmentBaseOffset),
          mustReport,
        );
        assert.equal(log.partition(0).stats().lostRecordsAtOpen, 0);
        assertAnswers(log, allExpected(), template.endOffset);
        assert.deepEqual(damagedBatchEvents(events), []);
        // The rebuilt index files are on disk again and hold what the writer had written.
        bases.forEach((base, i) => {
          assert.deepEqual(fs.readFileSync(segmentPath(directory, base, ".index")), indexFilesBefore[i][0]);
          assert.deepEqual(
            fs.readFileSync(segmentPath(directory, base, ".timeindex")),
            indexFilesBefore[i][1],
          );
        });
        await assertAppendsContinue(directory, log, allExpected(), template.endOffset);
      });
    }
  }
});
