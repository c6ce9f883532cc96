// Idempotency of POST /logs batches: (customer, idempotency-key) pairs seen within the retention.
// The pair is the stored record's key in the access log, written in the same durable append as the
// batch, so this table is derived state: rebuilt from the log on start. In one process, reserving a
// key is synchronous, so two identical requests racing each other cannot both pass.
//
// Expiry is amortised O(1): keys enter an expiry queue in the order they are reserved, which is the
// order of their times, so the expired keys are always at its head. Each reserve (and the minute
// sweep) pops expired keys off the head; nothing ever walks the whole table.
//
//   #seqOf:  pair -> sequence number of its current slot in the queue
//   queue:   [headSeq .. tailSeq) slots of (pair, time ms), in chunks of queueChunkSlots
//
// A slot is stale when its pair has since moved to a newer slot (reserved again after expiring,
// confirmed with another time) or left (released); stale slots are dropped when they reach the
// head, and the queue is compacted when they outnumber the live keys, so it holds at most about
// twice the keys.

import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { PartitionLog } from "../log/index.ts";
import { storedAccessBatchKey } from "./access-logs.ts";
import { idempotencyLimits } from "./limits.ts";

export const reservations = { reserved: "reserved", duplicate: "duplicate", full: "full" } as const;
export type Reservation = (typeof reservations)[keyof typeof reservations];

interface QueueChunk {
  pairs: Array<string | undefined>;
  timesMs: Float64Array;
}

export interface RebuildOptions {
  /** Checked between reads: an aborted rebuild rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called about every idempotencyLimits.rebuildProgressIntervalMs while the rebuild reads. */
  onProgress?: (progress: { keysLoaded: number; partition: number; partitionCount: number }) => void;
}

export class IdempotencyTable {
  readonly #retentionMs: number;
  readonly #keysMax: number;
  readonly #seqOf = new Map<string, number>();
  /** Pairs reserved whose append has not finished: never expire (at most the admitted requests). */
  readonly #inFlight = new Set<string>();
  #chunks: QueueChunk[] = [];
  #firstChunkSeq = 0;
  #headSeq = 0;
  #tailSeq = 0;

  constructor(retentionMs: number, keysMax: number) {
    if (!(retentionMs > 0) || !Number.isSafeInteger(keysMax) || keysMax < 1)
      throw new RangeError(`invalid idempotency table: retention ${retentionMs} ms, ${keysMax} keys`);
    this.#retentionMs = retentionMs;
    this.#keysMax = keysMax;
  }

  /** The table's key. join() builds one flat string (~56 B per key less than a template literal's
   * cons string, which keeps both header strings alive; bench/idempotency-memory.bench.ts). */
  static pair(customerId: string, idempotencyKey: string): string {
    return [customerId, idempotencyKey].join("\n");
  }

