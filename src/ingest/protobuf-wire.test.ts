// WireReader.internedString returns exactly what string() does, whatever repeats, collides in its
// cache key (same length and sampled bytes) or is not ASCII; invalid UTF-8 is still refused.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DecodeError } from "./batch.ts";
import { WireReader } from "./protobuf-wire.ts";

/** Length-delimited fields back to back (no tags: the reader is driven field by field). */
function fields(values: readonly Uint8Array[]): Buffer {
  return Buffer.concat(values.flatMap((value) => [Buffer.from([value.length]), Buffer.from(value)]));
}

test("internedString equals string() for repeated, look-alike and non-ASCII strings (property)", () => {
  // Few distinct bytes, so lengths and sampled bytes collide often; 0xc3 0xa9 is é, 0xff invalid.
  const unit = fc.constantFrom(0x61, 0x62, 0x41, 0x30, 0x2e, 0xc3, 0xa9);
  const value = fc
    .uint8Array({ minLength: 0, maxLength: 40 })
    .map((bytes) => bytes.map((byte) => [0x61, 0x62, 0x41][byte % 3]!));
  const piece = fc.oneof(
    value,
    fc.array(unit, { maxLength: 12 }).map((bytes) => Uint8Array.from(bytes)),
  );
  fc.assert(
    fc.property(
      fc.array(piece, { minLength: 1, maxLength: 60 }),
      fc.array(fc.nat(), { maxLength: 60 }),
      (pieces, repeats) => {
        const sequence = [...pieces, ...repeats.map((index) => pieces[index % pieces.length]!)];
        const body = fields(sequence);
        const interned = new WireReader(body);
        const plain = new WireReader(body);
        for (let index = 0; index < sequence.length; index++) {
          let expected: string | DecodeError;
          try {
            expected = plain.string("s");
          } catch (error) {
            assert.ok(error instanceof DecodeError);
            assert.throws(() => interned.internedString("s"), DecodeError);
            return; // a refused field ends the body, as it ends a request
          }
          assert.equal(interned.internedString("s"), expected);
          assert.equal(interned.position, plain.position);
        }
      },
    ),
    { numRuns: 500 },
  );
});
