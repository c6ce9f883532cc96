// A pool of worker threads that run whole queries (query-worker.ts), so a heavy scan uses the idle
// core instead of the main thread, where ingest and HTTP run. The main thread keeps what only it can
// do: the partition log's bookkeeping and the block index. For each selection the evaluator makes,
// the worker asks here for its partitions' candidate ranges (the engine's blocks hook) and read
// snapshots (Partition.readSnapshot: fds of their own, the committed end); the worker reads them
// and answers the evaluator's result.
//
// Lifecycle of a task: queued (bounded: queryPoolLimits.queueMax, beyond it QUERY_POOL_FULL), run
// on an idle worker, settled by the worker's answer. Its snapshots are released once the worker has
// said it is done with the task, or its thread has exited: never while it may still read their fds
// (a closed fd number is reused by the next open). An abort of the caller's signal rejects the task
// at once with the signal's reason and sets the task's shared flag, which the worker checks at every
// read step; a worker still busy abortGraceMs later is terminated. A worker that dies fails only
// its task (QUERY_WORKER_FAILED) and is replaced.

import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import type { HeldSnapshot, ReadablePartition, StoredRecord } from "../../log/index.ts";
import {
  QueryError,
  QueryExecutionError,
  QueryInvalidError,
  QueryLimitError,
  QueryRegexError,
  QuerySyntaxError,
  QueryUnsupportedError,
} from "../errors.ts";
import { PipelineError } from "../eval/pipeline.ts";
import type { LokiResultData } from "../eval/result.ts";
import { queryPoolLimits } from "../limits.ts";
import { RegexSyntaxError } from "../regex.ts";
import type { EntrySelection } from "../source.ts";
import {
  ExecutionError,
  QueryParameterError,
  QueryPoolError,
  QuerySeriesLimitError,
  QueryTimeoutError,
  queryPoolErrorCodes,
} from "./errors.ts";
import type { LastRecordsStats } from "./last-entries.ts";
import { type CandidateBlocks, type OffsetRange, partitionsFor } from "./log-source.ts";
import type {
  FromQueryWorker,
  LastRecordsTask,
  PlainError,
  PlainSelection,
  PoolTask,
  PreparedPartition,
  ToQueryWorker,
} from "./query-worker.ts";

export type { PoolTask } from "./query-worker.ts";

/** What the pool needs of the log on the main thread: snapshots and the time index. */
export interface SnapshotLog {
  readonly partitionCount: number;
  partition(id: number): ReadablePartition & { readSnapshot(fromOffset?: number): HeldSnapshot };
}

export interface QueryPoolOptions {
  /** Worker threads (default queryPoolLimits.threads); at least 1. */
  readonly threads?: number;
  readonly queueMax?: number;
  readonly abortGraceMs?: number;
}

/** Where a task reads and what stops it: stays on the main thread. */
export interface TaskContext {
  readonly log: SnapshotLog;
  readonly blocks?: CandidateBlocks;
  readonly signal?: AbortSignal;
}

interface PendingTask {
  readonly id: number;
  /** A query (its snapshots come by "prepare" round trips) or a last-records read (snapshot given). */
  readonly task: { kind: "query"; task: PoolTask } | { kind: "last"; task: LastRecordsTask };
  readonly context: TaskContext;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly abortFlag: Int32Array;
  readonly held: HeldSnapshot[];
  settled: boolean;
  onAbort: (() => void) | null;
}

interface Slot {
  worker: Worker;
  task: PendingTask | null;
  graceTimer: NodeJS.Timeout | null;
}

export class QueryPool {
  readonly #threads: number;
  readonly #queueMax: number;
  readonly #abortGraceMs: number;
  readonly #slots: Slot[] = [];
  readonly #queue: PendingTask[] = [];
  #nextTaskId = 0;
  #workersStarted = 0;
  #closed = false;