  reserve(pair: string, nowMs: number): Reservation {
    this.#expire(nowMs);
    const seq = this.#seqOf.get(pair);
    if (seq !== undefined) {
      if (this.#inFlight.has(pair) || nowMs - this.#timeAt(seq) < this.#retentionMs)
        return reservations.duplicate;
      // Held but expired (the head was not reached yet): reserved again, at the tail.
    } else if (this.#seqOf.size >= this.#keysMax) return reservations.full;
    this.#seqOf.set(pair, this.#push(pair, nowMs));
    this.#inFlight.add(pair);
    return reservations.reserved;
  }

  /** The batch is durable: the key now holds for the retention from `storedAtMs`. */
  confirm(pair: string, storedAtMs: number): void {
    this.#inFlight.delete(pair);
    const seq = this.#seqOf.get(pair);
    if (seq !== undefined && this.#timeAt(seq) === storedAtMs) return; // the route stores its reserve time
    this.#seqOf.set(pair, this.#push(pair, storedAtMs));
    this.#compactIfStale();
  }

  /** The append failed: the client may retry with the same key. */
  release(pair: string): void {
    if (!this.#inFlight.delete(pair)) return;
    this.#seqOf.delete(pair);
    this.#compactIfStale();
  }

  /** Drops the expired keys (reserve does the same for the keys it passes); returns how many. */
  sweep(nowMs: number): number {
    return this.#expire(nowMs);
  }

  get size(): number {
    return this.#seqOf.size;
  }

  /** Slots in the expiry queue, stale ones included (for tests and the memory model). */
  get queuedSlots(): number {
    return this.#tailSeq - this.#headSeq;
  }

  /**
   * Loads every key stored within the retention from the access log, yielding to the event loop
   * between reads so a listening server keeps answering (/ready 503). Each partition is read in
   * offset order, which is time order; the partitions are merged by time into the expiry queue.
   * Returns the keys loaded. Throws RecordFormatError for a record of a format this version cannot read.
   */
  async rebuild(log: PartitionLog, nowMs: number, options: RebuildOptions = {}): Promise<number> {
    const since = nowMs - this.#retentionMs;
    const runs: Array<{ pairs: string[]; timesMs: number[] }> = [];
    let keysLoaded = 0;
    let reportedMs = performance.now();
    for (let partition = 0; partition < log.partitionCount; partition++) {
      const run = { pairs: [] as string[], timesMs: [] as number[] };
      runs.push(run);
      let offset = log.partition(partition).offsetForTimestamp(since);
      for (;;) {
        const result = log.read(partition, offset);
        for (const record of result.records) {
          if (record.timestampMs < since) continue;
          const { customerId, idempotencyKey } = storedAccessBatchKey(record.key, record.value);
          run.pairs.push(IdempotencyTable.pair(customerId, idempotencyKey));
          run.timesMs.push(record.timestampMs);
          keysLoaded++;
        }
        await yieldToEventLoop();
        if (options.signal?.aborted) throw options.signal.reason;
        if (performance.now() - reportedMs >= idempotencyLimits.rebuildProgressIntervalMs) {
          reportedMs = performance.now();
          options.onProgress?.({ keysLoaded, partition, partitionCount: log.partitionCount });
        }
        if (result.nextOffset >= result.endOffset || result.records.length === 0) break;
        offset = result.nextOffset;
      }
    }
    this.#mergeRuns(runs);
    return keysLoaded;
  }

  /** Appends the runs (each in time order) to the queue in time order: a k-way merge on a heap. */
  #mergeRuns(runs: Array<{ pairs: string[]; timesMs: number[] }>): void {
    const cursors = runs.map(() => 0);
    const heap = runs.map((_, run) => run).filter((run) => runs[run].pairs.length > 0);
    const before = (a: number, b: number) => runs[a].timesMs[cursors[a]] < runs[b].timesMs[cursors[b]];
    const siftDown = (from: number) => {
      for (let at = from; ; ) {
        const left = 2 * at + 1;
        const right = left + 1;
        let least = at;
        if (left < heap.length && before(heap[left], heap[least])) least = left;
        if (right < heap.length && before(heap[right], heap[least])) least = right;
        if (least === at) return;
        [heap[at], heap[least]] = [heap[least], heap[at]];
        at = least;
      }
    };
    for (let at = (heap.length >> 1) - 1; at >= 0; at--) siftDown(at);
    while (heap.length > 0) {
      const run = heap[0];
      const pair = runs[run].pairs[cursors[run]];
      this.#seqOf.set(pair, this.#push(pair, runs[run].timesMs[cursors[run]])); // a later record wins
      if (++cursors[run] === runs[run].pairs.length) {
        heap[0] = heap[heap.length - 1]; // this run is done: the last one takes its place
        heap.pop();
      }
      siftDown(0);
    }
    this.#compactIfStale();
  }

  /** Pops the head while it is stale or expired (and not in flight). Amortised O(1) per key. */
  #expire(nowMs: number): number {
    let removed = 0;
    while (this.#headSeq < this.#tailSeq) {
      const { chunk, slot } = this.#locate(this.#headSeq);
      const pair = chunk.pairs[slot]!;
      if (this.#seqOf.get(pair) === this.#headSeq) {
        if (this.#inFlight.has(pair) || nowMs - chunk.timesMs[slot] < this.#retentionMs) break;
        this.#seqOf.delete(pair);
        removed++;
      }
      this.#popHead();
    }
    return removed;
  }

  #push(pair: string, timeMs: number): number {
    const used = this.#tailSeq - this.#firstChunkSeq;
    if (used === this.#chunks.length * idempotencyLimits.queueChunkSlots) {
      this.#chunks.push({
        pairs: new Array<string | undefined>(idempotencyLimits.queueChunkSlots).fill(undefined),
        timesMs: new Float64Array(idempotencyLimits.queueChunkSlots),
      });
    }
    const seq = this.#tailSeq++;
    const { chunk, slot } = this.#locate(seq);
    chunk.pairs[slot] = pair;
    chunk.timesMs[slot] = timeMs;
    return seq;
  }

  #popHead(): void {
    const { chunk, slot } = this.#locate(this.#headSeq);
    chunk.pairs[slot] = undefined; // lets the string go
    this.#headSeq++;
    if (this.#headSeq - this.#firstChunkSeq === idempotencyLimits.queueChunkSlots) {
      this.#chunks.shift(); // at most keysMax / queueChunkSlots chunks: shifting the list is cheap
      this.#firstChunkSeq = this.#headSeq;
    }
  }

  #locate(seq: number): { chunk: QueueChunk; slot: number } {
    const index = seq - this.#firstChunkSeq;
    if (!(index >= 0 && seq < this.#tailSeq)) throw new Error(`BUG: queue slot ${seq} outside the queue`);
    const chunkIndex = Math.floor(index / idempotencyLimits.queueChunkSlots);
    return { chunk: this.#chunks[chunkIndex], slot: index - chunkIndex * idempotencyLimits.queueChunkSlots };
  }

  #timeAt(seq: number): number {
    const { chunk, slot } = this.#locate(seq);
    return chunk.timesMs[slot];
  }

  /** Rewrites the queue with only its live slots once stale ones outnumber them: O(live) after at
   * least as many stale-making operations, so amortised O(1). */
  #compactIfStale(): void {
    const slots = this.#tailSeq - this.#headSeq;
    if (slots - this.#seqOf.size <= Math.max(this.#seqOf.size, idempotencyLimits.queueChunkSlots)) return;
    const chunks = this.#chunks;
    const firstChunkSeq = this.#firstChunkSeq;
    const headSeq = this.#headSeq;
    const tailSeq = this.#tailSeq;
    this.#chunks = [];
    this.#firstChunkSeq = this.#headSeq = this.#tailSeq = tailSeq; // new slots continue the numbering
    for (let seq = headSeq; seq < tailSeq; seq++) {
      const index = seq - firstChunkSeq;
      const chunk = chunks[Math.floor(index / idempotencyLimits.queueChunkSlots)];
      const slot = index % idempotencyLimits.queueChunkSlots;
      const pair = chunk.pairs[slot]!;
      if (this.#seqOf.get(pair) === seq) this.#seqOf.set(pair, this.#push(pair, chunk.timesMs[slot]));
    }
  }
}
