// The hand-written RFC 3339 parser against a regex + Date reference, on valid timestamps and on
// random near-misses.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  accessBatchKey,
  accessBatchValue,
  decodeAccessBatch,
  parseRfc3339,
  splitAccessBatchKey,
  storedAccessBatchKey,
} from "./access-logs.ts";
import { IngestError, RecordFormatError } from "./errors.ts";
import { recordFormats } from "./stored-format.ts";

const pattern = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

function reference(text: string): number | null {
  const match = pattern.exec(text);
  if (match === null) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const probe = new Date(0);
  probe.setUTCFullYear(year, month, 0);
  if (day > probe.getUTCDate()) return null;
  const milliseconds = match[7] ? Number(match[7].slice(0, 3).padEnd(3, "0")) : 0;
  let offsetMs = 0;
  const zone = match[8];
  if (zone !== "Z" && zone !== "z") {
    const zoneHours = Number(zone.slice(1, 3));
    const zoneMinutes = Number(zone.slice(4, 6));
    if (zoneHours > 23 || zoneMinutes > 59) return null;
    offsetMs = (zone[0] === "-" ? -1 : 1) * (zoneHours * 60 + zoneMinutes) * 60_000;
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, milliseconds);
  return utc.getTime() - offsetMs;
}

test("known timestamps", () => {
  assert.equal(parseRfc3339("2025-12-28T18:03:15.000Z"), Date.UTC(2025, 11, 28, 18, 3, 15));
  assert.equal(parseRfc3339("2025-12-28T18:03:15Z"), Date.UTC(2025, 11, 28, 18, 3, 15));
  assert.equal(parseRfc3339("2025-12-28t18:03:15.5z"), Date.UTC(2025, 11, 28, 18, 3, 15, 500));
  assert.equal(parseRfc3339("2025-12-28 18:03:15.123456789+01:30"), Date.UTC(2025, 11, 28, 16, 33, 15, 123));
  assert.equal(parseRfc3339("2024-02-29T00:00:00Z"), Date.UTC(2024, 1, 29));
  assert.equal(parseRfc3339("0001-01-01T00:00:00Z"), -62_135_596_800_000);
  assert.equal(parseRfc3339("1969-12-31T23:59:59.999Z"), -1);
  for (const bad of [
    "",
    "2025-12-28",
    "2025-12-28T18:03:15",
    "2025-02-29T00:00:00Z",
    "2025-13-01T00:00:00Z",
    "2025-12-32T00:00:00Z",
    "2025-12-28T24:00:00Z",
    "2025-12-28T18:60:00Z",
    "2025-12-28T18:03:60Z",
    "2025-12-28T18:03:15.Z",
    "2025-12-28T18:03:15.1234567890Z",
    "2025-12-28T18:03:15+0100",
    "2025-12-28T18:03:15+24:00",
    "2025-12-28T18:03:15Zjunk",
    "2025-12-28X18:03:15Z",
    "+2025-12-28T18:03:15Z",
    "2025-1a-28T18:03:15Z",
  ])
    assert.equal(parseRfc3339(bad), null, bad);
});

test("agrees with the regex + Date reference on valid and mangled timestamps", () => {
  const pad = (value: number, width: number) => String(value).padStart(width, "0");
  const timestamp = fc
    .record({
      year: fc.integer({ min: 0, max: 9999 }),
      month: fc.integer({ min: 0, max: 13 }),
      day: fc.integer({ min: 0, max: 32 }),
      hour: fc.integer({ min: 0, max: 24 }),
      minute: fc.integer({ min: 0, max: 60 }),
      second: fc.integer({ min: 0, max: 60 }),
      fraction: fc.option(fc.stringMatching(/^[0-9]{0,10}$/)),
      separator: fc.constantFrom("T", "t", " ", "x"),
      zone: fc.constantFrom("Z", "z", "+01:00", "-05:30", "+23:59", "+24:00", "-00:60", "", "+0100"),
    })
    .map(
      (parts) =>
        `${pad(parts.year, 4)}-${pad(parts.month, 2)}-${pad(parts.day, 2)}${parts.separator}${pad(parts.hour, 2)}:${pad(parts.minute, 2)}:${pad(parts.second, 2)}${parts.fraction === null ? "" : `.${parts.fraction}`}${parts.zone}`,
    );
  const mangled = fc
    .tuple(timestamp, fc.nat(), fc.string({ maxLength: 2 }))
    .map(
      ([text, at, insert]) =>
        text.slice(0, at % (text.length + 1)) + insert + text.slice((at % (text.length + 1)) + 1),
    );
  fc.assert(
    fc.property(fc.oneof(timestamp, mangled), (text) => {
      assert.equal(parseRfc3339(text), reference(text), text);
    }),
    { numRuns: 5000 },
  );
});

test("stored batches: the current format, the two legacy formats, and unknown format bytes refused", () => {
  const body = Buffer.from(
    JSON.stringify([
      { receivedAt: "2025-12-28T18:03:15.000Z", method: " get ", path: " /a ", userAgent: "curl/8" },
    ]),
  );
  const expected = [
    { receivedAtMs: Date.UTC(2025, 11, 28, 18, 3, 15), method: "GET", path: "/a", userAgent: "curl/8" },
  ];
  const key = accessBatchKey("cus-axon", "batch-1", "req-9");
  const parts = { customerId: "cus-axon", idempotencyKey: "batch-1", requestId: "req-9" };

  // Current: the format byte, then the body exactly as received.
  const value = accessBatchValue(body);
  assert.equal(value[0], recordFormats.accessBatchV1);
  assert.ok(value.subarray(1).equals(body));
  assert.deepEqual(decodeAccessBatch(value), expected);
  assert.deepEqual(storedAccessBatchKey(key, value), parts);
  assert.throws(() => storedAccessBatchKey(Buffer.from("cus-axon\nbatch-1"), value), RecordFormatError);

  // Legacy (2026-11-25 until the format byte): the body alone, with or without leading whitespace.
  assert.deepEqual(decodeAccessBatch(body), expected);
  assert.deepEqual(decodeAccessBatch(Buffer.from(` \r\n\t${body}`)), expected);
  assert.deepEqual(storedAccessBatchKey(key, body), parts);
  assert.deepEqual(splitAccessBatchKey(key), parts);

  // Legacy (the first format): {requestId, entries} and a key without the request id.
  const first = Buffer.from(
    JSON.stringify({ requestId: "r", entries: [[expected[0].receivedAtMs, "GET", "/a", "curl/8"]] }),
  );
  assert.deepEqual(decodeAccessBatch(first), expected);
  assert.deepEqual(storedAccessBatchKey(Buffer.from("cus-axon\nbatch-1"), first), {
    customerId: "cus-axon",
    idempotencyKey: "batch-1",
    requestId: "",
  });

  // A known format that does not decode is a bad batch; an unknown format byte is refused as such.
  assert.throws(() => decodeAccessBatch(Buffer.from("[1]")), IngestError);
  for (const unknown of [
    Buffer.concat([Buffer.from([0x07]), body]),
    Buffer.concat([Buffer.from([recordFormats.serviceEntryV1]), body]), // the other topic's
    Buffer.from("x"),
    Buffer.alloc(0),
  ]) {
    assert.throws(() => decodeAccessBatch(unknown), RecordFormatError, unknown.toString("hex"));
    assert.throws(() => storedAccessBatchKey(key, unknown), RecordFormatError, unknown.toString("hex"));
  }
});
