// Model-based property tests of the partition log: random command sequences run against a real
// PartitionLog on real files and against an in-memory model (per partition: an array of records, the
// segment base offsets and which sealed segments are compacted). After every command the log must
// agree with the model: offsets, contents, segment files on disk, and every query answer. Limits are
// tiny so that rolls, index lookups, retention and compaction happen within a few dozen appends.
//
// Also here: readers polled while concurrent group commits are in flight must see exactly the
// committed records; a property of the batch codec alone (batch.ts); and focused checks of contracts
// the model never exercises (the full safe-integer timestamp range; a read with bytesMax 0).

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  batchHeaderBytes,
  batchVersion,
  type Codec,
  codecs,
  compressPayloadSync,
  crcMatches,
  decodeRecords,
  encodeHeader,
  encodePayload,
  readHeader,
} from "./batch.ts";
import { type LogEvent, type LogOptions, type LogRecord, PartitionLog, type StoredRecord } from "./index.ts";

const partitionCount = 2;
const retentionBytes = 6144;
const segmentBytesMax = 4096;
/** Runs of the model property per codec; each run is up to `commandsMax` commands on a fresh
 * directory. A fixed count, never a time budget: a time limit let a slow machine stop after one run
 * and pass without its coverage check (~5 s per codec here). */
const modelRuns = 30;
const commandsMax = 40;
const codecRuns = 300;

// ---------------------------------------------------------------------------------------------------
// Helpers

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex");
}

/** A record as the model keeps it: plain values, so assert.deepEqual prints a readable difference. */
interface ModelRecord {
  offset: number;
  timestampMs: number;
  key: string;
  value: string;
}

function toModel(record: StoredRecord): ModelRecord {
  return {
    offset: record.offset,
    timestampMs: record.timestampMs,
    key: hex(record.key),
    value: hex(record.value),
  };
}

