// The log thread(s): a small pool of worker threads that compress (compaction) and run whole flights of
// the append path — compress, write, fdatasync (src/log/write-job.ts). The main thread only encodes
// records and moves buffers (transferred, not copied), so on two cores the append path uses both, and
// each flight costs the main thread one hand-off. Flights handed over in the same event-loop turn go
// to one thread in one message and come back in one reply. Log maintenance (compaction, retention's
// deletes: src/log/compact-job.ts) runs there too, as jobs of their own (`maintain`). With threads = 0
// all of it runs inline.

import assert from "node:assert/strict";
import { threadId, Worker } from "node:worker_threads";
import { type Codec, codecs, compressPayloadSync } from "./batch.ts";
import { type MaintenanceJob, type MaintenanceOutcome, runMaintenanceJob } from "./compact-job.ts";
import type { FromLogThread, ToLogThread } from "./compress-worker.ts";
import { nodeStorage, type Storage } from "./storage.ts";
import { runWriteJob, type WriteJob, type WriteOutcome, writeFailure } from "./write-job.ts";

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

interface WaitingWrite {
  worker: number;
  resolve: (outcome: WriteOutcome) => void;
}

interface WaitingJob {
  worker: number;
  resolve: (outcome: MaintenanceOutcome) => void;
}

function jobFailure(error: Error): MaintenanceOutcome {
  return { ok: false, message: error.message, code: null };
}