  constructor(options: QueryPoolOptions = {}) {
    this.#threads = options.threads ?? queryPoolLimits.threads;
    this.#queueMax = options.queueMax ?? queryPoolLimits.queueMax;
    this.#abortGraceMs = options.abortGraceMs ?? queryPoolLimits.abortGraceMs;
    assert.ok(Number.isInteger(this.#threads) && this.#threads >= 1 && this.#threads <= 64);
    assert.ok(Number.isInteger(this.#queueMax) && this.#queueMax >= 0);
    for (let i = 0; i < this.#threads; i++) this.#slots.push(this.#start());
  }

  get threads(): number {
    return this.#threads;
  }

  /** Threads started so far: the first `threads`, then one per replaced worker. */
  get workersStarted(): number {
    return this.#workersStarted;
  }

  /** Tasks waiting for a thread. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Tasks running on a thread (including aborted ones their worker has not yet let go of). */
  get running(): number {
    return this.#slots.filter((slot) => slot.task !== null).length;
  }

  /**
   * Runs `task` on a worker. Rejects with QueryPoolError `full` at once when every thread is busy
   * and the queue is full, with the signal's reason when it aborts, and otherwise with what the
   * evaluator threw (the same classes as on the main thread).
   */
  run(task: PoolTask, context: TaskContext): Promise<LokiResultData> {
    return this.#enqueue({ kind: "query", task }, context, []) as Promise<LokiResultData>;
  }

  /**
   * GET /v1/query's read of the last records of a service over `held` (a snapshot of the partition
   * the main thread took with the candidate ranges), on a worker: the batches it decompresses are
   * then garbage of a small heap, not of the main thread's (src/index/README.md, "Sparse streams").
   * The pool releases `held` once the worker is done with it, also when it refuses the task. The
   * records arrive as Uint8Arrays (structured clone).
   */
  runLastRecords(
    task: LastRecordsTask,
    held: HeldSnapshot,
    signal?: AbortSignal,
  ): Promise<{ records: StoredRecord[]; stats: LastRecordsStats }> {
    return this.#enqueue({ kind: "last", task }, { log: nullLog, signal }, [held]) as Promise<{
      records: StoredRecord[];
      stats: LastRecordsStats;
    }>;
  }

  #enqueue(task: PendingTask["task"], context: TaskContext, held: HeldSnapshot[]): Promise<unknown> {
    const refuse = (error: unknown) => {
      for (const snapshot of held) snapshot.release();
      return Promise.reject(error);
    };
    if (this.#closed)
      return refuse(new QueryPoolError(queryPoolErrorCodes.closed, "the query pool is closed"));
    if (context.signal?.aborted) return refuse(context.signal.reason);
    const idle = this.#slots.some((slot) => slot.task === null);
    if (!idle && this.#queue.length >= this.#queueMax) {
      return refuse(
        new QueryPoolError(
          queryPoolErrorCodes.full,
          `all ${this.#threads} query threads are busy and ${this.#queue.length} queries wait: try again later`,
        ),
      );
    }
    return new Promise<unknown>((resolve, reject) => {
      const pending: PendingTask = {
        id: this.#nextTaskId++,
        task,
        context,
        resolve,
        reject,
        abortFlag: new Int32Array(new SharedArrayBuffer(4)),
        held: [...held],
        settled: false,
        onAbort: null,
      };
      const signal = context.signal;
      if (signal !== undefined) {
        pending.onAbort = () => this.#abort(pending, signal.reason);
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      this.#queue.push(pending);
      this.#dispatch();
    });
  }

  /** Rejects what waits and what runs, stops the threads and releases every snapshot. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closedError = new QueryPoolError(queryPoolErrorCodes.closed, "the query pool closed");
    for (const pending of this.#queue.splice(0)) {
      this.#settle(pending, closedError);
      for (const held of pending.held.splice(0)) held.release(); // no thread has seen them
    }
    await Promise.all(
      this.#slots.map(async (slot) => {
        const worker = slot.worker;
        if (slot.task !== null) this.#settle(slot.task, closedError);
        await worker.terminate();
      }),
    );
  }

  /** Test hook: makes the worker running a task throw outside its evaluator (an uncaught error). */
  crashBusyWorkerForTest(): void {
    const slot = this.#slots.find((candidate) => candidate.task !== null);
    assert.ok(slot !== undefined, "no worker is busy");
    slot.worker.postMessage({ kind: "crash" } satisfies ToQueryWorker);
  }

  /** Test hook: terminates the worker running a task, as the OS killing a thread would. */
  terminateBusyWorkerForTest(): Promise<number> {
    const slot = this.#slots.find((candidate) => candidate.task !== null);
    assert.ok(slot !== undefined, "no worker is busy");
    return slot.worker.terminate();
  }

  #start(): Slot {
    const slot: Slot = { worker: null as unknown as Worker, task: null, graceTimer: null };
    this.#spawn(slot);
    return slot;
  }

  #spawn(slot: Slot): void {
    // Untracked fds: the snapshots' fds belong to the main thread, which closes them (release).
    const worker = new Worker(new URL("./query-worker.ts", import.meta.url), { trackUnmanagedFds: false });
    slot.worker = worker;
    this.#workersStarted++;
    worker.on("message", (message: FromQueryWorker) => this.#onMessage(slot, worker, message));
    // 'exit' follows 'error': only then has the thread stopped reading the task's fds.
    let failure: Error | null = null;
    worker.on("error", (error) => {
      failure = error;
    });
    worker.on("exit", (code) =>
      this.#replace(slot, worker, failure ?? new Error(`query thread exited with code ${code}`)),
    );
    worker.unref(); // an idle pool must not keep the process alive; #dispatch refs a busy one
  }

  #onMessage(slot: Slot, worker: Worker, message: FromQueryWorker): void {
    if (slot.worker !== worker) return;
    const pending = slot.task;
    if (pending === null || pending.id !== message.taskId) return;
    if (message.kind === "prepare") {
      this.#prepare(worker, pending, message.requestId, message.selection);
      return;
    }
    if (message.kind === "done") this.#settle(pending, null, message.result);
    else if (message.kind === "records")
      this.#settle(pending, null, {
        // Buffers cross as Uint8Arrays: the callers (and readLast) hand out Buffers.
        records: message.records.map((record) => ({
          ...record,
          key: Buffer.from(record.key.buffer, record.key.byteOffset, record.key.byteLength),
          value: Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength),
        })),
        stats: message.stats,
      });
    else this.#settle(pending, revive(message.error));
    this.#finish(slot);
  }