function makeTemporaryDirectory(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sluice-${label}-`));
}

function logOptions(directory: string, codec: "zstd" | "none", events: LogEvent[]): LogOptions {
  return {
    directory,
    partitionCount,
    segmentBytesMax,
    indexIntervalBytes: 256,
    readChunkBytes: 1024,
    retentionBytes,
    codec,
    onEvent: (event) => events.push(event),
  };
}

function segmentName(baseOffset: number, extension: string): string {
  return `${String(baseOffset).padStart(20, "0")}${extension}`;
}

// ---------------------------------------------------------------------------------------------------
// The model

interface PartitionModel {
  /** Every record at or after the log start, in offset order (offsets are contiguous). */
  records: ModelRecord[];
  endOffset: number;
  /** Base offsets of the segments that exist, oldest first; the last one is the active segment. */
  segmentBases: number[];
  /** Sealed segments compaction has rewritten (they carry a `.compacted` marker). */
  compacted: Set<number>;
}

interface Model {
  partitions: PartitionModel[];
}

interface Real {
  log: PartitionLog;
  options: LogOptions;
  events: LogEvent[];
}

const keyPool = ["", "61", "61757468", "7376632d31"].map((key) => Buffer.from(key, "hex"));

type FilterKind = "none" | "pooled-key" | "even-value-length";

/** A readLast filter as a predicate over (key in hex, value length), applied to model and log alike. */
function predicateFor(
  kind: FilterKind,
  keyChoice: number,
): ((keyHex: string, valueBytes: number) => boolean) | null {
  if (kind === "none") return null;
  if (kind === "pooled-key") {
    const wanted = hex(keyPool[keyChoice % keyPool.length]);
    return (keyHex) => keyHex === wanted;
  }
  return (_keyHex, valueBytes) => valueBytes % 2 === 0;
}

function newEvents(real: Real, mark: number): LogEvent[] {
  return real.events.slice(mark);
}

/** Reads a whole partition through `read`, asserting that every call makes progress. */
function readAll(real: Real, partitionId: number): ModelRecord[] {
  const partition = real.log.partition(partitionId);
  const records: ModelRecord[] = [];
  let next = 0;
  for (let calls = 0; next < partition.endOffset; calls++) {
    assert.ok(calls < 100_000, "read loop is bounded");
    const result = partition.read(next, { bytesMax: 1 << 20 });
    assert.ok(result.nextOffset > next, `read(${next}) made no progress`);
    for (const record of result.records) records.push(toModel(record));
    next = result.nextOffset;
  }
  return records;
}

/** The whole observable state of one partition must equal the model. */
function checkPartition(model: Model, real: Real, partitionId: number): void {
  const expected = model.partitions[partitionId];
  const partition = real.log.partition(partitionId);
  assert.equal(expected.records.length, expected.endOffset - expected.segmentBases[0], "model is contiguous");
  assert.equal(partition.logStartOffset, expected.segmentBases[0], "logStartOffset");
  assert.equal(partition.endOffset, expected.endOffset, "endOffset");
  const stats = partition.stats();
  assert.equal(stats.segmentCount, expected.segmentBases.length, "segmentCount");
  assert.equal(stats.damagedRegionsFound, 0, "no damage in an undamaged log");
  const expectedFiles = expected.segmentBases.flatMap((base) => [
    segmentName(base, ".log"),
    segmentName(base, ".index"),
    segmentName(base, ".timeindex"),
  ]);
  for (const base of expected.compacted) expectedFiles.push(segmentName(base, ".log.compacted"));
  assert.deepEqual(fs.readdirSync(partition.directory).sort(), expectedFiles.sort(), "files on disk");
  assert.deepEqual(readAll(real, partitionId), expected.records, "contents");
}

function checkAll(model: Model, real: Real): void {
  for (let id = 0; id < partitionCount; id++) checkPartition(model, real, id);
  const unexpected = real.events.filter(
    (event) => event.kind === "damaged-batch" || event.kind === "write-failed" || event.kind === "recovered",
  );
  assert.deepEqual(unexpected, [], "no damage, failure or recovery events");
}

// ---------------------------------------------------------------------------------------------------
// Commands

type LogCommand = fc.AsyncCommand<Model, Real>;

function describeRecords(records: readonly LogRecord[]): string {
  return `${records.length} records ts ${records[0].timestampMs}..`;
}

class AppendCommand implements LogCommand {
  readonly partitionId: number;
  /** One entry per append call; all calls are issued in the same tick (group commit). */
  readonly appends: LogRecord[][];

  constructor(partitionId: number, appends: LogRecord[][]) {
    this.partitionId = partitionId;
    this.appends = appends;
  }

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const expected = model.partitions[this.partitionId];
    const endBefore = expected.endOffset;
    const mark = real.events.length;
    const results = await Promise.all(
      this.appends.map((records) => real.log.append(this.partitionId, records)),
    );
    let nextOffset = endBefore;
    for (let i = 0; i < this.appends.length; i++) {
      const records = this.appends[i];
      assert.deepEqual(results[i], { baseOffset: nextOffset, recordCount: records.length }, `append ${i}`);
      for (const record of records) {
        expected.records.push({
          offset: nextOffset++,
          timestampMs: record.timestampMs,
          key: hex(record.key),
          value: hex(record.value),
        });
      }
    }
    expected.endOffset = nextOffset;
    for (const event of newEvents(real, mark)) {
      assert.equal(event.kind, "segment-rolled", "an append only rolls segments");
      if (event.kind !== "segment-rolled") continue;
      assert.equal(event.partition, this.partitionId);
      const activeBase = expected.segmentBases[expected.segmentBases.length - 1];
      assert.ok(
        event.baseOffset > activeBase && event.baseOffset >= endBefore && event.baseOffset < nextOffset,
        `rolled at ${event.baseOffset}, appended ${endBefore}..${nextOffset}, active was ${activeBase}`,
      );
      expected.segmentBases.push(event.baseOffset);
    }
    checkAll(model, real);
  }

  toString(): string {
    return `append(p${this.partitionId}, [${this.appends.map(describeRecords).join("], [")}])`;
  }
}

class ReadCommand implements LogCommand {
  readonly partitionId: number;
  readonly fromChoice: number;
  readonly bytesMax: number;
  readonly endChoice: number | null;

  constructor(partitionId: number, fromChoice: number, bytesMax: number, endChoice: number | null) {
    this.partitionId = partitionId;
    this.fromChoice = fromChoice;
    this.bytesMax = bytesMax;
    this.endChoice = endChoice;
  }

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const expected = model.partitions[this.partitionId];
    const fromOffset = this.fromChoice % (expected.endOffset + 3);
    const endOption = this.endChoice === null ? undefined : this.endChoice % (expected.endOffset + 3);
    const result = real.log.read(this.partitionId, fromOffset, {
      bytesMax: this.bytesMax,
      endOffset: endOption,
    });
    const start = Math.max(fromOffset, expected.segmentBases[0]);
    const end = Math.min(endOption ?? expected.endOffset, expected.endOffset);
    const available = expected.records.filter((record) => record.offset >= start && record.offset < end);
    const got = result.records.map(toModel);
    assert.equal(result.logStartOffset, expected.segmentBases[0]);
    assert.equal(result.endOffset, expected.endOffset);
    assert.deepEqual(got, available.slice(0, got.length), "a read returns a prefix of what is there");
    if (available.length === 0) {
      assert.equal(got.length, 0);
      assert.equal(result.nextOffset, start, "nothing to read: continue where asked");
      return;
    }
    assert.ok(got.length > 0, "a read with data returns at least one record");
    assert.equal(result.nextOffset, got[got.length - 1].offset + 1, "nextOffset follows the last record");
    const bytes = result.records.reduce((sum, record) => sum + record.key.length + record.value.length, 0);
    if (bytes < this.bytesMax) assert.equal(result.nextOffset, end, "under bytesMax a read reaches the end");
  }

  toString(): string {
    return `read(p${this.partitionId}, from#${this.fromChoice}, bytesMax ${this.bytesMax}, end#${this.endChoice})`;
  }
}

