// One round of the power-loss simulation: a seeded workload on a PartitionLog over a SimDisk,
// power cuts at seeded moments (during the workload and during recovery), and after every reopen
// a check of what the log shows against a model of what it was asked and what it acknowledged.
// Everything comes from the round's seed, so `npm run sim -- --seed S` replays a failing round.
//
// The workload: appends in overlapping bursts, rolls, consumer commits, maintenance (retention by age
// and by bytes, then compaction: PartitionLog.maintain, interleaved with the appends) and truncateTo,
// within the active segment or across segment boundaries. The cuts land anywhere in any of them.
//
// The invariants (FORMAT.md, "Fault model" and "What a cut may undo"):
// - every acknowledged append is there exactly once, in order, at its acknowledged offset, byte for
//   byte; so is every record an earlier recovery exposed; except the records of whole segments
//   retention took from the head, and those at and past a truncateTo's offset;
// - records of a retention or truncateTo that was acknowledged stay gone; of one the cut interrupted,
//   each may be gone or there;
// - anything else readable is a whole record that was submitted, at the offset it was assigned
//   (compaction rewrites none: same offset, key, value, timestamp);
// - reads from any offset, offsetForTimestamp and readLast agree with a full scan; endOffset is the
//   scan's end; recovery reports are sane; the same holds live, right after maintenance;
// - a durable consumer offset is at least the last acknowledged commit and never past the end;
// - a clean close and reopen has nothing to repair.

import assert from "node:assert/strict";
import type { LogRecord, StoredRecord } from "../batch.ts";
import { type LogOptions, PartitionLog, partitionDirectoryName } from "../log.ts";
import type { LogEvent } from "../partition.ts";
import { SimDisk } from "./disk.ts";
import { Random } from "./random.ts";

export const simDirectory = "/sim/log";
const consumerName = "sim";

export interface RoundSummary {
  seed: number;
  /** Power cuts, during workloads and during recoveries. */
  cuts: number;
  recoveryCuts: number;
  appendsAcked: number;
  truncates: number;
  /** truncateTo calls whose offset was below the active segment (whole segments deleted). */
  truncatesAcrossSegments: number;
  /** PartitionLog.maintain runs, and what the acknowledged ones did. */
  maintenances: number;
  segmentsDeleted: number;
  segmentsCompacted: number;
  recordsChecked: number;
  operations: number;
}

/** A failed invariant, with what is needed to replay it. */
export class SimFailure extends Error {
  readonly seed: number;
  constructor(seed: number, message: string, cause: unknown) {
    super(`round ${seed}: ${message}`, { cause });
    this.name = "SimFailure";
    this.seed = seed;
  }
}

export interface RoundOptions {
  /** A disk whose append-path syncs do nothing (an ack before the data is safe): the checker must
   * fail on it (self-test). */
  lyingSyncs?: boolean;
  /** Operations kept for a failing round's message. */
  traceOperations?: number;
}

interface PartitionModel {
  /** Versions of a record that may be at each offset (more than one after a cut-short truncate). */
  candidates: LogRecord[][];
  /** The version that must be at each offset: acknowledged, or exposed by a recovery. */
  required: Array<LogRecord | undefined>;
  /** Offset the next submitted append gets (offsets are handed out in call order). */
  nextAssigned: number;
  /** The last acknowledged consumer commit. */
  committed: number;
}

interface RoundContext {
  seed: number;
  random: Random;
  options: Omit<LogOptions, "storage" | "onEvent">;
  model: PartitionModel[];
  summary: RoundSummary;
  events: LogEvent[];
  timestampBaseMs: number;
  /** A PartitionLog.maintain is out (one at a time, so each one's effect on the head is its own). */
  maintaining: boolean;
}

