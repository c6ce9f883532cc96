// Worker thread body of the Compressor: zstd-compresses payloads handed over by the main thread.
// Synchronous zstd inside a worker runs at ~600 MB/s per core here, while node:zlib's async zstd
// reached ~300 MB/s and still kept the main thread half busy (scratch measurement, 384 KB payloads).

import { parentPort } from "node:worker_threads";
import zlib from "node:zlib";
import { zstdOptions } from "./batch.ts";

interface Job {
  id: number;
  raw: Uint8Array;
  level: number;
}

const port = parentPort;
if (port === null) throw new Error("compress-worker.ts runs only as a worker thread");

port.on("message", (job: Job) => {
  try {
    const compressed = zlib.zstdCompressSync(job.raw, zstdOptions(job.level, job.raw.length));
    // Copy into an exactly-sized buffer of its own so the transfer moves only these bytes.
    const owned = new Uint8Array(new ArrayBuffer(compressed.length));
    owned.set(compressed);
    port.postMessage({ id: job.id, compressed: owned }, [owned.buffer]);
  } catch (error) {
    port.postMessage({ id: job.id, error: String(error) });
  }
});