class ReadLastCommand implements LogCommand {
  readonly partitionId: number;
  readonly count: number;
  readonly filterKind: FilterKind;
  readonly keyChoice: number;

  constructor(partitionId: number, count: number, filterKind: FilterKind, keyChoice: number) {
    this.partitionId = partitionId;
    this.count = count;
    this.filterKind = filterKind;
    this.keyChoice = keyChoice;
  }

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const predicate = predicateFor(this.filterKind, this.keyChoice);
    const filter =
      predicate === null
        ? undefined
        : (record: StoredRecord) => predicate(hex(record.key), record.value.length);
    const got = real.log.readLast(this.partitionId, this.count, filter).map(toModel);
    const matching = model.partitions[this.partitionId].records.filter(
      (record) => predicate === null || predicate(record.key, record.value.length / 2),
    );
    const expected = this.count === 0 ? [] : matching.slice(-this.count);
    assert.deepEqual(got, expected, "readLast returns the last matching records, oldest first");
  }

  toString(): string {
    return `readLast(p${this.partitionId}, ${this.count}, ${this.filterKind}#${this.keyChoice})`;
  }
}

type TimestampTarget =
  | { timestampMs: number }
  /** Near a stored record's timestamp; "new-maximum" picks among the records whose timestamp exceeds
   * every earlier one: exactly the records offsetForTimestamp can answer, so its boundaries are hit. */
  | { among: "any" | "new-maximum"; pick: number; delta: number };

class OffsetForTimestampCommand implements LogCommand {
  readonly partitionId: number;
  readonly target: TimestampTarget;

  constructor(partitionId: number, target: TimestampTarget) {
    this.partitionId = partitionId;
    this.target = target;
  }

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const expected = model.partitions[this.partitionId];
    let timestampMs = 0;
    if ("timestampMs" in this.target) timestampMs = this.target.timestampMs;
    else if (expected.records.length > 0) {
      let candidates = expected.records;
      if (this.target.among === "new-maximum") {
        let maximum = Number.NEGATIVE_INFINITY;
        candidates = expected.records.filter((record) => {
          if (record.timestampMs <= maximum) return false;
          maximum = record.timestampMs;
          return true;
        });
      }
      timestampMs = candidates[this.target.pick % candidates.length].timestampMs + this.target.delta;
    }
    const first = expected.records.find((record) => record.timestampMs >= timestampMs);
    assert.equal(
      real.log.partition(this.partitionId).offsetForTimestamp(timestampMs),
      first?.offset ?? expected.endOffset,
      `offsetForTimestamp(${timestampMs})`,
    );
  }

  toString(): string {
    return `offsetForTimestamp(p${this.partitionId}, ${JSON.stringify(this.target)})`;
  }
}

