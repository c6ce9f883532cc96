// One open block of one partition: the records read since the last sealed block, folded into the
// block's summary as they come (offset range, time range, streams, distinct filter keys). Sealing
// turns it into what the store commits. Memory while open: one Set entry per distinct key (~9 K keys
// per 8 K records of reference A lines) and one per stream, with up to sparseStreamRecordsMax offsets.

import assert from "node:assert/strict";
import { Bloom } from "./bloom.ts";
import type { StreamRef } from "./decode.ts";
import { encodeSparseOffsets } from "./sparse.ts";
import type { StoredBlock, StreamSighting } from "./store.ts";
import type { FilterKey } from "./tokens.ts";

export interface BlockShape {
  gramLength: number;
  windowGrams: number;
  longGramLength: number;
  bloomBitsPerKey: number;
  bloomHashesMax: number;
  blockRecordsMax: number;
  blockValueBytesMax: number;
  /** A stream with at most this many records in a block has their offsets recorded (sparse.ts). */
  sparseStreamRecordsMax: number;
}

export class BlockBuilder {
  readonly partition: number;
  readonly #shape: BlockShape;
  #fromOffset = -1;
  #toOffset = -1;
  #recordCount = 0;
  #valueBytes = 0;
  #minTsMs = Number.POSITIVE_INFINITY;
  #maxTsMs = Number.NEGATIVE_INFINITY;
  #keys = new Set<FilterKey>();
  #streams = new Map<bigint, StreamSighting>();
  /** Per stream, its records' offsets while it has at most sparseStreamRecordsMax; null once it has more. */
  #offsets = new Map<bigint, number[] | null>();
  /** performance.now() when the first record came in. */
  openedAtMs = 0;
  /** Streams this builder has started a sighting of, over its life (never reset): a version counter. */
  streamsAdded = 0;

  constructor(partition: number, shape: BlockShape) {
    this.partition = partition;
    this.#shape = shape;
  }

  get isEmpty(): boolean {
    return this.#fromOffset < 0;
  }

  get isFull(): boolean {
    return (
      this.#recordCount >= this.#shape.blockRecordsMax || this.#valueBytes >= this.#shape.blockValueBytesMax
    );
  }

  /** Starts the block at `fromOffset` (where the previous block ended, or the log start). */
  open(fromOffset: number, nowMs: number): void {
    assert.ok(this.isEmpty, "a block is opened once");
    this.#fromOffset = fromOffset;
    this.#toOffset = fromOffset;
    this.openedAtMs = nowMs;
  }

  /** The open block's filter keys: a decoder adds a line's keys here (EntryDecoder.decodeKeys) before add(). */
  get keys(): Set<FilterKey> {
    return this.#keys;
  }

  get shape(): BlockShape {
    return this.#shape;
  }

  /**
   * Adds the record at `offset`, whose line's keys are already in `keys`; `stream` null for a record
   * that did not decode (covered, not indexed).
   */
  add(offset: number, timestampMs: number, valueBytes: number, stream: StreamRef | null): void {
    assert.ok(offset >= this.#toOffset, "records come in offset order");
    this.#toOffset = offset + 1;
    this.#recordCount++;
    this.#valueBytes += valueBytes;
    if (timestampMs < this.#minTsMs) this.#minTsMs = timestampMs;
    if (timestampMs > this.#maxTsMs) this.#maxTsMs = timestampMs;
    if (stream === null) return;
    const sighting = this.#streams.get(stream.id);
    const offsets = this.#offsets.get(stream.id);
    if (offsets === undefined) this.#offsets.set(stream.id, [offset]);
    else if (offsets !== null) {
      if (offsets.length < this.#shape.sparseStreamRecordsMax) offsets.push(offset);
      else this.#offsets.set(stream.id, null); // dense in this block
    }
    if (sighting === undefined) {
      this.streamsAdded++;
      this.#streams.set(stream.id, {
        tenant: stream.tenant,
        id: stream.id,
        labels: stream.labels,
        firstTsMs: timestampMs,
        lastTsMs: timestampMs,
      });
    } else {
      if (timestampMs < sighting.firstTsMs) sighting.firstTsMs = timestampMs;
      if (timestampMs > sighting.lastTsMs) sighting.lastTsMs = timestampMs;
    }
  }

  /** Covers offsets up to `toOffset` that held no records (skipped damage, the end of a read). */
  extendTo(toOffset: number): void {
    if (!this.isEmpty && toOffset > this.#toOffset) this.#toOffset = toOffset;
  }

  get toOffset(): number {
    return this.#toOffset;
  }

  /** Streams of the open block (the registry shows them before the block is sealed). */
  streams(): Iterable<StreamSighting> {
    return this.#streams.values();
  }

  /** The block's summary and streams; the builder is empty again afterwards. */
  seal(): { block: StoredBlock; streams: StreamSighting[] } {
    assert.ok(!this.isEmpty && this.#recordCount > 0, "only a block with records is sealed");
    const { bloomBitsPerKey, bloomHashesMax } = this.#shape;
    const bloom = Bloom.build(this.#keys, this.#keys.size, bloomBitsPerKey, bloomHashesMax);
    const streamIds = BigUint64Array.from(this.#streams.keys()).sort();
    const block: StoredBlock = {
      partition: this.partition,
      fromOffset: this.#fromOffset,
      toOffset: this.#toOffset,
      recordCount: this.#recordCount,
      minTsMs: this.#minTsMs,
      maxTsMs: this.#maxTsMs,
      streamIds,
      bloomHashes: bloom.hashCount,
      bloomWords: bloom.words,
      sparseOffsets: encodeSparseOffsets(streamIds, this.#offsets, this.#fromOffset),
    };
    const streams = [...this.#streams.values()];
    this.reset();
    return { block, streams };
  }

  /** Forgets the open block (a failed step re-reads it from the log). */
  reset(): void {
    this.#fromOffset = -1;
    this.#toOffset = -1;
    this.#recordCount = 0;
    this.#valueBytes = 0;
    this.#minTsMs = Number.POSITIVE_INFINITY;
    this.#maxTsMs = Number.NEGATIVE_INFINITY;
    this.#keys = new Set();
    this.#streams = new Map();
    this.#offsets = new Map();
  }

  get distinctKeys(): number {
    return this.#keys.size;
  }
}
