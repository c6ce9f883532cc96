// The record batch codec: the unit of writing, checksumming and compression. Layout in FORMAT.md.
// Plain functions over Buffers; nothing here touches the file system.

import assert from "node:assert/strict";
import zlib from "node:zlib";

export const batchMagic = 0x474f4c53; // "SLOG" read as a little-endian u32
export const batchVersion = 1;
export const batchHeaderBytes = 64;

export const codecs = { none: 0, zstd: 1 } as const;
export type Codec = (typeof codecs)[keyof typeof codecs];

/** A record as given to append. Key and value are opaque bytes: the log does not know JSON. */
export interface LogRecord {
  timestampMs: number;
  key: Uint8Array;
  value: Uint8Array;
}

/** A record as read back. key and value are views into a decoded payload the caller now owns. */
export interface StoredRecord extends LogRecord {
  offset: number;
}

/** Timestamps are stored as zigzag varint deltas, exact below 2^53: |timestampMs| <= 2^51 keeps
 * every delta and its zigzag image exact (2^51 ms is about year 71,000). */
export const timestampAbsMax = 2 ** 51;

export interface BatchHeader {
  version: number;
  codec: Codec;
  baseOffset: number;
  /** Position of this batch's last record in the source stream (cluster mode), -1 when none. */
  sourcePosition: number;
  firstTimestampMs: number;
  maxTimestampMs: number;
  leaderEpoch: number;
  recordCount: number;
  payloadBytes: number;
  rawPayloadBytes: number;
  crc: number;
}

const field = {
  magic: 0,
  version: 4,
  codec: 5,
  baseOffset: 8,
  sourcePosition: 16,
  firstTimestampMs: 24,
  maxTimestampMs: 32,
  leaderEpoch: 40,
  recordCount: 44,
  payloadBytes: 48,
  rawPayloadBytes: 52,
  crc: 60,
} as const;

const varintBytesMax = 8; // values are below 2^53

function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

