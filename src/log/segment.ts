// One segment: a log file of batches plus its sparse indexes (FORMAT.md). The active segment of a
// partition is written through `append`; sealed segments are immutable until retention deletes them.

import assert from "node:assert/strict";
import path from "node:path";
import { batchHeaderBytes, crcMatches, readHeader } from "./batch.ts";
import { type DamagedRegion, readFully, type ScanOptions, scanBatches } from "./scan.ts";
import { openModes, type Storage } from "./storage.ts";

export const timestampNone = Number.MIN_SAFE_INTEGER;

const offsetEntryBytes = 8; // u32 relative offset, u32 position
const timeEntryBytes = 12; // i64 max timestamp before, u32 relative offset

export function segmentFileName(baseOffset: number, extension: string): string {
  return `${String(baseOffset).padStart(20, "0")}${extension}`;
}

export const segmentExtensions = {
  log: ".log",
  offsetIndex: ".index",
  timeIndex: ".timeindex",
  /** `<base>.log.truncating`: a truncate's rewrite of the batch it cuts through (FORMAT.md). */
  cutIntent: ".log.truncating",
} as const;

const cutIntentHeaderBytes = 8; // u64 position of the rewritten batch in the .log file

/** In-memory sparse index: entry i says the batch at positions[i] starts at relOffsets[i] and every
 * record before it in this segment has a timestamp <= maxTimestampsBefore[i]. */
interface IndexEntries {
  relOffsets: number[];
  positions: number[];
  maxTimestampsBefore: number[];
}

/** What the segment's bookkeeping needs of a batch written at its end. */
export interface WrittenBatch {
  baseOffset: number;
  recordCount: number;
  maxTimestampMs: number;
}

export interface RecoveryReport {
  damaged: DamagedRegion[];
  truncatedBytes: number;
  lostRecordsAtLeast: number;
  indexRebuilt: boolean;
}

export class Segment {
  readonly baseOffset: number;
  readonly logPath: string;
  readonly offsetIndexPath: string;
  readonly timeIndexPath: string;
  readonly #storage: Storage;
  nextOffset: number;
  sizeBytes: number;
  maxTimestampMs: number;
  createdWallMs: number;
  sealed: boolean;
  /** Set on the active segment: opened read-write. Sealed segments read through the FdCache. */
  writeFd: number | null;
  readonly #index: IndexEntries = { relOffsets: [], positions: [], maxTimestampsBefore: [] };
  #lastIndexedPosition = -1;

  private constructor(storage: Storage, directory: string, baseOffset: number) {
    this.#storage = storage;
    this.baseOffset = baseOffset;
    this.logPath = path.join(directory, segmentFileName(baseOffset, segmentExtensions.log));
    this.offsetIndexPath = path.join(directory, segmentFileName(baseOffset, segmentExtensions.offsetIndex));
    this.timeIndexPath = path.join(directory, segmentFileName(baseOffset, segmentExtensions.timeIndex));
    this.nextOffset = baseOffset;
    this.sizeBytes = 0;
    this.maxTimestampMs = timestampNone;
    this.createdWallMs = Date.now();
    this.sealed = false;
    this.writeFd = null;
  }

  /** Creates an empty active segment; the caller fsyncs the directory. */
  static create(storage: Storage, directory: string, baseOffset: number): Segment {
    const segment = new Segment(storage, directory, baseOffset);
    segment.writeFd = storage.open(segment.logPath, openModes.createExclusive);
    for (const indexPath of [segment.offsetIndexPath, segment.timeIndexPath])
      storage.close(storage.open(indexPath, openModes.createOrTruncate));
    return segment;
  }

