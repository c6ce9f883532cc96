// The analytics consumer: the aggregates as a derived view of the access log. The loop per
// partition is the shared one (src/log/follow.ts): each step reads up to stepReadBytesMax of
// records from the partition's committed offset on the main thread (the log lives there), then this
// view hands them to the aggregation thread, which decodes, aggregates and commits
// counts + new offset in one transaction (store.ts). The log is the source of truth: a restart
// resumes at the committed offset, and a rebuild replays the log from its start (consumeStep).

import {
  type AccessEntry,
  decodeAccessBatch,
  RecordFormatError,
  storedAccessBatchKey,
} from "../ingest/index.ts";
import {
  type DerivedView,
  type Follower,
  type FollowStep,
  followPartitions,
  type PartitionLog,
  readStep,
  type StoredRecord,
} from "../log/index.ts";
import { AggregationThread } from "./aggregation-thread.ts";
import { ChunkAggregator } from "./aggregator.ts";
import { analyticsLimits } from "./limits.ts";
import { packRecords, type RecordView } from "./records.ts";
import type { AggregateStore, ConsumerPosition, StepCounts } from "./store.ts";

export type AnalyticsEvent =
  | { kind: "undecodable-record"; partition: number; offset: number; error: Error }
  | { kind: "records-expired"; partition: number; fromOffset: number; toOffset: number }
  | { kind: "records-damaged"; partition: number; fromOffset: number; toOffset: number }
  | { kind: "step-failed"; partition: number; offset: number; error: Error }
  | { kind: "store-ahead-of-log"; partition: number; storeOffset: number; logEndOffset: number };

export interface StepResult extends StepCounts {
  records: number;
  nextOffset: number;
  /** Append time (Unix ms) of each record the step made visible. */
  recordTimestampsMs: number[];
}

/** Decodes, aggregates and commits one step's records (on whichever thread owns `store`). */
export function applyRecords(
  store: AggregateStore,
  partition: number,
  records: Iterable<RecordView>,
  fromOffset: number,
  nextOffset: number,
  onEvent: (event: AnalyticsEvent) => void,
): StepCounts {
  const chunk = new ChunkAggregator();
  for (const record of records) addRecord(chunk, record, partition, onEvent);
  return store.apply(partition, chunk, fromOffset, nextOffset);
}

/**
 * One synchronous step over `partition` from the store's committed offset: read, aggregate, commit.
 * Returns null when there is nothing below `endOffset` (default: the committed end). Used by the
 * rebuild, which owns its store on the main thread.
 */
export function consumeStep(
  log: PartitionLog,
  store: AggregateStore,
  partition: number,
  onEvent: (event: AnalyticsEvent) => void,
  endOffset?: number,
): StepResult | null {
  const fromOffset = store.position(partition).nextOffset;
  const read = readStep(log, partition, fromOffset, analyticsLimits.stepReadBytesMax, onEvent, endOffset);
  if (read === null) return null;
  const counts = applyRecords(store, partition, read.records, fromOffset, read.nextOffset, onEvent);
  return stepResult(counts, read.records, read.nextOffset);
}

function stepResult(counts: StepCounts, records: readonly StoredRecord[], nextOffset: number): StepResult {
  return {
    ...counts,
    records: records.length,
    nextOffset,
    recordTimestampsMs: records.map((record) => record.timestampMs),
  };
}

function addRecord(
  chunk: ChunkAggregator,
  record: RecordView,
  partition: number,
  onEvent: (event: AnalyticsEvent) => void,
): void {
  let customerId: string;
  let entries: AccessEntry[];
  try {
    customerId = storedAccessBatchKey(record.key, record.value).customerId;
    if (customerId === "") throw new Error("record key names no customer");
    entries = decodeAccessBatch(record.value);
  } catch (error) {
    // A format this version does not know (a newer Sluice wrote it): fail the step, so nothing
    // after it is committed and the partition resumes there once a Sluice that reads it runs.
    // Skipping would lose its entries for good.
    if (error instanceof RecordFormatError) throw error;
    // A known format that does not decode: the log's CRC makes this a record some other writer put
    // there, not damage: skip it, loudly, the same way on every replay so a rebuild stays identical.
    onEvent({ kind: "undecodable-record", partition, offset: record.offset, error: error as Error });
    return;
  }
  for (const entry of entries)
    chunk.add(customerId, entry.receivedAtMs, entry.method, entry.path, entry.userAgent);
}