  /** Partitions, candidate ranges and snapshots of one selection, taken in one synchronous step. */
  #prepare(worker: Worker, pending: PendingTask, requestId: number, selection: PlainSelection): void {
    if (pending.settled) {
      // Aborted: the worker sees the flag at its next check; it needs no more snapshots.
      worker.postMessage({
        kind: "prepared",
        requestId,
        partitionCount: pending.context.log.partitionCount,
        partitions: [],
      } satisfies ToQueryWorker);
      return;
    }
    try {
      const { log, blocks } = pending.context;
      const forBlocks: EntrySelection = {
        ...selection,
        cutoffNs: () => null,
        signal: pending.context.signal ?? new AbortController().signal,
      };
      const partitions: PreparedPartition[] = [];
      for (const id of partitionsFor([selection.matchers], log.partitionCount)) {
        const partition = log.partition(id);
        let ranges: OffsetRange[] | null = null;
        let fromOffset: number;
        if (blocks !== undefined) {
          ranges = [...blocks(id, forBlocks)];
          fromOffset = ranges.length > 0 ? ranges[0].fromOffset : partition.endOffset;
        } else fromOffset = partition.offsetForTimestamp(startMsOf(selection.startNs));
        const held = partition.readSnapshot(Math.min(fromOffset, partition.endOffset));
        pending.held.push(held);
        partitions.push({ id, snapshot: held.snapshot, ranges });
      }
      worker.postMessage({
        kind: "prepared",
        requestId,
        partitionCount: log.partitionCount,
        partitions,
      } satisfies ToQueryWorker);
    } catch (error) {
      worker.postMessage({ kind: "prepareFailed", requestId, error: plainOf(error) } satisfies ToQueryWorker);
    }
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) return;
      if (slot.task !== null) continue;
      const pending = this.#queue.shift()!;
      if (pending.settled) continue; // aborted while queued
      slot.task = pending;
      slot.worker.ref();
      const { task } = pending;
      slot.worker.postMessage(
        (task.kind === "query"
          ? { kind: "run", taskId: pending.id, task: task.task, abortFlag: pending.abortFlag }
          : {
              kind: "runLast",
              taskId: pending.id,
              task: task.task,
              abortFlag: pending.abortFlag,
            }) satisfies ToQueryWorker,
      );
    }
  }

  #abort(pending: PendingTask, reason: unknown): void {
    if (pending.settled) return;
    Atomics.store(pending.abortFlag, 0, 1);
    this.#settle(pending, reason);
    const queuedAt = this.#queue.indexOf(pending);
    if (queuedAt >= 0) {
      this.#queue.splice(queuedAt, 1);
      for (const held of pending.held.splice(0)) held.release(); // no thread has seen them
      return;
    }
    const slot = this.#slots.find((candidate) => candidate.task === pending);
    if (slot === undefined || slot.graceTimer !== null) return;
    const worker = slot.worker;
    slot.graceTimer = setTimeout(() => {
      if (slot.worker === worker && slot.task === pending) void worker.terminate();
    }, this.#abortGraceMs);
    slot.graceTimer.unref();
  }

  /** Rejects (error) or resolves (result) the task's promise once; the snapshots stay held. */
  #settle(pending: PendingTask, error: unknown, result?: unknown): void {
    if (pending.settled) return;
    pending.settled = true;
    if (pending.onAbort !== null) pending.context.signal?.removeEventListener("abort", pending.onAbort);
    if (error === null) pending.resolve(result!);
    else pending.reject(error);
  }

  /** The worker is done with its task: release its snapshots and hand it the next one. */
  #finish(slot: Slot): void {
    const pending = slot.task;
    if (pending !== null) for (const held of pending.held.splice(0)) held.release();
    slot.task = null;
    if (slot.graceTimer !== null) clearTimeout(slot.graceTimer);
    slot.graceTimer = null;
    slot.worker.unref();
    if (!this.#closed) this.#dispatch();
  }

  /** A worker died: its task fails (its thread is gone, so its snapshots go too) and a new one starts. */
  #replace(slot: Slot, worker: Worker, cause: Error): void {
    if (slot.worker !== worker) return;
    const pending = slot.task;
    if (pending !== null) {
      this.#settle(
        pending,
        new QueryPoolError(
          queryPoolErrorCodes.workerFailed,
          `the query thread running this query died: ${cause.message}`,
          {
            cause,
          },
        ),
      );
    }
    if (this.#closed) {
      this.#finish(slot);
      return;
    }
    this.#spawn(slot);
    this.#finish(slot);
  }
}