  /**
   * Opens an existing segment. A sealed segment (nextBaseOffset given) trusts a valid sealed index and
   * rebuilds a missing or damaged one by scanning; the active segment validates its index and rescans
   * the tail after the last valid entry, cutting a torn or corrupt tail back to the last whole batch.
   */
  static open(
    directory: string,
    baseOffset: number,
    nextBaseOffset: number | null,
    options: ScanOptions & { indexIntervalBytes: number },
  ): { segment: Segment; report: RecoveryReport } {
    const storage = options.storage;
    const segment = new Segment(storage, directory, baseOffset);
    const active = nextBaseOffset === null;
    const fd = storage.open(segment.logPath, active ? openModes.readWrite : openModes.read);
    try {
      const stat = storage.fstat(fd);
      segment.createdWallMs = stat.createdMs;
      const report = segment.#recover(fd, stat.sizeBytes, nextBaseOffset, options);
      if (active) segment.writeFd = fd;
      else storage.close(fd);
      return { segment, report };
    } catch (error) {
      storage.close(fd);
      throw error;
    }
  }

  #recover(
    fd: number,
    fileBytes: number,
    nextBaseOffset: number | null,
    options: ScanOptions & { indexIntervalBytes: number },
  ): RecoveryReport {
    const report: RecoveryReport = {
      damaged: [],
      truncatedBytes: 0,
      lostRecordsAtLeast: 0,
      indexRebuilt: false,
    };
    const loaded = this.#loadIndexFiles(fd, fileBytes);
    if (nextBaseOffset !== null && loaded.sealedBy !== null) {
      const sealedBy = loaded.sealedBy;
      if (sealedBy.position === fileBytes && this.baseOffset + sealedBy.relOffset === nextBaseOffset) {
        this.sizeBytes = fileBytes;
        this.nextOffset = nextBaseOffset;
        this.maxTimestampMs = sealedBy.maxTimestampMs;
        this.sealed = true;
        return report;
      }
    }
    // Rescan from the last index entry that still points at a batch header (the whole file if none).
    const keep = loaded.validCount;
    this.#index.relOffsets.length = keep;
    this.#index.positions.length = keep;
    this.#index.maxTimestampsBefore.length = keep;
    report.indexRebuilt =
      keep < loaded.entryCount || nextBaseOffset !== null || (loaded.entryCount === 0 && fileBytes > 0);
    let position = 0;
    if (keep > 0) {
      position = this.#index.positions[keep - 1];
      this.maxTimestampMs = this.#index.maxTimestampsBefore[keep - 1];
      this.nextOffset = this.baseOffset + this.#index.relOffsets[keep - 1];
      this.#index.relOffsets.length = keep - 1; // re-added by the scan below
      this.#index.positions.length = keep - 1;
      this.#index.maxTimestampsBefore.length = keep - 1;
      this.#lastIndexedPosition = keep > 1 ? this.#index.positions[keep - 2] : -1;
    }
    let validEnd = position;
    for (const item of scanBatches(fd, position, fileBytes, options)) {
      if (item.kind === "damaged") {
        report.damaged.push(item);
        if (item.tail && nextBaseOffset === null) {
          report.truncatedBytes = fileBytes - item.position;
          report.lostRecordsAtLeast += item.recordCountAtLeast;
        }
        continue;
      }
      this.#addToIndex(item.position, item.header.baseOffset, options.indexIntervalBytes);
      this.nextOffset = item.header.baseOffset + item.header.recordCount;
      if (item.header.maxTimestampMs > this.maxTimestampMs) this.maxTimestampMs = item.header.maxTimestampMs;
      validEnd = item.position + batchHeaderBytes + item.header.payloadBytes;
    }
    if (nextBaseOffset === null) {
      if (validEnd < fileBytes && report.truncatedBytes > 0) {
        this.#storage.truncate(fd, validEnd);
        this.#storage.fdatasync(fd);
      }
      this.sizeBytes = report.truncatedBytes > 0 ? validEnd : fileBytes;
      this.#writeIndexFiles(null);
    } else {
      this.sizeBytes = fileBytes;
      this.nextOffset = nextBaseOffset;
      this.sealed = true;
      this.#writeIndexFiles(nextBaseOffset);
    }
    return report;
  }

  /** Reads both index files and keeps the prefix of entries that agree and point at real batch headers. */
  #loadIndexFiles(
    fd: number,
    fileBytes: number,
  ): {
    entryCount: number;
    validCount: number;
    sealedBy: { relOffset: number; position: number; maxTimestampMs: number } | null;
  } {
    const offsets = this.#storage.readFile(this.offsetIndexPath) ?? Buffer.alloc(0);
    const times = this.#storage.readFile(this.timeIndexPath) ?? Buffer.alloc(0);
    const entryCount = Math.min(
      Math.floor(offsets.length / offsetEntryBytes),
      Math.floor(times.length / timeEntryBytes),
    );
    const header = Buffer.allocUnsafe(batchHeaderBytes);
    let validCount = 0;
    let sealedBy = null;
    for (let i = 0; i < entryCount; i++) {
      const relOffset = offsets.readUInt32LE(i * offsetEntryBytes);
      const position = offsets.readUInt32LE(i * offsetEntryBytes + 4);
      const maxTimestampBefore = Number(times.readBigInt64LE(i * timeEntryBytes));
      const agrees = times.readUInt32LE(i * timeEntryBytes + 8) === relOffset;
      const ordered =
        i === 0
          ? relOffset === 0 && position === 0
          : relOffset > this.#index.relOffsets[i - 1] && position > this.#index.positions[i - 1];
      if (!agrees || !ordered) break;
      if (position === fileBytes && i === entryCount - 1 && i > 0) {
        sealedBy = { relOffset, position, maxTimestampMs: maxTimestampBefore };
        break;
      }
      if (position + batchHeaderBytes > fileBytes) break;
      if (readFully(this.#storage, fd, header, batchHeaderBytes, position) < batchHeaderBytes) break;
      const parsed = readHeader(header, 0, 0xffffffff);
      if (typeof parsed === "string" || parsed.baseOffset !== this.baseOffset + relOffset) break;
      this.#index.relOffsets.push(relOffset);
      this.#index.positions.push(position);
      this.#index.maxTimestampsBefore.push(maxTimestampBefore);
      validCount++;
    }
    return { entryCount, validCount, sealedBy };
  }

  /** `maxTimestampBeforeMs`: the newest timestamp of the records before this batch (default: all so far). */
  #addToIndex(
    position: number,
    baseOffset: number,
    indexIntervalBytes: number,
    maxTimestampBeforeMs = this.maxTimestampMs,
  ): boolean {
    if (this.#lastIndexedPosition >= 0 && position - this.#lastIndexedPosition < indexIntervalBytes)
      return false;
    this.#index.relOffsets.push(baseOffset - this.baseOffset);
    this.#index.positions.push(position);
    this.#index.maxTimestampsBefore.push(maxTimestampBeforeMs);
    this.#lastIndexedPosition = position;
    return true;
  }

  /** Encodes index entries [from, to) of both files; with sealNextOffset, the sealing sentinel after them. */
  #encodeIndex(from: number, to: number, sealNextOffset: number | null): { offsets: Buffer; times: Buffer } {
    const count = to - from + (sealNextOffset === null ? 0 : 1);
    const offsets = Buffer.alloc(count * offsetEntryBytes);
    const times = Buffer.alloc(count * timeEntryBytes);
    for (let i = 0; i < count; i++) {
      const entry = from + i;
      const sentinel = entry === to;
      const relOffset = sentinel ? sealNextOffset! - this.baseOffset : this.#index.relOffsets[entry];
      offsets.writeUInt32LE(relOffset, i * offsetEntryBytes);
      offsets.writeUInt32LE(
        sentinel ? this.sizeBytes : this.#index.positions[entry],
        i * offsetEntryBytes + 4,
      );
      times.writeBigInt64LE(
        BigInt(sentinel ? this.maxTimestampMs : this.#index.maxTimestampsBefore[entry]),
        i * timeEntryBytes,
      );
      times.writeUInt32LE(relOffset, i * timeEntryBytes + 8);
    }
    return { offsets, times };
  }

  #writeIndexFiles(sealNextOffset: number | null): void {
    const { offsets, times } = this.#encodeIndex(0, this.#index.relOffsets.length, sealNextOffset);
    writeFileDurably(this.#storage, this.offsetIndexPath, offsets, sealNextOffset !== null);
    writeFileDurably(this.#storage, this.timeIndexPath, times, sealNextOffset !== null);
  }

  /**
   * Accounts for whole batches the log thread has just written at the end of the active segment
   * (src/log/write-job.ts): `batchBytes[i]` is what batch i took on disk, header included.
   */
  appendWritten(
    batches: readonly WrittenBatch[],
    batchBytes: readonly number[],
    indexIntervalBytes: number,
  ): void {
    assert.ok(this.writeFd !== null && !this.sealed, "append goes to the active segment");
    assert.equal(batches.length, batchBytes.length, "one size per batch written");
    let position = this.sizeBytes;
    let nextOffset = this.nextOffset;
    let maxTimestampMs = this.maxTimestampMs;
    const indexedBefore = this.#index.relOffsets.length;
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i];
      assert.equal(batch.baseOffset, nextOffset, "batches are contiguous");
      assert.ok(batchBytes[i] > batchHeaderBytes, "a written batch has a header and a payload");
      this.#addToIndex(position, batch.baseOffset, indexIntervalBytes, maxTimestampMs);
      position += batchBytes[i];
      nextOffset = batch.baseOffset + batch.recordCount;
      if (batch.maxTimestampMs > maxTimestampMs) maxTimestampMs = batch.maxTimestampMs;
    }
    assert.ok(position < 2 ** 32, "segment positions are u32");
    // The index is a hint rebuilt on open, so its appends are not fsynced on the ack path. They go
    // first: if one fails the segment still describes its committed end, and rollBack (called by
    // the partition) drops the in-memory entries past it.
    const indexedAfter = this.#index.relOffsets.length;
    if (indexedAfter > indexedBefore) {
      const { offsets, times } = this.#encodeIndex(indexedBefore, indexedAfter, null);
      this.#storage.appendFile(this.offsetIndexPath, offsets);
      this.#storage.appendFile(this.timeIndexPath, times);
    }
    this.sizeBytes = position;
    this.nextOffset = nextOffset;
    this.maxTimestampMs = maxTimestampMs;
  }

  /**
   * Undoes a failed append: cuts the file and the index back to the segment's committed end
   * (sizeBytes, which appendWritten advances only once a flight's bytes and index are in).
   */
  rollBack(): void {
    assert.ok(this.writeFd !== null);
    this.#storage.truncate(this.writeFd, this.sizeBytes);
    while (this.#index.positions.length > 0 && this.#index.positions.at(-1)! >= this.sizeBytes) {
      this.#index.positions.pop();
      this.#index.relOffsets.pop();
      this.#index.maxTimestampsBefore.pop();
    }
    this.#lastIndexedPosition = this.#index.positions.at(-1) ?? -1;
    this.#writeIndexFiles(null);
  }

  sync(): Promise<void> {
    const fd = this.writeFd;
    assert.ok(fd !== null);
    return new Promise((resolve, reject) =>
      this.#storage.fdatasyncAsync(fd, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Makes the segment immutable: fsyncs the log, writes the sealed indexes, closes the write fd. */
  async seal(): Promise<void> {
    assert.ok(!this.sealed && this.writeFd !== null);
    await this.sync();
    this.#writeIndexFiles(this.nextOffset);
    this.#storage.close(this.writeFd);
    this.writeFd = null;
    this.sealed = true;
  }

  /** Replaces this sealed segment's index after compaction rewrote its log file. */
  adoptIndex(from: Segment): void {
    assert.ok(this.sealed && from.baseOffset === this.baseOffset);
    this.#index.relOffsets = from.#index.relOffsets;
    this.#index.positions = from.#index.positions;
    this.#index.maxTimestampsBefore = from.#index.maxTimestampsBefore;
    this.sizeBytes = from.sizeBytes;
  }

  /** Builds the index of a freshly written file (compaction output) and seals it on disk. */
  static indexFor(
    directory: string,
    baseOffset: number,
    nextOffset: number,
    maxTimestampMs: number,
    batches: readonly { position: number; baseOffset: number; maxTimestampMs: number }[],
    sizeBytes: number,
    indexIntervalBytes: number,
    storage: Storage,
  ): Segment {
    const segment = new Segment(storage, directory, baseOffset);
    for (const batch of batches) {
      segment.#addToIndex(batch.position, batch.baseOffset, indexIntervalBytes);
      if (batch.maxTimestampMs > segment.maxTimestampMs) segment.maxTimestampMs = batch.maxTimestampMs;
    }
    segment.sizeBytes = sizeBytes;
    segment.nextOffset = nextOffset;
    segment.maxTimestampMs = maxTimestampMs;
    segment.sealed = true;
    return segment;
  }

  writeSealedIndex(): void {
    this.#writeIndexFiles(this.nextOffset);
  }

  /** The bytes of both sealed index files (sentinel included), for a writer on another thread. */
  sealedIndexFiles(): { offsets: Buffer; times: Buffer } {
    assert.ok(this.sealed);
    return this.#encodeIndex(0, this.#index.relOffsets.length, this.nextOffset);
  }

  /** Position of the indexed batch at or before `offset` (a scan from there reaches it). */
  positionForOffset(offset: number): number {
    const relOffset = offset - this.baseOffset;
    const entry = lastAtOrBelow(this.#index.relOffsets, relOffset);
    return entry < 0 ? 0 : this.#index.positions[entry];
  }

  /** Position from which a scan meets every record with timestamp >= timestampMs. */
  positionForTimestamp(timestampMs: number): number {
    const entries = this.#index.maxTimestampsBefore;
    let low = 0;
    let high = entries.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (entries[middle] < timestampMs) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    return found < 0 ? 0 : this.#index.positions[found];
  }

  /**
   * A copy of the sparse index entries at positions below `endPosition` (a read snapshot's view:
   * entries indexed ahead of the commit are not readable yet).
   */
  indexBelow(endPosition: number): {
    relOffsets: Uint32Array;
    positions: Uint32Array;
    maxTimestampsBefore: Float64Array;
  } {
    const positions = this.#index.positions;
    let count = positions.length;
    while (count > 0 && positions[count - 1] >= endPosition) count--;
    return {
      relOffsets: Uint32Array.from(this.#index.relOffsets.slice(0, count)),
      positions: Uint32Array.from(positions.slice(0, count)),
      maxTimestampsBefore: Float64Array.from(this.#index.maxTimestampsBefore.slice(0, count)),
    };
  }

  /** Index chunk boundaries, for scanning a segment backwards one chunk at a time. */
  get indexPositions(): readonly number[] {
    return this.#index.positions;
  }

  get indexEntryCount(): number {
    return this.#index.positions.length;
  }
}

function lastAtOrBelow(sorted: readonly number[], value: number): number {
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

/**
 * Writes a whole file through a temporary name and a rename, so a crash leaves old or new, never half
 * (with `sync`; the caller fsyncs the directory to make the new name durable).
 */
export function writeFileDurably(storage: Storage, filePath: string, data: Uint8Array, sync: boolean): void {
  const temporary = `${filePath}.tmp`;
  const fd = storage.open(temporary, openModes.createOrTruncate);
  try {
    storage.writev(fd, [data], 0);
    if (sync) storage.fdatasync(fd);
  } finally {
    storage.close(fd);
  }
  storage.rename(temporary, filePath);
}

/**
 * Makes a truncate's rewrite durable before it starts: `<log>.truncating` holds the position of the
 * batch that the cut goes through and its replacement (the records before the cut), fdatasynced,
 * its name fsynced into the directory. Open finishes a rewrite it finds (finishInterruptedCut).
 */
export function writeCutIntent(
  storage: Storage,
  logPath: string,
  cutPosition: number,
  replacement: Uint8Array,
): void {
  assert.ok(Number.isSafeInteger(cutPosition) && cutPosition >= 0 && replacement.length > batchHeaderBytes);
  const position = Buffer.alloc(cutIntentHeaderBytes);
  position.writeBigUInt64LE(BigInt(cutPosition));
  const fd = storage.open(cutIntentPath(logPath), openModes.createOrTruncate);
  try {
    storage.writev(fd, [position, replacement], 0);
    storage.fdatasync(fd);
  } finally {
    storage.close(fd);
  }
  storage.fsyncDirectory(path.dirname(logPath));
}

export function cutIntentPath(logPath: string): string {
  assert.ok(logPath.endsWith(segmentExtensions.log));
  return logPath.slice(0, -segmentExtensions.log.length) + segmentExtensions.cutIntent;
}

/** Cuts a segment file at `cutPosition`, after writing `replacement` there when given; durable. */
export function applyCut(
  storage: Storage,
  logPath: string,
  cutPosition: number,
  replacement: Uint8Array | null,
): void {
  const fd = storage.open(logPath, openModes.readWrite);
  try {
    if (replacement) storage.writev(fd, [replacement], cutPosition);
    storage.truncate(fd, cutPosition + (replacement?.length ?? 0));
    storage.fdatasync(fd);
  } finally {
    storage.close(fd);
  }
}

/**
 * A `.truncating` file found on open: when whole (its batch checks out), the rewrite may have
 * started and is done again (writing the same bytes at the same place is idempotent); when torn,
 * the rewrite had not started (it waits for the intent to be durable). Either way the intent goes.
 */
export function finishInterruptedCut(storage: Storage, intentPath: string): void {
  const intent = storage.readFile(intentPath);
  const logPath = intentPath.slice(0, -segmentExtensions.cutIntent.length) + segmentExtensions.log;
  if (intent !== null && intent.length > cutIntentHeaderBytes + batchHeaderBytes) {
    const header = readHeader(intent, cutIntentHeaderBytes, intent.length);
    const whole =
      typeof header !== "string" &&
      intent.length === cutIntentHeaderBytes + batchHeaderBytes + header.payloadBytes &&
      crcMatches(intent, cutIntentHeaderBytes, header);
    if (whole && storage.stat(logPath) !== null) {
      const cutPosition = Number(intent.readBigUInt64LE(0));
      applyCut(storage, logPath, cutPosition, intent.subarray(cutIntentHeaderBytes));
    }
  }
  storage.unlink(intentPath);
  storage.fsyncDirectory(path.dirname(intentPath));
}

/**
 * Creates `directory` when missing and makes its name durable: a new directory entry is volatile
 * until its parent is fsynced, and the acknowledged records inside would go with it (found by the
 * power-loss simulation, src/log/sim/). The parent is synced on every open, not only on creation:
 * a crash between a mkdir and its parent's fsync leaves a directory that exists but is not durable.
 * With `ancestors`, every directory up to the root is synced too (the log's own directory, which
 * the log may have created along with its parents).
 */
export function makeDirectoryDurable(storage: Storage, directory: string, ancestors = false): void {
  storage.mkdirp(directory);
  let child = path.resolve(directory);
  for (let parent = path.dirname(child); parent !== child; parent = path.dirname(child)) {
    storage.fsyncDirectory(parent);
    if (!ancestors) break;
    child = parent;
  }
}
