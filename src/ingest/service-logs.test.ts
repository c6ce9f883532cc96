import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { recordsOf } from "../log/index.ts";
import { partitionFor } from "../model/hash.ts";
import { IngestError, RecordDecodeError, RecordFormatError, rejectReasons } from "./errors.ts";
import {
  decodeServiceLogs,
  enrichAndRoute,
  parseServiceLogs,
  storedJson,
  storedServiceEntry,
} from "./service-logs.ts";
import { scanCanonicalServiceLogs } from "./service-logs-scan.ts";
import { decodeServiceRecord, hasKeyPrefix, serviceKeyPrefix } from "./service-logs-stored.ts";
import { recordFormats } from "./stored-format.ts";

const limits = { entriesMax: 100, labelsMax: 5, lineBytesMax: 1000 };

test("enriched values round-trip exactly, ASCII and not, several to a partition", () => {
  const entries = parseServiceLogs(
    Buffer.from(
      JSON.stringify([
        {
          timestamp: 1,
          service: "auth_service",
          level: "INFO",
          message: "héllo € ünïcode",
          labels: { k: "ß" },
        },
        { timestamp: 2, service: "auth_service", message: "plain ascii" },
        { timestamp: 3, service: "auth_service", message: "😀 emoji \u0000 nul" },
        { timestamp: 4, service: "event_creator", message: "other partition" },
      ]),
    ),
    limits,
  );
  const routed = enrichAndRoute(
    entries,
    { receivedAtMs: 99, clientIp: "10.0.0.1", nodeId: "node-a" },
    "tenant-1",
    4,
  );
  const auth = recordsOf(routed.get(partitionFor("auth_service", 4))!);
  assert.equal(auth.length, 3);
  for (const record of auth) assert.equal(record.value[0], recordFormats.serviceEntryV1);
  assert.deepEqual(
    auth.map((record) => JSON.parse(Buffer.from(storedServiceEntry(record.value)).toString())),
    [
      {
        timestamp: 1,
        service: "auth_service",
        level: "INFO",
        message: "héllo € ünïcode",
        labels: { k: "ß" },
        received_at: 99,
        client_ip: "10.0.0.1",
        ingested_node_id: "node-a",
      },
      {
        timestamp: 2,
        service: "auth_service",
        message: "plain ascii",
        received_at: 99,
        client_ip: "10.0.0.1",
        ingested_node_id: "node-a",
      },
      {
        timestamp: 3,
        service: "auth_service",
        message: "😀 emoji \u0000 nul",
        received_at: 99,
        client_ip: "10.0.0.1",
        ingested_node_id: "node-a",
      },
    ],
  );
  assert.deepEqual(
    auth.map((record) => record.timestampMs),
    [1, 2, 3],
  );
  assert.equal(Buffer.from(auth[0].key).toString(), "tenant-1\u0000auth_service");
  assert.equal(routed.get(partitionFor("event_creator", 4))!.count, 1);
});

test("the stored text of an entry is exactly JSON.stringify of its fields in the reference's order", () => {
  const suffix = ',"received_at":5,"client_ip":"::1","ingested_node_id":"n"}';
  fc.assert(
    fc.property(
      fc.record(
        {
          timestamp: fc.maxSafeNat(),
          service: fc.string({ unit: "binary" }),
          level: fc.string({ unit: "binary" }),
          message: fc.string({ unit: "binary", maxLength: 200 }),
          labels: fc.dictionary(fc.string({ unit: "binary" }), fc.string({ unit: "binary" })),
        },
        { requiredKeys: ["timestamp", "service", "message"] },
      ),
      (entry) => {
        const fields: Record<string, unknown> = { timestamp: entry.timestamp, service: entry.service };
        if (entry.level !== undefined) fields.level = entry.level;
        fields.message = entry.message;
        if (entry.labels !== undefined) fields.labels = entry.labels;
        const expected = JSON.stringify(fields).slice(0, -1) + suffix;
        assert.equal(storedJson(entry, JSON.stringify(entry.service), suffix), expected);
      },
    ),
    { numRuns: 2000 },
  );
});

test("stored service values: the format byte, legacy values without it, and unknown bytes refused", () => {
  const json =
    '{"timestamp":1,"service":"a","message":"m","received_at":2,"client_ip":"::1","ingested_node_id":"n"}';
  const current = Buffer.concat([Buffer.from([recordFormats.serviceEntryV1]), Buffer.from(json)]);
  assert.equal(Buffer.from(storedServiceEntry(current)).toString(), json);
  // Written before the format byte: the entry's JSON alone.
  assert.equal(Buffer.from(storedServiceEntry(Buffer.from(json))).toString(), json);
  for (const value of [
    Buffer.concat([Buffer.from([0x07]), Buffer.from(json)]), // a format of a newer version
    Buffer.concat([Buffer.from([recordFormats.accessBatchV1]), Buffer.from("[]")]), // the other topic's
    Buffer.from("[1]"),
    Buffer.alloc(0),
  ]) {
    assert.throws(() => storedServiceEntry(value), RecordFormatError, value.toString("hex"));
  }
});

