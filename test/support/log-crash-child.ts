// The writing process of the log crash test (test/log-crash.test.ts), meant to die by SIGKILL. It opens
// the partition log in the directory given on argv, starts concurrent appenders that each append
// batches of 1..100 realistic records to random partitions, and tells the parent about every append on
// stdout, one JSON line per message:
//
//   {"kind":"ready","pid":…,"endOffsets":[…]}          the log is open (recovered) and the writers run
//   {"kind":"intent","writer":3,"partition":1,"firstSeq":120,"count":57}   before append() is called
//   {"kind":"ack","writer":3,"partition":1,"firstSeq":120,"count":57,"baseOffset":4410,"crc":…}
//                                                      only after append() resolved (the batch is fsynced)
//   {"kind":"segment","change":"rolled"|"compacted","partition":1}   the log's own events, for coverage
//
// Record ids (recordId below) are "r<round>-w<writer>-<seq>", the first field of each value's JSON; a
// writer's seqs count up from 0 and one message covers the ids firstSeq..firstSeq+count-1.
//
// Lines are written with a synchronous write(2) to fd 1, never through process.stdout's buffer, so a
// message is in the pipe before the writer takes its next step: a writer therefore has at most one
// append in flight whose ack the parent cannot have seen, and the parent checks exactly that.
//
// Usage: node test/support/log-crash-child.ts <directory> <CrashChildConfig as JSON>
// This module also exports the protocol's types and helpers for the parent; it only runs as a program.

import fs from "node:fs";
import zlib from "node:zlib";
import { ServiceLogGenerator, seededRandom, storedRecordsFor } from "../../src/loadgen/index.ts";
import { type LogRecord, PartitionLog } from "../../src/log/index.ts";

export interface CrashChildConfig {
  round: number;
  seed: number;
  writerCount: number;
  partitionCount: number;
  /** Small segments and a dense index, so that rolls and index recovery happen under the kill. */
  segmentBytesMax: number;
  indexIntervalBytes: number;
  /** Runs log.maintain() (compaction of sealed segments) this often while appending; null: never. */
  maintainIntervalMs: number | null;
  /** A cheap zstd level, so that compactions finish, and are killed, within a round's short life. */
  compactionLevel: number;
}

export type CrashChildMessage =
  | { kind: "ready"; pid: number; endOffsets: number[] }
  | { kind: "intent"; writer: number; partition: number; firstSeq: number; count: number }
  | {
      kind: "ack";
      writer: number;
      partition: number;
      firstSeq: number;
      count: number;
      baseOffset: number;
      crc: number;
    }
  | { kind: "segment"; change: "rolled" | "compacted"; partition: number };

export const batchRecordCountMax = 100;

export function recordId(round: number, writer: number, seq: number): string {
  return `r${String(round).padStart(3, "0")}-w${String(writer).padStart(2, "0")}-${String(seq).padStart(7, "0")}`;
}

const idPrefix = Buffer.from('{"id":"');

/** A stored value with `id` as its first JSON field, so the parent finds it without parsing. */
export function valueWithId(id: string, value: Uint8Array): Buffer {
  if (value[0] !== 0x7b) throw new Error("a stored value is a JSON object");
  return Buffer.concat([idPrefix, Buffer.from(id), Buffer.from('",'), value.subarray(1)]);
}

/** The id of a value written by valueWithId; null when the value does not start like one. */
export function idOfValue(value: Uint8Array): string | null {
  const buffer = Buffer.from(value.buffer, value.byteOffset, value.length);
  if (buffer.length < idPrefix.length || !buffer.subarray(0, idPrefix.length).equals(idPrefix)) return null;
  const end = buffer.indexOf(0x22, idPrefix.length);
  return end < 0 ? null : buffer.toString("latin1", idPrefix.length, end);
}

/** CRC-32 over timestamp, key and value of each record in order: what an ack says was stored. */
export function recordsCrc(records: readonly LogRecord[]): number {
  let crc = 0;
  const timestamp = Buffer.alloc(8);
  for (const record of records) {
    timestamp.writeBigInt64LE(BigInt(record.timestampMs));
    crc = zlib.crc32(record.value, zlib.crc32(record.key, zlib.crc32(timestamp, crc)));
  }
  return crc;
}

function send(message: CrashChildMessage): void {
  const line = Buffer.from(`${JSON.stringify(message)}\n`);
  let written = 0;
  while (written < line.length) {
    try {
      written += fs.writeSync(1, line, written, line.length - written);
    } catch (error) {
      // A non-blocking pipe that is momentarily full: the parent drains it; try again.
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
    }
  }
}

async function runWriter(log: PartitionLog, config: CrashChildConfig, writer: number): Promise<never> {
  const random = seededRandom(config.seed * 7919 + config.round * 131 + writer);
  const generator = new ServiceLogGenerator({
    seed: config.seed + config.round * 1000 + writer,
    startTimestampMs: Date.UTC(2026, 0, 1) + config.round * 3_600_000,
  });
  let seq = 0;
  for (;;) {
    const partition = Math.floor(random() * config.partitionCount);
    const count = 1 + Math.floor(random() * batchRecordCountMax);
    const records = storedRecordsFor(generator.batch(count)).map((record, i) => ({
      timestampMs: record.timestampMs,
      key: record.key,
      value: valueWithId(recordId(config.round, writer, seq + i), record.value),
    }));
    send({ kind: "intent", writer, partition, firstSeq: seq, count });
    const result = await log.append(partition, records);
    if (result.recordCount !== count)
      throw new Error(`append of ${count} records returned ${result.recordCount}`);
    send({
      kind: "ack",
      writer,
      partition,
      firstSeq: seq,
      count,
      baseOffset: result.baseOffset,
      crc: recordsCrc(records),
    });
    seq += count;
  }
}

async function runMaintenance(log: PartitionLog, intervalMs: number): Promise<never> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    await log.maintain();
  }
}

function main(): void {
  const [directory, configJson] = process.argv.slice(2);
  if (directory === undefined || configJson === undefined)
    throw new Error("usage: log-crash-child.ts <directory> <config json>");
  const config = JSON.parse(configJson) as CrashChildConfig;
  const log = PartitionLog.open({
    directory,
    partitionCount: config.partitionCount,
    segmentBytesMax: config.segmentBytesMax,
    indexIntervalBytes: config.indexIntervalBytes,
    compactionLevel: config.compactionLevel,
    onEvent: (event) => {
      if (event.kind === "segment-rolled")
        send({ kind: "segment", change: "rolled", partition: event.partition });
      else if (event.kind === "segment-compacted")
        send({ kind: "segment", change: "compacted", partition: event.partition });
      else {
        const error = "error" in event ? String(event.error) : undefined;
        process.stderr.write(`${JSON.stringify({ ...event, error })}\n`);
      }
    },
  });
  const endOffsets = Array.from({ length: config.partitionCount }, (_, p) => log.partition(p).endOffset);
  // Any failure of a writer is a failure of the test: exit non-zero so the parent sees it wasn't the kill.
  const fail = (error: unknown) => {
    process.stderr.write(`log-crash-child: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(2);
  };
  for (let writer = 0; writer < config.writerCount; writer++) runWriter(log, config, writer).catch(fail);
  if (config.maintainIntervalMs !== null) runMaintenance(log, config.maintainIntervalMs).catch(fail);
  send({ kind: "ready", pid: process.pid, endOffsets });
}

if (import.meta.main) main();
