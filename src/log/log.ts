// The partition log: N partitions under one directory, a lock so only one process opens it, the
// durable consumer offsets, and the timers for interval fsync. The source of truth of Sluice.

import assert from "node:assert/strict";
import path from "node:path";
import { type Codec, codecs, type RecordSet, type StoredRecord } from "./batch.ts";
import { acquireCompressor, type Compressor, releaseCompressor } from "./compressor.ts";
import { ConsumerOffsets } from "./consumer-offsets.ts";
import { LogClosedError, LogConfigError, LogLockedError } from "./errors.ts";
import { FdCache } from "./fd-cache.ts";
import { type LogLimits, logLimits } from "./limits.ts";
import {
  type AppendOptions,
  type AppendResult,
  type FsyncMode,
  fsyncModes,
  type LogEvent,
  Partition,
  type PartitionShared,
  type PartitionStats,
  type ReadResult,
} from "./partition.ts";
import { makeDirectoryDurable, writeFileDurably } from "./segment.ts";
import { nodeStorage, openModes, type Storage } from "./storage.ts";

export interface LogOptions extends Partial<LogLimits> {
  directory: string;
  partitionCount: number;
  /** "always" (default): an append resolves after fdatasync, so it survives power loss. "interval":
   * it resolves after write(); survives a process crash (the page cache has it) but an OS crash or
   * power loss can lose up to fsyncIntervalMs of acknowledged records. */
  fsync?: FsyncMode;
  codec?: "zstd" | "none";
  /** Delete sealed segments last appended to longer ago than this (server time: the file's mtime,
   * FORMAT.md "Retention"); null keeps them. */
  retentionMs?: number | null;
  /** Delete the oldest sealed segments while a partition holds more than this; null keeps them. */
  retentionBytes?: number | null;
  onEvent?: (event: LogEvent) => void;
  /** Worker threads compressing batches (0: compress on the main thread). One keeps the second core of
   * a two-core machine busy with zstd while the main thread takes requests. */
  compressionThreads?: number;
  /** Where every file of the log lives: node:fs by default; the power-loss simulation passes a
   * simulated disk (src/log/sim/). The log thread always writes through node:fs, so flights and
   * maintenance jobs of any other storage run inline on the main thread. */
  storage?: Storage;
}

const metaFileName = "log.json";
const lockFileName = "LOCK";
const formatVersion = 1;

export class PartitionLog {
  readonly directory: string;
  readonly partitionCount: number;
  readonly #storage: Storage;
  readonly #partitions: Partition[];
  readonly #fdCache: FdCache;
  readonly #compressor: Compressor;
  readonly #lockPath: string;
  readonly #consumers = new Map<string, ConsumerOffsets>();
  readonly #fsyncTimer: NodeJS.Timeout | null;
  #closed = false;
  #maintaining: Promise<{ segmentsDeleted: number; segmentsCompacted: number }> | null = null;

  private constructor(
    directory: string,
    partitions: Partition[],
    shared: PartitionShared,
    lockPath: string,
    fsyncIntervalMs: number | null,
  ) {
    this.directory = directory;
    this.partitionCount = partitions.length;
    this.#storage = shared.storage;
    this.#partitions = partitions;
    this.#fdCache = shared.fdCache;
    this.#compressor = shared.compressor;
    this.#lockPath = lockPath;
    this.#fsyncTimer = fsyncIntervalMs === null ? null : setInterval(() => this.#syncAll(), fsyncIntervalMs);
    this.#fsyncTimer?.unref();
  }

