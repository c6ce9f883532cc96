// The file work of log maintenance, as the log thread runs it (src/log/compress-worker.ts, handed over
// by Compressor.maintain) or, with zero threads, inline on the main thread: compaction's read +
// decompress + re-encode + compress + write + fsync of a sealed segment, the durable half of its
// swap, and retention's unlinks + directory fsync. The partition keeps the bookkeeping (which
// segments, their in-memory indexes, the rename that commits a compaction); see partition.ts
// (`compact`, `enforceRetention`) and FORMAT.md ("Compaction", "Retention").
//
// Every file operation goes through the Storage passed in: the log thread passes nodeStorage, the
// inline path the partition's own (a simulated disk in the power-loss simulation).
//
// A compaction job yields to its thread's event loop after each input batch and compresses off it
// (zlib's async zstd runs on the libuv pool), so the flights of the append path that share the thread
// still run between its steps instead of waiting for a whole segment.

import assert from "node:assert/strict";
import zlib from "node:zlib";
import {
  type Codec,
  codecs,
  decodeRecords,
  encodeHeader,
  encodePayload,
  type StoredRecord,
  zstdOptions,
} from "./batch.ts";
import { type ScanOptions, scanBatches } from "./scan.ts";
import { openModes, type Storage } from "./storage.ts";

/** Rewrites a sealed segment's batches into `<log>.compacting`, fsynced, with the original's mtime. */
export interface CompactWriteJob {
  kind: "compact-write";
  logPath: string;
  /** The segment's size: everything before it is sealed and immutable. */
  sizeBytes: number;
  codec: Codec;
  level: number;
  batchRawBytesMax: number;
  /** How to scan the input; the storage is the one the job runs with (it cannot cross threads). */
  scan: Omit<ScanOptions, "storage">;
  /** Shared with the partition: set to 1 to stop the job at its next step (the log is closing). */
  cancel: Int32Array;
}

/**
 * The durable half of a compaction's swap, after the partition renamed the new file over the old one:
 * directory fsync, the new indexes (write-to-temp, fsync, rename), the compacted marker, directory
 * fsync; then the descriptor the partition kept on the old file is closed, which frees its blocks
 * here rather than on the main thread.
 */
export interface CompactFinishJob {
  kind: "compact-finish";
  directory: string;
  offsetIndexPath: string;
  offsetIndex: Uint8Array;
  timeIndexPath: string;
  timeIndex: Uint8Array;
  markerPath: string;
  /** A read descriptor on the replaced file, or -1. */
  replacedFd: number;
}

/** Removes files (retention's whole segments, a discarded compaction output), then fsyncs the directory. */
export interface DeleteJob {
  kind: "delete";
  directory: string;
  paths: string[];
  /** Read descriptors to close first, or empty. */
  closeFds: number[];
}

export type MaintenanceJob = CompactWriteJob | CompactFinishJob | DeleteJob;

/** One batch of a compaction's output: what the partition needs to index it. */
export interface CompactedBatch {
  position: number;
  baseOffset: number;
  maxTimestampMs: number;
}

export type MaintenanceOutcome =
  | {
      ok: true;
      /** compact-write: the batches written, the new file's size and the mtime it was given. */
      batches?: CompactedBatch[];
      sizeBytes?: number;
      modifiedMs?: number;
      /** compact-write: stopped early by `cancel`; nothing was written that counts. */
      cancelled?: boolean;
      /** Which thread ran the job: tests check that the work left the main thread. */
      threadId: number;
    }
  | { ok: false; message: string; code: string | null };

export function compactingPath(logPath: string): string {
  return `${logPath}.compacting`;
}

/** Runs one job with `storage`; never rejects: a failure is an outcome with the errno code. */
export async function runMaintenanceJob(
  job: MaintenanceJob,
  storage: Storage,
  threadId: number,
): Promise<MaintenanceOutcome> {
  try {
    if (job.kind === "compact-write") return { ...(await compactWrite(job, storage)), threadId };
    if (job.kind === "compact-finish") compactFinish(job, storage);
    else deleteFiles(job, storage);
    return { ok: true, threadId };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException)?.code;
    return { ok: false, message: String((error as Error)?.message ?? error), code: code ?? null };
  }
}