export async function runRound(seed: number, roundOptions: RoundOptions = {}): Promise<RoundSummary> {
  const random = new Random(seed);
  const partitionCount = random.int(1, 3);
  const context: RoundContext = {
    seed,
    random,
    options: {
      directory: simDirectory,
      partitionCount,
      compressionThreads: 0,
      codec: random.chance(0.5) ? "zstd" : "none",
      segmentBytesMax: random.pick([1024, 2048, 4096, 16384]),
      indexIntervalBytes: random.pick([64, 256, 1024, 4096]),
      batchRawBytesMax: random.pick([256, 1024, 4096, 65536]),
      readChunkBytes: random.pick([512, 4096, 65536]),
      // Retention's clock is the disk's, one tick per storage operation: a segment expires a few
      // hundred operations after its last append, and every sealed one after a reboot (+60 s).
      retentionMs: random.pick([null, 300, 3000]),
      retentionBytes: random.pick([null, null, 4096, 32768]),
      compactionLevel: random.pick([1, 3]),
      compactionBatchRawBytesMax: random.pick([512, 4096, 1 << 20]),
    },
    model: Array.from({ length: partitionCount }, () => ({
      candidates: [],
      required: [],
      nextAssigned: 0,
      committed: 0,
    })),
    summary: {
      seed,
      cuts: 0,
      recoveryCuts: 0,
      appendsAcked: 0,
      truncates: 0,
      truncatesAcrossSegments: 0,
      maintenances: 0,
      segmentsDeleted: 0,
      segmentsCompacted: 0,
      recordsChecked: 0,
      operations: 0,
    },
    events: [],
    timestampBaseMs: 1_790_000_000_000,
    maintaining: false,
  };
  let disk = new SimDisk(random.int(0, 2 ** 31), { lyingSyncs: roundOptions.lyingSyncs });
  disk.traceOperations(roundOptions.traceOperations ?? 0);
  try {
    const phases = random.int(1, 3);
    for (let phase = 0; phase < phases; phase++) {
      const opened = openRecovering(context, disk);
      disk = opened.disk;
      checkLog(context, opened.log, disk, "after reopen");
      await workload(context, opened.log, disk);
      context.summary.operations += disk.counters.operations;
      disk = disk.afterPowerCut(random.int(0, 2 ** 31));
      context.summary.cuts++;
    }
    // The last reopen: check, append once more, close cleanly, and reopen with nothing to repair.
    const opened = openRecovering(context, disk);
    disk = opened.disk;
    checkLog(context, opened.log, disk, "after the last reopen");
    await workload(context, opened.log, disk, { cut: false });
    await opened.log.close();
    context.events.length = 0;
    const clean = PartitionLog.open({ ...context.options, storage: disk, onEvent: eventSink(context) });
    for (const event of context.events)
      if (event.kind === "recovered")
        assert.equal(event.report.truncatedBytes, 0, "a clean close leaves no torn tail to cut");
    checkLog(context, clean, disk, "after a clean close");
    await clean.close();
    context.summary.operations += disk.counters.operations;
    return context.summary;
  } catch (error) {
    if (error instanceof SimFailure) throw error;
    const trace = disk.trace.length > 0 ? `\nlast operations:\n${disk.trace.join("\n")}` : "";
    throw new SimFailure(seed, `${(error as Error)?.message ?? error}${trace}`, error);
  }
}

function eventSink(context: RoundContext): (event: LogEvent) => void {
  return (event) => context.events.push(event);
}

/** Opens the log, maybe cutting power during recovery (then boots the disk that leaves, and again). */
function openRecovering(context: RoundContext, initial: SimDisk): { log: PartitionLog; disk: SimDisk } {
  let disk = initial;
  for (let attempt = 0; ; attempt++) {
    const cutting = attempt < 3 && context.random.chance(0.3);
    if (cutting) disk.cutPowerAt(disk.counters.operations + context.random.int(1, 150));
    context.events.length = 0;
    let log: PartitionLog | null = null;
    try {
      log = PartitionLog.open({ ...context.options, storage: disk, onEvent: eventSink(context) });
    } catch (error) {
      if (!disk.powerCut) throw error;
    }
    disk.disarmPowerCut();
    if (log !== null && !disk.powerCut) {
      checkRecoveryReports(context);
      return { log, disk };
    }
    context.summary.recoveryCuts++;
    context.summary.operations += disk.counters.operations;
    disk = disk.afterPowerCut(context.random.int(0, 2 ** 31));
  }
}

