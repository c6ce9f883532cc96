// The server is SIGKILLed in the middle of load, round after round on the same data dir. Every
// record acknowledged with 200 (POST /v1/logs) and every batch acknowledged with 202 (POST /logs)
// must be stored exactly once afterwards, and each acknowledged idempotency key must answer 409
// after the restart.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { storedServiceEntry } from "../src/ingest/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import { startServerProcess, temporaryDataDir } from "./support/server.ts";

const services = ["focus_allocator", "event_creator", "auth_service", "notification_service"];

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<number> {
  try {
    const response = await fetch(url, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", ...headers },
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0; // the server died mid-request: not acknowledged
  }
}

function readTopic(dataDir: string, topic: string): Array<{ key: string; value: Buffer }> {
  const log = PartitionLog.open({
    directory: path.join(dataDir, "topics", topic),
    partitionCount: 4,
    onEvent: () => {},
  });
  const all: Array<{ key: string; value: Buffer }> = [];
  for (let partition = 0; partition < 4; partition++) {
    let offset = 0;
    for (;;) {
      const result = log.read(partition, offset);
      for (const record of result.records)
        all.push({ key: Buffer.from(record.key).toString(), value: Buffer.from(record.value) });
      if (result.nextOffset >= result.endOffset) break;
      offset = result.nextOffset;
    }
  }
  void log.close();
  return all;
}

test("records acknowledged before a SIGKILL are stored exactly once; acknowledged keys stay 409", {
  timeout: 120_000,
}, async (t) => {
  const dataDir = temporaryDataDir("sluice-server-crash-");
  const acknowledgedIds = new Set<string>();
  const acknowledgedKeys: string[] = [];
  const rounds = 4;
  try {
    for (let round = 0; round < rounds; round++) {
      const server = await startServerProcess({ dataDir });
      let stop = false;
      const senders = Array.from({ length: 6 }, async (_, worker) => {
        for (let n = 0; !stop; n++) {
          if (worker < 4) {
            const ids = Array.from({ length: 50 }, (_, i) => `r${round}-w${worker}-${n}-${i}`);
            const body = JSON.stringify(
              ids.map((id, i) => ({
                timestamp: 1_700_000_000_000 + n,
                service: services[(i + worker) % 4],
                level: "INFO",
                message: `crash ${id}`,
              })),
            );
            if ((await post(`${server.url}/v1/logs`, body)) === 200)
              for (const id of ids) acknowledgedIds.add(id);
          } else {
            const key = `crash-r${round}-w${worker}-${n}`;
            const body = JSON.stringify([
              { receivedAt: "2025-12-28T18:03:15.000Z", method: "GET", path: `/${key}`, userAgent: "curl/8" },
            ]);
            if (
              (await post(`${server.url}/logs`, body, {
                "x-customer-id": "cus-crash",
                "idempotency-key": key,
              })) === 202
            )
              acknowledgedKeys.push(key);
          }
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 400 + Math.random() * 800));
      await server.kill();
      stop = true;
      await Promise.all(senders);
    }
    assert.ok(acknowledgedIds.size > 1000, `only ${acknowledgedIds.size} records were acknowledged`);
    assert.ok(
      acknowledgedKeys.length > 20,
      `only ${acknowledgedKeys.length} access batches were acknowledged`,
    );

    // After the last kill: every acknowledged key is refused, on a restarted server.
    const server = await startServerProcess({ dataDir });
    for (const key of acknowledgedKeys) {
      const body = JSON.stringify([
        { receivedAt: "2025-12-28T18:03:15.000Z", method: "GET", path: `/${key}`, userAgent: "curl/8" },
      ]);
      assert.equal(
        await post(`${server.url}/logs`, body, { "x-customer-id": "cus-crash", "idempotency-key": key }),
        409,
        key,
      );
    }
    assert.equal(await server.stop(), 0, "graceful shutdown exits 0");

    const stored = new Map<string, number>();
    for (const record of readTopic(dataDir, "logs")) {
      const entry = JSON.parse(Buffer.from(storedServiceEntry(record.value)).toString());
      const id = (entry.message as string).slice("crash ".length);
      stored.set(id, (stored.get(id) ?? 0) + 1);
    }
    for (const id of acknowledgedIds)
      assert.equal(stored.get(id), 1, `acknowledged record ${id} stored ${stored.get(id) ?? 0} times`);
    for (const [id, count] of stored) assert.equal(count, 1, `record ${id} stored ${count} times`);
    const batches = new Map<string, number>();
    for (const record of readTopic(dataDir, "access")) {
      const batch = record.key.split("\n").slice(0, 2).join("\n"); // customer \n key (\n request id)
      batches.set(batch, (batches.get(batch) ?? 0) + 1);
    }
    for (const key of acknowledgedKeys) assert.equal(batches.get(`cus-crash\n${key}`), 1, `batch ${key}`);
    for (const [key, count] of batches) assert.equal(count, 1, `batch ${key} stored ${count} times`);
    t.diagnostic(
      `${rounds} kills; ${acknowledgedIds.size} acknowledged records and ${acknowledgedKeys.length} acknowledged batches verified; ${stored.size - acknowledgedIds.size} unacknowledged records were stored too`,
    );
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
