// Idempotency of POST /logs batches: (customer, idempotency-key) pairs seen within the retention.
// The pair is the stored record's key in the access log, written in the same durable append as the
// batch, so this table is derived state: rebuilt from the log on start. In one process, reserving a
// key is synchronous, so two identical requests racing each other cannot both pass.

import type { PartitionLog } from "../log/index.ts";
import { storedAccessBatchKey } from "./access-logs.ts";

export const reservations = { reserved: "reserved", duplicate: "duplicate", full: "full" } as const;
export type Reservation = (typeof reservations)[keyof typeof reservations];

export class IdempotencyTable {
  readonly #retentionMs: number;
  readonly #keysMax: number;
  /** pair -> time the batch was stored (ms), or -1 while its append is in flight. */
  readonly #seen = new Map<string, number>();

  constructor(retentionMs: number, keysMax: number) {
    this.#retentionMs = retentionMs;
    this.#keysMax = keysMax;
  }

  static pair(customerId: string, idempotencyKey: string): string {
    return `${customerId}\n${idempotencyKey}`;
  }

  reserve(pair: string, nowMs: number): Reservation {
    const storedAtMs = this.#seen.get(pair);
    if (storedAtMs !== undefined && (storedAtMs < 0 || nowMs - storedAtMs < this.#retentionMs))
      return reservations.duplicate;
    if (storedAtMs === undefined && this.#seen.size >= this.#keysMax) {
      this.sweep(nowMs);
      if (this.#seen.size >= this.#keysMax) return reservations.full;
    }
    this.#seen.set(pair, -1);
    return reservations.reserved;
  }

  /** The batch is durable: the key now holds for the retention. */
  confirm(pair: string, storedAtMs: number): void {
    this.#seen.set(pair, storedAtMs);
  }

  /** The append failed: the client may retry with the same key. */
  release(pair: string): void {
    if (this.#seen.get(pair) === -1) this.#seen.delete(pair);
  }

  sweep(nowMs: number): number {
    let removed = 0;
    for (const [pair, storedAtMs] of this.#seen) {
      if (storedAtMs >= 0 && nowMs - storedAtMs >= this.#retentionMs) {
        this.#seen.delete(pair);
        removed++;
      }
    }
    return removed;
  }

  get size(): number {
    return this.#seen.size;
  }

  /**
   * Loads every key stored within the retention from the access log. Returns the keys loaded.
   * Throws RecordFormatError for a record of a format this version cannot read.
   */
  rebuild(log: PartitionLog, nowMs: number): number {
    let loaded = 0;
    const since = nowMs - this.#retentionMs;
    for (let partition = 0; partition < log.partitionCount; partition++) {
      let offset = log.partition(partition).offsetForTimestamp(since);
      for (;;) {
        const result = log.read(partition, offset);
        for (const record of result.records) {
          if (record.timestampMs < since) continue;
          const { customerId, idempotencyKey } = storedAccessBatchKey(record.key, record.value);
          this.#seen.set(IdempotencyTable.pair(customerId, idempotencyKey), record.timestampMs);
          loaded++;
        }
        if (result.nextOffset >= result.endOffset || result.records.length === 0) break;
        offset = result.nextOffset;
      }
    }
    return loaded;
  }
}
