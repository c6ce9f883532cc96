// Worker thread body of the query pool (pool.ts): runs one whole query at a time, the evaluator
// and its LogSource, over read snapshots the main thread takes (src/log/snapshot.ts). The evaluator
// asks for entries per selection; each selection's partitions, candidate ranges and snapshots come
// from the main thread (a "prepare" round trip), because the partition log, its fd LRU and the
// block index live there. Regexes are compiled here (re2-wasm's heap is per thread) and closed by
// the evaluator as on the main thread.
//
// Abort: the task carries a shared Int32Array flag that the main thread sets; every read step
// checks it, so a scan stops within one step (~1 MiB) even while this thread never yields to its
// message port for long.

import { parentPort } from "node:worker_threads";
import {
  type PartitionSnapshot,
  type ReadableLog,
  type ReadablePartition,
  SnapshotPartition,
  type StoredRecord,
} from "../../log/index.ts";
import type { LogEntry } from "../../model/stream.ts";
import type { LabelMatcher, LineFilterStage, Query } from "../ast.ts";
import { evaluateInstant, evaluateRange, type QueryBudget } from "../eval/evaluate.ts";
import type { LokiResultData } from "../eval/result.ts";
import type { EntrySelection, EntrySource } from "../source.ts";
import { emptyLastRecordsStats, type LastRecordsStats, readLastInRanges } from "./last-entries.ts";
import { LogSource, type OffsetRange } from "./log-source.ts";

/** A query as the pool hands it over: plain data only (structured clone). */
export interface PoolTask {
  readonly tenant: string;
  readonly query: Query;
  readonly readStepBytes: number;
  readonly budget: QueryBudget;
  readonly evaluation:
    | {
        readonly kind: "range";
        readonly startNs: bigint;
        readonly endNs: bigint;
        readonly limit: number;
        readonly direction: "forward" | "backward";
        readonly stepNs: bigint;
        readonly intervalNs?: bigint;
      }
    | {
        readonly kind: "instant";
        readonly timeNs: bigint;
        readonly limit: number;
        readonly direction: "forward" | "backward";
      };
}

/**
 * GET /v1/query's last records of a service (last-entries.ts) as the pool hands it over: the main
 * thread has taken the candidate ranges and the partition's snapshot already.
 */
export interface LastRecordsTask {
  readonly snapshot: PartitionSnapshot;
  readonly ranges: readonly OffsetRange[];
  readonly count: number;
  /** The service's record key (`tenant 0x00 service`): records with exactly this key are kept. */
  readonly key: Uint8Array;
  readonly stepBytes: number;
}

/** A selection without its functions and signal: what the main thread prepares snapshots for. */
export interface PlainSelection {
  readonly matchers: readonly LabelMatcher[];
  readonly lineFilters: readonly LineFilterStage[];
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly direction: "forward" | "backward";
}

export interface PreparedPartition {
  readonly id: number;
  readonly snapshot: PartitionSnapshot;
  /** The block index's candidate ranges; null: no index, read from offsetForTimestamp(start). */
  readonly ranges: readonly OffsetRange[] | null;
}

/** An error as it crosses threads: the pool revives known classes from `name` (pool.ts). */
export interface PlainError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  /** Own enumerable fields (code, position, timeoutMs, …). */
  readonly fields: Record<string, unknown>;
}

export type ToQueryWorker =
  | { kind: "run"; taskId: number; task: PoolTask; abortFlag: Int32Array }
  | { kind: "runLast"; taskId: number; task: LastRecordsTask; abortFlag: Int32Array }
  | { kind: "prepared"; requestId: number; partitionCount: number; partitions: PreparedPartition[] }
  | { kind: "prepareFailed"; requestId: number; error: PlainError }
  /** Test hook: throws outside any evaluator, as a bug in this file would. */
  | { kind: "crash" };

export type FromQueryWorker =
  | { kind: "prepare"; taskId: number; requestId: number; selection: PlainSelection }
  | { kind: "done"; taskId: number; result: LokiResultData }
  | { kind: "records"; taskId: number; records: StoredRecord[]; stats: LastRecordsStats }
  | { kind: "failed"; taskId: number; error: PlainError };

export function plainError(error: unknown): PlainError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key === "cause") continue;
    try {
      structuredClone(value);
      fields[key] = value;
    } catch {
      // a field that does not clone (a function, a handle) stays behind
    }
  }
  return { name: error.name, message: error.message, stack: error.stack, fields };
}

