// One partition: an ordered list of segments, the group-commit writer and the readers. Appends queue
// up while a flush is in flight and all go out in the next write + fdatasync, so N concurrent appenders
// share one fsync. Structural changes (flush, roll, truncate, retention, compaction swap) hold the
// partition mutex; reads are synchronous and see only committed (acknowledged) data.

import assert from "node:assert/strict";
import path from "node:path";
import {
  batchHeaderBytes,
  type Codec,
  codecs,
  compressPayloadSync,
  decodeRecords,
  emptyPointReadCache,
  encodeHeader,
  encodePayload,
  encodePayloadParts,
  type LogRecord,
  openBatch,
  type PointReadCache,
  type RecordColumns,
  type RecordSet,
  readAtOffsets,
  recordBytes,
  recordCountOf,
  type StoredRecord,
  timestampAbsMax,
} from "./batch.ts";
import { type CompactFinishJob, compactingPath, type MaintenanceOutcome } from "./compact-job.ts";
import type { Compressor } from "./compressor.ts";
import {
  InvalidRecordError,
  LogClosedError,
  LogOverloadedError,
  LogWriteError,
  RecordTooLargeError,
} from "./errors.ts";
import type { FdCache } from "./fd-cache.ts";
import type { LogLimits } from "./limits.ts";
import { Mutex } from "./mutex.ts";
import type { DamagedRegion, ScanItem } from "./scan.ts";
import { scanBatches } from "./scan.ts";
import {
  applyCut,
  cutIntentPath,
  finishInterruptedCut,
  makeDirectoryDurable,
  type RecoveryReport,
  Segment,
  segmentExtensions,
  writeCutIntent,
} from "./segment.ts";
import type { HeldSnapshot, PartitionSnapshot, SegmentSnapshot } from "./snapshot.ts";
import { openModes, type Storage } from "./storage.ts";
import { type BatchToWrite, outcomeError, type WriteOutcome } from "./write-job.ts";

export const fsyncModes = { always: "always", interval: "interval" } as const;
export type FsyncMode = (typeof fsyncModes)[keyof typeof fsyncModes];

export interface PartitionOptions extends LogLimits {
  fsync: FsyncMode;
  codec: Codec;
  retentionMs: number | null;
  retentionBytes: number | null;
}

export type LogEvent =
  | { kind: "recovered"; partition: number; segmentBaseOffset: number; report: RecoveryReport }
  | { kind: "damaged-batch"; partition: number; segmentBaseOffset: number; region: DamagedRegion }
  | { kind: "segment-rolled"; partition: number; baseOffset: number }
  | { kind: "segment-deleted"; partition: number; baseOffset: number; reason: "age" | "bytes"; bytes: number }
  | {
      kind: "segment-compacted";
      partition: number;
      baseOffset: number;
      bytesBefore: number;
      bytesAfter: number;
    }
  | { kind: "write-failed"; partition: number; error: unknown };

/** Resources every partition of a log shares. */
export interface PartitionShared {
  /** Every file of the log, also those of maintenance jobs run inline (zero log threads). */
  storage: Storage;
  fdCache: FdCache;
  compressor: Compressor;
  onEvent: (event: LogEvent) => void;
}

export interface AppendOptions {
  /** Position of the last of these records in an upstream stream (cluster mode); -1 when none. */
  sourcePosition?: number;
}

export interface AppendResult {
  /** Offset of the first record of this append; the others follow contiguously. */
  baseOffset: number;
  recordCount: number;
}

export interface ReadResult {
  records: StoredRecord[];
  /** Where the next read continues. */
  nextOffset: number;
  logStartOffset: number;
  /** Committed end of the partition when the read ran (exclusive). */
  endOffset: number;
}

export interface PartitionStats {
  appendedRecords: number;
  appendedBytes: number;
  batchesWritten: number;
  fsyncCount: number;
  damagedRegionsFound: number;
  lostRecordsAtOpen: number;
  pendingBytes: number;
  sizeBytes: number;
  segmentCount: number;
}

/**
 * Flights of one partition out at once. While one is being fsynced the next is already compressing
 * and writing on the log thread, so the thread never waits to be woken between them (each wake-up
 * of an idle thread costs ~1 ms on this VM, measured: docs/benchmarks.md).
 */
const flightsMax = 3;

/** A group commit on its way to the disk: the appends it carries, encoded into batches. */
interface Flight {
  taken: PendingAppend[];
  baseOffset: number;
  batches: BatchToWrite[];
  /** Bytes the flight can take on disk at most: what the roll decision counts before it lands. */
  bytesAtMost: number;
  /** Null while held back: a segment roll is due first, which waits for the earlier flights. */
  outcome: Promise<WriteOutcome> | null;
}

interface PendingAppend {
  /** Dropped (emptied) once encoded into a flight: see #take. */
  records: RecordSet;
  recordCount: number;
  rawBytes: number;
  sourcePosition: number;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

const compactedMarkerExtension = ".compacted";
const noRecords: RecordSet = Object.freeze([]);

export class Partition {
  readonly id: number;
  readonly directory: string;
  readonly #options: PartitionOptions;
  /** Derived once from the options: every read and recovery scan uses it. */
  readonly #scanOptions: ReturnType<typeof scanOptions>;
  readonly #storage: Storage;
  readonly #fdCache: FdCache;
  readonly #compressor: Compressor;
  readonly #onEvent: (event: LogEvent) => void;
  readonly #mutex = new Mutex();
  /**
   * Held by retention, a compaction's swap and truncateTo: their file work runs on the log thread
   * outside #mutex (so flights keep landing), and must not interleave with each other's.
   */
  readonly #maintenanceMutex = new Mutex();
  /** Shared with a running compaction job: close() sets it to stop the job at its next step. */
  readonly #cancelCompaction = new Int32Array(new SharedArrayBuffer(4));
  #segments: Segment[];
  #pending: PendingAppend[] = [];
  #pendingBytes = 0;
  /** Flights taken and not yet landed, in offset order (at most flightsMax). */
  #flights: Flight[] = [];
  /** bytesAtMost of the flights sent and not yet landed. */
  #flyingBytesAtMost = 0;
  #writer: Promise<void> | null = null;
  #takeScheduled = false;
  /** Set while failed flights are being cut back (#failFlights): nothing is taken meanwhile. */
  #recovering = false;
  /** Set while the active segment rolls: flights taken meanwhile are held (#take) and sent by #land. */
  #rolling = false;
  /** roll() was called with flights out: the next flight boundary rolls (#rollDue, #writeLoop). */
  #rollRequested = false;
  #rollWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  /** Offsets are handed out when appends are taken into a flight, ahead of the write. */
  #assignedNextOffset: number;
  #closing = false;
  /** The compaction running, if any: a second compact() joins it, close() waits for it. */
  #compaction: Promise<number> | null = null;
  #leaderEpoch: number;
  #dirty = false;
  #closed = false;
  #failure: Error | null = null;
  /** What readers may see: the active segment's durable end. */
  #committedPosition: number;
  #committedNextOffset: number;
  #waiters: Array<{ offset: number; resolve: () => void }> = [];
  readonly #reportedDamage = new Set<string>();
  readonly #stats = {
    appendedRecords: 0,
    appendedBytes: 0,
    batchesWritten: 0,
    fsyncCount: 0,
    damagedRegionsFound: 0,
    lostRecordsAtOpen: 0,
  };