function checkRecoveryReports(context: RoundContext): void {
  for (const event of context.events) {
    if (event.kind !== "recovered") continue;
    const { report } = event;
    assert.ok(report.truncatedBytes >= 0 && report.lostRecordsAtLeast >= 0, "report counts are sane");
    for (const region of report.damaged) {
      assert.ok(region.position < region.endPosition, "a damaged region has bytes");
      // The active segment's torn tail is cut; a sealed one was fsynced whole before the roll.
      if (region.tail)
        assert.ok(report.truncatedBytes > 0, `a torn tail in sealed segment ${event.segmentBaseOffset}`);
    }
    if (report.truncatedBytes > 0)
      assert.ok(
        report.damaged.some((region) => region.tail),
        "a cut tail was reported torn",
      );
  }
}

/**
 * Appends in bursts (some in one turn, some a turn or two apart, so flights group and overlap),
 * with rolls, consumer commits and maintenance among them, until the power goes at a seeded operation.
 */
async function workload(
  context: RoundContext,
  log: PartitionLog,
  disk: SimDisk,
  { cut = true } = {},
): Promise<void> {
  const { random } = context;
  if (cut && random.chance(0.5))
    disk.cutPowerAt(disk.counters.operations + random.int(1, random.pick([20, 80, 300, 1000])));
  else if (cut) disk.cutPowerBeforeSync(random.int(1, random.pick([3, 10, 40, 120])));
  const burstsMax = cut ? 400 : random.int(1, 3); // a bound, in case the cut falls late
  const consumer = log.consumer(consumerName);
  for (let burst = 0; burst < burstsMax && !disk.powerCut; burst++) {
    const settled: Array<Promise<unknown>> = [];
    const count = random.int(1, 10);
    for (let i = 0; i < count; i++) {
      const turns = random.pick([0, 0, 0, 1, 2]);
      for (let t = 0; t < turns; t++) await new Promise((resolve) => setImmediate(resolve));
      const action = random.weighted({ append: 20, roll: 2, commit: 2, maintain: 1, compact: 1 });
      const id = random.int(0, context.options.partitionCount - 1);
      if (action === "append") settled.push(append(context, log, disk, id));
      else if (action === "roll") settled.push(expectUnlessCut(disk, log.partition(id).roll()));
      else if (action === "maintain") settled.push(maintain(context, log, disk));
      // Compaction alone (joins one running): it changes no record, so the model has nothing to do.
      else if (action === "compact") settled.push(expectUnlessCut(disk, log.partition(id).compact()));
      else settled.push(commit(context, consumer, disk, id));
    }
    await Promise.all(settled);
    if (random.chance(0.08) && !disk.powerCut) await truncate(context, log, disk);
  }
  if (cut && !disk.powerCut) disk.cutPowerNow();
}

/**
 * Retention then compaction over every partition (PartitionLog.maintain, as the server runs it),
 * "now" being the disk's clock. Retention takes whole sealed segments off the head: their records
 * are no longer required. When the run is acknowledged their deletion is durable and they must stay
 * gone; when a cut interrupts it, each may come back (FORMAT.md, "What a cut may undo").
 */
async function maintain(context: RoundContext, log: PartitionLog, disk: SimDisk): Promise<void> {
  if (context.maintaining) return;
  context.maintaining = true;
  context.summary.maintenances++;
  const startsBefore = context.model.map((_, id) => log.partition(id).logStartOffset);
  let acknowledged = false;
  try {
    const result = await log.maintain(disk.clockMs);
    acknowledged = true;
    context.summary.segmentsDeleted += result.segmentsDeleted;
    context.summary.segmentsCompacted += result.segmentsCompacted;
  } catch (error) {
    if (!disk.powerCut) throw error;
  } finally {
    context.maintaining = false;
  }
  context.model.forEach((model, id) => {
    // The partition's start moved when retention chose its segments, durable or not.
    const startAfter = log.partition(id).logStartOffset;
    for (let at = startsBefore[id]; at < startAfter; at++) {
      model.required[at] = undefined;
      if (acknowledged) model.candidates[at] = [];
    }
  });
  if (acknowledged && !disk.powerCut) {
    try {
      for (let id = 0; id < context.options.partitionCount; id++) {
        // Live, the swapped-in indexes of compacted segments serve reads at once.
        const where = `live, after maintenance, partition ${id}`;
        checkQueries(context, log, id, checkContents(context, log, disk, id, where), where);
      }
    } catch (error) {
      if (!disk.powerCut) throw error; // a read's storage call met the cut
    }
  }
}

