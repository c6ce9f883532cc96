// A step's records in one transferable block, so the main thread can hand them to the aggregation
// thread without copying per record: keys and values laid end to end in one ArrayBuffer, with their
// offsets and lengths beside it.

import type { StoredRecord } from "../log/index.ts";

export interface PackedRecords {
  bytes: Uint8Array;
  /** Per record: log offset, key length, value length (key then value, consecutive in `bytes`). */
  offsets: Float64Array;
  keyLengths: Uint32Array;
  valueLengths: Uint32Array;
}

export interface RecordView {
  offset: number;
  key: Uint8Array;
  value: Uint8Array;
}

export function packRecords(records: readonly StoredRecord[]): PackedRecords {
  let total = 0;
  for (const record of records) total += record.key.byteLength + record.value.byteLength;
  // An ArrayBuffer of its own (never a pool slab) so it can be transferred.
  const bytes = new Uint8Array(new ArrayBuffer(total));
  const offsets = new Float64Array(records.length);
  const keyLengths = new Uint32Array(records.length);
  const valueLengths = new Uint32Array(records.length);
  let position = 0;
  for (let index = 0; index < records.length; index++) {
    const { key, value, offset } = records[index];
    bytes.set(key, position);
    position += key.byteLength;
    bytes.set(value, position);
    position += value.byteLength;
    offsets[index] = offset;
    keyLengths[index] = key.byteLength;
    valueLengths[index] = value.byteLength;
  }
  return { bytes, offsets, keyLengths, valueLengths };
}

export function* unpackRecords(packed: PackedRecords): Generator<RecordView> {
  let position = 0;
  for (let index = 0; index < packed.offsets.length; index++) {
    const key = packed.bytes.subarray(position, position + packed.keyLengths[index]);
    position += packed.keyLengths[index];
    const value = packed.bytes.subarray(position, position + packed.valueLengths[index]);
    position += packed.valueLengths[index];
    yield { offset: packed.offsets[index], key, value };
  }
}

/** The buffers a postMessage of `packed` should transfer. */
export function transferList(packed: PackedRecords): ArrayBuffer[] {
  return [
    packed.bytes.buffer,
    packed.offsets.buffer,
    packed.keyLengths.buffer,
    packed.valueLengths.buffer,
  ] as ArrayBuffer[];
}