  private constructor(
    id: number,
    directory: string,
    options: PartitionOptions,
    shared: PartitionShared,
    segments: Segment[],
  ) {
    this.id = id;
    this.directory = directory;
    this.#options = options;
    this.#scanOptions = scanOptions(options, shared.storage);
    this.#storage = shared.storage;
    this.#fdCache = shared.fdCache;
    this.#compressor = shared.compressor;
    this.#onEvent = shared.onEvent;
    this.#segments = segments;
    this.#leaderEpoch = 0;
    const active = this.#active;
    this.#committedPosition = active.sizeBytes;
    this.#committedNextOffset = active.nextOffset;
    this.#assignedNextOffset = active.nextOffset;
  }

  /** Opens (creating when absent) a partition directory and recovers it; see Segment.open. */
  static open(id: number, directory: string, options: PartitionOptions, shared: PartitionShared): Partition {
    const storage = shared.storage;
    makeDirectoryDurable(storage, directory);
    for (const name of storage.readdir(directory)) {
      if (name.endsWith(".tmp") || name.endsWith(".compacting")) storage.unlink(path.join(directory, name));
      if (name.endsWith(segmentExtensions.cutIntent))
        finishInterruptedCut(storage, path.join(directory, name));
    }
    const baseOffsets = storage
      .readdir(directory)
      .filter((name) => name.endsWith(segmentExtensions.log))
      .map((name) => Number.parseInt(name, 10))
      .sort((a, b) => a - b);
    const segments: Segment[] = [];
    let lostRecords = 0;
    for (let i = 0; i < baseOffsets.length; i++) {
      const next = i + 1 < baseOffsets.length ? baseOffsets[i + 1] : null;
      const { segment, report } = Segment.open(
        directory,
        baseOffsets[i],
        next,
        scanOptions(options, storage),
      );
      if (report.damaged.length > 0 || report.indexRebuilt)
        shared.onEvent({ kind: "recovered", partition: id, segmentBaseOffset: segment.baseOffset, report });
      lostRecords += report.lostRecordsAtLeast;
      segments.push(segment);
    }
    if (segments.length === 0) {
      segments.push(Segment.create(storage, directory, 0));
      storage.fsyncDirectory(directory);
    }
    const partition = new Partition(id, directory, options, shared, segments);
    partition.#stats.lostRecordsAtOpen = lostRecords;
    partition.#leaderEpoch = partition.#lastLeaderEpoch();
    return partition;
  }