function writeVarint(buffer: Buffer, position: number, value: number): number {
  while (value >= 128) {
    buffer[position++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  buffer[position++] = value;
  return position;
}

function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

export interface EncodedPayload {
  /** Handed over to the compressor (possibly transferred to another thread): read rawBytes instead. */
  raw: Buffer;
  rawBytes: number;
  recordCount: number;
  firstTimestampMs: number;
  maxTimestampMs: number;
}

/** Key and value bytes of a record: what counts against record, batch and read budgets. */
export function recordBytes(record: LogRecord): number {
  return record.key.length + record.value.length;
}

/**
 * Records as columns: record i has timestamp timestampsMs[i], and its key and value are the next
 * keyLengths[i] and valueLengths[i] bytes of `keys` and `values`. This is the form a producer on
 * another thread hands over: a few transferable arrays instead of an object and two views per
 * record, and already laid out like the payload's sections (see encodePayloadParts).
 */
export interface RecordColumns {
  count: number;
  timestampsMs: Float64Array;
  keyLengths: Uint32Array;
  valueLengths: Uint32Array;
  keys: Uint8Array;
  values: Uint8Array;
}

/** What an append takes: records one by one, or as columns. */
export type RecordSet = readonly LogRecord[] | RecordColumns;

/** The columns of records given one by one (a copy of their bytes). */
export function columnsOf(records: readonly LogRecord[]): RecordColumns {
  return {
    count: records.length,
    timestampsMs: Float64Array.from(records, (record) => record.timestampMs),
    keyLengths: Uint32Array.from(records, (record) => record.key.length),
    valueLengths: Uint32Array.from(records, (record) => record.value.length),
    keys: Buffer.concat(records.map((record) => record.key)),
    values: Buffer.concat(records.map((record) => record.value)),
  };
}

/** The records of columns, one by one (views into the columns' memory). */
export function recordsOf(columns: RecordColumns): LogRecord[] {
  const records: LogRecord[] = new Array(columns.count);
  let keyPosition = 0;
  let valuePosition = 0;
  for (let i = 0; i < columns.count; i++) {
    const keyEnd = keyPosition + columns.keyLengths[i];
    const valueEnd = valuePosition + columns.valueLengths[i];
    records[i] = {
      timestampMs: columns.timestampsMs[i],
      key: columns.keys.subarray(keyPosition, keyEnd),
      value: columns.values.subarray(valuePosition, valueEnd),
    };
    keyPosition = keyEnd;
    valuePosition = valueEnd;
  }
  return records;
}

export function recordCountOf(records: RecordSet): number {
  return Array.isArray(records) ? records.length : (records as RecordColumns).count;
}

/**
 * Encodes records column by column: a section of per-record varints (timestamp delta, key length,
 * value length), then all keys, then all values. Keys repeat heavily (stream, tenant), so keeping
 * them together lets the compressor fold them to almost nothing.
 */
export function encodePayload(records: readonly LogRecord[]): EncodedPayload {
  return encodePayloadParts([records]);
}

/**
 * Encodes several record sets, in order, as one payload (a group commit of several appends). A
 * columnar set's keys and values are copied as two blocks: they already are the payload's sections.
 */
export function encodePayloadParts(parts: readonly RecordSet[]): EncodedPayload {
  let recordCount = 0;
  let firstTimestampMs = 0;
  let maxTimestampMs = Number.NEGATIVE_INFINITY;
  let headBytes = 0;
  let keyBytes = 0;
  let valueBytes = 0;
  const visit = (timestampMs: number, keyLength: number, valueLength: number) => {
    if (recordCount++ === 0) firstTimestampMs = timestampMs;
    if (timestampMs > maxTimestampMs) maxTimestampMs = timestampMs;
    headBytes +=
      varintBytes(zigzag(timestampMs - firstTimestampMs)) + varintBytes(keyLength) + varintBytes(valueLength);
    keyBytes += keyLength;
    valueBytes += valueLength;
  };
  for (const part of parts) {
    if (Array.isArray(part)) {
      for (const record of part as readonly LogRecord[])
        visit(record.timestampMs, record.key.length, record.value.length);
    } else {
      const columns = part as RecordColumns;
      for (let i = 0; i < columns.count; i++)
        visit(columns.timestampsMs[i], columns.keyLengths[i], columns.valueLengths[i]);
    }
  }
  assert.ok(recordCount > 0, "a batch holds at least one record");
  // allocUnsafeSlow: the payload owns its ArrayBuffer, so it can be transferred to a compressor thread.
  const raw = Buffer.allocUnsafeSlow(headBytes + keyBytes + valueBytes);
  let head = 0;
  let keyPosition = headBytes;
  let valuePosition = headBytes + keyBytes;
  for (const part of parts) {
    if (Array.isArray(part)) {
      for (const record of part as readonly LogRecord[]) {
        head = writeVarint(raw, head, zigzag(record.timestampMs - firstTimestampMs));
        head = writeVarint(raw, head, record.key.length);
        head = writeVarint(raw, head, record.value.length);
        raw.set(record.key, keyPosition);
        keyPosition += record.key.length;
        raw.set(record.value, valuePosition);
        valuePosition += record.value.length;
      }
      continue;
    }
    const columns = part as RecordColumns;
    for (let i = 0; i < columns.count; i++) {
      head = writeVarint(raw, head, zigzag(columns.timestampsMs[i] - firstTimestampMs));
      head = writeVarint(raw, head, columns.keyLengths[i]);
      head = writeVarint(raw, head, columns.valueLengths[i]);
    }
    raw.set(columns.keys, keyPosition);
    keyPosition += columns.keys.length;
    raw.set(columns.values, valuePosition);
    valuePosition += columns.values.length;
  }
  assert.equal(head, headBytes);
  assert.equal(keyPosition, headBytes + keyBytes, "column keys match their lengths");
  assert.equal(valuePosition, raw.length, "column values match their lengths");
  return { raw, rawBytes: raw.length, recordCount, firstTimestampMs, maxTimestampMs };
}

// One output chunk big enough for the whole result of a compressible batch (node:zlib's default is
// 16 KiB, which makes it allocate and concatenate many chunks for a large batch), and no bigger:
// log records compress 5-10x, so a quarter of the input is room to spare. Every chunk is external
// memory the log thread's heap must account for; with a 64 KiB floor it allocated ~90 MB/s at
// 150k records/s and ran a Mark-Compact every ~0.5 s (13 in 8 s, 2-7 ms each), with this 2.
// Incompressible input still works: zlib adds chunks and joins them.
const zstdChunkBytesMax = 8 * 1024 * 1024;
const zstdChunkBytesMin = 1024;

export function zstdOptions(level: number, inputBytes: number): zlib.ZstdOptions {
  const chunkSize = Math.min(zstdChunkBytesMax, zstdChunkBytesMin + Math.floor(inputBytes / 4));
  return { chunkSize, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } };
}

export function compressPayloadSync(raw: Buffer, codec: Codec, level: number): Buffer {
  return codec === codecs.none ? raw : zlib.zstdCompressSync(raw, zstdOptions(level, raw.length));
}

export interface BatchMeta {
  baseOffset: number;
  sourcePosition: number;
  leaderEpoch: number;
  codec: Codec;
}

/** Builds the 64-byte header for a payload; the batch on disk is header followed by payload. */
export function encodeHeader(meta: BatchMeta, encoded: EncodedPayload, payload: Buffer): Buffer {
  assert.ok(Number.isSafeInteger(meta.baseOffset) && meta.baseOffset >= 0);
  assert.ok(meta.leaderEpoch >= 0 && meta.leaderEpoch <= 0xffffffff);
  const header = Buffer.alloc(batchHeaderBytes);
  header.writeUInt32LE(batchMagic, field.magic);
  header.writeUInt8(batchVersion, field.version);
  header.writeUInt8(meta.codec, field.codec);
  header.writeBigInt64LE(BigInt(meta.baseOffset), field.baseOffset);
  header.writeBigInt64LE(BigInt(meta.sourcePosition), field.sourcePosition);
  header.writeBigInt64LE(BigInt(encoded.firstTimestampMs), field.firstTimestampMs);
  header.writeBigInt64LE(BigInt(encoded.maxTimestampMs), field.maxTimestampMs);
  header.writeUInt32LE(meta.leaderEpoch, field.leaderEpoch);
  header.writeUInt32LE(encoded.recordCount, field.recordCount);
  header.writeUInt32LE(payload.length, field.payloadBytes);
  header.writeUInt32LE(encoded.rawBytes, field.rawPayloadBytes);
  header.writeUInt32LE(batchCrc(header, payload), field.crc);
  return header;
}

/** CRC-32 (IEEE, zlib's polynomial) over header bytes 0..59 followed by the payload. */
export function batchCrc(header: Uint8Array, payload: Uint8Array): number {
  return zlib.crc32(payload, zlib.crc32(header.subarray(0, field.crc)));
}

export const headerProblems = {
  magic: "bad magic",
  version: "unknown version",
  codec: "unknown codec",
  lengths: "impossible lengths",
} as const;

export type HeaderProblem = (typeof headerProblems)[keyof typeof headerProblems];

/** Parses a header; returns a problem when the bytes cannot be a batch header of this version. */
export function readHeader(
  buffer: Uint8Array,
  position: number,
  payloadBytesMax: number,
): BatchHeader | HeaderProblem {
  assert.ok(position + batchHeaderBytes <= buffer.length, "header must be fully buffered");
  const view = Buffer.from(buffer.buffer, buffer.byteOffset + position, batchHeaderBytes);
  if (view.readUInt32LE(field.magic) !== batchMagic) return headerProblems.magic;
  const version = view.readUInt8(field.version);
  if (version !== batchVersion) return headerProblems.version;
  const codec = view.readUInt8(field.codec);
  if (codec !== codecs.none && codec !== codecs.zstd) return headerProblems.codec;
  const header: BatchHeader = {
    version,
    codec,
    baseOffset: Number(view.readBigInt64LE(field.baseOffset)),
    sourcePosition: Number(view.readBigInt64LE(field.sourcePosition)),
    firstTimestampMs: Number(view.readBigInt64LE(field.firstTimestampMs)),
    maxTimestampMs: Number(view.readBigInt64LE(field.maxTimestampMs)),
    leaderEpoch: view.readUInt32LE(field.leaderEpoch),
    recordCount: view.readUInt32LE(field.recordCount),
    payloadBytes: view.readUInt32LE(field.payloadBytes),
    rawPayloadBytes: view.readUInt32LE(field.rawPayloadBytes),
    crc: view.readUInt32LE(field.crc),
  };
  const lengthsPossible =
    header.baseOffset >= 0 &&
    header.recordCount > 0 &&
    header.payloadBytes <= payloadBytesMax &&
    header.rawPayloadBytes >= header.recordCount * 3 &&
    (codec !== codecs.none || header.payloadBytes === header.rawPayloadBytes);
  return lengthsPossible ? header : headerProblems.lengths;
}

export function crcMatches(buffer: Uint8Array, position: number, header: BatchHeader): boolean {
  const headerBytes = buffer.subarray(position, position + batchHeaderBytes);
  const start = position + batchHeaderBytes;
  return batchCrc(headerBytes, buffer.subarray(start, start + header.payloadBytes)) === header.crc;
}

/**
 * The raw payload of a verified batch, in memory of its own. zstd writes into one buffer of the
 * header's raw size (its default 16 KiB chunks cost a concatenation of the whole batch: ~10 % of a
 * point read of a 4 MiB compacted batch, measured).
 */
function rawPayloadOf(header: BatchHeader, payload: Uint8Array): Buffer {
  const raw =
    header.codec === codecs.zstd
      ? zlib.zstdDecompressSync(payload, {
          maxOutputLength: header.rawPayloadBytes,
          chunkSize: Math.max(64, header.rawPayloadBytes),
        })
      : Buffer.copyBytesFrom(payload); // the payload views a reader's reused window: records must own their bytes
  assert.equal(raw.length, header.rawPayloadBytes, "raw payload length must match its header");
  return raw;
}

/**
 * A decompressed batch whose records are cut out one at a time (point reads: Partition.readAt):
 * the varints are parsed once into where each key and value starts, and no record object is made
 * for the records nobody asked for.
 */
export interface OpenBatch {
  readonly header: BatchHeader;
  readonly raw: Buffer;
  readonly timestamps: Float64Array;
  /** keyStarts[i] / valueStarts[i]: where record i's key / value starts in raw; entry recordCount ends the last. */
  readonly keyStarts: Uint32Array;
  readonly valueStarts: Uint32Array;
}

/**
 * The batches point reads opened last (at most pointReadCacheBatches, newest last), kept by the
 * caller for its next reads (Partition.readAt): blocks read one after another, in either direction,
 * share the compacted batch they straddle, which is then decompressed once.
 */
export interface PointReadCache {
  batches: OpenBatch[];
}

/** Two: a block is smaller than a compacted batch, so it straddles at most two of them. */
const pointReadCacheBatches = 2;

export function emptyPointReadCache(): PointReadCache {
  return { batches: [] };
}

/** The cached batch holding `offset`, or null. */
function cachedBatchFor(cache: PointReadCache, offset: number): OpenBatch | null {
  for (const batch of cache.batches)
    if (offset >= batch.header.baseOffset && offset < batchEndOf(batch)) return batch;
  return null;
}

function rememberBatch(cache: PointReadCache, batch: OpenBatch): void {
  cache.batches.push(batch);
  if (cache.batches.length > pointReadCacheBatches) cache.batches.shift();
}

/**
 * The point-read loop of Partition.readAt and readAtFromSnapshot: the records at `offsets`
 * (ascending) within [startOffset, endOffset), in that order, each batch holding some opened once
 * (from `cache`, else `openBatchHolding`: the batch holding an offset, or null when it is not
 * readable — damaged, or in no segment — and the offset is left out).
 */
export function readAtOffsets(
  offsets: readonly number[],
  startOffset: number,
  endOffset: number,
  cache: PointReadCache,
  openBatchHolding: (offset: number) => OpenBatch | null,
): StoredRecord[] {
  for (let k = 1; k < offsets.length; k++) assert.ok(offsets[k - 1] < offsets[k], "offsets ascend");
  const records: StoredRecord[] = [];
  let i = 0;
  while (i < offsets.length) {
    const offset = offsets[i];
    if (offset < startOffset) {
      i++;
      continue;
    }
    if (offset >= endOffset) break;
    let batch = cachedBatchFor(cache, offset);
    if (batch === null) {
      batch = openBatchHolding(offset);
      if (batch === null) {
        i++;
        continue;
      }
      rememberBatch(cache, batch);
    }
    const stop = Math.min(batchEndOf(batch), endOffset);
    while (i < offsets.length && offsets[i] < stop) records.push(recordAt(batch, offsets[i++]));
  }
  return records;
}

/** Decompresses a verified payload for recordAt (the same checks as decodeRecords). */
export function openBatch(header: BatchHeader, payload: Uint8Array): OpenBatch {
  const raw = rawPayloadOf(header, payload);
  const count = header.recordCount;
  const timestamps = new Float64Array(count);
  const keyStarts = new Uint32Array(count + 1);
  const valueStarts = new Uint32Array(count + 1);
  // Inlined varints (this parse is most of a point read's cost after zstd); a read past the end
  // gives undefined, which ends the varint, and is caught once after the loop.
  let position = 0;
  let byte: number;
  let result: number;
  let scale: number;
  for (let i = 0; i < count; i++) {
    result = 0;
    scale = 1;
    do {
      byte = raw[position++];
      result += (byte & 127) * scale;
      scale *= 128;
    } while (byte >= 128);
    timestamps[i] = header.firstTimestampMs + unzigzag(result);
    result = 0;
    scale = 1;
    do {
      byte = raw[position++];
      result += (byte & 127) * scale;
      scale *= 128;
    } while (byte >= 128);
    keyStarts[i + 1] = result;
    result = 0;
    scale = 1;
    do {
      byte = raw[position++];
      result += (byte & 127) * scale;
      scale *= 128;
    } while (byte >= 128);
    valueStarts[i + 1] = result;
  }
  assert.ok(position <= raw.length, "varint runs past the payload");
  // Lengths to starts: keys follow the varints, values follow the keys.
  keyStarts[0] = position;
  for (let i = 1; i <= count; i++) keyStarts[i] += keyStarts[i - 1];
  valueStarts[0] = keyStarts[count];
  for (let i = 1; i <= count; i++) valueStarts[i] += valueStarts[i - 1];
  assert.equal(valueStarts[count], raw.length, "payload sections must add up to the raw length");
  return { header, raw, timestamps, keyStarts, valueStarts };
}

/** The offset after an open batch's last record. */
function batchEndOf(batch: OpenBatch): number {
  return batch.header.baseOffset + batch.header.recordCount;
}

/** The record at `offset` of an open batch (baseOffset ≤ offset < baseOffset + recordCount); it views batch.raw. */
function recordAt(batch: OpenBatch, offset: number): StoredRecord {
  const i = offset - batch.header.baseOffset;
  assert.ok(i >= 0 && i < batch.header.recordCount, "the offset is in the batch");
  return {
    offset,
    timestampMs: batch.timestamps[i],
    key: batch.raw.subarray(batch.keyStarts[i], batch.keyStarts[i + 1]),
    value: batch.raw.subarray(batch.valueStarts[i], batch.valueStarts[i + 1]),
  };
}

/** Decompresses and splits a verified payload into records; the records view the returned memory. */
export function decodeRecords(header: BatchHeader, payload: Uint8Array): StoredRecord[] {
  const raw = rawPayloadOf(header, payload);
  const records: StoredRecord[] = new Array(header.recordCount);
  const timestamps: number[] = new Array(header.recordCount);
  const keyLengths: number[] = new Array(header.recordCount);
  const valueLengths: number[] = new Array(header.recordCount);
  let position = 0;
  let keysBytes = 0;
  for (let i = 0; i < header.recordCount; i++) {
    const values = [0, 0, 0];
    for (let v = 0; v < 3; v++) {
      let result = 0;
      let scale = 1;
      for (let b = 0; b < varintBytesMax + 1; b++) {
        assert.ok(position < raw.length, "varint runs past the payload");
        const byte = raw[position++];
        result += (byte & 127) * scale;
        if (byte < 128) break;
        scale *= 128;
      }
      values[v] = result;
    }
    timestamps[i] = header.firstTimestampMs + unzigzag(values[0]);
    keyLengths[i] = values[1];
    valueLengths[i] = values[2];
    keysBytes += values[1];
  }
  let keyPosition = position;
  let valuePosition = position + keysBytes;
  for (let i = 0; i < header.recordCount; i++) {
    const key = raw.subarray(keyPosition, keyPosition + keyLengths[i]);
    keyPosition += keyLengths[i];
    const value = raw.subarray(valuePosition, valuePosition + valueLengths[i]);
    valuePosition += valueLengths[i];
    records[i] = { offset: header.baseOffset + i, timestampMs: timestamps[i], key, value };
  }
  assert.equal(valuePosition, raw.length, "payload sections must add up to the raw length");
  return records;
}