class RollCommand implements LogCommand {
  readonly partitionId: number;

  constructor(partitionId: number) {
    this.partitionId = partitionId;
  }

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const expected = model.partitions[this.partitionId];
    const activeBase = expected.segmentBases[expected.segmentBases.length - 1];
    const mark = real.events.length;
    await real.log.partition(this.partitionId).roll();
    const events = newEvents(real, mark);
    if (expected.endOffset > activeBase) {
      assert.deepEqual(events, [
        { kind: "segment-rolled", partition: this.partitionId, baseOffset: expected.endOffset },
      ]);
      expected.segmentBases.push(expected.endOffset);
    } else {
      assert.deepEqual(events, [], "rolling an empty active segment is a no-op");
    }
    checkAll(model, real);
  }

  toString(): string {
    return `roll(p${this.partitionId})`;
  }
}

class TruncateCommand implements LogCommand {
  readonly partitionId: number;
  /** >= 0: an offset anywhere in 0..end+1; < 0: that many records back from the end. */
  readonly offsetChoice: number;

  constructor(partitionId: number, offsetChoice: number) {
    this.partitionId = partitionId;
    this.offsetChoice = offsetChoice;
  }

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const expected = model.partitions[this.partitionId];
    const offset =
      this.offsetChoice < 0
        ? Math.max(0, expected.endOffset + this.offsetChoice)
        : this.offsetChoice % (expected.endOffset + 2);
    const mark = real.events.length;
    await real.log.truncateTo(this.partitionId, offset);
    assert.deepEqual(newEvents(real, mark), []);
    if (offset < expected.endOffset) {
      if (offset <= expected.segmentBases[0]) {
        // Every segment goes; the log restarts empty at `offset`.
        expected.records = [];
        expected.segmentBases = [offset];
      } else {
        expected.records = expected.records.filter((record) => record.offset < offset);
        expected.segmentBases = expected.segmentBases.filter((base) => base < offset);
      }
      expected.endOffset = offset;
      const activeBase = expected.segmentBases[expected.segmentBases.length - 1];
      for (const base of expected.compacted) {
        if (!expected.segmentBases.includes(base) || base === activeBase) expected.compacted.delete(base);
      }
    }
    checkAll(model, real);
  }

  toString(): string {
    return `truncateTo(p${this.partitionId}, #${this.offsetChoice})`;
  }
}

class RetentionCommand implements LogCommand {
  readonly partitionId: number;

  constructor(partitionId: number) {
    this.partitionId = partitionId;
  }

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const expected = model.partitions[this.partitionId];
    const partition = real.log.partition(this.partitionId);
    // The oracle: delete whole segments from the head while over retentionBytes, never the active one.
    const sizes = expected.segmentBases.map(
      (base) => fs.statSync(path.join(partition.directory, segmentName(base, ".log"))).size,
    );
    let total = sizes.reduce((sum, size) => sum + size, 0);
    let expectedDeleted = 0;
    while (expectedDeleted < sizes.length - 1 && total > retentionBytes) total -= sizes[expectedDeleted++];
    const mark = real.events.length;
    const deleted = await partition.enforceRetention(Date.now());
    assert.equal(deleted, expectedDeleted, `segment sizes ${sizes.join(", ")}`);
    const removed = expected.segmentBases.slice(0, deleted);
    assert.deepEqual(
      newEvents(real, mark),
      removed.map((baseOffset, i) => ({
        kind: "segment-deleted",
        partition: this.partitionId,
        baseOffset,
        reason: "bytes",
        bytes: sizes[i],
      })),
    );
    expected.segmentBases = expected.segmentBases.slice(deleted);
    const logStartOffset = expected.segmentBases[0];
    expected.records = expected.records.filter((record) => record.offset >= logStartOffset);
    for (const base of removed) expected.compacted.delete(base);
    // logStartOffset moved forward to a former segment boundary, and retention did its job.
    assert.equal(partition.logStartOffset, logStartOffset);
    const stats = partition.stats();
    assert.ok(stats.sizeBytes <= retentionBytes || stats.segmentCount === 1, `sizeBytes ${stats.sizeBytes}`);
    checkAll(model, real);
  }

  toString(): string {
    return `enforceRetention(p${this.partitionId})`;
  }
}

