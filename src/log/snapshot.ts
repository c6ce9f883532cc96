// Read snapshots: what a reader on another thread needs to read one partition's committed records
// without the Partition object, which lives on the main thread. A snapshot is plain data (it crosses
// postMessage by structured clone): per segment its base offset, a read fd opened for this snapshot
// alone, the readable end and the sparse indexes to seek by offset and by time. File descriptors are
// process-wide, so a worker thread reads them with positioned reads; because each fd pins its
// file's inode, a compaction that renames a new file over the segment or retention that unlinks it
// changes nothing the snapshot reads (FORMAT.md, "Read snapshots"). The main thread closes the fds
// with release() once the reader is done, and only then: a closed fd number may be reused at once.

import assert from "node:assert/strict";
import {
  decodeRecords,
  emptyPointReadCache,
  openBatch,
  type PointReadCache,
  readAtOffsets,
  recordBytes,
  type StoredRecord,
} from "./batch.ts";
import type { ReadResult } from "./partition.ts";
import { scanBatches } from "./scan.ts";
import { nodeStorage, type Storage } from "./storage.ts";

/** One segment as a snapshot saw it. Its bytes [0, readableEndBytes) never change under the fd. */
export interface SegmentSnapshot {
  readonly baseOffset: number;
  /** Exclusive end offset of the records readable in this segment. */
  readonly nextOffset: number;
  /** Opened for this snapshot: read-only, closed by release(). */
  readonly fd: number;
  /** Bytes a reader may read: the committed end of the active segment, the size of a sealed one. */
  readonly readableEndBytes: number;
  /** Newest record timestamp of the segment, as Segment keeps it (may count records past the end). */
  readonly maxTimestampMs: number;
  /** Sparse index (FORMAT.md): entry i is the batch at positions[i], base offset baseOffset +
   * relOffsets[i], every earlier record of the segment with timestamp <= maxTimestampsBefore[i]. */
  readonly relOffsets: Uint32Array;
  readonly positions: Uint32Array;
  readonly maxTimestampsBefore: Float64Array;
}

/** A structured-cloneable description of what one partition had committed when it was taken. */
export interface PartitionSnapshot {
  readonly partition: number;
  readonly logStartOffset: number;
  /** Committed end of the partition (exclusive) when the snapshot was taken. */
  readonly endOffset: number;
  /** Segments in offset order, from the one holding the snapshot's first offset to the active one. */
  readonly segments: readonly SegmentSnapshot[];
  /** The partition's read bounds, so a reader answers as Partition.read does. */
  readonly readBytesMax: number;
  readonly chunkBytes: number;
  readonly payloadBytesMax: number;
}

/** A snapshot and the one way to give its files back (main thread; idempotent). */
export interface HeldSnapshot {
  readonly snapshot: PartitionSnapshot;
  release(): void;
}

/** What a query's scan needs of a partition: Partition and SnapshotPartition both answer it. */
export interface ReadablePartition {
  read(fromOffset: number, options?: { bytesMax?: number; endOffset?: number }): ReadResult;
  /** Partition.readAt: the records at `offsets` (ascending), unreadable ones left out. */
  readAt(offsets: readonly number[], cache?: PointReadCache): StoredRecord[];
  offsetForTimestamp(timestampMs: number): number;
  readonly endOffset: number;
}

/** What a query's scan needs of a log: PartitionLog and a worker's snapshot-backed log answer it. */
export interface ReadableLog {
  readonly partitionCount: number;
  partition(id: number): ReadablePartition;
}

/**
 * Reads committed records of a snapshot from `fromOffset` on, with Partition.read's semantics:
 * at most `bytesMax` key+value bytes (at least one whole batch when there is data), offsets below
 * the snapshot's first segment skipped forward, damaged batches skipped (not reported: the main
 * thread's own reads and recovery report damage), `endOffset` capped at the snapshot's end.
 */
export function readFromSnapshot(
  snapshot: PartitionSnapshot,
  fromOffset: number,
  options: { bytesMax?: number; endOffset?: number } = {},
  storage: Storage = nodeStorage,
): ReadResult {
  assert.ok(Number.isSafeInteger(fromOffset) && fromOffset >= 0, "fromOffset is a non-negative integer");
  const bytesMax = Math.max(1, Math.min(options.bytesMax ?? snapshot.readBytesMax, snapshot.readBytesMax));
  const endOffset = Math.min(options.endOffset ?? snapshot.endOffset, snapshot.endOffset);
  const segments = snapshot.segments;
  const records: StoredRecord[] = [];
  const firstOffset = segments.length > 0 ? segments[0].baseOffset : snapshot.endOffset;
  let next = Math.max(fromOffset, snapshot.logStartOffset, firstOffset);
  let bytes = 0;
  for (
    let s = segmentIndexFor(segments, next);
    s < segments.length && next < endOffset && bytes < bytesMax;
    s++
  ) {
    for (const item of batchesFrom(snapshot, storage, segments[s], next)) {
      if (item.kind !== "batch") continue;
      const batchEnd = item.header.baseOffset + item.header.recordCount;
      if (batchEnd <= next) continue;
      for (const record of decodeRecords(item.header, item.payload)) {
        if (record.offset < next || record.offset >= endOffset) continue;
        records.push(record);
        bytes += recordBytes(record);
      }
      next = Math.min(batchEnd, endOffset);
      if (bytes >= bytesMax || next >= endOffset) break;
    }
    if (bytes < bytesMax && s + 1 < segments.length)
      next = Math.max(next, Math.min(segments[s + 1].baseOffset, endOffset));
  }
  return {
    records,
    nextOffset: next,
    logStartOffset: snapshot.logStartOffset,
    endOffset: snapshot.endOffset,
  };
}

