// The one mechanism behind every derived view of a log (the aggregates, the block index): a loop per
// partition that reads the log from the view's committed position and hands each step to the view.
// The view folds the records and commits when it chooses (every step, or once a block is full),
// always with the step's end offset in the same write, so a restart resumes exactly where the
// committed state ends. What the loop owns, once for every view: waiting for data, bounded reads,
// pacing, an idle deadline the view may ask for, repairing a store that is ahead of the log,
// reporting records retention removed before they were read, and retrying a failed step from the
// committed position. What the view owns: its state, its store and the record format.

import { setTimeout as sleep } from "node:timers/promises";
import type { StoredRecord } from "./batch.ts";
import type { PartitionLog } from "./log.ts";
import type { ReadResult } from "./partition.ts";

/** One read of one partition, as a view's apply() receives it. */
export interface FollowStep {
  partition: number;
  /** Where the read started: the end of the previous step (or the committed position). */
  fromOffset: number;
  /** Records in offset order; may be empty while nextOffset still moves (damaged or expired ranges). */
  records: readonly StoredRecord[];
  /** Where the next step starts; a view that commits this step commits this offset with it. */
  nextOffset: number;
  /** The log's committed end when the step was read. */
  endOffset: number;
  /** The log's first offset when the step was read (retention moves it). */
  logStartOffset: number;
  /** The follower's clock when the step was read (for the view's idle deadline). */
  nowMs: number;
}

export interface DerivedView {
  /**
   * The committed offset of `partition`: where following starts and resumes after a failed step.
   * Must not throw (keep the last offset known committed when the store cannot be read).
   */
  position(partition: number): number;
  /**
   * Folds one step into the view. The view commits (state + step.nextOffset, one write) whenever
   * it chooses; what it has not committed it must be able to drop (discard). A throw fails the step.
   */
  apply(step: FollowStep): void | Promise<void>;
  /**
   * Moves the committed position back to `logEndOffset` (dropping state beyond it) and returns it.
   * Called only when the store is ahead of the log (records lost to an OS crash with --fsync interval).
   */
  rewind(partition: number, logEndOffset: number): number;
  /** When (on the follower's clock) idle() is due for `partition`; null when nothing waits for it. */
  idleDueMs?(partition: number): number | null;
  /** Called once caught up and past idleDueMs (e.g. to seal a block that waited long enough). */
  idle?(partition: number, nowMs: number): void | Promise<void>;
  /**
   * After a failed step: drop what is not committed and learn the committed offset again from the
   * store (the step may have committed before it failed). position() is read afterwards.
   */
  discard?(partition: number, error: Error): void;
}

export type FollowEvent =
  | { kind: "step-failed"; partition: number; offset: number; error: Error }
  | { kind: "store-ahead-of-log"; partition: number; storeOffset: number; logEndOffset: number }
  | { kind: "records-expired"; partition: number; fromOffset: number; toOffset: number };

export interface FollowOptions {
  /** Bytes of records one step reads at most: bounds the step's memory and its time on the thread. */
  stepReadBytesMax: number;
  /** While caught up, start a step at most this often per partition (a backlog goes on at once). */
  stepIntervalMinMs?: number;
  /** After a failed step, wait this long before retrying from the committed position. */
  retryDelayMs: number;
  onEvent?: (event: FollowEvent) => void;
  /** Monotonic milliseconds; performance.now() unless a test injects its own. */
  clock?: () => number;
}

export interface Follower {
  /** Stops every loop after its current step; what the view did not commit stays uncommitted. */
  stop(): Promise<void>;
}

/**
 * The view's committed position of `partition`, moved back to the log's end when the store is
 * ahead of it: new records take those lost offsets again, so skipping them would lose them for good.
 */
export function repairPosition(
  log: PartitionLog,
  view: DerivedView,
  partition: number,
  onEvent: (event: FollowEvent) => void,
): number {
  const position = view.position(partition);
  const logEndOffset = log.partition(partition).endOffset;
  if (position <= logEndOffset) return position;
  onEvent({ kind: "store-ahead-of-log", partition, storeOffset: position, logEndOffset });
  return view.rewind(partition, logEndOffset);
}