/**
 * truncateTo at a quiet moment (every append answered), at or past the consumer's commit (a commit
 * past the end would be the workload's doing, not the log's): half the time inside the active
 * segment (a cut through its batches), half the time anywhere from the log's start, often right at a
 * segment's base (whole segments deleted, the one before cut at its end or not at all).
 */
async function truncate(context: RoundContext, log: PartitionLog, disk: SimDisk): Promise<void> {
  const { random } = context;
  const id = random.int(0, context.options.partitionCount - 1);
  const partitionDirectory = `${simDirectory}/${partitionDirectoryName(id)}`;
  const bases = disk
    .listNow(partitionDirectory)
    .filter((name) => name.endsWith(".log"))
    .map((name) => Number.parseInt(name, 10));
  const activeBase = Math.max(0, ...bases);
  const model = context.model[id];
  const partition = log.partition(id);
  const endOffset = partition.endOffset;
  const across = random.chance(0.5);
  const lowest = Math.max(across ? partition.logStartOffset : activeBase + 1, model.committed);
  if (lowest >= endOffset) return;
  const boundaries = bases.filter((base) => base >= lowest && base < endOffset);
  const offset =
    across && boundaries.length > 0 && random.chance(0.5)
      ? random.pick(boundaries)
      : random.int(lowest, endOffset - 1);
  context.summary.truncates++;
  if (offset <= activeBase) context.summary.truncatesAcrossSegments++;
  // From here the records at and past the cut may go (the truncate is not acknowledged yet) or stay
  // (the cut may fall before it is durable): no longer required, still candidates.
  for (let at = offset; at < model.required.length; at++) model.required[at] = undefined;
  try {
    await log.truncateTo(id, offset);
  } catch (error) {
    if (!disk.powerCut) throw error;
    return;
  }
  // The contract is "nothing at or past the cut survives": the end may fall below the cut when the
  // records just before it are a damaged region (a torn, never acknowledged flight that recovery
  // skipped), which becomes a torn tail once the cut is made, and is cut too (round 114572).
  const endAfter = log.partition(id).endOffset;
  assert.ok(endAfter <= offset, `truncateTo(${offset}) left the end at ${endAfter}`);
  for (let at = endAfter; at < offset; at++)
    assert.equal(model.required[at], undefined, `truncateTo(${offset}) took acknowledged offset ${at}`);
  model.candidates.length = Math.min(model.candidates.length, endAfter);
  model.required.length = Math.min(model.required.length, endAfter);
  model.nextAssigned = endAfter;
}

async function expectUnlessCut(disk: SimDisk, promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (!disk.powerCut) throw error;
  }
}

async function append(context: RoundContext, log: PartitionLog, disk: SimDisk, id: number): Promise<void> {
  const { random } = context;
  const records: LogRecord[] = [];
  const count = random.pick([1, 1, 2, 5, 20]);
  for (let i = 0; i < count; i++) {
    const valueBytes = random.pick([0, 10, 40, 100, 300, 1200]) >> (random.chance(0.8) ? 2 : 0);
    records.push({
      timestampMs: context.timestampBaseMs + random.int(-5_000, 5_000),
      key: random.bytes(random.int(0, 2)).map((byte) => byte & 3),
      value: random.bytes(valueBytes),
    });
  }
  context.timestampBaseMs += random.int(0, 100);
  const model = context.model[id];
  const baseOffset = model.nextAssigned;
  model.nextAssigned += count;
  records.forEach((record, i) => {
    const versions = model.candidates[baseOffset + i] ?? [];
    versions.push(record);
    model.candidates[baseOffset + i] = versions;
  });
  let result: { baseOffset: number; recordCount: number };
  try {
    result = await log.append(id, records);
  } catch (error) {
    if (!disk.powerCut) throw error;
    return;
  }
  assert.equal(result.baseOffset, baseOffset, "offsets are handed out in call order");
  assert.equal(result.recordCount, count);
  // Retention may already have chosen the segment (sealed by a roll since): then it is not required.
  const startOffset = log.partition(id).logStartOffset;
  records.forEach((record, i) => {
    if (baseOffset + i >= startOffset) model.required[baseOffset + i] = record;
  });
  context.summary.appendsAcked++;
  if (random.chance(0.2) && !disk.powerCut && baseOffset >= startOffset) {
    // Read it back now: a reader sees an acknowledged append at once, byte for byte.
    let read: StoredRecord[];
    try {
      read = log.read(id, baseOffset, { endOffset: baseOffset + count }).records;
    } catch (error) {
      if (!disk.powerCut) throw error;
      return;
    }
    assert.equal(read.length, count, "an acknowledged append reads back whole");
    read.forEach((stored, i) => {
      assertSameRecord(stored, records[i], `read back at ${baseOffset + i}`);
    });
  }
}

