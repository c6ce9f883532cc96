// The analytics consumer: one loop per partition of the access log. Each step reads up to
// stepReadBytesMax of records from the partition's committed offset on the main thread (the log
// lives there), then hands them to the aggregation thread, which decodes, aggregates and commits
// counts + new offset in one transaction (store.ts). The log is the source of truth: a restart
// resumes at the committed offset, and a rebuild replays the log from its start (consumeStep).

import { setTimeout as sleep } from "node:timers/promises";
import {
  type AccessEntry,
  decodeAccessBatch,
  RecordFormatError,
  storedAccessBatchKey,
} from "../ingest/index.ts";
import type { PartitionLog, ReadResult } from "../log/index.ts";
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

/** Reads one step's records from `fromOffset`; null when there is nothing below `endOffset`. */
function readStep(
  log: PartitionLog,
  partition: number,
  fromOffset: number,
  onEvent: (event: AnalyticsEvent) => void,
  endOffset?: number,
): ReadResult | null {
  const read = log.read(partition, fromOffset, { bytesMax: analyticsLimits.stepReadBytesMax, endOffset });
  if (read.nextOffset <= fromOffset) return null;
  const firstOffset = read.records.length > 0 ? read.records[0].offset : read.nextOffset;
  if (firstOffset > fromOffset)
    onEvent({ kind: "records-expired", partition, fromOffset, toOffset: firstOffset });
  return read;
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
  const read = readStep(log, partition, fromOffset, onEvent, endOffset);
  if (read === null) return null;
  return stepResult(applyRecords(store, partition, read.records, fromOffset, read.nextOffset, onEvent), read);
}

function stepResult(counts: StepCounts, read: ReadResult): StepResult {
  return {
    ...counts,
    records: read.records.length,
    nextOffset: read.nextOffset,
    recordTimestampsMs: read.records.map((record) => record.timestampMs),
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

/**
 * Where a partition's consumer starts: the store's committed offset, unless that lies beyond the
 * log's end. That happens only with --fsync interval after an OS crash or power loss: the log lost
 * acknowledged records the aggregates had already counted. New records will take those offsets
 * again, so the store is moved back to the log's end (loudly) rather than skipping them.
 */
function startPosition(
  log: PartitionLog,
  store: AggregateStore,
  partition: number,
  onEvent: (event: AnalyticsEvent) => void,
): ConsumerPosition {
  const position = store.position(partition);
  const logEndOffset = log.partition(partition).endOffset;
  if (position.nextOffset <= logEndOffset) return position;
  onEvent({ kind: "store-ahead-of-log", partition, storeOffset: position.nextOffset, logEndOffset });
  store.rewind(partition, logEndOffset);
  return store.position(partition);
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

export class AnalyticsConsumer {
  readonly #log: PartitionLog;
  readonly #store: AggregateStore;
  readonly #hooks: ConsumerHooks;
  readonly #thread: AggregationThread;
  readonly #positions: ConsumerPosition[];
  readonly #abort = new AbortController();
  readonly #loops: Promise<void>[];

  private constructor(log: PartitionLog, store: AggregateStore, hooks: ConsumerHooks) {
    this.#log = log;
    this.#store = store;
    this.#hooks = hooks;
    this.#thread = new AggregationThread(store.file, store.windowKeysMax);
    this.#positions = Array.from({ length: log.partitionCount }, (_, partition) =>
      startPosition(log, store, partition, hooks.onEvent),
    );
    this.#loops = Array.from({ length: log.partitionCount }, (_, partition) => this.#run(partition));
  }

  /**
   * Starts one loop per partition, each resuming at the offset committed in `store`. The steps are
   * committed by the aggregation thread on a connection of its own to store.file; `store` itself is
   * only read here (start positions) and stays the caller's for queries.
   */
  static start(log: PartitionLog, store: AggregateStore, hooks: ConsumerHooks): AnalyticsConsumer {
    return new AnalyticsConsumer(log, store, hooks);
  }

  async #run(partition: number): Promise<void> {
    const signal = this.#abort.signal;
    const source = this.#log.partition(partition);
    let lastStepMs = Number.NEGATIVE_INFINITY;
    while (!signal.aborted) {
      const fromOffset = this.#positions[partition].nextOffset;
      await source.waitForData(fromOffset, signal);
      if (signal.aborted) return;
      const waitMs = lastStepMs + analyticsLimits.stepIntervalMinMs - performance.now();
      if (waitMs > 0) await sleep(waitMs, undefined, { signal }).catch(() => {});
      if (signal.aborted) return;
      lastStepMs = performance.now();
      try {
        const read = readStep(this.#log, partition, fromOffset, this.#hooks.onEvent);
        if (read === null) continue;
        const records = packRecords(read.records);
        const reply = await this.#thread.apply(partition, records, fromOffset, read.nextOffset);
        this.#positions[partition] = reply.position;
        for (const event of reply.events) this.#hooks.onEvent(event);
        this.#hooks.onStep(partition, stepResult(reply.counts, read), Date.now());
        // A full step means a backlog: take the next one at once rather than after the interval.
        if (read.nextOffset < read.endOffset) lastStepMs = Number.NEGATIVE_INFINITY;
      } catch (error) {
        // The step may have committed even so (a worker that died after COMMIT, a hook that
        // threw): resume from what the store holds, never from what this thread last heard.
        try {
          this.#positions[partition] = this.#store.position(partition);
        } catch {
          // the store is unreadable too: retry from the same position
        }
        for (const event of (error as { events?: AnalyticsEvent[] }).events ?? []) this.#hooks.onEvent(event);
        this.#hooks.onEvent({ kind: "step-failed", partition, offset: fromOffset, error: error as Error });
        await sleep(analyticsLimits.retryDelayMs, undefined, { signal }).catch(() => {});
      }
    }
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
    this.#abort.abort();
    await Promise.all(this.#loops);
    await this.#thread.close();
  }
}
