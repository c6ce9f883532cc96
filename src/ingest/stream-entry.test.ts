// Format 0x03 (stream entry v1): the round trip through every reader's decode, GET /v1/query's
// reference A rendering, Loki's service_name discovery, and the unknown-byte / junk handling.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { EntryColumns } from "./batch.ts";
import { RecordDecodeError, RecordFormatError } from "./errors.ts";
import { decodeLogRecord, serviceEntryJson } from "./service-logs-stored.ts";
import {
  decodeStreamEntryValue,
  discoverServiceName,
  routingService,
  type StreamEntry,
  streamEntryTimestampMs,
  streamEntryValue,
  streamRecordColumns,
} from "./stream-entry.ts";

const key = Buffer.from("t1\u0000api");

function entry(overrides: Partial<StreamEntry> = {}): StreamEntry {
  return {
    labels: [
      ["env", "prod"],
      ["level", "warn"],
      ["service", "api"],
      ["service_name", "api"],
    ],
    line: 'a "quoted" line ✓',
    timestampNs: 1_700_000_000_123_456_789n,
    metadata: [["trace_id", "0af7"]],
    receivedAtMs: 1_700_000_001_000,
    clientIp: "10.0.0.9",
    nodeId: "node-a",
    ...overrides,
  };
}

test("a 0x03 value round-trips: labels, line, nanoseconds, metadata, enrichment", () => {
  const stored = entry();
  const value = streamEntryValue(stored);
  assert.equal(value[0], 0x03);
  assert.deepEqual(decodeStreamEntryValue(value), stored);
  const { tenant, entry: logEntry } = decodeLogRecord(key, value);
  assert.equal(tenant, "t1");
  assert.deepEqual(logEntry, {
    timestampNs: stored.timestampNs,
    labels: stored.labels,
    line: stored.line,
    metadata: stored.metadata,
  });
});

test("round trip holds for any labels, line and timestamp (property)", () => {
  const name = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/);
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(name, fc.string({ minLength: 1, unit: "grapheme" })), {
        selector: (pair) => pair[0],
        minLength: 1,
        maxLength: 6,
      }),
      fc.string({ unit: "grapheme" }),
      fc.bigInt({ min: 0n, max: 2n ** 51n * 1_000_000n - 1n }),
      (pairs, line, timestampNs) => {
        const labels = [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        const stored = entry({ labels, line, timestampNs, metadata: [] });
        assert.deepEqual(decodeStreamEntryValue(streamEntryValue(stored)), stored);
      },
    ),
  );
});

/** Entries as a decoder's columns: the lines packed into one buffer between filler bytes. */
function columnsOf(
  entries: { timestampNs: bigint; line: string; metadata: [string, string][] }[],
): EntryColumns {
  const parts: Buffer[] = [];
  const columns: EntryColumns = {
    count: entries.length,
    bytes: Buffer.alloc(0),
    seconds: [],
    nanos: [],
    lineStarts: [],
    lineEnds: [],
    metadata: [],
  };
  let at = 0;
  for (const entry of entries) {
    const line = Buffer.from(entry.line);
    parts.push(Buffer.from([0x22, 0x0a]), line); // bytes the writer must not copy
    columns.lineStarts.push(at + 2);
    columns.lineEnds.push(at + 2 + line.length);
    at += 2 + line.length;
    columns.seconds.push(Number(entry.timestampNs / 1_000_000_000n));
    columns.nanos.push(Number(entry.timestampNs % 1_000_000_000n));
    columns.metadata.push(entry.metadata.length === 0 ? undefined : entry.metadata);
  }
  parts.push(Buffer.from([0x5c]));
  columns.bytes = Buffer.concat(parts);
  return columns;
}

