// The offsets of a block's sparse streams (FORMAT.md, `blocks.sparse_offsets`): for each stream of
// the block, in the order of its sorted `stream_ids`, either "dense" (more than
// sparseStreamRecordsMax records in the block, not recorded) or the exact offsets of its records. A
// query whose selector matches only streams sparse in a candidate block reads just those offsets
// (Partition.readAt) instead of the whole block; README.md, "Sparse streams", has the argument.
//
// Layout, per stream: varint n (unsigned LEB128); n = 0: dense; else n varints, the first offset
// minus the block's from_offset, then each offset minus the one before (≥ 1). In memory the blob is
// kept as it is, with the byte position of every 64th stream's entry, so the offsets of one stream
// are found after skipping at most 63 entries.

import assert from "node:assert/strict";

const skipEvery = 64;

/** Encodes the entries of `streamIds` (sorted): `offsets.get(id)` null (or absent) for a dense stream. */
export function encodeSparseOffsets(
  streamIds: BigUint64Array,
  offsets: ReadonlyMap<bigint, readonly number[] | null>,
  fromOffset: number,
): Uint8Array {
  const bytes: number[] = [];
  const put = (value: number) => {
    assert.ok(Number.isSafeInteger(value) && value >= 0);
    while (value >= 128) {
      bytes.push((value % 128) | 128);
      value = Math.floor(value / 128);
    }
    bytes.push(value);
  };
  for (const id of streamIds) {
    const list = offsets.get(id) ?? null;
    if (list === null || list.length === 0) {
      put(0);
      continue;
    }
    put(list.length);
    let previous = fromOffset;
    for (let i = 0; i < list.length; i++) {
      assert.ok(i === 0 ? list[i] >= fromOffset : list[i] > previous, "offsets ascend within the block");
      put(list[i] - previous);
      previous = list[i];
    }
  }
  return Uint8Array.from(bytes);
}

/** A block's sparse-stream offsets, read in place. */
export class SparseOffsets {
  readonly bytes: Uint8Array;
  readonly #fromOffset: number;
  readonly #streamCount: number;
  /** Byte position of the entry of stream skipEvery·i. */
  readonly #skips: Uint32Array;
  /** The read position of #varint. */
  #at: number;

  constructor(bytes: Uint8Array, fromOffset: number, streamCount: number) {
    this.bytes = bytes;
    this.#fromOffset = fromOffset;
    this.#streamCount = streamCount;
    this.#skips = new Uint32Array(Math.ceil(streamCount / skipEvery));
    this.#at = 0;
    for (let s = 0; s < streamCount; s++) {
      if (s % skipEvery === 0) this.#skips[s / skipEvery] = this.#at;
      this.#skipEntry();
    }
    assert.equal(this.#at, bytes.length, "the sparse offsets hold one entry per stream");
  }

  get byteLength(): number {
    return this.bytes.byteLength;
  }

  /**
   * The offsets of the records of streams `ordinals` (indexes into the block's sorted stream ids),
   * ascending; null when one of them is dense in the block (the block must be read whole).
   */
  offsetsOf(ordinals: readonly number[]): number[] | null {
    const found: number[] = [];
    for (const ordinal of ordinals) {
      assert.ok(ordinal >= 0 && ordinal < this.#streamCount);
      this.#at = this.#skips[Math.floor(ordinal / skipEvery)];
      for (let s = ordinal - (ordinal % skipEvery); s < ordinal; s++) this.#skipEntry();
      const count = this.#varint();
      if (count === 0) return null;
      let offset = this.#fromOffset;
      for (let i = 0; i < count; i++) {
        offset += this.#varint();
        found.push(offset);
      }
    }
    if (ordinals.length > 1) found.sort((a, b) => a - b);
    return found;
  }

  #skipEntry(): void {
    const count = this.#varint();
    for (let i = 0; i < count; i++) this.#varint();
  }

  /** The varint at #at, which moves past it. */
  #varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      assert.ok(this.#at < this.bytes.length, "a varint runs past the sparse offsets");
      const byte = this.bytes[this.#at++];
      result += (byte & 127) * scale;
      if (byte < 128) return result;
      scale *= 128;
    }
  }
}
