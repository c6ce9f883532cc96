// One flight of a partition as the log thread sees it: compress each batch, frame it with its header,
// write everything at the segment's end with one writev and, in fsync "always" mode, fdatasync. The
// same code runs on the log thread (src/log/compress-worker.ts) and, with zero threads, inline on the
// main thread. Doing the whole flight on one thread costs the main thread one hand-off per flight
// instead of four (compressor reply, writev, fdatasync, their completions), which was the limit of
// the end-to-end ingest path (docs/handover.md, "Where the end-to-end time goes").

import assert from "node:assert/strict";
import { type Codec, compressPayloadSync, type EncodedPayload, encodeHeader } from "./batch.ts";
import type { Storage } from "./storage.ts";

/** A batch to write: its encoded (uncompressed) payload and the header fields the main thread knows. */
export interface BatchToWrite extends Omit<EncodedPayload, "raw"> {
  /** Owns its memory: handed over (transferred) to the log thread. */
  raw: Uint8Array;
  baseOffset: number;
  sourcePosition: number;
  leaderEpoch: number;
}

export interface WriteJob {
  fd: number;
  /**
   * Where the first batch goes: the active segment's committed size when no earlier flight of the
   * partition is out, else null: right after the previous job of this fd (the thread keeps track,
   * because only it knows how large the earlier flights became once compressed).
   */
  position: number | null;
  codec: Codec;
  level: number;
  sync: boolean;
  batches: BatchToWrite[];
}

/** Where a failure happened: a failed write is rolled back; after a failed fsync nothing is trusted. */
export type WriteStage = "write" | "sync";

export type WriteOutcome =
  | { ok: true; batchBytes: number[] }
  | { ok: false; stage: WriteStage; message: string; code: string | null };

/**
 * Where the next continuing job of each fd goes, on this thread, per storage (a simulated disk's fds
 * are its own numbers, and run inline beside node:fs ones). A job with an explicit position resets
 * it; after a failure it is null, so the continuing jobs already on their way fail too (the
 * partition rolls the file back once they have all come back, then starts over explicitly).
 */
const nextPositionsByStorage = new WeakMap<Storage, Map<number, number | null>>();

function nextPositionsOf(storage: Storage): Map<number, number | null> {
  let positions = nextPositionsByStorage.get(storage);
  if (positions === undefined) {
    positions = new Map();
    nextPositionsByStorage.set(storage, positions);
  }
  return positions;
}

/** Compresses, frames and writes a job synchronously; returns the bytes each batch took on disk. */
export function writeBatchesSync(job: WriteJob, storage: Storage): number[] {
  const nextPositions = nextPositionsOf(storage);
  const position = job.position ?? nextPositions.get(job.fd) ?? null;
  nextPositions.set(job.fd, null);
  if (position === null) throw new Error("an earlier flight of this file failed");
  const buffers: Buffer[] = [];
  const batchBytes: number[] = [];
  let total = 0;
  for (const batch of job.batches) {
    const raw = Buffer.from(batch.raw.buffer, batch.raw.byteOffset, batch.raw.byteLength);
    const payload = compressPayloadSync(raw, job.codec, job.level);
    const meta = {
      baseOffset: batch.baseOffset,
      sourcePosition: batch.sourcePosition,
      leaderEpoch: batch.leaderEpoch,
      codec: job.codec,
    };
    const header = encodeHeader(meta, { ...batch, raw }, payload);
    buffers.push(header, payload);
    batchBytes.push(header.length + payload.length);
    total += header.length + payload.length;
  }
  const written = storage.writev(job.fd, buffers, position);
  assert.equal(written, total, "writev writes everything or throws");
  nextPositions.set(job.fd, position + total);
  return batchBytes;
}

/**
 * Runs a job on `storage` (node:fs on the log thread; the log's own storage when inline): the write
 * synchronously, the fdatasync on the thread pool; reports once.
 */
export function runWriteJob(job: WriteJob, storage: Storage, done: (outcome: WriteOutcome) => void): void {
  let batchBytes: number[];
  try {
    batchBytes = writeBatchesSync(job, storage);
  } catch (error) {
    done(writeFailure("write", error));
    return;
  }
  if (!job.sync) {
    done({ ok: true, batchBytes });
    return;
  }
  storage.fdatasyncAsync(job.fd, (error) => {
    if (error) nextPositionsOf(storage).set(job.fd, null);
    done(error ? writeFailure("sync", error) : { ok: true, batchBytes });
  });
}

/** The outcome of a failed job, keeping the errno code for the main thread. */
export function writeFailure(stage: WriteStage, error: unknown): WriteOutcome {
  const code = (error as NodeJS.ErrnoException)?.code;
  return { ok: false, stage, message: String((error as Error)?.message ?? error), code: code ?? null };
}

/** The error a failed outcome stands for on the main thread (keeps the errno code for callers). */
export function outcomeError(outcome: Extract<WriteOutcome, { ok: false }>): Error {
  const error = new Error(outcome.message) as NodeJS.ErrnoException;
  if (outcome.code !== null) error.code = outcome.code;
  return error;
}