async function compactWrite(
  job: CompactWriteJob,
  storage: Storage,
): Promise<{
  ok: true;
  batches: CompactedBatch[];
  sizeBytes: number;
  modifiedMs: number;
  cancelled: boolean;
}> {
  const input = storage.open(job.logPath, openModes.read);
  let output = -1;
  try {
    // The segment's age for retention is the server time of its last append, which the file's
    // mtime holds (FORMAT.md, "Retention"); the rewrite must not reset it.
    const modifiedMs = storage.fstat(input).modifiedMs;
    output = storage.open(compactingPath(job.logPath), openModes.createOrTruncate);
    const batches: CompactedBatch[] = [];
    let outputBytes = 0;
    let group: StoredRecord[] = [];
    let groupBytes = 0;
    let groupEpoch = -1;
    let groupSource = -1;
    const flushGroup = async () => {
      if (group.length === 0) return;
      const encoded = encodePayload(group);
      const payload = await compress(encoded.raw, job.codec, job.level);
      const meta = {
        baseOffset: group[0].offset,
        sourcePosition: groupSource,
        leaderEpoch: groupEpoch,
        codec: job.codec,
      };
      const header = encodeHeader(meta, encoded, payload);
      storage.writev(output, [header, payload], outputBytes);
      batches.push({
        position: outputBytes,
        baseOffset: group[0].offset,
        maxTimestampMs: encoded.maxTimestampMs,
      });
      outputBytes += header.length + payload.length;
      group = [];
      groupBytes = 0;
    };
    for (const item of scanBatches(input, 0, job.sizeBytes, { ...job.scan, storage })) {
      if (Atomics.load(job.cancel, 0) !== 0)
        return { ok: true, batches: [], sizeBytes: 0, modifiedMs, cancelled: true };
      if (item.kind === "damaged") continue; // reported by readers; its offsets stay a gap
      const header = item.header;
      const contiguous = group.length > 0 && group[group.length - 1].offset + 1 === header.baseOffset;
      // Batches from different leader epochs and across gaps are never merged (FORMAT.md).
      if (
        group.length > 0 &&
        (!contiguous ||
          header.leaderEpoch !== groupEpoch ||
          groupBytes + header.rawPayloadBytes > job.batchRawBytesMax)
      ) {
        await flushGroup();
      }
      for (const record of decodeRecords(header, item.payload)) group.push(record);
      groupBytes += header.rawPayloadBytes;
      groupEpoch = header.leaderEpoch;
      groupSource = Math.max(groupSource, header.sourcePosition);
      await yieldTurn(); // flights sharing this thread run between the input batches
    }
    await flushGroup();
    assert.ok(batches.length > 0 || outputBytes === 0);
    storage.setModified(compactingPath(job.logPath), modifiedMs); // after the last write, which set it
    await new Promise<void>((resolve, reject) =>
      storage.fdatasyncAsync(output, (error) => (error ? reject(error) : resolve())),
    );
    assert.equal(storage.fstat(output).sizeBytes, outputBytes, "the compacted file holds what was written");
    return { ok: true, batches, sizeBytes: outputBytes, modifiedMs, cancelled: false };
  } finally {
    if (output >= 0) storage.close(output);
    storage.close(input);
  }
}

function compactFinish(job: CompactFinishJob, storage: Storage): void {
  try {
    storage.fsyncDirectory(job.directory); // the rename (and the old indexes' unlinks) are durable
    writeDurably(storage, job.offsetIndexPath, job.offsetIndex);
    writeDurably(storage, job.timeIndexPath, job.timeIndex);
    const marker = storage.open(job.markerPath, openModes.createOrTruncate);
    storage.close(marker);
    storage.fsyncDirectory(job.directory);
  } finally {
    if (job.replacedFd >= 0) storage.close(job.replacedFd);
  }
}

function deleteFiles(job: DeleteJob, storage: Storage): void {
  for (const fd of job.closeFds) storage.close(fd);
  for (const filePath of job.paths) storage.unlink(filePath);
  storage.fsyncDirectory(job.directory);
}

/** Write-to-temp, fsync, rename: a crash leaves the old file or the new, never half (as segment.ts). */
function writeDurably(storage: Storage, filePath: string, data: Uint8Array): void {
  const temporary = `${filePath}.tmp`;
  const fd = storage.open(temporary, openModes.createOrTruncate);
  try {
    storage.writev(fd, [data], 0);
    storage.fdatasync(fd);
  } finally {
    storage.close(fd);
  }
  storage.rename(temporary, filePath);
}

/** zstd on the libuv pool: the calling thread's event loop stays free while a 4 MiB block compresses. */
function compress(raw: Buffer, codec: Codec, level: number): Promise<Buffer> {
  if (codec === codecs.none) return Promise.resolve(raw);
  return new Promise((resolve, reject) =>
    zlib.zstdCompress(raw, zstdOptions(level, raw.length), (error, result) =>
      error ? reject(error) : resolve(result),
    ),
  );
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
