// Reference A's GET /v1/query through the block index: the last `count` records of one tenant's
// service, oldest first, as stored. Without an index PartitionLog.readLast walks back through the
// whole partition until it has them, which for a service rare among many in its partition is the
// partition. With one, the reading is limited to the candidate ranges the index gives for the
// service's streams (the blocks that hold one of them, and the unindexed tail), newest first, and
// stops as soon as `count` records are found.
//
// Equivalence with readLast(partition, count, key filter): the candidate ranges are ascending and
// never leave out a block holding a record of the service's streams (src/index/README.md); the
// records between them are other streams'; the tail runs to the committed end when the ranges were
// asked for, the same end readLast reads to. So the matching records of the ranges are the matching
// records of the partition, and the last `count` of them are readLast's answer. One exception, the
// index's: a record whose bytes do not decode carries no stream in the index, so a block holding only
// such records of the service is not a candidate (readLast would return it, and the route would fail
// on its unknown format).
//
// A range with `offsets` (a block whose streams of the service are all sparse in it) is read at those
// offsets only (Partition.readAt): every record of those streams in the block is at one of them
// (src/index/README.md, "Sparse streams"), so its matches are the block's. One point read per such
// range, with the batches opened kept for the next range; between a few of them the read yields.
//
// Reading: a range of at most one block in one window; a longer one (the tail) from its end, in
// windows of records that start small (a common service is found in the last few hundred records)
// and double up to a bound; each window is read forward in
// bounded steps (Partition.read's bytesMax) and only its last still-needed matches are kept, so the
// memory is `count` records plus one step whatever the window. Between windows the read yields to the
// event loop and checks the signal.

import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { PointReadCache, ReadablePartition, StoredRecord } from "../../log/index.ts";
import type { OffsetRange } from "./log-source.ts";

/** What one last-records read did. */
export interface LastRecordsStats {
  /** Candidate ranges given (the tail included). */
  rangesGiven: number;
  /** Ranges read from, at least in part. */
  rangesRead: number;
  /** Partition.read and readAt calls. */
  readSteps: number;
  /** Ranges read at their offsets only (Partition.readAt), not whole. */
  pointReads: number;
  recordsRead: number;
}

export interface LastRecordsPlan {
  /** Ascending, non-overlapping offset ranges holding every record `matches` accepts. */
  readonly ranges: readonly OffsetRange[];
  readonly count: number;
  readonly matches: (record: StoredRecord) => boolean;
  /** Key+value bytes per read step. */
  readonly stepBytes: number;
  readonly signal: AbortSignal;
}

/** Records per window: the first (a few batches) and the largest (one sealed block of the index). */
const windowRecordsFirst = 256;
const windowRecordsMax = 8192;
/** Point-read ranges between two yields to the event loop. */
const pointReadsPerTurn = 8;

export function emptyLastRecordsStats(rangesGiven = 0): LastRecordsStats {
  return { rangesGiven, rangesRead: 0, readSteps: 0, pointReads: 0, recordsRead: 0 };
}

/**
 * The last `plan.count` records of `plan.ranges` that `plan.matches` accepts, oldest first; the
 * returned records own their bytes. Throws the signal's reason when it aborts.
 */
export async function readLastInRanges(
  partition: ReadablePartition,
  plan: LastRecordsPlan,
  stats: LastRecordsStats,
): Promise<StoredRecord[]> {
  assert.ok(Number.isSafeInteger(plan.count) && plan.count >= 0);
  assert.ok(plan.stepBytes >= 1);
  const chunks: StoredRecord[][] = []; // newest first
  let found = 0;
  let windowRecords = windowRecordsFirst;
  // Point reads of consecutive blocks often fall in one compacted batch: it is decompressed once.
  const cache: PointReadCache = { batches: [] };
  for (let r = plan.ranges.length - 1; r >= 0 && found < plan.count; r--) {
    const { fromOffset, toOffset } = plan.ranges[r];
    assert.ok(r === 0 || plan.ranges[r - 1].toOffset <= fromOffset, "ranges ascend without overlap");
    stats.rangesRead++;
    const offsets = plan.ranges[r].offsets;
    if (offsets !== undefined) {
      // Only these records of the range can match (the block's selected streams are sparse in it).
      plan.signal.throwIfAborted();
      const inRange = offsets.filter((offset) => offset >= fromOffset && offset < toOffset);
      const records = partition.readAt(inRange, cache);
      stats.readSteps++;
      stats.pointReads++;
      stats.recordsRead += records.length;
      const kept = records.filter(plan.matches);
      const wanted = kept.slice(Math.max(0, kept.length - (plan.count - found)));
      if (wanted.length > 0) chunks.push(wanted.map(ownRecord));
      found += wanted.length;
      // Between a few point reads (each a batch at most), let ingest and other requests run.
      if (found < plan.count && stats.pointReads % pointReadsPerTurn === 0) await nextTurn();
      continue;
    }
    for (let windowEnd = toOffset; windowEnd > fromOffset && found < plan.count; ) {
      plan.signal.throwIfAborted();
      // A range of at most one block (every sealed block) is read in one window: its batches are
      // decoded once, not once per window overlapping them. Longer ranges (the tail) step back in
      // growing windows.
      const wholeRange = toOffset - fromOffset <= windowRecordsMax;
      const windowStart = wholeRange ? fromOffset : Math.max(fromOffset, windowEnd - windowRecords);
      const wanted = lastMatches(partition, windowStart, windowEnd, plan.count - found, plan, stats);
      if (wanted.length > 0) chunks.push(wanted.map(ownRecord));
      found += wanted.length;
      windowEnd = windowStart;
      windowRecords = Math.min(windowRecordsMax, windowRecords * 2);
      if (found < plan.count) await nextTurn(); // let ingest and other requests run between windows
    }
  }
  assert.ok(found <= plan.count);
  return chunks.reverse().flat();
}

/** The last `needed` matching records of [fromOffset, toOffset), oldest first. */
function lastMatches(
  partition: ReadablePartition,
  fromOffset: number,
  toOffset: number,
  needed: number,
  plan: LastRecordsPlan,
  stats: LastRecordsStats,
): StoredRecord[] {
  let kept: StoredRecord[] = [];
  let next = fromOffset;
  while (next < toOffset) {
    const result = partition.read(next, { bytesMax: plan.stepBytes, endOffset: toOffset });
    stats.readSteps++;
    stats.recordsRead += result.records.length;
    for (const record of result.records) if (plan.matches(record)) kept.push(record);
    // Only the newest `needed` can be part of the answer: drop the rest now and then (bounded memory).
    if (kept.length > 2 * needed) kept = kept.slice(kept.length - needed);
    // No progress: nothing readable is left before toOffset (retention, damage, a cut-back log).
    if (result.nextOffset <= next) break;
    next = result.nextOffset;
  }
  return kept.length > needed ? kept.slice(kept.length - needed) : kept;
}

/** A copy whose key and value do not hold on to the decoded batch they were cut from (as readLast's). */
function ownRecord(record: StoredRecord): StoredRecord {
  return {
    offset: record.offset,
    timestampMs: record.timestampMs,
    key: Buffer.from(record.key),
    value: Buffer.from(record.value),
  };
}
