// Snappy's raw block format (no framing), the Content-Encoding of Loki's protobuf push, decoded
// with a bound checked before anything is allocated. Format (github.com/google/snappy,
// format_description.txt): a varint of the uncompressed length, then elements, each a tag byte
// whose low two bits say literal (00) or copy with a 1-, 2- or 4-byte offset (01, 10, 11).
//
//   literal   tag = (len-1)<<2 | 00 for len <= 60; tags 60..63 <<2 say the length-1 follows in
//             1..4 little-endian bytes; then the literal's bytes
//   copy 1    tag = offset_hi3<<5 | (len-4)<<2 | 01, then offset_lo8   (len 4..11, offset < 2048)
//   copy 2    tag = (len-1)<<2 | 10, then offset as 2 bytes LE          (len 1..64)
//   copy 4    tag = (len-1)<<2 | 11, then offset as 4 bytes LE
//
// Why not the snappyjs package: on hostile input it does not stop. A 9-byte body (declared length
// 10, a literal tag 0xfc whose 4-byte length has its top bit set) makes its length negative, its
// position walk backwards and its loop run forever (checked 2026-12-04 with snappyjs 0.7.0); it
// also returns a zero-filled tail when the elements produce fewer bytes than declared. This decoder
// checks every read, every copy against the bytes produced so far and the declared length, and
// that the elements produce exactly the declared length. snappyjs still compresses in the tests.

import { DecodeError } from "./batch.ts";
import { rejectReasons } from "./errors.ts";

/**
 * Copies and literals up to this many bytes go byte by byte rather than through copyWithin or a
 * subarray and set, whose calls cost more than the copy for the short ones log lines are mostly
 * made of.
 */
const shortCopyBytes = 16;

function invalidSnappy(message: string): DecodeError {
  return new DecodeError(rejectReasons.invalidEncoding, `invalid snappy block: ${message}`);
}

/** The uncompressed length a block declares, and where its elements start, without inflating it. */
export function snappyDeclaredLength(block: Uint8Array): { lengthBytes: number; elementsStart: number } {
  let value = 0;
  for (let index = 0; index < 5; index++) {
    if (index >= block.length) throw invalidSnappy("truncated length");
    const byte = block[index]!;
    value += (byte & 0x7f) * 2 ** (7 * index);
    if (byte < 0x80) {
      if (value > 0xffffffff) throw invalidSnappy("length over 32 bits");
      return { lengthBytes: value, elementsStart: index + 1 };
    }
  }
  throw invalidSnappy("length over 32 bits");
}

/**
 * Inflates a raw snappy block. The declared length is checked against `decodedBytesMax` before the
 * output is allocated (a 5-byte header can claim 4 GiB): over it is DecodeError(body_too_large).
 * A malformed block is DecodeError(invalid_encoding).
 */
export function decodeSnappyBlock(block: Uint8Array, decodedBytesMax: number): Uint8Array {
  const { lengthBytes, elementsStart } = snappyDeclaredLength(block);
  if (lengthBytes > decodedBytesMax)
    throw new DecodeError(
      rejectReasons.bodyTooLarge,
      `snappy block inflates to ${lengthBytes} bytes, more than the ${decodedBytesMax} allowed`,
    );
  const output = new Uint8Array(lengthBytes);
  let inputAt = elementsStart;
  let outputAt = 0;
  const inputEnd = block.length;
  while (inputAt < inputEnd) {
    const tag = block[inputAt++]!;
    const kind = tag & 0x03;
    if (kind === 0) {
      let length = (tag >>> 2) + 1;
      if (length > 60) {
        const extraBytes = length - 60;
        if (inputEnd - inputAt < extraBytes) throw invalidSnappy("truncated literal length");
        length = 0;
        for (let index = 0; index < extraBytes; index++) length += block[inputAt + index]! * 2 ** (8 * index);
        length += 1;
        inputAt += extraBytes;
      }
      if (length > inputEnd - inputAt) throw invalidSnappy("literal beyond the end of the block");
      if (length > lengthBytes - outputAt) throw invalidSnappy("literal beyond the declared length");
      if (length <= shortCopyBytes)
        for (let index = 0; index < length; index++) output[outputAt + index] = block[inputAt + index]!;
      else output.set(block.subarray(inputAt, inputAt + length), outputAt);
      inputAt += length;
      outputAt += length;
      continue;
    }
    let length: number;
    let offset: number;
    if (kind === 1) {
      if (inputEnd - inputAt < 1) throw invalidSnappy("truncated copy");
      length = ((tag >>> 2) & 0x07) + 4;
      offset = ((tag >>> 5) << 8) | block[inputAt]!;
      inputAt += 1;
    } else if (kind === 2) {
      if (inputEnd - inputAt < 2) throw invalidSnappy("truncated copy");
      length = (tag >>> 2) + 1;
      offset = block[inputAt]! | (block[inputAt + 1]! << 8);
      inputAt += 2;
    } else {
      if (inputEnd - inputAt < 4) throw invalidSnappy("truncated copy");
      length = (tag >>> 2) + 1;
      offset =
        block[inputAt]! +
        block[inputAt + 1]! * 2 ** 8 +
        block[inputAt + 2]! * 2 ** 16 +
        block[inputAt + 3]! * 2 ** 24;
      inputAt += 4;
    }
    if (offset === 0 || offset > outputAt) throw invalidSnappy("copy from before the start of the output");
    if (length > lengthBytes - outputAt) throw invalidSnappy("copy beyond the declared length");
    if (offset >= length && length > shortCopyBytes) {
      output.copyWithin(outputAt, outputAt - offset, outputAt - offset + length);
    } else {
      // A short copy, or an overlapping one (a run): byte by byte, each read may be one this copy
      // just wrote.
      for (let index = 0; index < length; index++)
        output[outputAt + index] = output[outputAt - offset + index]!;
    }
    outputAt += length;
  }
  if (outputAt !== lengthBytes)
    throw invalidSnappy(`elements produce ${outputAt} bytes, the block declares ${lengthBytes}`);
  return output;
}