class CompactCommand implements LogCommand {
  readonly partitionId: number;

  constructor(partitionId: number) {
    this.partitionId = partitionId;
  }

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const expected = model.partitions[this.partitionId];
    const due = expected.segmentBases.slice(0, -1).filter((base) => !expected.compacted.has(base));
    const mark = real.events.length;
    const compacted = await real.log.partition(this.partitionId).compact();
    assert.equal(compacted, due.length);
    const events = newEvents(real, mark);
    assert.deepEqual(
      events.map((event) =>
        event.kind === "segment-compacted" ? [event.partition, event.baseOffset] : event,
      ),
      due.map((base) => [this.partitionId, base]),
    );
    for (const event of events) if (event.kind === "segment-compacted") assert.ok(event.bytesAfter > 0);
    for (const base of due) expected.compacted.add(base);
    checkAll(model, real);
  }

  toString(): string {
    return `compact(p${this.partitionId})`;
  }
}

class ReopenCommand implements LogCommand {
  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    await real.log.close();
    assert.throws(() => real.log.partition(0), { name: "LogClosedError" });
    const mark = real.events.length;
    real.log = PartitionLog.open(real.options);
    assert.deepEqual(newEvents(real, mark), [], "a cleanly closed log reopens without recovery work");
    for (let id = 0; id < partitionCount; id++)
      assert.equal(real.log.partition(id).stats().lostRecordsAtOpen, 0);
    checkAll(model, real);
  }

  toString(): string {
    return "closeAndReopen()";
  }
}

// ---------------------------------------------------------------------------------------------------
// Arbitraries

const nowMs = 1_766_000_000_000;

const timestampArbitrary = fc.oneof(
  { arbitrary: fc.integer({ min: nowMs - 5_000, max: nowMs + 5_000 }), weight: 4 },
  { arbitrary: fc.integer({ min: -1_000_000_000_000, max: 4_000_000_000_000 }), weight: 1 },
);

const bytesArbitrary = (maxLength: number) =>
  fc.oneof(
    { arbitrary: fc.constant(new Uint8Array(0)), weight: 1 },
    { arbitrary: fc.uint8Array({ maxLength, size: "max" }), weight: 3 },
    {
      // Compressible: a short pattern repeated, as real log lines are.
      arbitrary: fc
        .tuple(fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 40 }))
        .map(([pattern, times]) => new Uint8Array(Buffer.concat(Array(times).fill(Buffer.from(pattern))))),
      weight: 2,
    },
  );

const recordArbitrary: fc.Arbitrary<LogRecord> = fc.record({
  timestampMs: timestampArbitrary,
  key: fc.oneof(fc.constantFrom(...keyPool), fc.uint8Array({ maxLength: 12 })),
  value: bytesArbitrary(96),
});

const recordsArbitrary = fc.array(recordArbitrary, { minLength: 1, maxLength: 50, size: "max" });
const partitionArbitrary = fc.integer({ min: 0, max: partitionCount - 1 });

const singleAppend = fc
  .tuple(partitionArbitrary, recordsArbitrary)
  .map(([id, records]) => new AppendCommand(id, [records]));
const concurrentAppends = fc
  .tuple(partitionArbitrary, fc.array(recordsArbitrary, { minLength: 2, maxLength: 4 }))
  .map(([id, appends]) => new AppendCommand(id, appends));