/** A segment's batches from its indexed position at or before `offset`, up to its readable end. */
function batchesFrom(
  snapshot: PartitionSnapshot,
  storage: Storage,
  segment: SegmentSnapshot,
  offset: number,
) {
  const start = segment.positions[lastAtOrBelow(segment.relOffsets, offset - segment.baseOffset)] ?? 0;
  return scanBatches(segment.fd, start, segment.readableEndBytes, scanOptionsOf(snapshot, storage));
}

/** Partition.readAt over a snapshot: the committed records at `offsets` (ascending), unreadable ones left out. */
export function readAtFromSnapshot(
  snapshot: PartitionSnapshot,
  offsets: readonly number[],
  cache: PointReadCache = emptyPointReadCache(),
  storage: Storage = nodeStorage,
): StoredRecord[] {
  const segments = snapshot.segments;
  const start = Math.max(
    snapshot.logStartOffset,
    segments.length > 0 ? segments[0].baseOffset : snapshot.endOffset,
  );
  return readAtOffsets(offsets, start, snapshot.endOffset, cache, (offset) => {
    for (const item of batchesFrom(snapshot, storage, segments[segmentIndexFor(segments, offset)], offset)) {
      if (item.kind !== "batch" || item.header.baseOffset + item.header.recordCount <= offset) continue;
      return item.header.baseOffset <= offset ? openBatch(item.header, item.payload) : null;
    }
    return null;
  });
}

/** Offset of the first record (in log order) whose timestamp is >= timestampMs, or endOffset when none. */
export function offsetForTimestampInSnapshot(
  snapshot: PartitionSnapshot,
  timestampMs: number,
  storage: Storage = nodeStorage,
): number {
  for (const segment of snapshot.segments) {
    if (segment.maxTimestampMs < timestampMs) continue;
    const entry = lastBelow(segment.maxTimestampsBefore, timestampMs);
    const start = entry < 0 ? 0 : segment.positions[entry];
    for (const item of scanBatches(
      segment.fd,
      start,
      segment.readableEndBytes,
      scanOptionsOf(snapshot, storage),
    )) {
      if (item.kind !== "batch" || item.header.maxTimestampMs < timestampMs) continue;
      for (const record of decodeRecords(item.header, item.payload)) {
        if (record.offset >= snapshot.endOffset) return snapshot.endOffset;
        if (record.timestampMs >= timestampMs) return record.offset;
      }
    }
  }
  return snapshot.endOffset;
}

/** A snapshot read as a partition (ReadablePartition), on whichever thread holds it. */
export class SnapshotPartition implements ReadablePartition {
  readonly snapshot: PartitionSnapshot;
  readonly #storage: Storage;

  constructor(snapshot: PartitionSnapshot, storage: Storage = nodeStorage) {
    this.snapshot = snapshot;
    this.#storage = storage;
  }

  get endOffset(): number {
    return this.snapshot.endOffset;
  }

  read(fromOffset: number, options?: { bytesMax?: number; endOffset?: number }): ReadResult {
    return readFromSnapshot(this.snapshot, fromOffset, options, this.#storage);
  }

  readAt(offsets: readonly number[], cache?: PointReadCache): StoredRecord[] {
    return readAtFromSnapshot(this.snapshot, offsets, cache, this.#storage);
  }

  offsetForTimestamp(timestampMs: number): number {
    return offsetForTimestampInSnapshot(this.snapshot, timestampMs, this.#storage);
  }
}

function scanOptionsOf(snapshot: PartitionSnapshot, storage: Storage) {
  return { chunkBytes: snapshot.chunkBytes, payloadBytesMax: snapshot.payloadBytesMax, storage };
}

function segmentIndexFor(segments: readonly SegmentSnapshot[], offset: number): number {
  let low = 0;
  let high = segments.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >>> 1;
    if (segments[middle].baseOffset <= offset) low = middle;
    else high = middle - 1;
  }
  return low;
}

function lastAtOrBelow(sorted: ArrayLike<number>, value: number): number {
  let low = 0;
  let high = sorted.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] <= value) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  return found;
}

function lastBelow(sorted: ArrayLike<number>, value: number): number {
  let low = 0;
  let high = sorted.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] < value) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  return found;
}