// ---- stream label limits (limits.ts: Loki's defaults) -----------------------------------------

describe("stream label limits: both decode paths enforce them, with one message", () => {
  const roomy = { entriesMax: 100, labelsMax: 30, lineBytesMax: 1000 };
  const decoding = { limits: roomy, partitionCount: 4, nodeId: "node-a" };
  const request = { tenant: "t", receivedAtMs: 1, clientIp: "10.0.0.1" };
  const labelsOf = (count: number) =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`l${i}`, "v"]));
  // Fields in the reference's order, so that JSON.stringify writes the stored form.
  const entryWith = ({ level, labels }: { level?: string; labels?: Record<string, string> }) => ({
    timestamp: 1,
    service: "auth",
    ...(level === undefined ? {} : { level }),
    message: "m",
    ...(labels === undefined ? {} : { labels }),
  });
  const cases: Array<{ name: string; entry: object; error: RegExp | null }> = [
    {
      name: "service, level and 13 labels: 15, at the limit",
      entry: entryWith({ level: "INFO", labels: labelsOf(13) }),
      error: null,
    },
    {
      name: "service and 14 labels: 15, at the limit",
      entry: entryWith({ labels: labelsOf(14) }),
      error: null,
    },
    {
      name: "service, level and 14 labels: 16",
      entry: entryWith({ level: "INFO", labels: labelsOf(14) }),
      error: /^invalid entry at index 1: too many labels \(16 > 15; service and level count as labels\)$/,
    },
    {
      name: "service and 16 labels: 17",
      entry: entryWith({ labels: labelsOf(16) }),
      error: /^invalid entry at index 1: too many labels \(17 > 15/,
    },
    { name: "a 1024-character name", entry: entryWith({ labels: { ["n".repeat(1024)]: "v" } }), error: null },
    {
      name: "a 1025-character name",
      entry: entryWith({ labels: { ["n".repeat(1025)]: "v" } }),
      error: /^invalid entry at index 1: label names must be 1\.\.1024 characters$/,
    },
    { name: "a 2048-character value", entry: entryWith({ labels: { k: "v".repeat(2048) } }), error: null },
    {
      name: "a 2049-character value",
      entry: entryWith({ labels: { k: "v".repeat(2049) } }),
      error: /^invalid entry at index 1: labels\.k is longer than 2048 characters$/,
    },
  ];
  for (const { name, entry, error } of cases) {
    test(name, () => {
      // JSON.stringify writes the stored form: the fast path takes it when it is within the limits.
      const body = Buffer.from(JSON.stringify([entryWith({}), entry]));
      const keyPrefix = Buffer.from("t\u0000");
      const suffix = Buffer.from(',"received_at":1,"client_ip":"10.0.0.1","ingested_node_id":"node-a"}');
      const fast = scanCanonicalServiceLogs(body, roomy, 4, keyPrefix, suffix);
      if (error === null) {
        assert.ok(fast !== undefined, "the fast path accepts what is within the limits");
        assert.equal(decodeServiceLogs(body, request, decoding).entryCount, 2);
      } else {
        assert.equal(fast, undefined, "the fast path refuses what is over a limit");
        assert.throws(
          () => decodeServiceLogs(body, request, decoding),
          (thrown) =>
            thrown instanceof IngestError &&
            thrown.reason === rejectReasons.invalidEntry &&
            error.test(thrown.message),
        );
      }
    });
  }
});

// ---- reading stored records back --------------------------------------------------------------

test("decodeServiceRecord: tenant from the key, the entry from v1 and legacy values; bad records typed", () => {
  const [columns] = enrichAndRoute(
    [{ timestamp: 7, service: "auth", level: "INFO", message: "hi", labels: { a: "1" } }],
    { receivedAtMs: 9, clientIp: "10.0.0.1", nodeId: "node-a" },
    "tenant-1",
    1,
  ).values();
  const [record] = recordsOf(columns);
  const expected = {
    tenant: "tenant-1",
    entry: {
      timestamp: 7,
      service: "auth",
      level: "INFO",
      message: "hi",
      labels: { a: "1" },
      received_at: 9,
      client_ip: "10.0.0.1",
      ingested_node_id: "node-a",
    },
  };
  assert.deepEqual(decodeServiceRecord(record.key, record.value), expected);
  assert.deepEqual(
    decodeServiceRecord(record.key, record.value.subarray(1)),
    expected,
    "legacy: no format byte",
  );
  assert.ok(hasKeyPrefix(record.key, serviceKeyPrefix("tenant-1")));
  assert.ok(!hasKeyPrefix(record.key, serviceKeyPrefix("tenant")), "a tenant that is a prefix of another");
  assert.throws(() => decodeServiceRecord(record.key, Buffer.from([0x09, 0x7b])), RecordFormatError);
  for (const value of [
    "\u0001{not json",
    '\u0001{"timestamp":"1","service":"a","message":"m"}',
    "\u0001[]",
  ]) {
    assert.throws(() => decodeServiceRecord(record.key, Buffer.from(value)), RecordDecodeError, value);
  }
  assert.throws(() => decodeServiceRecord(Buffer.from("no separator"), record.value), RecordDecodeError);
});
