// Compression off the main thread: a small pool of worker threads running synchronous zstd. The main
// thread only encodes records and moves buffers (transferred, not copied), so on two cores the
// append path uses both. With threads = 0 it compresses inline on the main thread.

import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { type Codec, codecs, compressPayloadSync } from "./batch.ts";

/**
 * One pool per process, shared by every open log: each worker thread is a V8 isolate of its own
 * (~30 MB resident), so two logs must not mean two pools. Reference-counted by the logs using it.
 */
let shared: { compressor: Compressor; users: number } | null = null;

export function acquireCompressor(threads: number): Compressor {
  if (shared === null) shared = { compressor: new Compressor(threads), users: 0 };
  shared.users++;
  return shared.compressor;
}

export async function releaseCompressor(compressor: Compressor): Promise<void> {
  if (shared === null || shared.compressor !== compressor) return;
  if (--shared.users > 0) return;
  shared = null;
  await compressor.close();
}

interface Waiting {
  worker: number;
  resolve: (compressed: Buffer) => void;
  reject: (error: Error) => void;
}

export class Compressor {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<number, Waiting>();
  readonly #load: number[] = [];
  #nextId = 0;
  #closed = false;

  constructor(threads: number) {
    assert.ok(Number.isInteger(threads) && threads >= 0 && threads <= 16);
    for (let slot = 0; slot < threads; slot++) {
      this.#workers.push(this.#start(slot));
      this.#load.push(0);
    }
  }

  #start(slot: number): Worker {
    const worker = new Worker(new URL("./compress-worker.ts", import.meta.url));
    worker.on("message", (message: { id: number; compressed?: Uint8Array; error?: string }) => {
      const waiting = this.#waiting.get(message.id);
      if (waiting === undefined) return; // already failed over when its worker died
      this.#waiting.delete(message.id);
      if (--this.#load[slot] === 0) worker.unref(); // idle workers must not keep the process alive
      if (message.compressed) {
        const { buffer, byteOffset, byteLength } = message.compressed;
        waiting.resolve(Buffer.from(buffer, byteOffset, byteLength));
      } else waiting.reject(new Error(`compression failed: ${message.error}`));
    });
    // A worker that dies fails only its own jobs (their flights fail, their appends are rejected) and
    // is replaced, so the next flight compresses again.
    const died = (error: Error) => {
      if (this.#workers[slot] !== worker) return;
      for (const [id, waiting] of this.#waiting) {
        if (waiting.worker !== slot) continue;
        this.#waiting.delete(id);
        waiting.reject(error);
      }
      this.#load[slot] = 0;
      if (!this.#closed) this.#workers[slot] = this.#start(slot);
    };
    worker.on("error", died);
    worker.on("exit", (code) => died(new Error(`compression thread exited with code ${code}`)));
    worker.unref(); // after the listeners, which ref it; compress() refs it while a job is out
    return worker;
  }

  /** Compresses `raw`, which the caller hands over: its memory is transferred to a worker. */
  compress(raw: Buffer, codec: Codec, level: number): Promise<Buffer> {
    if (codec === codecs.none || this.#workers.length === 0) {
      try {
        return Promise.resolve(compressPayloadSync(raw, codec, level));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    let target = 0;
    for (let i = 1; i < this.#workers.length; i++) if (this.#load[i] < this.#load[target]) target = i;
    if (this.#load[target]++ === 0) this.#workers[target].ref();
    const id = this.#nextId++;
    // Transfer only a buffer that owns its whole ArrayBuffer; a pooled slice is copied instead.
    const ownsMemory = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
    const view = ownsMemory ? new Uint8Array(raw.buffer) : new Uint8Array(raw);
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { worker: target, resolve, reject });
      this.#workers[target].postMessage({ id, raw: view, level }, [view.buffer as ArrayBuffer]);
    });
  }

  /** Test hook: kills a worker thread as a crash would. */
  crashWorkerForTest(slot: number): Promise<number> {
    return this.#workers[slot].terminate();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const workers = this.#workers.splice(0);
    for (const waiting of this.#waiting.values()) waiting.reject(new Error("the compressor is closed"));
    this.#waiting.clear();
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}