/** The log of a last-records task: its snapshot is taken before, no "prepare" asks for one. */
const nullLog: SnapshotLog = {
  partitionCount: 0,
  partition(id: number): never {
    throw new Error(`BUG: a last-records task asked for partition ${id}`);
  },
};

/** ceil(startNs / 10^6) within the stored timestamps' range (as LogSource bounds a scan). */
function startMsOf(startNs: bigint): number {
  const perMs = 1_000_000n;
  const quotient = startNs / perMs;
  const ceil = quotient * perMs < startNs ? quotient + 1n : quotient;
  const max = 2n ** 52n;
  return Number(ceil > max ? max : ceil < -max ? -max : ceil);
}

function plainOf(error: unknown): PlainError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean")
      fields[key] = value;
  }
  return { name: error.name, message: error.message, stack: error.stack, fields };
}

/** Error classes a query may throw, by `name`: revived with their prototype so `instanceof` holds. */
const revivable: Record<string, { prototype: Error }> = {
  QueryError,
  QuerySyntaxError,
  QueryInvalidError,
  QueryRegexError,
  QueryUnsupportedError,
  QueryLimitError,
  QueryExecutionError,
  ExecutionError,
  QueryTimeoutError,
  QuerySeriesLimitError,
  QueryParameterError,
  QueryPoolError,
  PipelineError,
  RegexSyntaxError,
};

/** The worker's error as the main-thread engine would have thrown it (its class, code and fields). */
function revive(plain: PlainError): Error {
  const known = Object.hasOwn(revivable, plain.name) ? revivable[plain.name] : undefined;
  const error: Error = known === undefined ? new Error(plain.message) : Object.create(known.prototype);
  Object.defineProperty(error, "message", { value: plain.message, writable: true, configurable: true });
  Object.assign(error, plain.fields);
  if (known === undefined) error.name = plain.name;
  if (plain.stack !== undefined)
    Object.defineProperty(error, "stack", { value: plain.stack, writable: true, configurable: true });
  return error;
}
