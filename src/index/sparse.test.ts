// The sparse-stream offsets of a block (sparse.ts): for random blocks of up to 300 streams (past
// several skip entries), each dense or with its own offsets, offsetsOf any set of streams gives
// exactly their offsets, ascending, or null when one of them is dense.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { encodeSparseOffsets, SparseOffsets } from "./sparse.ts";

test("offsetsOf gives exactly the offsets of the streams asked, or null when one is dense", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.array(
        fc.option(fc.uniqueArray(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 6 })),
        {
          maxLength: 300,
        },
      ),
      fc.array(fc.nat(), { maxLength: 8 }),
      (fromOffset, perStream, picks) => {
        const streamIds = BigUint64Array.from(perStream.map((_, i) => BigInt(i) * 7919n + 3n));
        const offsets = new Map<bigint, number[] | null>();
        for (const [i, relative] of perStream.entries())
          offsets.set(
            streamIds[i],
            relative === null ? null : [...relative].sort((a, b) => a - b).map((r) => fromOffset + r),
          );
        const sparse = new SparseOffsets(
          encodeSparseOffsets(streamIds, offsets, fromOffset),
          fromOffset,
          streamIds.length,
        );
        if (perStream.length === 0) return;
        const ordinals = [...new Set(picks.map((pick) => pick % perStream.length))].sort((a, b) => a - b);
        const lists = ordinals.map((ordinal) => offsets.get(streamIds[ordinal]) ?? null);
        const expected = lists.some((list) => list === null)
          ? null
          : lists.flatMap((list) => list ?? []).sort((a, b) => a - b);
        assert.deepEqual(sparse.offsetsOf(ordinals), expected);
      },
    ),
    { numRuns: 500 },
  );
});

test("a blob that does not hold one entry per stream is refused", () => {
  const streamIds = BigUint64Array.from([1n, 2n]);
  const blob = encodeSparseOffsets(streamIds, new Map([[1n, [10, 12]]]), 10);
  assert.throws(() => new SparseOffsets(blob, 10, 3), /runs past/);
  assert.throws(() => new SparseOffsets(blob, 10, 1), /one entry per stream/);
});