export class Compressor {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<number, Waiting>();
  readonly #waitingWrites = new Map<number, WaitingWrite>();
  readonly #waitingJobs = new Map<number, WaitingJob>();
  readonly #load: number[] = [];
  /** Flights handed over in this event-loop turn, sent together at its end. */
  #outbox: Array<{ id: number; lane: number; job: WriteJob }> = [];
  #turnTasks: Array<() => void> = [];
  #turnScheduled = false;
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
    // Untracked fds: a maintenance job closes descriptors the main thread opened (compact-job.ts,
    // the replaced file of a compaction), which a tracking worker would warn about. The thread's own
    // jobs close what they open in `finally`; a killed thread can leak those of the one job it ran.
    const worker = new Worker(new URL("./compress-worker.ts", import.meta.url), { trackUnmanagedFds: false });
    worker.on("message", (message: FromLogThread) => {
      if (message.kind === "maintained") {
        const waiting = this.#waitingJobs.get(message.id);
        if (waiting === undefined) return; // already failed over when its worker died
        this.#waitingJobs.delete(message.id);
        if (--this.#load[slot] === 0) worker.unref();
        waiting.resolve(message.outcome);
        return;
      }
      if (message.kind === "written") {
        for (const { id, outcome } of message.results) {
          const waiting = this.#waitingWrites.get(id);
          if (waiting === undefined) continue; // already failed over when its worker died
          this.#waitingWrites.delete(id);
          waiting.resolve(outcome);
        }
        this.#load[slot] -= message.results.length;
        if (this.#load[slot] === 0) worker.unref();
        return;
      }
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
      // A flight whose thread died may or may not have reached the file: the partition rolls the
      // file back to its committed end, so the bytes of an unacknowledged flight never count.
      for (const [id, waiting] of this.#waitingWrites) {
        if (waiting.worker !== slot) continue;
        this.#waitingWrites.delete(id);
        waiting.resolve(writeFailure("write", error));
      }
      // A maintenance job whose thread died may have left a partial `.compacting` file (deleted on
      // open, rewritten by the next compaction) or some of its unlinks; each step is crash-safe.
      for (const [id, waiting] of this.#waitingJobs) {
        if (waiting.worker !== slot) continue;
        this.#waitingJobs.delete(id);
        waiting.resolve(jobFailure(error));
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
    const target = this.#leastLoaded();
    this.#load[target]++;
    this.#workers[target].ref();
    const id = this.#nextId++;
    const view = transferable(raw);
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { worker: target, resolve, reject });
      this.#post(target, { kind: "compress", id, raw: view, level }, [view.buffer as ArrayBuffer]);
    });
  }

  /**
   * Runs one flight (compress, write at job.position, fdatasync when job.sync) and reports how it
   * went; never rejects. The batches' raw buffers are handed over. Flights of one `lane` (the
   * partition's id) all run on the same thread, in the order handed over. The log thread writes through
   * node:fs; a job for any other storage (the simulated disk) runs inline on this thread, because the
   * pool is shared by every log of the process and cannot reach that storage.
   */
  write(job: WriteJob, lane: number, storage: Storage): Promise<WriteOutcome> {
    if (this.#closed) return Promise.resolve(writeFailure("write", new Error("the log thread is closed")));
    if (this.#workers.length === 0 || storage !== nodeStorage)
      return new Promise((resolve) => runWriteJob(job, storage, resolve));
    for (const batch of job.batches) batch.raw = transferable(batch.raw);
    const id = this.#nextId++;
    const promise = new Promise<WriteOutcome>((resolve) => {
      this.#waitingWrites.set(id, { worker: -1, resolve });
    });
    this.#outbox.push({ id, lane, job });
    this.#scheduleTurnEnd();
    return promise;
  }

  /**
   * Runs one maintenance job (src/log/compact-job.ts) on the log thread of `lane` (the partition's
   * id), between the flights there; never rejects. The threads use node:fs, so a job for any other
   * storage (the simulated disk) runs inline with it, as a flight does (`write`), as do all jobs with
   * zero threads.
   */
  maintain(job: MaintenanceJob, lane: number, storage: Storage): Promise<MaintenanceOutcome> {
    if (this.#closed) return Promise.resolve(jobFailure(new Error("the log thread is closed")));
    if (this.#workers.length === 0 || storage !== nodeStorage)
      return runMaintenanceJob(job, storage, threadId);
    const target = lane % this.#workers.length;
    this.#load[target]++;
    this.#workers[target].ref();
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#waitingJobs.set(id, { worker: target, resolve });
      this.#post(target, { kind: "maintain", id, job }, []);
    });
  }

  /**
   * Runs `task` once the I/O callbacks of this event-loop turn are done (setImmediate), before the
   * flights handed over in this turn leave. Partitions take their pending appends here, so every
   * request read in one turn joins one flight per partition and all of them go in one message.
   */
  atTurnEnd(task: () => void): void {
    this.#turnTasks.push(task);
    this.#scheduleTurnEnd();
  }

  #scheduleTurnEnd(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    setImmediate(() => this.#endTurn());
  }

  #endTurn(): void {
    this.#turnScheduled = false;
    const tasks = this.#turnTasks;
    this.#turnTasks = [];
    // One task failing (a bug) must not keep the others' partitions from ever taking again: each
    // runs, the turn's flights leave, then the first error surfaces.
    let failure: { error: unknown } | null = null;
    for (const task of tasks) {
      try {
        task();
      } catch (error) {
        failure ??= { error };
      }
    }
    this.#flushOutbox();
    if (failure !== null) throw failure.error;
  }

  #flushOutbox(): void {
    const outbox = this.#outbox;
    this.#outbox = [];
    if (outbox.length === 0 || this.#closed) return;
    // Every flight of one lane (a partition) goes to the same thread: a continuing flight needs the
    // file position its predecessor left behind there (write-job.ts).
    for (let target = 0; target < this.#workers.length; target++) {
      const jobs = outbox.filter((entry) => entry.lane % this.#workers.length === target);
      if (jobs.length === 0) continue;
      this.#load[target] += jobs.length;
      this.#workers[target].ref();
      const transfer: ArrayBuffer[] = [];
      for (const { id, job } of jobs) {
        this.#waitingWrites.get(id)!.worker = target;
        for (const batch of job.batches) transfer.push(batch.raw.buffer as ArrayBuffer);
      }
      this.#post(target, { kind: "write", jobs: jobs.map(({ id, job }) => ({ id, job })) }, transfer);
    }
  }

  #leastLoaded(): number {
    let target = 0;
    for (let i = 1; i < this.#workers.length; i++) if (this.#load[i] < this.#load[target]) target = i;
    return target;
  }

  #post(slot: number, message: ToLogThread, transfer: ArrayBuffer[]): void {
    this.#workers[slot].postMessage(message, transfer);
  }

  /**
   * Test hook: blocks a worker thread until it is killed; what is handed to it meanwhile stays out,
   * unanswered. Killing a stalled thread is deterministic, and cannot hit Node's abort when a thread
   * is terminated while a zstd context is being set up (docs/handover.md).
   */
  stallWorkerForTest(slot: number): void {
    this.#post(slot, { kind: "stall" }, []);
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
    for (const waiting of this.#waitingWrites.values())
      waiting.resolve(writeFailure("write", new Error("the log thread is closed")));
    this.#waitingWrites.clear();
    for (const waiting of this.#waitingJobs.values())
      waiting.resolve(jobFailure(new Error("the log thread is closed")));
    this.#waitingJobs.clear();
    this.#outbox = [];
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/** A view that owns its whole ArrayBuffer, so it can be transferred; a pooled slice is copied. */
function transferable(raw: Uint8Array): Uint8Array {
  const ownsMemory = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
  return ownsMemory ? new Uint8Array(raw.buffer) : new Uint8Array(raw);
}
