// The payload encoder's two input forms: records one by one and records as columns must give the
// same bytes, so a group commit may mix them freely.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { test } from "node:test";
import zlib from "node:zlib";
import fc from "fast-check";
import {
  codecs,
  columnsOf,
  compressPayloadSync,
  encodePayload,
  encodePayloadParts,
  type RecordSet,
  recordsOf,
  zstdOptions,
} from "./batch.ts";

const recordArbitrary = fc.record({
  timestampMs: fc.oneof(
    fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 }),
    fc.integer({ min: -(2 ** 51), max: 2 ** 51 }),
  ),
  key: fc.uint8Array({ maxLength: 40 }),
  value: fc.uint8Array({ maxLength: 300 }),
});

test("records as columns encode to the same payload as the same records one by one, in any mix", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.array(recordArbitrary, { minLength: 1, maxLength: 20 }), fc.boolean()), {
        minLength: 1,
        maxLength: 6,
      }),
      (parts) => {
        const all = parts.flatMap(([records]) => records);
        const mixed: RecordSet[] = parts.map(([records, asColumns]) =>
          asColumns ? columnsOf(records) : records,
        );
        const expected = encodePayload(all);
        const actual = encodePayloadParts(mixed);
        assert.deepEqual(actual.raw, expected.raw);
        assert.equal(actual.recordCount, all.length);
        assert.equal(actual.firstTimestampMs, all[0].timestampMs);
        assert.equal(actual.maxTimestampMs, Math.max(...all.map((record) => record.timestampMs)));
        for (const [records] of parts) {
          const roundTrip = recordsOf(columnsOf(records));
          assert.deepEqual(
            roundTrip.map((record) => [
              record.timestampMs,
              Buffer.from(record.key),
              Buffer.from(record.value),
            ]),
            records.map((record) => [record.timestampMs, Buffer.from(record.key), Buffer.from(record.value)]),
          );
        }
      },
    ),
    { numRuns: 500 },
  );
});

test("columns whose lengths do not add up to their bytes are refused by the encoder", () => {
  const columns = columnsOf([{ timestampMs: 1, key: Buffer.from("k"), value: Buffer.from("value") }]);
  assert.throws(() => encodePayloadParts([{ ...columns, values: Buffer.from("valu") }]), /column values/);
});

test("zstd output of any size comes back whole, one output chunk or several", () => {
  // The output chunk is sized for compressible log records (a quarter of the input): random bytes
  // need several chunks, which zlib joins.
  for (const bytes of [0, 1, 1000, 5000, 300_000]) {
    const random = crypto.randomBytes(bytes);
    const repetitive = Buffer.from("GET /about 200 Chrome\n".repeat(Math.ceil(bytes / 22))).subarray(
      0,
      bytes,
    );
    for (const raw of [random, repetitive]) {
      const compressed = compressPayloadSync(raw, codecs.zstd, 3);
      assert.deepEqual(zlib.zstdDecompressSync(compressed), raw);
    }
    if (bytes >= 5000)
      assert.ok(compressPayloadSync(random, codecs.zstd, 3).length > zstdOptions(3, bytes).chunkSize!);
  }
});