  /** Opens the log, creating it when absent, and recovers every partition (see FORMAT.md, "Recovery"). */
  static open(options: LogOptions): PartitionLog {
    const limits: LogLimits = { ...logLimits };
    for (const key of Object.keys(logLimits) as Array<keyof LogLimits>) {
      const value = options[key];
      if (value === undefined) continue;
      if (!Number.isSafeInteger(value) || value <= 0)
        throw new LogConfigError(`${key} must be a positive integer, got ${value}`);
      limits[key] = value;
    }
    if (limits.segmentBytesMax >= 2 ** 32)
      throw new LogConfigError("segmentBytesMax must be below 4 GiB (index positions are u32)");
    if (
      !Number.isInteger(options.partitionCount) ||
      options.partitionCount < 1 ||
      options.partitionCount > 4096
    ) {
      throw new LogConfigError(`partitionCount must be an integer in 1..4096, got ${options.partitionCount}`);
    }
    const fsync = options.fsync ?? fsyncModes.always;
    if (fsync !== fsyncModes.always && fsync !== fsyncModes.interval)
      throw new LogConfigError(`fsync must be "always" or "interval", got ${fsync}`);
    const codec: Codec = (options.codec ?? "zstd") === "zstd" ? codecs.zstd : codecs.none;
    const directory = options.directory;
    const storage = options.storage ?? nodeStorage;
    makeDirectoryDurable(storage, directory, true);
    const lockPath = takeLock(storage, directory);
    let compressor: Compressor | null = null;
    try {
      checkMeta(storage, directory, options.partitionCount);
      const fdCache = new FdCache(storage, limits.openFilesMax);
      compressor = acquireCompressor(options.compressionThreads ?? 1);
      const shared = { storage, fdCache, compressor, onEvent: options.onEvent ?? defaultEventSink };
      const partitionOptions = {
        ...limits,
        fsync,
        codec,
        retentionMs: options.retentionMs ?? null,
        retentionBytes: options.retentionBytes ?? null,
      };
      const partitions: Partition[] = [];
      for (let id = 0; id < options.partitionCount; id++) {
        partitions.push(
          Partition.open(id, path.join(directory, partitionDirectoryName(id)), partitionOptions, shared),
        );
      }
      return new PartitionLog(
        directory,
        partitions,
        shared,
        lockPath,
        fsync === fsyncModes.interval ? limits.fsyncIntervalMs : null,
      );
    } catch (error) {
      if (compressor) void releaseCompressor(compressor);
      releaseLock(storage, lockPath);
      throw error;
    }
  }

  partition(id: number): Partition {
    if (this.#closed) throw new LogClosedError();
    assert.ok(Number.isInteger(id) && id >= 0 && id < this.partitionCount, `partition ${id} out of range`);
    return this.#partitions[id];
  }

  append(partition: number, records: RecordSet, options?: AppendOptions): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new LogClosedError());
    return this.partition(partition).append(records, options);
  }

  read(
    partition: number,
    fromOffset: number,
    options?: { bytesMax?: number; endOffset?: number },
  ): ReadResult {
    return this.partition(partition).read(fromOffset, options);
  }

  readFromTimestamp(partition: number, timestampMs: number, options?: { bytesMax?: number }): ReadResult {
    const target = this.partition(partition);
    return target.read(target.offsetForTimestamp(timestampMs), options);
  }

  readLast(partition: number, count: number, filter?: (record: StoredRecord) => boolean): StoredRecord[] {
    return this.partition(partition).readLast(count, filter);
  }

  truncateTo(partition: number, offset: number): Promise<void> {
    return this.partition(partition).truncateTo(offset);
  }

  /** A named consumer's durable offsets (created on first use). */
  consumer(name: string): ConsumerOffsets {
    let consumer = this.#consumers.get(name);
    if (consumer === undefined) {
      consumer = ConsumerOffsets.open(this.#storage, path.join(this.directory, "consumers"), name);
      this.#consumers.set(name, consumer);
    }
    return consumer;
  }

  /** Retention then compaction over every partition; the server runs this periodically. */
  maintain(nowMs = Date.now()): Promise<{ segmentsDeleted: number; segmentsCompacted: number }> {
    // Single flight: a run still compacting when the next is due is joined, not doubled.
    this.#maintaining ??= this.#maintain(nowMs).finally(() => {
      this.#maintaining = null;
    });
    return this.#maintaining;
  }

  async #maintain(nowMs: number): Promise<{ segmentsDeleted: number; segmentsCompacted: number }> {
    let segmentsDeleted = 0;
    let segmentsCompacted = 0;
    for (const partition of this.#partitions) {
      if (this.#closed) break;
      segmentsDeleted += await partition.enforceRetention(nowMs);
      segmentsCompacted += await partition.compact();
    }
    return { segmentsDeleted, segmentsCompacted };
  }

  stats(): { partitions: PartitionStats[]; openFiles: number } {
    return {
      partitions: this.#partitions.map((partition) => partition.stats()),
      openFiles: this.#fdCache.openCount,
    };
  }

  #syncAll(): void {
    for (const partition of this.#partitions) {
      partition
        .syncIfDirty()
        .catch((error) => defaultEventSink({ kind: "write-failed", partition: partition.id, error }));
    }
  }

  /** Waits for pending appends, fsyncs, closes every file and releases the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#fsyncTimer) clearInterval(this.#fsyncTimer);
    await Promise.all(this.#partitions.map((partition) => partition.close()));
    this.#fdCache.closeAll();
    await releaseCompressor(this.#compressor);
    releaseLock(this.#storage, this.#lockPath);
  }
}

export function partitionDirectoryName(id: number): string {
  return `partition-${String(id).padStart(4, "0")}`;
}

function defaultEventSink(event: LogEvent): void {
  if (event.kind === "segment-rolled" || event.kind === "segment-compacted") return;
  process.stderr.write(
    `${JSON.stringify({ component: "log", ...event, error: "error" in event ? String(event.error) : undefined })}\n`,
  );
}

/**
 * Lock files this process holds, per storage: a second open from the same process is refused too.
 * (A simulated disk after a power cut is a new storage: the log that died with the old one holds
 * nothing on it, as a dead process would not.)
 */
