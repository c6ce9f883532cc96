import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { recordsOf } from "../log/index.ts";
import { partitionFor } from "../model/hash.ts";
import { RecordFormatError } from "./errors.ts";
import { enrichAndRoute, parseServiceLogs, storedJson, storedServiceEntry } from "./service-logs.ts";
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