export interface PartitionStatus {
  partition: number;
  committedOffset: number;
  endOffset: number;
  lagRecords: number;
  /** Age of the oldest record not yet in the aggregates (0 when caught up). */
  lagSeconds: number;
  entriesCounted: number;
  pathsFolded: number;
  agentsFolded: number;
}

export interface ConsumerHooks {
  onEvent(event: AnalyticsEvent): void;
  /** Called after each committed step (metrics). */
  onStep(partition: number, step: StepResult, committedAtMs: number): void;
}

/**
 * The aggregates as a derived view of the access log (src/log/follow.ts runs the loops): every step
 * is applied and committed, counts + offset in one transaction, on the aggregation thread.
 */
export class AnalyticsConsumer implements DerivedView {
  readonly #log: PartitionLog;
  readonly #store: AggregateStore;
  readonly #hooks: ConsumerHooks;
  readonly #thread: AggregationThread;
  readonly #positions: ConsumerPosition[];
  readonly #follower: Follower;

  private constructor(log: PartitionLog, store: AggregateStore, hooks: ConsumerHooks) {
    this.#log = log;
    this.#store = store;
    this.#hooks = hooks;
    this.#thread = new AggregationThread(store.file, store.windowKeysMax);
    this.#positions = Array.from({ length: log.partitionCount }, (_, partition) => store.position(partition));
    this.#follower = followPartitions(log, this, {
      stepReadBytesMax: analyticsLimits.stepReadBytesMax,
      stepIntervalMinMs: analyticsLimits.stepIntervalMinMs,
      retryDelayMs: analyticsLimits.retryDelayMs,
      onEvent: hooks.onEvent,
    });
  }

  /**
   * Starts one loop per partition, each resuming at the offset committed in `store`. The steps are
   * committed by the aggregation thread on a connection of its own to store.file; `store` itself is
   * only read here (start positions) and stays the caller's for queries.
   */
  static start(log: PartitionLog, store: AggregateStore, hooks: ConsumerHooks): AnalyticsConsumer {
    return new AnalyticsConsumer(log, store, hooks);
  }

  /** DerivedView: the offset the store has committed (as last heard from the store or the thread). */
  position(partition: number): number {
    return this.#positions[partition].nextOffset;
  }

  /** DerivedView: the store counted records the log lost (an OS crash with --fsync interval). */
  rewind(partition: number, logEndOffset: number): number {
    this.#store.rewind(partition, logEndOffset);
    this.#positions[partition] = this.#store.position(partition);
    return this.#positions[partition].nextOffset;
  }

  /** DerivedView: aggregates and commits the step on the aggregation thread. */
  async apply(step: FollowStep): Promise<void> {
    const read = step.records;
    const records = packRecords(read);
    const reply = await this.#thread.apply(step.partition, records, step.fromOffset, step.nextOffset);
    this.#positions[step.partition] = reply.position;
    for (const event of reply.events) this.#hooks.onEvent(event);
    this.#hooks.onStep(step.partition, stepResult(reply.counts, read, step.nextOffset), Date.now());
  }

  /** DerivedView: nothing is held uncommitted; only the position is learnt again from the store. */
  discard(partition: number, error: Error): void {
    try {
      this.#positions[partition] = this.#store.position(partition);
    } catch {
      // the store is unreadable too: retry from the same position
    }
    for (const event of (error as { events?: AnalyticsEvent[] }).events ?? []) this.#hooks.onEvent(event);
  }

  status(nowMs: number): PartitionStatus[] {
    const statuses: PartitionStatus[] = [];
    for (let partition = 0; partition < this.#log.partitionCount; partition++) {
      const position = this.#positions[partition];
      const source = this.#log.partition(partition);
      const endOffset = source.endOffset;
      const committedOffset = Math.max(position.nextOffset, source.logStartOffset);
      let lagSeconds = 0;
      if (committedOffset < endOffset) {
        const oldest = this.#log.read(partition, committedOffset, { bytesMax: 1 }).records[0];
        if (oldest !== undefined) lagSeconds = Math.max(0, nowMs - oldest.timestampMs) / 1000;
      }
      statuses.push({
        partition,
        committedOffset: position.nextOffset,
        endOffset,
        lagRecords: Math.max(0, endOffset - committedOffset),
        lagSeconds,
        entriesCounted: position.entriesCounted,
        pathsFolded: position.pathsFolded,
        agentsFolded: position.agentsFolded,
      });
    }
    return statuses;
  }

  /** Stops every loop after its current step and closes the aggregation thread. */
  async stop(): Promise<void> {
    await this.#follower.stop();
    await this.#thread.close();
  }
}