async function commit(
  context: RoundContext,
  consumer: ReturnType<PartitionLog["consumer"]>,
  disk: SimDisk,
  id: number,
): Promise<void> {
  const model = context.model[id];
  // The end of the acknowledged run from its last commit: a consumer commits what it has processed.
  let offset = model.committed;
  while (model.required[offset] !== undefined) offset++;
  try {
    await consumer.commit(id, offset);
  } catch (error) {
    if (!disk.powerCut) throw error;
    return;
  }
  model.committed = Math.max(model.committed, offset);
}

function assertSameRecord(stored: StoredRecord, expected: LogRecord, where: string): void {
  assert.equal(stored.timestampMs, expected.timestampMs, `${where}: timestamp`);
  assert.ok(Buffer.from(stored.key).equals(Buffer.from(expected.key)), `${where}: key`);
  assert.ok(Buffer.from(stored.value).equals(Buffer.from(expected.value)), `${where}: value`);
}

function sameRecord(stored: StoredRecord, expected: LogRecord): boolean {
  return (
    stored.timestampMs === expected.timestampMs &&
    Buffer.from(stored.key).equals(Buffer.from(expected.key)) &&
    Buffer.from(stored.value).equals(Buffer.from(expected.value))
  );
}

/**
 * A full scan of one partition against the model: every record one that may be at its offset, every
 * required one there, the end right after the last. Returns the scan.
 */
function checkContents(
  context: RoundContext,
  log: PartitionLog,
  disk: SimDisk,
  id: number,
  where: string,
): StoredRecord[] {
  const model = context.model[id];
  const partition = log.partition(id);
  const endOffset = partition.endOffset;
  const all = scanAll(log, id, endOffset);
  context.summary.recordsChecked += all.length;
  const byOffset = new Map<number, StoredRecord>();
  let previous = -1;
  for (const record of all) {
    assert.ok(record.offset > previous, `${where}: offsets rise (${record.offset} after ${previous})`);
    assert.ok(record.offset < endOffset, `${where}: record ${record.offset} below endOffset ${endOffset}`);
    previous = record.offset;
    byOffset.set(record.offset, record);
    const versions = model.candidates[record.offset] ?? [];
    assert.ok(
      versions.some((version) => sameRecord(record, version)),
      `${where}: offset ${record.offset} holds a record never submitted there (${versions.length} candidates)`,
    );
  }
  // Right after the last record, or at the base of an empty active segment: retention may leave
  // nothing else, and a cut during it may leave an older segment and lose the ones between (a gap of
  // records it was deleting, which are not required).
  const bases = disk
    .listNow(`${simDirectory}/${partitionDirectoryName(id)}`)
    .filter((name) => name.endsWith(".log"))
    .map((name) => Number.parseInt(name, 10));
  const activeBase = Math.max(0, ...bases);
  assert.ok(
    endOffset === previous + 1 || (endOffset === activeBase && previous < activeBase),
    `${where}: endOffset ${endOffset} is right after the last record ${previous} or the empty active segment's base`,
  );
  model.required.forEach((expected, offset) => {
    if (expected === undefined) return;
    const stored = byOffset.get(offset);
    assert.ok(stored !== undefined, `${where}: acknowledged offset ${offset} is missing (end ${endOffset})`);
    assertSameRecord(stored, expected, `${where}: acknowledged offset ${offset}`);
  });
  return all;
}

