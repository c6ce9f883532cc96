// A bounds-checked reader of the protobuf wire format (varints, fixed32/64, length-delimited
// fields) over a caller-owned byte array, for the hand-written decoders of the protocols Sluice
// speaks (loki-push-proto.ts, otlp-logs-proto.ts). Every read checks the end of its message first,
// so a truncated or hostile body is a DecodeError, never an out-of-range read, a hang or a crash.
// Strings are decoded strictly: invalid UTF-8 is a DecodeError(invalid_utf8), never U+FFFD.
//
// Why by hand instead of protobufjs's generated decoders: they build an object per message (the
// OTLP request is four levels of them before a log line) and decode strings leniently (U+FFFD);
// this reader hands each field to the caller's loop, which builds the IngestEntry directly.
// (varintBytes is the one writer: the OTLP responses are the only protobuf Sluice writes.)

import { Buffer, isAscii, isUtf8 } from "node:buffer";
import { DecodeError } from "./batch.ts";
import { rejectReasons } from "./errors.ts";

export const wireType = {
  varint: 0,
  fixed64: 1,
  lengthDelimited: 2,
  startGroup: 3,
  endGroup: 4,
  fixed32: 5,
} as const;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The varint encoding of a non-negative safe integer, for the few messages Sluice writes (OTLP's responses). */
export function varintBytes(value: number): number[] {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return bytes;
}

export function invalidProtobuf(message: string): DecodeError {
  return new DecodeError(rejectReasons.invalidProtobuf, `invalid protobuf: ${message}`);
}

/**
 * The body's bytes as a Buffer over the same memory (no copy): its latin1 slice is the fastest way
 * from bytes known to be ASCII to a flat string (measured with the alternatives in
 * bench/protocol-decode.bench.ts's comment).
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Bytes start..end as a string, or DecodeError(invalid_utf8) when they are not valid UTF-8
 * (`what` names the field in the message). ASCII — nearly every log line and label — is sliced as
 * latin1 (the same code points); anything else goes to the fatal TextDecoder. Over 32 bytes the
 * ASCII check is node:buffer's isAscii (SIMD): a 1,000-entry Loki push of 130-byte lines decoded
 * at 1.15 M entries/s with it against 0.62 M with the byte loop (2026-12-04); short strings keep
 * the loop, which skips the subarray isAscii needs.
 */
export function utf8Strict(buffer: Buffer, start: number, end: number, what: string): string {
  if (end - start > 32) {
    const bytes = buffer.subarray(start, end);
    if (isAscii(bytes)) return buffer.toString("latin1", start, end);
    try {
      return strictUtf8.decode(bytes);
    } catch {
      throw new DecodeError(rejectReasons.invalidUtf8, `${what} is not valid UTF-8`);
    }
  }
  for (let index = start; index < end; index++) {
    if (buffer[index]! >= 0x80) {
      try {
        return strictUtf8.decode(buffer.subarray(start, end));
      } catch {
        throw new DecodeError(rejectReasons.invalidUtf8, `${what} is not valid UTF-8`);
      }
    }
  }
  return buffer.toString("latin1", start, end);
}

/**
 * Bytes start..end as a view over the body (no copy), or DecodeError(invalid_utf8) when they are not
 * valid UTF-8: for a line the pipeline copies into its record as bytes (IngestEntry.line).
 * node:buffer's isUtf8 (simdutf) is as strict as the fatal TextDecoder: no overlong forms, no
 * surrogates, nothing past U+10FFFF.
 */
export function utf8View(buffer: Buffer, start: number, end: number, what: string): Uint8Array {
  // A plain Uint8Array: cheaper to make than a Buffer's subarray (a JS subclass), once per line.
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset + start, end - start);
  if (!isUtf8(bytes)) throw new DecodeError(rejectReasons.invalidUtf8, `${what} is not valid UTF-8`);
  return bytes;
}

/** Throws DecodeError(invalid_utf8) unless bytes start..end are valid UTF-8 (as strict as utf8View). */
export function checkUtf8(buffer: Buffer, start: number, end: number, what: string): void {
  if (end - start > 32) {
    utf8View(buffer, start, end, what);
    return;
  }
  for (let index = start; index < end; index++)
    if (buffer[index]! >= 0x80) {
      utf8View(buffer, start, end, what);
      return;
    }
}

/**
 * A cursor over one message: `position` moves forward, `end` is the message's end (a nested
 * message is read by a reader over its sub-range, or by saving and restoring `end`). Reused, not
 * allocated per field.
 */
// internedString's bounds: strings this short are the ones that repeat (keys, enum-like values),
// and a cache this size holds every key of a request while costing at most ~100 KiB.
const internedBytesMax = 32;
const internedStringsMax = 1024;

