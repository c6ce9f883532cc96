// Worker thread body of the Compressor (the log thread): zstd-compresses payloads handed over by the
// main thread, runs whole flights (compress + write + fdatasync, src/log/write-job.ts) and the file
// work of log maintenance (compaction, retention's deletes: src/log/compact-job.ts).
// Synchronous zstd inside a worker runs at ~600 MB/s per core here, while node:zlib's async zstd
// reached ~300 MB/s and still kept the main thread half busy (scratch measurement, 384 KB payloads).

import { parentPort, threadId } from "node:worker_threads";
import zlib from "node:zlib";
import { zstdOptions } from "./batch.ts";
import { type MaintenanceJob, type MaintenanceOutcome, runMaintenanceJob } from "./compact-job.ts";
import { nodeStorage } from "./storage.ts";
import { runWriteJob, type WriteJob, type WriteOutcome } from "./write-job.ts";

export type ToLogThread =
  | { kind: "compress"; id: number; raw: Uint8Array; level: number }
  | { kind: "write"; jobs: Array<{ id: number; job: WriteJob }> }
  | { kind: "maintain"; id: number; job: MaintenanceJob }
  | { kind: "stall" };

export type FromLogThread =
  | { kind: "compressed"; id: number; compressed?: Uint8Array; error?: string }
  | { kind: "written"; results: Array<{ id: number; outcome: WriteOutcome }> }
  | { kind: "maintained"; id: number; outcome: MaintenanceOutcome };

if (parentPort === null) throw new Error("compress-worker.ts runs only as a worker thread");
const port = parentPort;

/** Flights waiting for this thread, oldest first; run one per event-loop turn (see drain). */
const queue: Array<{ id: number; job: WriteJob }> = [];
let draining = false;
/** Outcomes not yet reported: sent together at the end of the turn they complete in. */
let outcomes: Array<{ id: number; outcome: WriteOutcome }> = [];

/**
 * Runs one flight, then yields: fdatasync completions of earlier flights are handled between
 * flights, so a partition whose flight is durable hears so while the next one compresses instead
 * of after every flight of the message (measured: bench/log.bench.ts, docs/benchmarks.md).
 */
function drain(): void {
  const next = queue.shift();
  if (next === undefined) {
    draining = false;
    return;
  }
  runWriteJob(next.job, nodeStorage, (outcome) => report(next.id, outcome));
  setImmediate(drain);
}

function report(id: number, outcome: WriteOutcome): void {
  if (outcomes.length === 0)
    setImmediate(() => {
      const results = outcomes;
      outcomes = [];
      port.postMessage({ kind: "written", results });
    });
  outcomes.push({ id, outcome });
}

port.on("message", (message: ToLogThread) => {
  if (message.kind === "stall") {
    // Test hook (Compressor.stallWorkerForTest): block this thread until it is terminated, so a
    // test can put flights on it that are certainly out and unanswered when it dies.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    return;
  }
  if (message.kind === "maintain") {
    // Asynchronous: a compaction yields between its steps, so the flights queued here keep running.
    void runMaintenanceJob(message.job, nodeStorage, threadId).then((outcome) =>
      port.postMessage({ kind: "maintained", id: message.id, outcome }),
    );
    return;
  }
  if (message.kind === "write") {
    queue.push(...message.jobs);
    if (!draining) {
      draining = true;
      drain();
    }
    return;
  }
  try {
    const compressed = zlib.zstdCompressSync(message.raw, zstdOptions(message.level, message.raw.length));
    // Copy into an exactly-sized buffer of its own so the transfer moves only these bytes.
    const owned = new Uint8Array(new ArrayBuffer(compressed.length));
    owned.set(compressed);
    port.postMessage({ kind: "compressed", id: message.id, compressed: owned }, [owned.buffer]);
  } catch (error) {
    port.postMessage({ kind: "compressed", id: message.id, error: String(error) });
  }
});