/** Checks a freshly opened log against the model, then makes what it shows the model's new base. */
function checkLog(context: RoundContext, log: PartitionLog, disk: SimDisk, when: string): void {
  const consumer = log.consumer(consumerName);
  for (let id = 0; id < context.options.partitionCount; id++) {
    const where = `${when}, partition ${id}`;
    const model = context.model[id];
    const endOffset = log.partition(id).endOffset;
    const all = checkContents(context, log, disk, id, where);
    checkQueries(context, log, id, all, where);
    const committed = consumer.get(id);
    assert.ok(
      committed >= model.committed,
      `${where}: consumer offset ${committed} lost its commit ${model.committed}`,
    );
    assert.ok(committed <= endOffset, `${where}: consumer offset ${committed} past the end ${endOffset}`);
    // What this recovery exposed is durable now: it must stay, and new appends start at the end.
    model.candidates = [];
    model.required = [];
    for (const record of all) {
      const own = { timestampMs: record.timestampMs, key: record.key, value: record.value };
      model.candidates[record.offset] = [own];
      model.required[record.offset] = own;
    }
    model.nextAssigned = endOffset;
    model.committed = committed;
  }
}

function scanAll(log: PartitionLog, id: number, endOffset: number): StoredRecord[] {
  const all: StoredRecord[] = [];
  let next = 0;
  // Bounded: every read moves forward by at least one batch, and there are fewer batches than bytes.
  for (let reads = 0; next < endOffset; reads++) {
    assert.ok(reads < 1_000_000, "a full scan ends");
    const result = log.read(id, next, { bytesMax: 1 << 16 });
    assert.ok(result.nextOffset > next, "a read moves forward");
    all.push(...result.records);
    next = result.nextOffset;
  }
  return all;
}

/** Reads from offsets, offsetForTimestamp and readLast must agree with the full scan. */
function checkQueries(
  context: RoundContext,
  log: PartitionLog,
  id: number,
  all: StoredRecord[],
  where: string,
): void {
  const { random } = context;
  const endOffset = log.partition(id).endOffset;
  for (let probe = 0; probe < 2; probe++) {
    const from = random.int(0, endOffset + 1);
    const read = log.read(id, from, { bytesMax: random.pick([1, 500, 1 << 20]) }).records;
    const after = all.filter((record) => record.offset >= from);
    assert.equal(read.length > 0, after.length > 0, `${where}: read(${from}) finds what follows`);
    const expected = after.slice(0, read.length);
    read.forEach((record, i) => {
      assert.equal(record.offset, expected[i].offset, `${where}: read(${from}) record ${i}`);
      assertSameRecord(record, expected[i], `${where}: read(${from})`);
    });
    const timestampMs =
      all.length > 0 && random.chance(0.8)
        ? random.pick(all).timestampMs + random.int(-1, 1)
        : context.timestampBaseMs + random.int(-6_000, 6_000);
    const first = all.find((record) => record.timestampMs >= timestampMs);
    assert.equal(
      log.partition(id).offsetForTimestamp(timestampMs),
      first?.offset ?? endOffset,
      `${where}: offsetForTimestamp(${timestampMs})`,
    );
    const count = random.int(0, all.length + 2);
    const last = log.readLast(id, count);
    assert.deepEqual(
      last.map((record) => record.offset),
      all.slice(Math.max(0, all.length - count)).map((record) => record.offset),
      `${where}: readLast(${count})`,
    );
    const key = random.int(0, 3);
    const matches = (record: StoredRecord) => record.key.length > 0 && record.key[0] === key;
    const matching = all.filter(matches);
    assert.deepEqual(
      log.readLast(id, count, matches).map((record) => record.offset),
      matching.slice(Math.max(0, matching.length - count)).map((record) => record.offset),
      `${where}: readLast(${count}, key ${key})`,
    );
  }
}