test("streamRecordColumns writes each value byte for byte as streamEntryValue, entries as objects (lines as strings or bytes) or columns (property)", () => {
  const name = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/);
  // Every byte JSON escapes (controls, quote, backslash), DEL, multi-byte and 4-byte characters.
  const line = fc.string({
    unit: fc.oneof(
      fc.constantFrom(
        "\u0000",
        "\u0001",
        "\b",
        "\t",
        "\n",
        "\f",
        "\r",
        "\u001f",
        '"',
        "\\",
        "\u007f",
        "é",
        "✓",
        "𝄞",
        "\u2028",
      ),
      fc.string({ unit: "binary", maxLength: 1 }),
    ),
    maxLength: 80,
  });
  const labelSet = fc
    .uniqueArray(fc.tuple(name, fc.string({ minLength: 1, maxLength: 12 })), {
      selector: (pair) => pair[0],
      minLength: 1,
      maxLength: 4,
    })
    .map((pairs) => pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  const stream = fc.record({
    labels: labelSet,
    asColumns: fc.boolean(),
    entries: fc.array(
      fc.record({
        timestampNs: fc.bigInt({ min: 0n, max: 2n ** 51n * 1_000_000n - 1n }),
        line,
        asBytes: fc.boolean(),
        metadata: fc.array(fc.tuple(name, fc.string({ maxLength: 10 })), { maxLength: 2 }),
        // An entry's own sender (UDP syslog), which may or may not be the batch's.
        clientIp: fc.option(fc.constantFrom("10.0.0.1", "10.0.0.2", ""), { nil: undefined }),
      }),
      { maxLength: 6 },
    ),
  });
  fc.assert(
    fc.property(
      fc.array(stream, { maxLength: 4 }),
      fc.oneof(fc.string({ maxLength: 8 }), fc.constant("10.0.0.1")),
      (streams, clientIp) => {
        const receipt = { receivedAtMs: 1_700_000_001_000, clientIp, nodeId: "node-é" };
        const columns = streamRecordColumns(
          streams.map((sent, i) => ({
            key: Buffer.from(`t1\u0000svc${i}`),
            labels: sent.labels,
            ...(sent.asColumns
              ? { entries: [], columns: columnsOf(sent.entries) }
              : {
                  entries: sent.entries.map((e) => ({
                    timestampNs: e.timestampNs,
                    line: e.asBytes ? Buffer.from(e.line) : e.line,
                    metadata: e.metadata,
                    ...(e.clientIp === undefined ? {} : { clientIp: e.clientIp }),
                  })),
                }),
          })),
          receipt,
        );
        const expected = streams.flatMap((sent, i) =>
          sent.entries.map((e) => ({
            key: Buffer.from(`t1\u0000svc${i}`),
            value: streamEntryValue({
              labels: sent.labels,
              line: e.line,
              timestampNs: e.timestampNs,
              metadata: e.metadata,
              ...receipt,
              clientIp: sent.asColumns ? receipt.clientIp : (e.clientIp ?? receipt.clientIp),
            }),
            timestampMs: streamEntryTimestampMs(e.timestampNs),
          })),
        );
        assert.equal(columns.count, expected.length);
        let keyAt = 0;
        let valueAt = 0;
        for (let i = 0; i < expected.length; i++) {
          const want = expected[i]!;
          assert.equal(columns.timestampsMs[i], want.timestampMs);
          assert.deepEqual(columns.keys.subarray(keyAt, keyAt + columns.keyLengths[i]!), want.key);
          assert.deepEqual(columns.values.subarray(valueAt, valueAt + columns.valueLengths[i]!), want.value);
          keyAt += columns.keyLengths[i]!;
          valueAt += columns.valueLengths[i]!;
        }
        assert.equal(keyAt, columns.keys.length);
        assert.equal(valueAt, columns.values.length);
      },
    ),
    { numRuns: 500 },
  );
});

test("streamRecordColumns grows past its kept scratch for a request of long lines", () => {
  const long = Buffer.from("\n".repeat(300_000)); // escaped: 600 KB each, 1.8 MB in all
  const entries = [0, 1, 2].map((i) => ({ timestampNs: BigInt(i), line: long, metadata: [] }));
  const receipt = { receivedAtMs: 0, clientIp: "", nodeId: "n" };
  const columns = streamRecordColumns([{ key, labels: [["service", "api"]], entries }], receipt);
  const one = streamEntryValue({
    labels: [["service", "api"]],
    line: long.toString(),
    timestampNs: 2n,
    metadata: [],
    ...receipt,
  });
  assert.equal(columns.valueLengths[2], one.length);
  assert.deepEqual(columns.values.subarray(columns.values.length - one.length), one);
});

test("the record timestamp is the nanoseconds floored to the millisecond", () => {
  assert.equal(streamEntryTimestampMs(1_999_999n), 1);
  assert.equal(streamEntryTimestampMs(2_000_000n), 2);
  assert.equal(streamEntryTimestampMs(0n), 0);
});

test("GET /v1/query renders a 0x03 entry as a reference A entry", () => {
  const json = JSON.parse(Buffer.from(serviceEntryJson(key, streamEntryValue(entry()))).toString());
  assert.deepEqual(json, {
    timestamp: 1_700_000_000_123,
    service: "api",
    level: "warn",
    message: 'a "quoted" line ✓',
    labels: { env: "prod", service_name: "api" },
    received_at: 1_700_000_001_000,
    client_ip: "10.0.0.9",
    ingested_node_id: "node-a",
  });
});

test("service_name is discovered in Loki's order, else unknown_service; routing prefers service", () => {
  assert.equal(
    discoverServiceName([
      ["app", "web"],
      ["job", "j"],
    ]),
    "web",
  );
  assert.equal(
    discoverServiceName([
      ["job", "j"],
      ["service", "s"],
    ]),
    "s",
  );
  assert.equal(discoverServiceName([["host", "h"]]), "unknown_service");
  assert.equal(
    discoverServiceName([
      ["service_name", "sn"],
      ["service", "s"],
    ]),
    "sn",
  );
  assert.equal(
    routingService([
      ["service_name", "sn"],
      ["service", "s"],
    ]),
    "s",
  );
  assert.equal(routingService([["app", "web"]]), "web");
});

test("unknown format bytes are still refused, and junk 0x03 values are undecodable", () => {
  for (const first of [0x04, 0x08, 0x00]) {
    const value = Buffer.from([first, 0x7b, 0x7d]);
    assert.throws(() => decodeLogRecord(key, value), RecordFormatError);
    assert.throws(() => serviceEntryJson(key, value), RecordFormatError);
  }
  for (const junk of [
    "\u0003not json",
    '\u0003{"ts":"x","line":"l","labels":[],"metadata":[]}',
    '\u0003{"ts":"1","line":"l","labels":[["a"]],"metadata":[]}',
  ]) {
    assert.throws(() => decodeLogRecord(key, Buffer.from(junk)), RecordDecodeError, junk);
  }
});