export class WireReader {
  readonly buffer: Buffer;
  position: number;
  end: number;
  #interned: Map<number, string> | null = null;
  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.buffer = asBuffer(bytes);
    this.position = start;
    this.end = end;
  }

  /** A varint of at most 32 significant bits (tags, lengths, enums, int32), as an unsigned number. */
  uint32(): number {
    const buffer = this.buffer;
    // Fast path for one- and two-byte varints (every tag, and lengths under 16 KiB): the general
    // loop's power-of-two arithmetic was the top self-time of the OTLP decode in a profile.
    const at = this.position;
    if (at + 1 < this.end) {
      const first = buffer[at]!;
      if (first < 0x80) {
        this.position = at + 1;
        return first;
      }
      const second = buffer[at + 1]!;
      if (second < 0x80) {
        this.position = at + 2;
        return (first & 0x7f) | (second << 7);
      }
    }
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.position >= this.end) throw invalidProtobuf("truncated varint");
      const byte = buffer[this.position++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value > 0xffffffff ? value % 2 ** 32 : value;
    }
    // int32 fields carry negative values as 10-byte varints: the upper bytes are sign extension.
    for (let count = 0; count < 5; count++) {
      if (this.position >= this.end) throw invalidProtobuf("truncated varint");
      if (buffer[this.position++]! < 0x80) return value % 2 ** 32;
    }
    throw invalidProtobuf("varint longer than 10 bytes");
  }

  /** A varint of a 64-bit field, as int64 (two's complement: a 10-byte varint is negative). */
  int64(): bigint {
    const short = this.#varint49();
    if (short >= 0) return BigInt(short);
    const buffer = this.buffer;
    let big = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.position >= this.end) throw invalidProtobuf("truncated varint");
      const byte = buffer[this.position++]!;
      big |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asIntN(64, big);
    }
    throw invalidProtobuf("varint longer than 10 bytes");
  }

  /** A varint of a 64-bit field as int64's decimal text, without a BigInt when it fits in 49 bits. */
  int64Text(): string {
    const short = this.#varint49();
    return short >= 0 ? String(short) : this.int64().toString();
  }

  /**
   * A varint of an int64 field as a number: exact up to 49 bits without a BigInt, exact to 2^53
   * beyond, and rounded past that (callers use it where such values are refused anyway).
   */
  int64Number(): number {
    const short = this.#varint49();
    return short >= 0 ? short : Number(this.int64());
  }

  /**
   * The fast path of the 64-bit varints: one of at most 7 bytes (49 bits, exact in a double), or -1
   * with the cursor left where it was when it is longer or runs past the end of the message (the
   * callers' BigInt path then reads it, or names the error).
   */
  #varint49(): number {
    const start = this.position;
    const buffer = this.buffer;
    let value = 0;
    for (let shift = 0; shift < 49 && this.position < this.end; shift += 7) {
      const byte = buffer[this.position++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    this.position = start;
    return -1;
  }

  /** A varint of a bool field. */
  bool(): boolean {
    return this.int64() !== 0n;
  }

  fixed32(): number {
    if (this.end - this.position < 4) throw invalidProtobuf("truncated fixed32");
    const value = this.buffer.readUInt32LE(this.position);
    this.position += 4;
    return value;
  }

  fixed64(): bigint {
    if (this.end - this.position < 8) throw invalidProtobuf("truncated fixed64");
    const value = this.buffer.readBigUInt64LE(this.position);
    this.position += 8;
    return value;
  }

  double(): number {
    if (this.end - this.position < 8) throw invalidProtobuf("truncated double");
    const value = this.buffer.readDoubleLE(this.position);
    this.position += 8;
    return value;
  }

  /** A length prefix, checked against the bytes left: returns the end of the field's bytes. */
  lengthDelimited(): number {
    const length = this.uint32();
    if (length > this.end - this.position) throw invalidProtobuf("length beyond the end of its message");
    return this.position + length;
  }

  /** A string field, strictly UTF-8 (`what` names it in errors). */
  string(what: string): string {
    const end = this.lengthDelimited();
    const value = utf8Strict(this.buffer, this.position, end, what);
    this.position = end;
    return value;
  }

  /**
   * A string field that repeats through a request (attribute keys, short values, severity texts):
   * an ASCII string of at most internedBytesMax bytes already seen in this body is returned from a
   * small cache, checked byte for byte, instead of being sliced again. Anything else: string().
   */
  internedString(what: string): string {
    const end = this.lengthDelimited();
    const start = this.position;
    const length = end - start;
    this.position = end;
    if (length === 0 || length > internedBytesMax) return utf8Strict(this.buffer, start, end, what);
    const buffer = this.buffer;
    // Keyed by the length and three of the bytes; a hit is checked byte for byte (cached strings are
    // ASCII, so equal char codes mean equal bytes), a miss is checked for ASCII before it is kept.
    const key =
      length | (buffer[start]! << 6) | (buffer[start + (length >> 1)]! << 14) | (buffer[end - 1]! << 22);
    this.#interned ??= new Map();
    const held = this.#interned.get(key);
    if (held !== undefined && held.length === length) {
      let index = 0;
      while (index < length && held.charCodeAt(index) === buffer[start + index]) index++;
      if (index === length) return held;
    }
    for (let index = start; index < end; index++)
      if (buffer[index]! >= 0x80) return utf8Strict(buffer, start, end, what);
    const value = buffer.toString("latin1", start, end);
    if (held === undefined && this.#interned.size < internedStringsMax) this.#interned.set(key, value);
    return value;
  }

  /** A bytes field, as a view over the body (no copy: valid while the body is). */
  bytes(): Uint8Array {
    const end = this.lengthDelimited();
    const value = this.buffer.subarray(this.position, end);
    this.position = end;
    return value;
  }

  /** Skips a field of `type` whose tag was just read (unknown fields are skipped, as proto3 says). */
  skip(type: number): void {
    switch (type) {
      case wireType.varint:
        this.int64();
        return;
      case wireType.fixed64:
        if (this.end - this.position < 8) throw invalidProtobuf("truncated fixed64");
        this.position += 8;
        return;
      case wireType.lengthDelimited:
        this.position = this.lengthDelimited();
        return;
      case wireType.fixed32:
        if (this.end - this.position < 4) throw invalidProtobuf("truncated fixed32");
        this.position += 4;
        return;
      default:
        // Groups (3, 4) are proto2-only and none of these protocols has one; 6 and 7 do not exist.
        throw invalidProtobuf(`wire type ${type} is not used by this message`);
    }
  }

  /** Checks that a field of `field` arrived with the wire type its schema gives it. */
  expect(type: number, expected: number, field: string): void {
    if (type !== expected) throw invalidProtobuf(`${field} has wire type ${type}, expected ${expected}`);
  }
}
