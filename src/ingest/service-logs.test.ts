import assert from "node:assert/strict";
import { test } from "node:test";
import { partitionFor } from "../model/hash.ts";
import { enrichAndRoute, parseServiceLogs } from "./service-logs.ts";

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
  const auth = routed.get(partitionFor("auth_service", 4))!;
  assert.equal(auth.length, 3);
  assert.deepEqual(
    auth.map((record) => JSON.parse(Buffer.from(record.value).toString())),
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
  assert.equal(routed.get(partitionFor("event_creator", 4))!.length, 1);
});