/**
 * Reads one step of `partition` from `fromOffset` (below `endOffset`, default the committed end);
 * null when nothing is there. Reports the records retention (or damage) removed before this read.
 */
export function readStep(
  log: PartitionLog,
  partition: number,
  fromOffset: number,
  bytesMax: number,
  onEvent: (event: FollowEvent) => void,
  endOffset?: number,
): ReadResult | null {
  const read = log.read(partition, fromOffset, { bytesMax, endOffset });
  if (read.nextOffset <= fromOffset) return null;
  const firstOffset = read.records.length > 0 ? read.records[0].offset : read.nextOffset;
  if (firstOffset > fromOffset)
    onEvent({ kind: "records-expired", partition, fromOffset, toOffset: firstOffset });
  return read;
}

/** Follows every partition of `log` into `view` until stop(); repairs each start position first. */
export function followPartitions(log: PartitionLog, view: DerivedView, options: FollowOptions): Follower {
  const abort = new AbortController();
  const onEvent = options.onEvent ?? (() => {});
  for (let partition = 0; partition < log.partitionCount; partition++)
    repairPosition(log, view, partition, onEvent);
  const loops = Array.from({ length: log.partitionCount }, (_, partition) =>
    follow(log, view, partition, options, onEvent, abort.signal),
  );
  return {
    async stop() {
      abort.abort();
      await Promise.all(loops);
    },
  };
}

async function follow(
  log: PartitionLog,
  view: DerivedView,
  partition: number,
  options: FollowOptions,
  onEvent: (event: FollowEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const clock = options.clock ?? (() => performance.now());
  const stepIntervalMinMs = options.stepIntervalMinMs ?? 0;
  const source = log.partition(partition);
  let readOffset = view.position(partition);
  let lastStepMs = Number.NEGATIVE_INFINITY;
  while (!signal.aborted) {
    const fromOffset = readOffset;
    try {
      const dueMs = view.idleDueMs?.(partition) ?? null;
      if (dueMs === null) await source.waitForData(fromOffset, signal);
      else {
        // AbortSignal.timeout takes whole milliseconds (a fraction throws ERR_OUT_OF_RANGE).
        const remainingMs = Math.ceil(dueMs - clock());
        if (remainingMs > 0)
          await source.waitForData(fromOffset, AbortSignal.any([signal, AbortSignal.timeout(remainingMs)]));
      }
      if (signal.aborted) return;
      const waitMs = lastStepMs + stepIntervalMinMs - clock();
      if (waitMs > 0) await sleep(waitMs, undefined, { signal }).catch(() => {});
      if (signal.aborted) return;
      lastStepMs = clock();
      const read = readStep(log, partition, fromOffset, options.stepReadBytesMax, onEvent);
      let caughtUp = fromOffset >= source.endOffset;
      if (read !== null) {
        const { records, nextOffset, endOffset, logStartOffset } = read;
        await view.apply({
          partition,
          fromOffset,
          records,
          nextOffset,
          endOffset,
          logStartOffset,
          nowMs: lastStepMs,
        });
        readOffset = nextOffset;
        caughtUp = nextOffset >= endOffset;
        // A full step means a backlog: take the next one at once rather than after the interval.
        if (nextOffset < endOffset) lastStepMs = Number.NEGATIVE_INFINITY;
      }
      const idleDueMs = view.idleDueMs?.(partition) ?? null;
      if (idleDueMs !== null && caughtUp) {
        const nowMs = clock();
        if (nowMs >= idleDueMs) await view.idle?.(partition, nowMs);
      }
      // Give the event loop back between steps, so ingest and queries run while the view catches up.
      await new Promise((resolve) => setImmediate(resolve));
    } catch (error) {
      // The step may have committed even so (a worker that died after COMMIT, a hook that threw):
      // resume from what the view's store holds, never from what this loop last read.
      try {
        view.discard?.(partition, error as Error);
      } catch {
        // the store is unreadable too: position() still holds the last committed offset it knew
      }
      readOffset = view.position(partition);
      onEvent({ kind: "step-failed", partition, offset: readOffset, error: error as Error });
      await sleep(options.retryDelayMs, undefined, { signal }).catch(() => {});
    }
  }
}