const heldLocks = new WeakMap<Storage, Set<string>>();

function heldLocksOf(storage: Storage): Set<string> {
  let held = heldLocks.get(storage);
  if (held === undefined) {
    held = new Set();
    heldLocks.set(storage, held);
  }
  return held;
}

/** A lock file holding the owner's pid. A lock left by a dead process (kill -9) is taken over. */
function takeLock(storage: Storage, directory: string): string {
  const lockPath = path.join(storage.realpath(directory), lockFileName);
  const held = heldLocksOf(storage);
  if (held.has(lockPath)) throw new LogLockedError(`${directory} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = storage.open(lockPath, openModes.createExclusive);
      try {
        storage.writev(fd, [Buffer.from(String(process.pid))], 0);
      } finally {
        storage.close(fd);
      }
      held.add(lockPath);
      return lockPath;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number.parseInt(storage.readFile(lockPath)?.toString("utf8") ?? "", 10);
      if (Number.isInteger(owner) && owner !== process.pid && processAlive(owner)) {
        throw new LogLockedError(`${directory} is in use by process ${owner}`);
      }
      storage.unlink(lockPath);
    }
  }
  throw new LogLockedError(`could not lock ${directory}`);
}

function releaseLock(storage: Storage, lockPath: string): void {
  storage.unlink(lockPath);
  heldLocksOf(storage).delete(lockPath);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The partition count is fixed at creation: records are routed by hash modulo this count. */
function checkMeta(storage: Storage, directory: string, partitionCount: number): void {
  const metaPath = path.join(directory, metaFileName);
  let meta: { formatVersion: number; partitionCount: number } | null = null;
  try {
    const bytes = storage.readFile(metaPath);
    meta = bytes === null ? null : JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new LogConfigError(`${metaPath} is unreadable: ${error}`);
  }
  if (meta === null) {
    writeFileDurably(storage, metaPath, Buffer.from(JSON.stringify({ formatVersion, partitionCount })), true);
    storage.fsyncDirectory(directory);
    return;
  }
  if (meta.formatVersion !== formatVersion)
    throw new LogConfigError(
      `${metaPath}: format version ${meta.formatVersion}, this build reads ${formatVersion}`,
    );
  if (meta.partitionCount !== partitionCount) {
    throw new LogConfigError(
      `${directory} was created with ${meta.partitionCount} partitions; configured ${partitionCount}. Records are routed by hash modulo the count, so it cannot change in place.`,
    );
  }
}
