// The analytics consumer: one loop per partition of the access log. Each step reads up to
// stepReadBytesMax of records from the partition's committed offset, aggregates their entries in
// memory and commits counts + new offset in one transaction (store.ts). The log is the source of
// truth: a restart resumes at the committed offset, and a rebuild replays the log from its start.

import { setTimeout as sleep, setImmediate as yieldToEventLoop } from "node:timers/promises";
import { decodeAccessBatch, splitAccessBatchKey } from "../ingest/index.ts";
import type { PartitionLog, StoredRecord } from "../log/index.ts";
import { ChunkAggregator } from "./aggregator.ts";
import { analyticsLimits } from "./limits.ts";
import type { AggregateStore, StepCounts } from "./store.ts";

export type AnalyticsEvent =
  | { kind: "undecodable-record"; partition: number; offset: number; error: Error }
  | { kind: "records-expired"; partition: number; fromOffset: number; toOffset: number }
  | { kind: "step-failed"; partition: number; offset: number; error: Error };

export interface StepResult extends StepCounts {
  records: number;
  nextOffset: number;
  /** Append time (Unix ms) of each record the step made visible. */
  recordTimestampsMs: number[];
}

/**
 * One step over `partition` from the store's committed offset: read, aggregate, commit. Returns null
 * when there is nothing below `endOffset` (default: the committed end of the partition).
 */
export function consumeStep(
  log: PartitionLog,
  store: AggregateStore,
  partition: number,
  onEvent: (event: AnalyticsEvent) => void,
  endOffset?: number,
): StepResult | null {
  const fromOffset = store.position(partition).nextOffset;
  const read = log.read(partition, fromOffset, { bytesMax: analyticsLimits.stepReadBytesMax, endOffset });
  if (read.nextOffset <= fromOffset) return null;
  const firstOffset = read.records.length > 0 ? read.records[0].offset : read.nextOffset;
  if (firstOffset > fromOffset)
    onEvent({ kind: "records-expired", partition, fromOffset, toOffset: firstOffset });
  const chunk = new ChunkAggregator();
  for (const record of read.records) addRecord(chunk, record, partition, onEvent);
  const counts = store.apply(partition, chunk, read.nextOffset);
  return {
    ...counts,
    records: read.records.length,
    nextOffset: read.nextOffset,
    recordTimestampsMs: read.records.map((record) => record.timestampMs),
  };
}

function addRecord(
  chunk: ChunkAggregator,
  record: StoredRecord,
  partition: number,
  onEvent: (event: AnalyticsEvent) => void,
): void {
  let customerId: string;
  let entries: ReturnType<typeof decodeAccessBatch>["entries"];
  try {
    customerId = splitAccessBatchKey(record.key).customerId;
    if (customerId === "") throw new Error("record key names no customer");
    entries = decodeAccessBatch(record.value).entries;
    if (!Array.isArray(entries)) throw new Error("entries is not an array");
  } catch (error) {
    // The log's CRC makes this a record some other writer put there, not damage: skip it, loudly,
    // the same way on every replay so a rebuild stays identical.
    onEvent({ kind: "undecodable-record", partition, offset: record.offset, error: error as Error });
    return;
  }
  for (const [receivedAtMs, method, path, userAgent] of entries)
    chunk.add(customerId, receivedAtMs, method, path, userAgent);
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
  readonly #abort = new AbortController();
  readonly #loops: Promise<void>[];

  private constructor(log: PartitionLog, store: AggregateStore, hooks: ConsumerHooks) {
    this.#log = log;
    this.#store = store;
    this.#hooks = hooks;
    this.#loops = Array.from({ length: log.partitionCount }, (_, partition) => this.#run(partition));
  }

  /** Starts one loop per partition, each resuming at its committed offset. */
  static start(log: PartitionLog, store: AggregateStore, hooks: ConsumerHooks): AnalyticsConsumer {
    return new AnalyticsConsumer(log, store, hooks);
  }

  async #run(partition: number): Promise<void> {
    const signal = this.#abort.signal;
    const source = this.#log.partition(partition);
    let lastStepMs = Number.NEGATIVE_INFINITY;
    while (!signal.aborted) {
      const fromOffset = this.#store.position(partition).nextOffset;
      await source.waitForData(fromOffset, signal);
      if (signal.aborted) return;
      const waitMs = lastStepMs + analyticsLimits.stepIntervalMinMs - performance.now();
      if (waitMs > 0) await sleep(waitMs, undefined, { signal }).catch(() => {});
      if (signal.aborted) return;
      lastStepMs = performance.now();
      try {
        const step = consumeStep(this.#log, this.#store, partition, this.#hooks.onEvent);
        if (step !== null) this.#hooks.onStep(partition, step, Date.now());
      } catch (error) {
        this.#hooks.onEvent({ kind: "step-failed", partition, offset: fromOffset, error: error as Error });
        await sleep(analyticsLimits.retryDelayMs, undefined, { signal }).catch(() => {});
        continue;
      }
      // A step holds the main thread for a few ms; let requests in between steps.
      await yieldToEventLoop();
    }
  }

  status(nowMs: number): PartitionStatus[] {
    const statuses: PartitionStatus[] = [];
    for (let partition = 0; partition < this.#log.partitionCount; partition++) {
      const position = this.#store.position(partition);
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

  /** Stops every loop after its current step; the store stays open (its owner closes it). */
  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#loops);
  }
}