const read = fc
  .tuple(
    partitionArbitrary,
    fc.nat(),
    fc.integer({ min: 1, max: 8192 }),
    fc.option(fc.nat(), { nil: null, freq: 3 }),
  )
  .map(([id, from, bytesMax, end]) => new ReadCommand(id, from, bytesMax, end));
const readLast = fc
  .tuple(
    partitionArbitrary,
    fc.integer({ min: 0, max: 120 }),
    fc.constantFrom<FilterKind>("none", "pooled-key", "even-value-length"),
    fc.nat(),
  )
  .map(([id, count, kind, key]) => new ReadLastCommand(id, count, kind, key));
const offsetForTimestamp = fc
  .tuple(
    partitionArbitrary,
    fc.oneof(
      fc.record({
        among: fc.constantFrom<"any" | "new-maximum">("any", "new-maximum"),
        pick: fc.nat(),
        delta: fc.integer({ min: -1, max: 1 }),
      }),
      fc.record({ timestampMs: timestampArbitrary }),
    ),
  )
  .map(([id, target]) => new OffsetForTimestampCommand(id, target));
const truncate = fc
  .tuple(
    partitionArbitrary,
    fc.oneof(
      fc.nat(),
      fc.integer({ min: 1, max: 60 }).map((back) => -back),
    ),
  )
  .map(([id, choice]) => new TruncateCommand(id, choice));

/** Weighted so that logs grow past segmentBytesMax and retentionBytes between the cuts. */
const commandArbitrary: fc.Arbitrary<LogCommand> = fc.oneof(
  { arbitrary: singleAppend, weight: 6 },
  { arbitrary: concurrentAppends, weight: 2 },
  { arbitrary: read, weight: 2 },
  { arbitrary: readLast, weight: 2 },
  { arbitrary: offsetForTimestamp, weight: 2 },
  { arbitrary: partitionArbitrary.map((id) => new RollCommand(id)), weight: 1 },
  { arbitrary: truncate, weight: 1 },
  { arbitrary: partitionArbitrary.map((id) => new RetentionCommand(id)), weight: 2 },
  { arbitrary: partitionArbitrary.map((id) => new CompactCommand(id)), weight: 1 },
  { arbitrary: fc.constant(new ReopenCommand()), weight: 1 },
);

// ---------------------------------------------------------------------------------------------------
// Tests

for (const codec of ["zstd", "none"] as const) {
  test(`the partition log behaves like an in-memory model under random commands (codec ${codec})`, async () => {
    const eventCounts = new Map<string, number>();
    let runCount = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.commands([commandArbitrary], { maxCommands: commandsMax, size: "max" }),
        async (commands) => {
          runCount++;
          const directory = makeTemporaryDirectory("log-model");
          const events: LogEvent[] = [];
          const options = logOptions(directory, codec, events);
          const real: Real = { log: PartitionLog.open(options), options, events };
          try {
            const model: Model = {
              partitions: Array.from({ length: partitionCount }, () => ({
                records: [],
                endOffset: 0,
                segmentBases: [0],
                compacted: new Set<number>(),
              })),
            };
            checkAll(model, real);
            await fc.asyncModelRun(() => ({ model, real }), commands);
          } finally {
            await real.log.close();
            fs.rmSync(directory, { recursive: true, force: true });
            for (const event of events) eventCounts.set(event.kind, (eventCounts.get(event.kind) ?? 0) + 1);
          }
        },
      ),
      { numRuns: modelRuns },
    );
    // The limits are small enough that the runs rolled, deleted and compacted segments: the
    // properties above were checked across those changes, not only on a single segment.
    assert.ok(runCount >= modelRuns, `${runCount} of ${modelRuns} runs`);
    for (const kind of ["segment-rolled", "segment-deleted", "segment-compacted"]) {
      assert.ok((eventCounts.get(kind) ?? 0) > 0, `no ${kind} event in any of ${runCount} runs`);
    }
  });
}

