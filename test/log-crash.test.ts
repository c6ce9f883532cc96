// Crash test of the partition log with real processes: a child (support/log-crash-child.ts) appends
// realistic records from 8 concurrent writers and is SIGKILLed at a random moment, round after round on
// the same directory, so each round also recovers the crashes before it. After every kill this process
// reopens the log, reads every partition from offset 0 and checks:
// - offsets are contiguous from 0 and everything a reader saw after an earlier kill is still there,
//   unchanged (a process crash loses nothing the page cache already holds);
// - every acknowledged record is stored exactly once, at the offset its ack named, with the same bytes;
// - nothing else is stored except, per writer, its one append that was in flight at the kill (written
//   whole or not at all: written-but-unacknowledged is allowed, a torn or invented record is not);
// - recovery reports damage only at a segment's tail, readers meet none, and the log takes new appends.
//
// Reproduce a failing run with SLUICE_CRASH_SEED=<seed printed in the diagnostics>; the kill moments
// still depend on timing, the data and kill delays do not. SLUICE_CRASH_KEEP_DIR=1 keeps the directory.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ServiceLogGenerator, seededRandom, storedRecordsFor } from "../src/loadgen/index.ts";
import { type LogEvent, PartitionLog, type StoredRecord } from "../src/log/index.ts";
import {
  type CrashChildConfig,
  type CrashChildMessage,
  idOfValue,
  recordId,
  recordsCrc,
  valueWithId,
} from "./support/log-crash-child.ts";

const childPath = fileURLToPath(new URL("./support/log-crash-child.ts", import.meta.url));

const roundCount = 20;
// On a slow machine the test stops starting rounds once over its time budget, but never before this many.
const roundCountMin = 10;
const timeBudgetMs = 55_000;
const killDelayMsMin = 50;
const killDelayMsMax = 400;
// Starting Node and recovering the log, or the first ack; generous because the machine is shared and noisy.
const childStepTimeoutMs = 20_000;
// The first rounds are killed at a purely random moment, which may be before any append was
// acknowledged; from this round on the kill also waits for an ack, and the round must verify one.
const roundsAllowedToAckNothing = 3;
// Every third round the child also compacts sealed segments while appending, so kills land in
// compaction too.
const maintainEveryRounds = 3;
const maintainIntervalMs = 25;
const compactionLevel = 1;
const writerCount = 8;
// The parent's own probe appends use this writer number; the child's writers are 0..writerCount-1.
const probeWriter = 99;
const logShape = {
  partitionCount: 4,
  // Small segments and a dense index: rolls, sealed-segment recovery and index rescans happen often.
  segmentBytesMax: 64 * 1024,
  indexIntervalBytes: 4 * 1024,
};
const readBytesMax = 1024 * 1024;

const idPattern = /^r(\d{3})-w(\d{2})-(\d{7})$/;

interface ParsedId {
  round: number;
  writer: number;
  seq: number;
}

function parseId(id: string): ParsedId | null {
  const match = idPattern.exec(id);
  if (match === null) return null;
  return { round: Number(match[1]), writer: Number(match[2]), seq: Number(match[3]) };
}

type IntentMessage = CrashChildMessage & { kind: "intent" };
type AckMessage = CrashChildMessage & { kind: "ack" };

interface ChildRun {
  ready: CrashChildMessage & { kind: "ready" };
  intents: IntentMessage[];
  acks: AckMessage[];
  segmentsRolled: number;
  segmentsCompacted: number;
}

/** What the parent knows across rounds: the id at every offset of every partition, as last verified. */
interface VerifiedLog {
  idsByPartition: string[][];
  ids: Set<string>;
}