  get #active(): Segment {
    return this.#segments[this.#segments.length - 1];
  }

  get logStartOffset(): number {
    return this.#segments[0].baseOffset;
  }

  /** Exclusive end of the committed (acknowledged, readable) records. */
  get endOffset(): number {
    return this.#committedNextOffset;
  }

  get leaderEpoch(): number {
    return this.#leaderEpoch;
  }

  /** Leader epochs only grow: a new leader stamps its epoch on every batch it writes. */
  setLeaderEpoch(epoch: number): void {
    assert.ok(
      Number.isInteger(epoch) && epoch >= this.#leaderEpoch && epoch <= 0xffffffff,
      "leader epochs only grow",
    );
    this.#leaderEpoch = epoch;
  }

  stats(): PartitionStats {
    return {
      ...this.#stats,
      pendingBytes: this.#pendingBytes,
      sizeBytes: this.#segments.reduce((sum, segment) => sum + segment.sizeBytes, 0),
      segmentCount: this.#segments.length,
    };
  }

  /** Resolves once the records are durable (fsync "always") or written (fsync "interval"). */
  append(records: RecordSet, options: AppendOptions = {}): Promise<AppendResult> {
    if (this.#closing) return Promise.reject(new LogClosedError());
    if (this.#failure)
      return Promise.reject(
        new LogWriteError(`partition ${this.id} is failed until reopened`, this.#failure),
      );
    let rawBytes: number;
    try {
      rawBytes = this.#validate(records);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#pendingBytes + rawBytes > this.#options.pendingBytesMax && this.#pending.length > 0) {
      return Promise.reject(
        new LogOverloadedError(
          `partition ${this.id} has ${this.#pendingBytes} bytes waiting for the disk`,
          100,
        ),
      );
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.#pending.push({
        records,
        recordCount: recordCountOf(records),
        rawBytes,
        sourcePosition: options.sourcePosition ?? -1,
        resolve,
        reject,
      });
      this.#pendingBytes += rawBytes;
      this.#pump(true);
    });
  }

  #validate(records: RecordSet): number {
    const rawBytes = Array.isArray(records)
      ? this.#validateRecords(records)
      : this.#validateColumns(records as RecordColumns);
    if (rawBytes > this.#options.appendBytesMax) {
      throw new RecordTooLargeError(
        `append of ${rawBytes} bytes is more than appendBytesMax ${this.#options.appendBytesMax}`,
      );
    }
    return rawBytes;
  }

  #validateRecords(records: readonly LogRecord[]): number {
    if (records.length === 0) throw new InvalidRecordError("an append needs at least one record");
    let rawBytes = 0;
    for (let i = 0; i < records.length; i++) {
      const record = records[i];
      if (!(record?.key instanceof Uint8Array) || !(record.value instanceof Uint8Array)) {
        throw new InvalidRecordError(`record ${i}: key and value must be Uint8Array`);
      }
      rawBytes += this.#validateRecord(i, record.timestampMs, recordBytes(record));
    }
    return rawBytes;
  }

  #validateColumns(columns: RecordColumns): number {
    const { count, timestampsMs, keyLengths, valueLengths, keys, values } = columns ?? {};
    if (!Number.isSafeInteger(count) || count <= 0)
      throw new InvalidRecordError("an append needs at least one record");
    if (
      !(timestampsMs instanceof Float64Array && timestampsMs.length >= count) ||
      !(keyLengths instanceof Uint32Array && keyLengths.length >= count) ||
      !(valueLengths instanceof Uint32Array && valueLengths.length >= count) ||
      !(keys instanceof Uint8Array) ||
      !(values instanceof Uint8Array)
    ) {
      throw new InvalidRecordError(
        "record columns need count timestamps (Float64Array), key and value lengths (Uint32Array), keys and values (Uint8Array)",
      );
    }
    let keyBytes = 0;
    let valueBytes = 0;
    for (let i = 0; i < count; i++) {
      this.#validateRecord(i, timestampsMs[i], keyLengths[i] + valueLengths[i]);
      keyBytes += keyLengths[i];
      valueBytes += valueLengths[i];
    }
    if (keyBytes !== keys.length || valueBytes !== values.length) {
      throw new InvalidRecordError(
        `record columns: lengths add up to ${keyBytes} key and ${valueBytes} value bytes, the columns hold ${keys.length} and ${values.length}`,
      );
    }
    return keyBytes + valueBytes;
  }

  /** Checks one record's timestamp and size; returns its bytes. */
  #validateRecord(index: number, timestampMs: number, bytes: number): number {
    if (!Number.isSafeInteger(timestampMs) || Math.abs(timestampMs) > timestampAbsMax) {
      throw new InvalidRecordError(`record ${index}: timestampMs must be an integer within ±2^51`);
    }
    if (bytes > this.#options.recordBytesMax) {
      throw new RecordTooLargeError(
        `record ${index} has ${bytes} bytes, more than recordBytesMax ${this.#options.recordBytesMax}`,
      );
    }
    return bytes;
  }

  /**
   * Moves pending appends into a flight: offsets are assigned now, and the flight goes to the log
   * thread, which compresses, writes and fsyncs it (src/log/write-job.ts). Appends read in one
   * event-loop turn join one flight (taken at the turn's end), and while flightsMax flights are out
   * later appends accumulate into one big group: this is the group commit (one write + one
   * fdatasync for every append that waited).
   */
  #pump(deferred: boolean): void {
    if (this.#pending.length === 0 || this.#flights.length >= flightsMax || this.#takeScheduled) return;
    if (this.#recovering) return; // #writeLoop pumps again once the failed flights are cut back
    if (!deferred) {
      this.#take();
      return;
    }
    this.#takeScheduled = true;
    this.#compressor.atTurnEnd(() => {
      this.#takeScheduled = false;
      if (this.#flights.length < flightsMax && !this.#recovering) this.#take();
    });
  }

  #take(): void {
    const taken = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (taken.length === 0) return;
    if (this.#failure) {
      const error = new LogWriteError(`partition ${this.id} is failed until reopened`, this.#failure);
      for (const pending of taken) pending.reject(error);
      return;
    }
    const baseOffset = this.#assignedNextOffset;
    let nextOffset = baseOffset;
    let bytesAtMost = 0;
    const batches: BatchToWrite[] = [];
    for (const group of this.#group(taken)) {
      const batch = this.#encodeBatch(group, nextOffset);
      batches.push(batch);
      bytesAtMost += this.#bytesAtMost(batch.rawBytes);
      for (const pending of group) nextOffset += pending.recordCount;
    }
    this.#assignedNextOffset = nextOffset;
    // The records are in the payload now. Letting go of them here, not when the flight lands, lets
    // the caller's buffers die young: held until the fsync they outlive a scavenge, get promoted,
    // and their external memory then forces a full GC (measured: 20 -> 5 in 6 s at 100k
    // records/s, docs/benchmarks.md).
    for (const pending of taken) pending.records = noRecords;
    const flight: Flight = { taken, baseOffset, batches, bytesAtMost, outcome: null };
    this.#flights.push(flight);
    // Sent now unless a roll is in progress, an earlier flight is held back, or this one must wait
    // for a roll.
    const held = this.#rolling || (this.#flights.length > 1 && this.#flights.at(-2)!.outcome === null);
    if (!held && !this.#rollDue(bytesAtMost)) this.#send(flight);
    if (this.#writer === null) this.#writer = this.#writeLoop();
  }

  /** Hands a flight to the log thread, at the committed end when it is the only one out. */
  #send(flight: Flight): void {
    const active = this.#active;
    assert.ok(active.writeFd !== null && flight.outcome === null);
    const first = this.#flights[0] === flight;
    flight.outcome = this.#compressor.write(
      {
        fd: active.writeFd,
        position: first ? active.sizeBytes : null,
        codec: this.#options.codec,
        level: this.#options.compressionLevel,
        sync: this.#options.fsync === fsyncModes.always,
        batches: flight.batches,
      },
      this.id,
      this.#storage,
    );
    this.#flyingBytesAtMost += flight.bytesAtMost;
  }

  /** Whether the active segment must roll before `incomingBytesAtMost` more bytes go to it. */
  #rollDue(incomingBytesAtMost: number): boolean {
    const active = this.#active;
    if (active.sizeBytes === 0 && this.#flyingBytesAtMost === 0) return false;
    if (this.#rollRequested) return true;
    const full =
      active.sizeBytes + this.#flyingBytesAtMost + incomingBytesAtMost > this.#options.segmentBytesMax;
    return full || Date.now() - active.createdWallMs > this.#options.segmentAgeMaxMs;
  }

  #encodeBatch(group: readonly PendingAppend[], baseOffset: number): BatchToWrite {
    const encoded = encodePayloadParts(group.map((pending) => pending.records));
    let sourcePosition = -1;
    for (const pending of group) sourcePosition = Math.max(sourcePosition, pending.sourcePosition);
    return { ...encoded, baseOffset, sourcePosition, leaderEpoch: this.#leaderEpoch };
  }

  /** Groups whole appends into batches of at most batchRawBytesMax (an append is never split). */
  #group(taken: readonly PendingAppend[]): PendingAppend[][] {
    const groups: PendingAppend[][] = [];
    let current: PendingAppend[] = [];
    let currentBytes = 0;
    for (const pending of taken) {
      if (current.length > 0 && currentBytes + pending.rawBytes > this.#options.batchRawBytesMax) {
        groups.push(current);
        current = [];
        currentBytes = 0;
      }
      current.push(pending);
      currentBytes += pending.rawBytes;
    }
    if (current.length > 0) groups.push(current);
    return groups;
  }

  /** Lands flights in offset order as the log thread reports them. */
  async #writeLoop(): Promise<void> {
    try {
      for (;;) {
        while (this.#flights.length > 0) {
          await this.#mutex.run(() => this.#land());
          this.#pump(false);
        }
        if (!this.#rollRequested) break;
        // A roll was asked for and no later flight came to be held for it: roll now. A flight taken
        // meanwhile is held (#rollDue) and goes round the loop again, which rolls before it.
        await this.#mutex.run(async () => {
          if (this.#flights.length > 0) return;
          if (this.#failure) this.#settleRollRequest(this.#failure);
          else if (this.#active.sizeBytes === 0) this.#settleRollRequest(null);
          else await this.#roll().catch(() => {}); // #roll settles the request either way
        });
      }
    } finally {
      this.#writer = null;
    }
  }

  #settleRollRequest(error: Error | null): void {
    this.#rollRequested = false;
    const waiters = this.#rollWaiters;
    this.#rollWaiters = [];
    for (const waiter of waiters) {
      if (error === null) waiter.resolve();
      else waiter.reject(new LogWriteError(`partition ${this.id}: the roll failed`, error));
    }
  }

  /** Lands the oldest flight: accounts for its bytes, commits it and answers its appends. */
  async #land(): Promise<void> {
    const flight = this.#flights[0];
    // "failed": the partition already refuses writes (an earlier fsync failed); nothing is cut.
    let stage: "write" | "sync" | "failed" = "write";
    const failedBefore = this.#failure !== null;
    try {
      if (flight.outcome === null) {
        // Held back for a roll: every earlier flight has landed, so the segment's size is exact.
        if (this.#failure) {
          stage = "failed";
          throw this.#failure;
        }
        if (this.#rollDue(flight.bytesAtMost)) await this.#roll();
        for (const later of this.#flights) {
          if (later !== flight && this.#rollDue(later.bytesAtMost)) break;
          this.#send(later);
        }
      }
      const outcome = await flight.outcome!;
      if (!outcome.ok) {
        stage = outcome.stage;
        throw outcomeError(outcome);
      }
      if (this.#failure) {
        // An fsync of the interval mode failed while this flight was out: it is not trusted either.
        stage = "failed";
        throw this.#failure;
      }
      const target = this.#active;
      assert.equal(flight.baseOffset, target.nextOffset, "flights land in offset order");
      target.appendWritten(flight.batches, outcome.batchBytes, this.#options.indexIntervalBytes);
      this.#flights.shift();
      this.#flyingBytesAtMost -= flight.bytesAtMost;
      if (this.#options.fsync === fsyncModes.always) this.#stats.fsyncCount++;
      else this.#dirty = true;
      this.#commit(target, flight);
    } catch (error) {
      await this.#failFlights(error, stage, failedBefore);
    }
  }

  /**
   * A flight failed: every flight out fails with it. After a failed fsync the kernel may have dropped
   * the dirty pages, so nothing about the file can be trusted until recovery reads it back and the
   * partition refuses writes until reopened. After a failed write the later flights were written
   * after it (or fail on the log thread because it failed): once the thread is done with all of
   * them, the file is cut back to its committed end so no byte of an unacknowledged flight stays.
   * No flight is taken meanwhile (#recovering): it would be given offsets and a position that the
   * cut is about to change.
   */
  async #failFlights(
    error: unknown,
    stage: "write" | "sync" | "failed",
    failedBefore: boolean,
  ): Promise<void> {
    if (stage === "sync") this.#failure = error as Error;
    if (!failedBefore) this.#onEvent({ kind: "write-failed", partition: this.id, error });
    this.#recovering = true;
    const failed = this.#flights;
    try {
      await Promise.all(failed.map((each) => each.outcome));
      const target = this.#active;
      // A segment left without a write fd (a roll failed half way) has nothing to cut; #roll has
      // failed the partition then.
      if (stage === "write" && target.writeFd !== null) target.rollBack();
    } catch (rollBackError) {
      this.#failure ??= rollBackError as Error; // a file that cannot be cut back is not trusted
    } finally {
      this.#flights = [];
      this.#flyingBytesAtMost = 0;
      this.#assignedNextOffset = this.#active.nextOffset;
      this.#recovering = false;
      const failure = new LogWriteError(`partition ${this.id}: ${stage} failed`, error);
      for (const each of failed) for (const pending of each.taken) pending.reject(failure);
    }
  }

  /** Bytes a batch of `rawBytes` can take on disk at most: header + the codec's worst case. */
  #bytesAtMost(rawBytes: number): number {
    const growth = this.#options.codec === codecs.none ? 0 : (rawBytes >> 8) + 64; // zstd's bound
    return batchHeaderBytes + rawBytes + growth;
  }

  /** Waits until no append is pending or in flight. */
  async #quiesce(): Promise<void> {
    while (this.#writer !== null || this.#pending.length > 0 || this.#takeScheduled) {
      if (this.#writer !== null) await this.#writer;
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  #commit(active: Segment, flight: Flight): void {
    this.#committedPosition = active.sizeBytes;
    this.#committedNextOffset = active.nextOffset;
    this.#stats.batchesWritten += flight.batches.length;
    let offset = flight.baseOffset;
    for (const pending of flight.taken) {
      this.#stats.appendedRecords += pending.recordCount;
      this.#stats.appendedBytes += pending.rawBytes;
      pending.resolve({ baseOffset: offset, recordCount: pending.recordCount });
      offset += pending.recordCount;
    }
    assert.equal(offset, this.#committedNextOffset, "every appended record got exactly one offset");
    if (this.#waiters.length > 0) {
      const waiting = this.#waiters;
      this.#waiters = [];
      for (const waiter of waiting) {
        if (waiter.offset < this.#committedNextOffset) waiter.resolve();
        else this.#waiters.push(waiter);
      }
    }
  }

  async #roll(): Promise<void> {
    this.#rolling = true;
    try {
      await this.#rollLocked();
      this.#settleRollRequest(null);
    } catch (error) {
      this.#settleRollRequest(error as Error);
      throw error;
    } finally {
      this.#rolling = false;
    }
  }

  async #rollLocked(): Promise<void> {
    const active = this.#active;
    try {
      await active.seal();
    } catch (error) {
      this.#failure = error as Error; // the seal's fsync failed: see #land
      throw error;
    }
    this.#stats.fsyncCount++;
    try {
      this.#segments.push(Segment.create(this.#storage, this.directory, active.nextOffset));
      this.#storage.fsyncDirectory(this.directory);
    } catch (error) {
      // The old segment is sealed and the new one may not exist: no write can go anywhere until
      // the partition is reopened (recovery then starts a fresh active segment).
      this.#failure = error as Error;
      throw error;
    }
    this.#committedPosition = 0;
    this.#onEvent({ kind: "segment-rolled", partition: this.id, baseOffset: active.nextOffset });
  }

  /** Interval fsync mode: makes everything written so far durable. */
  syncIfDirty(): Promise<void> {
    return this.#mutex.run(async () => {
      if (!this.#dirty || this.#closed || this.#failure) return;
      this.#dirty = false;
      try {
        await this.#active.sync();
      } catch (error) {
        // As in #land: after a failed fsync nothing written since the last good one is trusted.
        this.#failure = error as Error;
        throw error;
      }
      this.#stats.fsyncCount++;
    });
  }

  /** Resolves once a record at `offset` or beyond is readable, or when the signal aborts / the log closes. */
  waitForData(offset: number, signal?: AbortSignal): Promise<void> {
    if (offset < this.#committedNextOffset || this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      // A long-lived reader waits on one signal over and over: each wait must take its abort
      // listener away again, or the signal collects one listener per wait.
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((candidate) => candidate !== waiter);
        resolve();
      };
      const waiter = {
        offset,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      this.#waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #fdFor(segment: Segment): number {
    return segment.writeFd ?? this.#fdCache.get(segment.logPath);
  }

  #readableEnd(segment: Segment): number {
    return segment === this.#active ? this.#committedPosition : segment.sizeBytes;
  }

  #segmentIndexFor(offset: number): number {
    let low = 0;
    let high = this.#segments.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.#segments[middle].baseOffset <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** Scans a byte range of one segment, reporting each damaged region once and skipping it. */
  *#scan(
    segment: Segment,
    startPosition: number,
    endPosition: number,
  ): Generator<ScanItem & { kind: "batch" }> {
    const fd = this.#fdFor(segment);
    for (const item of scanBatches(fd, startPosition, endPosition, this.#scanOptions)) {
      if (item.kind === "batch") {
        yield item;
        continue;
      }
      const key = `${segment.baseOffset}:${item.position}`;
      if (!this.#reportedDamage.has(key)) {
        this.#reportedDamage.add(key);
        this.#stats.damagedRegionsFound++;
        this.#onEvent({
          kind: "damaged-batch",
          partition: this.id,
          segmentBaseOffset: segment.baseOffset,
          region: item,
        });
      }
    }
  }

  /**
   * Reads committed records from `fromOffset` on, stopping after `bytesMax` key+value bytes (but always
   * returning at least one whole batch when there is data). Offsets below the log start are skipped
   * forward; damaged batches are skipped and reported.
   */
  read(fromOffset: number, options: { bytesMax?: number; endOffset?: number } = {}): ReadResult {
    this.#assertOpen();
    assert.ok(Number.isSafeInteger(fromOffset) && fromOffset >= 0, "fromOffset is a non-negative integer");
    const bytesMax = Math.max(
      1,
      Math.min(options.bytesMax ?? this.#options.readBytesMax, this.#options.readBytesMax),
    );
    const endOffset = Math.min(options.endOffset ?? this.#committedNextOffset, this.#committedNextOffset);
    const records: StoredRecord[] = [];
    let next = Math.max(fromOffset, this.logStartOffset);
    let bytes = 0;
    for (
      let s = this.#segmentIndexFor(next);
      s < this.#segments.length && next < endOffset && bytes < bytesMax;
      s++
    ) {
      const segment = this.#segments[s];
      for (const batch of this.#scan(segment, segment.positionForOffset(next), this.#readableEnd(segment))) {
        const batchEnd = batch.header.baseOffset + batch.header.recordCount;
        if (batchEnd <= next) continue;
        for (const record of decodeRecords(batch.header, batch.payload)) {
          if (record.offset < next || record.offset >= endOffset) continue;
          records.push(record);
          bytes += recordBytes(record);
        }
        next = Math.min(batchEnd, endOffset);
        if (bytes >= bytesMax || next >= endOffset) break;
      }
      if (bytes < bytesMax && segment !== this.#active)
        next = Math.max(next, Math.min(this.#segments[s + 1].baseOffset, endOffset));
    }
    return {
      records,
      nextOffset: next,
      logStartOffset: this.logStartOffset,
      endOffset: this.#committedNextOffset,
    };
  }

  /**
   * The committed records at `offsets` (ascending, distinct), in that order: point reads for the
   * block index's sparse streams. An offset holding no readable record (below the log start, at or
   * past the committed end, in a batch skipped as damaged) is left out. Each batch holding some is
   * decompressed once, and only the asked-for records are cut out of it; `cache` keeps the last
   * batch opened for the caller's next call (consecutive blocks often share a compacted batch).
   * The records view the batch's memory.
   */
  readAt(offsets: readonly number[], cache: PointReadCache = emptyPointReadCache()): StoredRecord[] {
    this.#assertOpen();
    return readAtOffsets(offsets, this.logStartOffset, this.#committedNextOffset, cache, (offset) => {
      const segment = this.#segments[this.#segmentIndexFor(offset)];
      for (const item of this.#scan(segment, segment.positionForOffset(offset), this.#readableEnd(segment))) {
        if (item.header.baseOffset + item.header.recordCount <= offset) continue;
        return item.header.baseOffset <= offset ? openBatch(item.header, item.payload) : null;
      }
      return null;
    });
  }

  /**
   * A read snapshot of what is committed now, from the segment holding `fromOffset` (default: the log
   * start) to the committed end, for a reader on another thread (src/log/snapshot.ts). Each segment
   * gets a read fd of its own, so neither the fd LRU nor maintenance can close or change what the
   * snapshot reads; the caller must call release() when the reader is done, also on error.
   */
  readSnapshot(fromOffset = this.logStartOffset): HeldSnapshot {
    this.#assertOpen();
    assert.ok(Number.isSafeInteger(fromOffset) && fromOffset >= 0, "fromOffset is a non-negative integer");
    const segments: SegmentSnapshot[] = [];
    const fds: number[] = [];
    const release = () => {
      for (const fd of fds.splice(0)) this.#storage.close(fd);
    };
    try {
      const active = this.#active;
      for (let s = this.#segmentIndexFor(fromOffset); s < this.#segments.length; s++) {
        const segment = this.#segments[s];
        const readableEndBytes = this.#readableEnd(segment);
        const fd = this.#storage.open(segment.logPath, openModes.read);
        fds.push(fd);
        segments.push({
          baseOffset: segment.baseOffset,
          nextOffset: segment === active ? this.#committedNextOffset : segment.nextOffset,
          fd,
          readableEndBytes,
          maxTimestampMs: segment.maxTimestampMs,
          ...segment.indexBelow(readableEndBytes),
        });
      }
    } catch (error) {
      release();
      throw error;
    }
    const snapshot: PartitionSnapshot = {
      partition: this.id,
      logStartOffset: this.logStartOffset,
      endOffset: this.#committedNextOffset,
      segments,
      readBytesMax: this.#options.readBytesMax,
      chunkBytes: this.#scanOptions.chunkBytes,
      payloadBytesMax: this.#scanOptions.payloadBytesMax,
    };
    return { snapshot, release };
  }

  /**
   * The last `count` committed records (optionally only those matching `filter`), oldest first. Walks
   * the index backwards one chunk at a time, so the cost depends on how far back the matches are, not
   * on the partition's size. Returned records own their bytes.
   */
  readLast(count: number, filter?: (record: StoredRecord) => boolean): StoredRecord[] {
    this.#assertOpen();
    assert.ok(Number.isSafeInteger(count) && count >= 0);
    const chunks: StoredRecord[][] = [];
    let found = 0;
    for (let s = this.#segments.length - 1; s >= 0 && found < count; s--) {
      const segment = this.#segments[s];
      const positions = segment.indexPositions;
      let chunkEnd = this.#readableEnd(segment);
      for (let i = positions.length - 1; i >= 0 && found < count; i--) {
        if (positions[i] >= chunkEnd) continue; // indexed ahead of the commit: not readable yet
        const chunk: StoredRecord[] = [];
        for (const batch of this.#scan(segment, positions[i], chunkEnd)) {
          for (const record of decodeRecords(batch.header, batch.payload)) {
            if (filter === undefined || filter(record)) chunk.push(record);
          }
        }
        chunkEnd = positions[i];
        const wanted = chunk.slice(Math.max(0, chunk.length - (count - found)));
        chunks.push(wanted.map(ownRecord));
        found += wanted.length;
      }
    }
    return chunks.reverse().flat();
  }

  /** Offset of the first record (in log order) whose timestamp is >= timestampMs, or endOffset when none. */
  offsetForTimestamp(timestampMs: number): number {
    this.#assertOpen();
    for (const segment of this.#segments) {
      if (segment.maxTimestampMs < timestampMs) continue;
      for (const batch of this.#scan(
        segment,
        segment.positionForTimestamp(timestampMs),
        this.#readableEnd(segment),
      )) {
        if (batch.header.maxTimestampMs < timestampMs) continue;
        for (const record of decodeRecords(batch.header, batch.payload)) {
          if (record.timestampMs >= timestampMs) return record.offset;
        }
      }
    }
    return this.#committedNextOffset;
  }

  /** The epoch of the newest batch (the last segment holding one), 0 for an empty partition. */
  #lastLeaderEpoch(): number {
    for (let s = this.#segments.length - 1; s >= 0; s--) {
      const segment = this.#segments[s];
      const positions = segment.indexPositions;
      let epoch = -1;
      for (const batch of this.#scan(segment, positions.at(-1) ?? 0, segment.sizeBytes))
        epoch = batch.header.leaderEpoch;
      if (epoch >= 0) return epoch;
    }
    return 0;
  }

  /**
   * Removes every record at `offset` and beyond (a follower cutting back to its leader's log). A batch
   * that straddles the cut is rewritten with only its earlier records.
   */
  truncateTo(offset: number): Promise<void> {
    // Not while retention or a compaction's swap has file work out for a segment it may cut.
    return this.#maintenanceMutex.run(() => this.#truncateTo(offset));
  }

  async #truncateTo(offset: number): Promise<void> {
    assert.ok(Number.isSafeInteger(offset) && offset >= 0);
    for (;;) {
      await this.#quiesce(); // appends in flight hold offsets past the cut
      const done = await this.#mutex.run(async () => {
        this.#assertOpen();
        if (this.#flights.length > 0 || this.#pending.length > 0) return false;
        if (offset < this.#committedNextOffset) this.#truncateLocked(offset);
        return true;
      });
      if (done) return;
    }
  }

  #truncateLocked(offset: number): void {
    while (this.#segments.length > 1 && this.#active.baseOffset >= offset) {
      this.#deleteSegment(this.#segments.pop()!);
    }
    const first = this.#segments.pop()!;
    if (first.baseOffset > offset) {
      // Every record goes and the log restarts at the offset. The new segment's name is made durable
      // before the last old one's goes: a cut in between must not leave the partition without a
      // segment, which open would restart at offset 0, under offsets already handed out and
      // committed (found by the power-loss simulation, round 1015539).
      this.#segments.push(Segment.create(this.#storage, this.directory, offset));
      this.#storage.fsyncDirectory(this.directory);
      this.#deleteSegment(first);
    } else this.#cutSegment(first, offset); // at its base: cut to empty, its name kept
    this.#storage.fsyncDirectory(this.directory);
    const active = this.#active;
    this.#committedPosition = active.sizeBytes;
    this.#committedNextOffset = active.nextOffset;
    this.#assignedNextOffset = active.nextOffset;
    assert.ok(this.#committedNextOffset <= offset, "nothing at or past the cut survives");
  }

  #cutSegment(segment: Segment, offset: number): void {
    let cutPosition = segment.sizeBytes;
    let replacement: Buffer | null = null;
    for (const batch of this.#scan(segment, segment.positionForOffset(offset), segment.sizeBytes)) {
      if (batch.header.baseOffset + batch.header.recordCount <= offset) continue;
      cutPosition = batch.position;
      if (batch.header.baseOffset < offset) {
        const kept = decodeRecords(batch.header, batch.payload).filter((record) => record.offset < offset);
        const encoded = encodePayload(kept);
        const payload = compressPayloadSync(encoded.raw, batch.header.codec, this.#options.compressionLevel);
        const meta = {
          baseOffset: batch.header.baseOffset,
          sourcePosition: -1,
          leaderEpoch: batch.header.leaderEpoch,
          codec: batch.header.codec,
        };
        replacement = Buffer.concat([encodeHeader(meta, encoded, payload), payload]);
      }
      break;
    }
    const storage = this.#storage;
    if (segment.writeFd !== null) storage.close(segment.writeFd);
    this.#fdCache.forget(segment.logPath);
    // The replacement overwrites an acknowledged batch in place: torn by a power cut, it would take
    // the records before the cut with it. So it is first made durable on the side, and a crash
    // half way is finished on open (found by the power-loss simulation, round 2458).
    if (replacement) writeCutIntent(storage, segment.logPath, cutPosition, replacement);
    applyCut(storage, segment.logPath, cutPosition, replacement);
    if (replacement) storage.unlink(cutIntentPath(segment.logPath)); // made durable by the caller
    storage.unlink(segment.offsetIndexPath);
    storage.unlink(segment.timeIndexPath);
    storage.unlink(segment.logPath + compactedMarkerExtension);
    const reopened = Segment.open(this.directory, segment.baseOffset, null, this.#scanOptions).segment;
    this.#segments.push(reopened);
  }

  #deleteSegment(segment: Segment): void {
    if (segment.writeFd !== null) this.#storage.close(segment.writeFd);
    segment.writeFd = null;
    this.#fdCache.forget(segment.logPath);
    for (const file of [
      segment.logPath,
      segment.offsetIndexPath,
      segment.timeIndexPath,
      segment.logPath + compactedMarkerExtension,
    ]) {
      this.#storage.unlink(file);
    }
  }

  /**
   * Deletes whole sealed segments from the head while the partition is over its byte or age
   * retention. A segment's age is the server time of its last append: its `.log` file's mtime
   * (FORMAT.md, "Retention"), never its records' timestamps, which are the clients' clocks (one
   * record stamped in the year 3000 held every later segment forever). The choice of segments is
   * made here; their unlinks and the directory fsync run on the log thread.
   */
  enforceRetention(nowMs: number): Promise<number> {
    return this.#maintenanceMutex.run(async () => {
      const doomed = await this.#mutex.run(async () => {
        this.#assertOpen();
        return this.#takeExpired(nowMs);
      });
      if (doomed.length === 0) return 0;
      const paths: string[] = [];
      for (const { segment } of doomed) paths.push(...segmentFiles(segment));
      const outcome = await this.#compressor.maintain(
        { kind: "delete", directory: this.directory, paths, closeFds: [] },
        this.id,
        this.#storage,
      );
      // The segments are out of the partition either way; files an unlink missed come back on open
      // as the head of the log, and the next retention run deletes them again.
      if (!outcome.ok) throw maintenanceError("retention's deletes", outcome);
      for (const { segment, reason } of doomed) {
        this.#onEvent({
          kind: "segment-deleted",
          partition: this.id,
          baseOffset: segment.baseOffset,
          reason,
          bytes: segment.sizeBytes,
        });
      }
      return doomed.length;
    });
  }

  /** Server time of a sealed segment's last append: its log file's mtime (kept by compaction). */
  #lastAppendMs(segment: Segment): number {
    // A log file someone removed holds nothing to keep: its bookkeeping goes as if expired.
    return this.#storage.stat(segment.logPath)?.modifiedMs ?? Number.NEGATIVE_INFINITY;
  }

  /** Takes the expired sealed segments off the head (bookkeeping only: no file is touched but stat). */
  #takeExpired(nowMs: number): Array<{ segment: Segment; reason: "age" | "bytes" }> {
    const { retentionBytes, retentionMs } = this.#options;
    let totalBytes = this.#segments.reduce((sum, segment) => sum + segment.sizeBytes, 0);
    const doomed: Array<{ segment: Segment; reason: "age" | "bytes" }> = [];
    while (this.#segments.length > 1) {
      const oldest = this.#segments[0];
      const overBytes = retentionBytes !== null && totalBytes > retentionBytes;
      const overAge = retentionMs !== null && this.#lastAppendMs(oldest) < nowMs - retentionMs;
      if (!overBytes && !overAge) break;
      assert.ok(oldest.sealed && oldest.writeFd === null, "retention deletes sealed segments only");
      this.#segments.shift();
      this.#fdCache.forget(oldest.logPath); // closed while the file still has its name: cheap
      totalBytes -= oldest.sizeBytes;
      doomed.push({ segment: oldest, reason: overBytes ? "bytes" : "age" });
    }
    return doomed;
  }

  /**
   * Rolls the active segment (tests, operators); a no-op when it is empty. With flights out it does
   * not wait for a quiet moment (under steady load there is none): it asks for the roll, the next
   * flight is held for it (#rollDue) and the write loop rolls at that flight boundary, or once the
   * last flight out has landed (#writeLoop). Flights continue at positions in the active segment's
   * file (write-job.ts), so its fd must never close under them.
   */
  async roll(): Promise<void> {
    const requested = await this.#mutex.run(async () => {
      this.#assertOpen();
      // A failed partition's file holds bytes past its committed end: sealing it would hide them
      // from the index but not from the rescan on reopen.
      if (this.#failure)
        throw new LogWriteError(`partition ${this.id} is failed until reopened`, this.#failure);
      if (this.#flights.length === 0) {
        if (this.#active.sizeBytes > 0) await this.#roll();
        return null;
      }
      this.#rollRequested = true;
      // Wrapped: returned bare, the promise would be adopted and awaited inside the mutex, which the
      // write loop needs in order to roll.
      return { rolled: new Promise<void>((resolve, reject) => this.#rollWaiters.push({ resolve, reject })) };
    });
    if (requested !== null) await requested.rolled;
  }

  /**
   * Rewrites sealed segments not yet compacted into large batches at the compaction level: the same
   * offsets, timestamps, epochs and bytes, fewer and better-compressed blocks. The rewrite (read,
   * decompress, re-encode, compress, write, fsync) runs on the log thread (src/log/compact-job.ts);
   * here are only the choice of segments and the swap. A second call while one runs joins it.
   */
  compact(): Promise<number> {
    this.#compaction ??= this.#compactAll().finally(() => {
      this.#compaction = null;
    });
    return this.#compaction;
  }

  async #compactAll(): Promise<number> {
    let compacted = 0;
    for (const segment of this.#segments.slice(0, -1)) {
      if (this.#closing) break;
      // Retention or truncateTo may have deleted it since the list was taken (they do not wait for
      // a compaction between its segments): nothing to compact (found by the power-loss simulation).
      if (!this.#segments.includes(segment)) continue;
      if (this.#storage.stat(segment.logPath + compactedMarkerExtension) !== null) continue;
      if (await this.#compactSegment(segment)) compacted++;
    }
    return compacted;
  }

  async #compactSegment(segment: Segment): Promise<boolean> {
    assert.ok(segment.sealed, "only sealed segments are compacted");
    const written = await this.#compressor.maintain(
      {
        kind: "compact-write",
        logPath: segment.logPath,
        sizeBytes: segment.sizeBytes,
        codec: this.#options.codec,
        level: this.#options.compactionLevel,
        batchRawBytesMax: this.#options.compactionBatchRawBytesMax,
        scan: {
          chunkBytes: this.#scanOptions.chunkBytes,
          payloadBytesMax: this.#scanOptions.payloadBytesMax,
        },
        cancel: this.#cancelCompaction,
      },
      this.id,
      this.#storage,
    );
    if (!written.ok || written.cancelled) {
      await this.#discardCompaction(segment);
      // Deleted while the job was on its way to the log thread: its file is gone, and that is fine.
      const deleted = !this.#segments.includes(segment) && written.ok === false && written.code === "ENOENT";
      if (!written.ok && !deleted) throw maintenanceError(`compaction of ${segment.logPath}`, written);
      return false;
    }
    return this.#maintenanceMutex.run(async () => {
      const finish = await this.#mutex.run(async () => this.#swapCompacted(segment, written));
      if (finish === null) {
        await this.#discardCompaction(segment);
        return false;
      }
      const finished = await this.#compressor.maintain(finish, this.id, this.#storage);
      // The new file is in place and indexed in memory; a missing index is rebuilt on open and a
      // missing marker only means the segment is compacted again.
      if (!finished.ok) throw maintenanceError(`compaction of ${segment.logPath}`, finished);
      this.#onEvent({
        kind: "segment-compacted",
        partition: this.id,
        baseOffset: segment.baseOffset,
        bytesBefore: finish.bytesBefore,
        bytesAfter: segment.sizeBytes,
      });
      return true;
    });
  }

  /**
   * Puts the compacted file in place of the segment's log and its index in place of the segment's,
   * in one synchronous step: a reader sees the old file with the old index or the new with the new.
   * A cached read fd is the old file and is closed; the rename is the commit point (FORMAT.md,
   * "Compaction"), and everything durable after it runs on the log thread (the returned job).
   */
  #swapCompacted(
    segment: Segment,
    written: Extract<MaintenanceOutcome, { ok: true }>,
  ): (CompactFinishJob & { bytesBefore: number }) | null {
    if (this.#closed || !this.#segments.includes(segment) || segment === this.#active) return null;
    assert.ok(written.batches !== undefined && written.sizeBytes !== undefined);
    const rebuilt = Segment.indexFor(
      this.directory,
      segment.baseOffset,
      segment.nextOffset,
      segment.maxTimestampMs,
      written.batches,
      written.sizeBytes,
      this.#options.indexIntervalBytes,
      this.#storage,
    );
    const { offsets, times } = rebuilt.sealedIndexFiles();
    // Keeps the old file's blocks until the log thread closes it: the rename would free them here.
    const replacedFd = this.#storage.open(segment.logPath, openModes.read);
    this.#fdCache.forget(segment.logPath);
    // Indexes go first: a crash between these steps leaves a log without an index, rebuilt on open.
    this.#storage.unlink(segment.offsetIndexPath);
    this.#storage.unlink(segment.timeIndexPath);
    this.#storage.rename(compactingPath(segment.logPath), segment.logPath);
    const bytesBefore = segment.sizeBytes;
    segment.adoptIndex(rebuilt);
    return {
      kind: "compact-finish",
      directory: this.directory,
      offsetIndexPath: segment.offsetIndexPath,
      offsetIndex: offsets,
      timeIndexPath: segment.timeIndexPath,
      timeIndex: times,
      markerPath: segment.logPath + compactedMarkerExtension,
      replacedFd,
      bytesBefore,
    };
  }

  /** Removes a compaction's output that will not be used (a leftover is also deleted on open). */
  async #discardCompaction(segment: Segment): Promise<void> {
    await this.#compressor.maintain(
      { kind: "delete", directory: this.directory, paths: [compactingPath(segment.logPath)], closeFds: [] },
      this.id,
      this.#storage,
    );
  }

  #assertOpen(): void {
    if (this.#closed) throw new LogClosedError();
  }

  /** Flushes what is pending, fsyncs, and closes the files. Appends after this reject with LogClosedError. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    // No maintenance file work may outlive the close: a reopen would race with it.
    Atomics.store(this.#cancelCompaction, 0, 1);
    await this.#compaction?.catch(() => {});
    await this.#maintenanceMutex.run(async () => {});
    await this.#quiesce();
    await this.#mutex.run(async () => {
      this.#closed = true;
      const active = this.#active;
      try {
        if (active.writeFd !== null && this.#dirty && this.#failure === null) await active.sync();
      } finally {
        if (active.writeFd !== null) this.#storage.close(active.writeFd);
        active.writeFd = null;
        for (const segment of this.#segments) this.#fdCache.forget(segment.logPath);
        for (const waiter of this.#waiters) waiter.resolve();
        this.#waiters = [];
      }
    });
  }
}

/** Every file of a segment, as retention deletes it. */
function segmentFiles(segment: Segment): string[] {
  return [
    segment.logPath,
    segment.offsetIndexPath,
    segment.timeIndexPath,
    segment.logPath + compactedMarkerExtension,
  ];
}

function maintenanceError(what: string, outcome: Extract<MaintenanceOutcome, { ok: false }>): Error {
  const error = new Error(`${what} failed: ${outcome.message}`) as NodeJS.ErrnoException;
  if (outcome.code !== null) error.code = outcome.code;
  return error;
}

function ownRecord(record: StoredRecord): StoredRecord {
  return {
    offset: record.offset,
    timestampMs: record.timestampMs,
    key: Buffer.from(record.key),
    value: Buffer.from(record.value),
  };
}

/** payloadBytesMax only rejects garbage lengths: the largest batch holds one whole append, or a
 * compaction block, plus per-record varints and the compressor's worst-case growth. */
function scanOptions(options: PartitionOptions, storage: Storage) {
  const rawBytesMax = Math.max(
    options.appendBytesMax,
    options.batchRawBytesMax,
    options.compactionBatchRawBytesMax,
  );
  return {
    chunkBytes: options.readChunkBytes,
    payloadBytesMax: rawBytesMax * 4 + 1024 * 1024,
    indexIntervalBytes: options.indexIntervalBytes,
    storage,
  };
}