test("readers see exactly the committed records while group commits are in flight", async () => {
  // Small batches and a dense index: concurrent appends become several batches per write + fsync, so a
  // reader polling between event-loop turns meets writes that are on their way but not yet committed.
  const smallRecords = fc.array(
    fc.record({
      timestampMs: timestampArbitrary,
      key: fc.constantFrom(...keyPool),
      value: bytesArbitrary(96),
    }),
    { minLength: 1, maxLength: 20 },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(smallRecords, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }),
      async (rounds) => {
        const directory = makeTemporaryDirectory("log-inflight");
        const log = PartitionLog.open({
          directory,
          partitionCount: 1,
          segmentBytesMax: 8192,
          batchRawBytesMax: 512,
          indexIntervalBytes: 64,
          readChunkBytes: 1024,
          onEvent: () => {},
        });
        const partition = log.partition(0);
        const appended: ModelRecord[] = []; // offsets are handed out in call order
        const check = () => {
          const endOffset = partition.endOffset;
          const committed = appended.slice(0, endOffset);
          assert.deepEqual(
            partition.readLast(100_000).map(toModel),
            committed,
            `readLast at end ${endOffset}`,
          );
          const pooled = hex(keyPool[1]);
          assert.deepEqual(
            partition.readLast(100_000, (record) => hex(record.key) === pooled).map(toModel),
            committed.filter((record) => record.key === pooled),
          );
          const read = partition.read(0, { bytesMax: 1 << 20 });
          assert.deepEqual(read.records.map(toModel), committed, `read at end ${endOffset}`);
          assert.equal(read.nextOffset, endOffset);
          const latest = committed.at(-1)?.timestampMs ?? nowMs;
          assert.equal(
            partition.offsetForTimestamp(latest),
            committed.find((record) => record.timestampMs >= latest)?.offset ?? endOffset,
          );
        };
        let writing = true;
        let polls = 0;
        let pollFailure: unknown = null;
        const poller = (async () => {
          while (writing) {
            check();
            polls++;
            await new Promise((resolve) => setImmediate(resolve));
          }
        })().catch((error: unknown) => {
          pollFailure = error;
        });
        try {
          for (const round of rounds) {
            const results = Promise.all(round.map((records) => log.append(0, records)));
            for (const records of round) {
              for (const record of records) {
                appended.push({
                  offset: appended.length,
                  timestampMs: record.timestampMs,
                  key: hex(record.key),
                  value: hex(record.value),
                });
              }
            }
            await results;
          }
          writing = false;
          await poller;
          if (pollFailure !== null) throw pollFailure;
          assert.ok(polls > 0);
          assert.equal(partition.endOffset, appended.length);
          check();
        } finally {
          writing = false;
          await poller;
          await log.close();
          fs.rmSync(directory, { recursive: true, force: true });
        }
      },
    ),
    { numRuns: 20 },
  );
});

function viewAt(bytes: Buffer, padding: number): Uint8Array {
  // A view into the middle of a larger buffer, so positions and byteOffsets are both exercised.
  const backing = new Uint8Array(padding + bytes.length + 7);
  backing.fill(0xa5);
  backing.set(bytes, padding);
  return backing.subarray(0, padding + bytes.length + 3);
}