interface Totals {
  acknowledgedRecords: number;
  acknowledgedAppends: number;
  unacknowledgedStoredRecords: number;
  unacknowledgedLostAppends: number;
  tornTailsRecovered: number;
  compactionRounds: number;
  segmentsRolled: number;
  segmentsCompacted: number;
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Resolves with the name of the first of `events` to settle, or "timeout" after timeoutMs. */
async function first<Name extends string>(
  events: Record<Name, Promise<unknown>>,
  timeoutMs: number,
): Promise<Name | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const names = Object.keys(events) as Name[];
  try {
    return await Promise.race([timeout, ...names.map((name) => events[name].then(() => name))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Spawns the child, waits until it is ready, lets it append for killDelayMs and SIGKILLs it. With
 * killAfterAnAck the kill also waits for the first acknowledged append: the child needs ~35 ms from
 * ready to its first ack on an idle machine, more on a busy one, so a short delay alone would
 * sometimes leave nothing to verify.
 */
async function runChildUntilKilled(
  directory: string,
  config: CrashChildConfig,
  killDelayMs: number,
  killAfterAnAck: boolean,
): Promise<ChildRun> {
  const child = spawn(process.execPath, [childPath, directory, JSON.stringify(config)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const messages: CrashChildMessage[] = [];
  let partialLine = "";
  let stderr = "";
  const ready = Promise.withResolvers<void>();
  const acknowledged = Promise.withResolvers<void>();
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    const lines = (partialLine + chunk).split("\n");
    partialLine = lines.pop()!; // a line the kill cut short never ends in "\n": it is dropped
    for (const line of lines) {
      const message = JSON.parse(line) as CrashChildMessage;
      messages.push(message);
      if (message.kind === "ready") ready.resolve();
      else if (message.kind === "ack") acknowledged.resolve();
    }
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  const describe = (what: string) => `round ${config.round}: the child ${what}; its stderr:\n${stderr}`;
  try {
    const readiness = await first({ ready: ready.promise, closed }, childStepTimeoutMs);
    assert.equal(readiness, "ready", describe(`did not get ready (${readiness})`));
    await new Promise((resolve) => setTimeout(resolve, killDelayMs));
    if (killAfterAnAck) {
      const progress = await first({ acknowledged: acknowledged.promise, closed }, childStepTimeoutMs);
      assert.equal(progress, "acknowledged", describe(`acknowledged no append (${progress})`));
    }
    assert.ok(isAlive(child), describe("exited before the kill"));
    child.kill("SIGKILL");
    const exit = await closed;
    assert.equal(exit.signal, "SIGKILL", describe(`ended with code ${exit.code}, signal ${exit.signal}`));
  } finally {
    if (isAlive(child)) child.kill("SIGKILL");
  }
  const readyMessage = messages.find((message) => message.kind === "ready");
  assert.ok(readyMessage !== undefined);
  const segmentChanges = (change: string) =>
    messages.filter((message) => message.kind === "segment" && message.change === change).length;
  return {
    ready: readyMessage,
    intents: messages.filter((message) => message.kind === "intent"),
    acks: messages.filter((message) => message.kind === "ack"),
    segmentsRolled: segmentChanges("rolled"),
    segmentsCompacted: segmentChanges("compacted"),
  };
}

/** Every record of a partition from offset 0, through reads bounded like a consumer's. */
function readWholePartition(log: PartitionLog, partition: number): StoredRecord[] {
  const records: StoredRecord[] = [];
  let next = 0;
  let end = log.partition(partition).endOffset;
  while (next < end) {
    const result = log.read(partition, next, { bytesMax: readBytesMax });
    assert.equal(result.logStartOffset, 0, "nothing is deleted: there is no retention");
    assert.ok(result.records.length > 0 && result.nextOffset > next, `a read at ${next} < ${end} progresses`);
    for (const record of result.records) records.push(record);
    next = result.nextOffset;
    end = result.endOffset;
  }
  assert.equal(next, end);
  return records;
}

/**
 * Checks one partition against what was verified before, adds its new ids to `verified` and returns the
 * records appended since the previous verification (by offset, from the previous end).
 */
function verifyPartition(
  log: PartitionLog,
  partition: number,
  round: number,
  verified: VerifiedLog,
): StoredRecord[] {
  const records = readWholePartition(log, partition);
  const knownIds = verified.idsByPartition[partition];
  assert.ok(
    records.length >= knownIds.length,
    `partition ${partition} shrank from ${knownIds.length} to ${records.length} records`,
  );
  const fresh: StoredRecord[] = [];
  for (let offset = 0; offset < records.length; offset++) {
    const record = records[offset];
    assert.equal(record.offset, offset, `partition ${partition}: offsets are contiguous from 0`);
    const id = idOfValue(record.value);
    assert.ok(id !== null, `partition ${partition} offset ${offset}: a value the test did not write`);
    if (offset < knownIds.length) {
      assert.equal(id, knownIds[offset], `partition ${partition} offset ${offset} changed after a crash`);
      continue;
    }
    const parsed = parseId(id);
    assert.ok(parsed !== null, `partition ${partition} offset ${offset}: malformed id ${id}`);
    assert.equal(parsed.round, round, `partition ${partition} offset ${offset}: ${id} appeared late`);
    assert.ok(
      !verified.ids.has(id),
      `${id} is stored twice (again at partition ${partition} offset ${offset})`,
    );
    JSON.parse(Buffer.from(record.value).toString("utf8")); // the whole value survived, not just its id
    verified.ids.add(id);
    knownIds.push(id);
    fresh.push(record);
  }
  return fresh;
}

/** Where each record appended this round landed: its partition and offset, by id. */
function locate(
  freshByPartition: readonly StoredRecord[][],
): Map<string, { partition: number; offset: number }> {
  const located = new Map<string, { partition: number; offset: number }>();
  freshByPartition.forEach((fresh, partition) => {
    for (const record of fresh) located.set(idOfValue(record.value)!, { partition, offset: record.offset });
  });
  return located;
}

function describeAppend(round: number, message: IntentMessage | AckMessage): string {
  const last = recordId(round, message.writer, message.firstSeq + message.count - 1);
  return `append of ${recordId(round, message.writer, message.firstSeq)}..${last} to partition ${message.partition}`;
}

/**
 * Checks that the records appended in this round are exactly the acknowledged appends, each at its
 * acknowledged offsets with its bytes, plus per writer at most the one append in flight at the kill.
 */
function verifyAppends(
  round: number,
  run: ChildRun,
  log: PartitionLog,
  freshByPartition: readonly StoredRecord[][],
  totals: Totals,
): { acknowledgedRecords: number } {
  const located = locate(freshByPartition);
  let acknowledgedRecords = 0;
  for (let writer = 0; writer < writerCount; writer++) {
    const intents = run.intents.filter((intent) => intent.writer === writer);
    const acks = run.acks.filter((ack) => ack.writer === writer);
    // A writer appends one batch at a time and reports before its next step, so its acks answer its
    // intents in order, all but perhaps the last.
    assert.ok(
      acks.length === intents.length || acks.length === intents.length - 1,
      `round ${round} writer ${writer}: ${intents.length} intents but ${acks.length} acks`,
    );
    for (let i = 0; i < acks.length; i++) {
      const ack = acks[i];
      assert.deepEqual(
        [ack.partition, ack.firstSeq, ack.count],
        [intents[i].partition, intents[i].firstSeq, intents[i].count],
        `round ${round} writer ${writer}: ack ${i} answers intent ${i}`,
      );
      for (let k = 0; k < ack.count; k++) {
        const id = recordId(round, writer, ack.firstSeq + k);
        const at = located.get(id);
        assert.ok(at !== undefined, `acknowledged ${id} is lost (${describeAppend(round, ack)})`);
        assert.deepEqual(
          at,
          { partition: ack.partition, offset: ack.baseOffset + k },
          `acknowledged ${id} is not where its ack said (${describeAppend(round, ack)})`,
        );
        located.delete(id);
      }
      const stored = log.read(ack.partition, ack.baseOffset, {
        endOffset: ack.baseOffset + ack.count,
      }).records;
      assert.equal(stored.length, ack.count);
      assert.equal(recordsCrc(stored), ack.crc, `${describeAppend(round, ack)}: stored bytes differ`);
      acknowledgedRecords += ack.count;
      totals.acknowledgedAppends++;
    }
    const inFlight = intents.length > acks.length ? intents[intents.length - 1] : null;
    if (inFlight !== null) verifyInFlight(round, inFlight, located, totals);
  }
  assert.equal(
    located.size,
    0,
    `round ${round}: stored but never appended: ${[...located.keys()].slice(0, 5).join(", ")}`,
  );
  totals.acknowledgedRecords += acknowledgedRecords;
  return { acknowledgedRecords };
}

/** The append in flight at the kill is stored whole, at consecutive offsets, or not at all. */
function verifyInFlight(
  round: number,
  intent: IntentMessage,
  located: Map<string, { partition: number; offset: number }>,
  totals: Totals,
): void {
  const head = located.get(recordId(round, intent.writer, intent.firstSeq));
  let storedCount = 0;
  for (let k = 0; k < intent.count; k++) {
    const id = recordId(round, intent.writer, intent.firstSeq + k);
    const at = located.get(id);
    if (at === undefined) continue;
    storedCount++;
    assert.ok(head !== undefined, `${describeAppend(round, intent)}: stored without its first record`);
    assert.deepEqual(
      at,
      { partition: intent.partition, offset: head.offset + k },
      `${describeAppend(round, intent)}: unacknowledged ${id} out of place`,
    );
    located.delete(id);
  }
  assert.ok(
    storedCount === 0 || storedCount === intent.count,
    `${describeAppend(round, intent)}: ${storedCount} of ${intent.count} records stored (torn append)`,
  );
  if (storedCount === 0) totals.unacknowledgedLostAppends++;
  totals.unacknowledgedStoredRecords += storedCount;
}

/** Appends one record to every partition of the reopened log and reads it back. */
async function verifyAppendsAfterRecovery(
  log: PartitionLog,
  round: number,
  verified: VerifiedLog,
): Promise<void> {
  const generator = new ServiceLogGenerator({ seed: round + 1 });
  for (let partition = 0; partition < log.partitionCount; partition++) {
    const id = recordId(round, probeWriter, partition);
    const [record] = storedRecordsFor(generator.batch(1));
    const probe = { timestampMs: record.timestampMs, key: record.key, value: valueWithId(id, record.value) };
    const end = verified.idsByPartition[partition].length;
    const result = await log.append(partition, [probe]);
    assert.deepEqual(result, { baseOffset: end, recordCount: 1 }, `partition ${partition}: probe append`);
    const readBack = log.read(partition, end);
    assert.equal(readBack.records.length, 1);
    assert.equal(readBack.endOffset, end + 1);
    assert.equal(
      recordsCrc(readBack.records),
      recordsCrc([probe]),
      `partition ${partition}: probe read back`,
    );
    verified.idsByPartition[partition].push(id);
    verified.ids.add(id);
  }
}

/** Recovery may cut a torn tail of the active segment; any other damage after a process crash is a bug. */
function checkLogEvents(round: number, events: readonly LogEvent[], totals: Totals): void {
  for (const event of events) {
    assert.notEqual(event.kind, "damaged-batch", `round ${round}: a reader met a damaged batch`);
    assert.notEqual(event.kind, "write-failed", `round ${round}: a write failed`);
    if (event.kind !== "recovered") continue;
    for (const region of event.report.damaged) {
      assert.ok(
        region.tail,
        `round ${round}: partition ${event.partition} segment ${event.segmentBaseOffset}: damage before the tail (${region.reason} at ${region.position})`,
      );
    }
    if (event.report.truncatedBytes > 0) totals.tornTailsRecovered++;
  }
}

/** Reopens the log after a kill and checks it against everything acknowledged and seen so far. */
async function verifyAfterKill(
  directory: string,
  round: number,
  run: ChildRun,
  verified: VerifiedLog,
  totals: Totals,
): Promise<{ acknowledgedRecords: number }> {
  const previousEnds = verified.idsByPartition.map((ids) => ids.length);
  assert.deepEqual(
    run.ready.endOffsets,
    previousEnds,
    `round ${round}: the child recovered the parent's log`,
  );
  const events: LogEvent[] = [];
  const log = PartitionLog.open({ directory, ...logShape, onEvent: (event) => events.push(event) });
  try {
    const freshByPartition: StoredRecord[][] = [];
    for (let partition = 0; partition < log.partitionCount; partition++)
      freshByPartition.push(verifyPartition(log, partition, round, verified));
    const result = verifyAppends(round, run, log, freshByPartition, totals);
    await verifyAppendsAfterRecovery(log, round, verified);
    checkLogEvents(round, events, totals);
    return result;
  } finally {
    await log.close();
  }
}

test("acknowledged appends survive SIGKILL of the appending process, round after round", {
  timeout: 90_000,
}, async (t) => {
  const seed = Number(process.env.SLUICE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const random = seededRandom(seed);
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-log-crash-"));
  t.after(() => {
    if (process.env.SLUICE_CRASH_KEEP_DIR === "1") t.diagnostic(`kept ${directory}`);
    else fs.rmSync(directory, { recursive: true, force: true });
  });
  t.diagnostic(`seed ${seed} (SLUICE_CRASH_SEED), directory ${directory}`);
  const startedMs = Date.now();
  const verified: VerifiedLog = {
    idsByPartition: Array.from({ length: logShape.partitionCount }, () => []),
    ids: new Set(),
  };
  const totals: Totals = {
    acknowledgedRecords: 0,
    acknowledgedAppends: 0,
    unacknowledgedStoredRecords: 0,
    unacknowledgedLostAppends: 0,
    tornTailsRecovered: 0,
    compactionRounds: 0,
    segmentsRolled: 0,
    segmentsCompacted: 0,
  };
  let round = 0;
  for (; round < roundCount; round++) {
    if (round >= roundCountMin && Date.now() - startedMs > timeBudgetMs) break;
    const compacting = round % maintainEveryRounds === maintainEveryRounds - 1;
    if (compacting) totals.compactionRounds++;
    const config: CrashChildConfig = {
      round,
      seed,
      writerCount,
      ...logShape,
      maintainIntervalMs: compacting ? maintainIntervalMs : null,
      compactionLevel,
    };
    const killDelayMs = killDelayMsMin + Math.floor(random() * (killDelayMsMax - killDelayMsMin));
    const run = await runChildUntilKilled(directory, config, killDelayMs, round >= roundsAllowedToAckNothing);
    totals.segmentsRolled += run.segmentsRolled;
    totals.segmentsCompacted += run.segmentsCompacted;
    const { acknowledgedRecords } = await verifyAfterKill(directory, round, run, verified, totals);
    if (round >= roundsAllowedToAckNothing) {
      assert.ok(acknowledgedRecords > 0, `round ${round}: no acknowledged record was verified`);
    }
  }
  const storedRecords = verified.idsByPartition.reduce((sum, ids) => sum + ids.length, 0);
  t.diagnostic(
    `${round} rounds in ${((Date.now() - startedMs) / 1000).toFixed(1)} s (${totals.compactionRounds} compacting): ` +
      `${totals.acknowledgedRecords} acknowledged records in ${totals.acknowledgedAppends} appends verified, ` +
      `${totals.unacknowledgedStoredRecords} unacknowledged but stored, ` +
      `${totals.unacknowledgedLostAppends} unacknowledged appends not stored, ` +
      `${totals.tornTailsRecovered} torn tails cut by recovery, ${storedRecords} records stored; ` +
      `the children rolled ${totals.segmentsRolled} segments and compacted ${totals.segmentsCompacted}`,
  );
  assert.ok(totals.acknowledgedRecords > 0, "the child acknowledged appends");
});
