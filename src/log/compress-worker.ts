// Worker thread body of the Compressor (the log thread): zstd-compresses payloads handed over by the
// main thread, and runs whole flights (compress + write + fdatasync, src/log/write-job.ts).
// Synchronous zstd inside a worker runs at ~600 MB/s per core here, while node:zlib's async zstd
// reached ~300 MB/s and still kept the main thread half busy (scratch measurement, 384 KB payloads).

import { parentPort } from "node:worker_threads";
import zlib from "node:zlib";
import { zstdOptions } from "./batch.ts";
import { runWriteJob, type WriteJob, type WriteOutcome } from "./write-job.ts";

export type ToLogThread =
  | { kind: "compress"; id: number; raw: Uint8Array; level: number }
  | { kind: "write"; jobs: Array<{ id: number; job: WriteJob }> };

export type FromLogThread =
  | { kind: "compressed"; id: number; compressed?: Uint8Array; error?: string }
  | { kind: "written"; results: Array<{ id: number; outcome: WriteOutcome }> };

const port = parentPort;
if (port === null) throw new Error("compress-worker.ts runs only as a worker thread");

port.on("message", (message: ToLogThread) => {
  if (message.kind === "write") {
    // Every flight of the message is written before any fdatasync is awaited, so the partitions'
    // fsyncs overlap on the thread pool; one reply carries all outcomes (one main-thread turn).
    const results: Array<{ id: number; outcome: WriteOutcome }> = [];
    for (const { id, job } of message.jobs) {
      runWriteJob(job, (outcome) => {
        results.push({ id, outcome });
        if (results.length === message.jobs.length) port.postMessage({ kind: "written", results });
      });
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