test("the batch codec round-trips records and header fields, and its checksum catches any bit flip", () => {
  const codecRecord = fc.record({
    // Spans stay below 2^52 here; the full safe-integer range is tested through append below.
    timestampMs: fc.integer({ min: -(2 ** 50), max: 2 ** 50 }),
    key: bytesArbitrary(40),
    value: bytesArbitrary(300),
  });
  fc.assert(
    fc.property(
      fc.array(codecRecord, { minLength: 1, maxLength: 60 }),
      fc.constantFrom<Codec>(codecs.none, codecs.zstd),
      fc.record({
        baseOffset: fc.maxSafeNat(),
        sourcePosition: fc.oneof(fc.constant(-1), fc.maxSafeNat()),
        leaderEpoch: fc.integer({ min: 0, max: 0xffffffff }),
      }),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 0, max: 100 }),
      fc.nat(),
      (records, codec, meta, level, padding, flipChoice) => {
        const encoded = encodePayload(records);
        assert.equal(encoded.recordCount, records.length);
        const payload = compressPayloadSync(encoded.raw, codec, level);
        if (codec === codecs.none) assert.equal(payload, encoded.raw);
        const header = encodeHeader({ ...meta, codec }, encoded, payload);
        assert.equal(header.length, batchHeaderBytes);
        const batch = Buffer.concat([header, payload]);
        const buffer = viewAt(batch, padding);

        const parsed = readHeader(buffer, padding, payload.length);
        assert.ok(typeof parsed !== "string", `header rejected: ${parsed}`);
        assert.deepEqual(
          { ...parsed, crc: 0 },
          {
            version: batchVersion,
            codec,
            baseOffset: meta.baseOffset,
            sourcePosition: meta.sourcePosition,
            firstTimestampMs: records[0].timestampMs,
            maxTimestampMs: Math.max(...records.map((record) => record.timestampMs)),
            leaderEpoch: meta.leaderEpoch,
            recordCount: records.length,
            payloadBytes: payload.length,
            rawPayloadBytes: encoded.raw.length,
            crc: 0,
          },
        );
        assert.ok(crcMatches(buffer, padding, parsed));
        if (payload.length > 0) {
          assert.equal(
            readHeader(buffer, padding, payload.length - 1),
            "impossible lengths",
            "payloadBytesMax",
          );
        }

        const expected = records.map((record, i) => ({
          offset: meta.baseOffset + i,
          timestampMs: record.timestampMs,
          key: hex(record.key),
          value: hex(record.value),
        }));
        const start = padding + batchHeaderBytes;
        const decoded = decodeRecords(parsed, buffer.subarray(start, start + parsed.payloadBytes));
        assert.deepEqual(decoded.map(toModel), expected);
        // CRC-32 detects every single-bit error: a flipped bit anywhere in the batch is refused.
        const bit = flipChoice % (batch.length * 8);
        const flipped = Buffer.from(buffer);
        flipped[padding + (bit >> 3)] ^= 1 << (bit & 7);
        const flippedHeader = readHeader(flipped, padding, 0xffffffff);
        assert.ok(
          typeof flippedHeader === "string" || !crcMatches(flipped, padding, flippedHeader),
          `bit ${bit} flipped unnoticed`,
        );
      },
    ),
    { numRuns: codecRuns },
  );
});

test("append refuses a timestamp it cannot store, or reads every accepted one back unchanged", async () => {
  // Partition.append accepts any Number.isSafeInteger timestamp (FORMAT.md: "integers below 2^53"), so
  // each must come back exactly, or the append must fail with InvalidRecordError and store nothing.
  const directory = makeTemporaryDirectory("log-timestamps");
  const log = PartitionLog.open({ directory, partitionCount: 1, onEvent: () => {} });
  const empty = new Uint8Array(0);
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
            fc.constantFrom(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 0, 2 ** 52, -(2 ** 52)),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        async (timestamps) => {
          const endBefore = log.partition(0).endOffset;
          let baseOffset: number;
          try {
            ({ baseOffset } = await log.append(
              0,
              timestamps.map((timestampMs) => ({ timestampMs, key: empty, value: empty })),
            ));
          } catch (error) {
            assert.equal((error as Error).name, "InvalidRecordError");
            assert.equal(log.partition(0).endOffset, endBefore);
            return;
          }
          assert.deepEqual(
            log
              .read(0, baseOffset, { endOffset: baseOffset + timestamps.length })
              .records.map((record) => record.timestampMs),
            timestamps,
          );
        },
      ),
      { numRuns: 100, examples: [[[Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, 2 ** 52 + 1]]] },
    );
  } finally {
    await log.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test("a read with bytesMax 0 still returns at least one whole batch when there is data", async () => {
  const directory = makeTemporaryDirectory("log-bytesmax");
  const log = PartitionLog.open({ directory, partitionCount: 1, onEvent: () => {} });
  try {
    const record = { timestampMs: nowMs, key: Buffer.from("k"), value: Buffer.from("v") };
    await log.append(0, [record, record]);
    const result = log.read(0, 0, { bytesMax: 0 });
    assert.deepEqual(
      result.records.map((stored) => stored.offset),
      [0, 1],
    );
    assert.equal(result.nextOffset, 2);
  } finally {
    await log.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
});