if (parentPort !== null) {
  const port = parentPort;
  const waiting = new Map<
    number,
    {
      resolve: (reply: { partitionCount: number; partitions: PreparedPartition[] }) => void;
      reject: (error: PlainError) => void;
    }
  >();
  let nextRequestId = 0;

  const send = (message: FromQueryWorker) => port.postMessage(message);

  port.on("message", (message: ToQueryWorker) => {
    if (message.kind === "run") {
      void run(message.taskId, message.task, message.abortFlag);
      return;
    }
    if (message.kind === "runLast") {
      void runLast(message.taskId, message.task, message.abortFlag);
      return;
    }
    if (message.kind === "crash") {
      setImmediate(() => {
        throw new Error("query worker crash requested by a test");
      });
      return;
    }
    const waiter = waiting.get(message.requestId);
    if (waiter === undefined) return;
    waiting.delete(message.requestId);
    if (message.kind === "prepared") waiter.resolve(message);
    else waiter.reject(message.error);
  });

  const prepare = (taskId: number, selection: PlainSelection) => {
    const requestId = nextRequestId++;
    return new Promise<{ partitionCount: number; partitions: PreparedPartition[] }>((resolve, reject) => {
      waiting.set(requestId, { resolve, reject: (error) => reject(revivedHere(error)) });
      send({ kind: "prepare", taskId, requestId, selection });
    });
  };

  /** The task's abort: a signal, and a check that aborts it once the caller set the shared flag. */
  function abortWatch(abortFlag: Int32Array): { controller: AbortController; checkAbort: () => void } {
    const controller = new AbortController();
    const checkAbort = () => {
      if (Atomics.load(abortFlag, 0) !== 0 && !controller.signal.aborted)
        controller.abort(new Error("query aborted by its caller"));
      controller.signal.throwIfAborted();
    };
    return { controller, checkAbort };
  }

  async function runLast(taskId: number, task: LastRecordsTask, abortFlag: Int32Array): Promise<void> {
    const { controller, checkAbort } = abortWatch(abortFlag);
    try {
      const key = Buffer.from(task.key);
      const stats = emptyLastRecordsStats(task.ranges.length);
      const records = await readLastInRanges(
        abortable(new SnapshotPartition(task.snapshot), checkAbort),
        {
          ranges: task.ranges,
          count: task.count,
          matches: (record) => key.equals(record.key),
          stepBytes: task.stepBytes,
          signal: controller.signal,
        },
        stats,
      );
      send({ kind: "records", taskId, records, stats });
    } catch (error) {
      send({ kind: "failed", taskId, error: plainError(error) });
    }
  }

  async function run(taskId: number, task: PoolTask, abortFlag: Int32Array): Promise<void> {
    const { controller, checkAbort } = abortWatch(abortFlag);
    const source: EntrySource = {
      async *select(selection: EntrySelection): AsyncIterable<LogEntry> {
        checkAbort();
        const plain: PlainSelection = {
          matchers: selection.matchers,
          lineFilters: selection.lineFilters,
          startNs: selection.startNs,
          endNs: selection.endNs,
          direction: selection.direction,
        };
        const prepared = await prepare(taskId, plain);
        checkAbort();
        const byId = new Map(prepared.partitions.map((p) => [p.id, p]));
        const log: ReadableLog = {
          partitionCount: prepared.partitionCount,
          partition(id: number): ReadablePartition {
            const entry = byId.get(id);
            if (entry === undefined) throw new Error(`BUG: partition ${id} was not prepared`);
            return abortable(new SnapshotPartition(entry.snapshot), checkAbort);
          },
        };
        const withRanges = prepared.partitions.some((p) => p.ranges !== null);
        const blocks = withRanges ? (id: number) => byId.get(id)?.ranges ?? [] : undefined;
        yield* new LogSource({ log, tenant: task.tenant, readStepBytes: task.readStepBytes, blocks }).select(
          selection,
        );
      },
    };
    try {
      const evaluation = task.evaluation;
      const result =
        evaluation.kind === "range"
          ? await evaluateRange(task.query, source, {
              startNs: evaluation.startNs,
              endNs: evaluation.endNs,
              limit: evaluation.limit,
              direction: evaluation.direction,
              stepNs: evaluation.stepNs,
              ...(evaluation.intervalNs === undefined ? {} : { intervalNs: evaluation.intervalNs }),
              signal: controller.signal,
              budget: task.budget,
            })
          : await evaluateInstant(task.query, source, {
              timeNs: evaluation.timeNs,
              limit: evaluation.limit,
              direction: evaluation.direction,
              signal: controller.signal,
              budget: task.budget,
            });
      send({ kind: "done", taskId, result });
    } catch (error) {
      send({ kind: "failed", taskId, error: plainError(error) });
    }
  }
}

/** A partition whose every read first checks the task's abort flag. */
function abortable(partition: SnapshotPartition, checkAbort: () => void): ReadablePartition {
  return {
    get endOffset() {
      return partition.endOffset;
    },
    read(fromOffset, options) {
      checkAbort();
      return partition.read(fromOffset, options);
    },
    readAt(offsets, cache) {
      checkAbort();
      return partition.readAt(offsets, cache);
    },
    offsetForTimestamp(timestampMs) {
      checkAbort();
      return partition.offsetForTimestamp(timestampMs);
    },
  };
}

/** A main-thread error inside the worker: enough to travel back out unchanged (plainError). */
function revivedHere(plain: PlainError): Error {
  const error = new Error(plain.message);
  Object.assign(error, plain.fields);
  error.name = plain.name;
  if (plain.stack !== undefined) error.stack = plain.stack;
  return error;
}
