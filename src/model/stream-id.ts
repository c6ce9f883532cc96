// The stable id of a stream: 64 bits of (tenant, label set). Indexes persist it (block → streams
// present), so it must never change for the same input across versions: the byte form and the hash
// below are a format, drawn in src/model/README.md, pinned by golden tests in stream-id.test.ts.
//
// Byte form: the tenant, then each label's name and value in the label set's (sorted) order, each
// of these strings as a u32 little-endian length of its UTF-8 bytes followed by those bytes. Lengths
// make the form unambiguous whatever the strings hold (values may contain NUL or any byte).
// Hash: FNV-1a 64 over that form (offset basis 0xcbf29ce484222325, prime 0x100000001b3), computed
// in two 32-bit halves so no BigInt arithmetic runs per byte. FNV-1a 64 is public, simple and
// computable by hand; by the birthday bound, one tenant has a 1-in-a-million chance of any collision
// only at ~6·10^6 streams, far past any streams-per-tenant limit.

import type { LabelSet } from "./stream.ts";

const basisHigh = 0xcbf29ce4;
const basisLow = 0x84222325;
// prime = 2^40 + 0x1b3: x × prime = x × 0x1b3 + (x << 40) (mod 2^64).
const primeLow = 0x1b3;

/** Running FNV-1a 64 state as two u32 halves; reset per id. */
let high = basisHigh;
let low = basisLow;

function hashByte(byte: number): void {
  low = (low ^ byte) >>> 0; // ^ yields a signed int32: keep the half unsigned for the product
  const product = low * primeLow; // < 2^41: exact in a double
  const carry = Math.floor(product / 0x1_0000_0000);
  high = (Math.imul(high, primeLow) + (low << 8) + carry) >>> 0;
  low = product >>> 0;
}

function hashLength(length: number): void {
  hashByte(length & 0xff);
  hashByte((length >>> 8) & 0xff);
  hashByte((length >>> 16) & 0xff);
  hashByte((length >>> 24) & 0xff);
}

/** Hashes a string's UTF-8 bytes, preceded by their count, without encoding it into a buffer. */
function hashString(text: string): void {
  hashLength(Buffer.byteLength(text, "utf8"));
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      hashByte(code);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
      }
    }
    // A lone surrogate encodes as U+FFFD, as Buffer.byteLength and TextEncoder count it.
    if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
    if (code < 0x800) {
      hashByte(0xc0 | (code >> 6));
    } else if (code < 0x10000) {
      hashByte(0xe0 | (code >> 12));
      hashByte(0x80 | ((code >> 6) & 63));
    } else {
      hashByte(0xf0 | (code >> 18));
      hashByte(0x80 | ((code >> 12) & 63));
      hashByte(0x80 | ((code >> 6) & 63));
    }
    hashByte(0x80 | (code & 63));
  }
}

/** The stream id of `labels` (a label set: sorted, names unique) for `tenant`, as an unsigned 64-bit bigint. */
export function streamId(tenant: string, labels: LabelSet): bigint {
  high = basisHigh;
  low = basisLow;
  hashString(tenant);
  for (const [name, value] of labels) {
    hashString(name);
    hashString(value);
  }
  return (BigInt(high) << 32n) | BigInt(low);
}

/** The id as 16 lowercase hex digits: how logs and files print it. */
export function formatStreamId(id: bigint): string {
  return id.toString(16).padStart(16, "0");
}
