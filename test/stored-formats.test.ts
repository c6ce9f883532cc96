// Stored record formats across versions (src/ingest/FORMAT.md): a data dir written by the code
// before the format byte (records put into the logs directly, in the old forms) is read by the
// query, the idempotency rebuild, the analytics consumer and `sluice aggregates rebuild`, side by
// side with new records; a record of a format this version does not know is refused everywhere.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { dataLayout, topics } from "../src/config/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import { fnv1a32, postAccessLogs, postServiceLogs, queryService } from "./support/http-client.ts";
import { allDocuments, runSluice, waitForCaughtUp } from "./support/scenario-client.ts";
import { startServerProcess, temporaryDataDir } from "./support/server.ts";

const partitionCount = 4;

interface RawRecord {
  partition: number;
  key: string;
  value: Uint8Array;
  timestampMs: number;
}

/** Appends records to a topic's log exactly as given, as an older (or newer) Sluice would have. */
async function writeTopic(dataDir: string, topic: "logs" | "access", records: RawRecord[]): Promise<void> {
  const log = PartitionLog.open({
    directory: dataLayout.topicDirectory(dataDir, topic),
    partitionCount,
    compressionThreads: 0,
  });
  try {
    for (const record of records) {
      await log.append(record.partition, [
        { timestampMs: record.timestampMs, key: Buffer.from(record.key), value: record.value },
      ]);
    }
  } finally {
    await log.close();
  }
}

// Written by the code before the format byte: the enriched entry's JSON alone.
const legacyEntry =
  '{"timestamp":1764605000000,"service":"auth_service","level":"INFO","message":"written before the format byte","labels":{"auth_method":"password"},"received_at":1764605000123,"client_ip":"10.0.0.1","ingested_node_id":"old-node"}';

function accessBody(paths: string[]): string {
  return JSON.stringify(
    paths.map((p, i) => ({
      receivedAt: `2025-12-28T18:03:${String(10 + i).padStart(2, "0")}.000Z`,
      method: "GET",
      path: p,
      userAgent: "curl/8.5.0",
    })),
  );
}

describe("a data dir written before the format byte", () => {
  test("reads back through the query, the idempotency table, the analytics and the rebuild", async () => {
    const dataDir = temporaryDataDir();
    const customer = "cus-legacy";
    const accessPartition = fnv1a32(customer) % partitionCount;
    const nowMs = Date.now();
    await writeTopic(dataDir, topics.serviceLogs, [
      {
        partition: fnv1a32("auth_service") % partitionCount,
        key: "fake\u0000auth_service",
        value: Buffer.from(legacyEntry),
        timestampMs: 1764605000000,
      },
    ]);
    await writeTopic(dataDir, topics.accessLogs, [
      // The first format (before 2026-11-25): two-part key, entries already normalised.
      {
        partition: accessPartition,
        key: `${customer}\nold-first`,
        value: Buffer.from(
          JSON.stringify({
            requestId: "r-1",
            entries: [[Date.parse("2025-12-28T18:03:01.000Z"), "GET", "/", "curl/8.5.0"]],
          }),
        ),
        timestampMs: nowMs,
      },
      // The next format: three-part key, the body as received (here with leading whitespace).
      {
        partition: accessPartition,
        key: `${customer}\nold-body\nr-2`,
        value: Buffer.from(`\n ${accessBody(["/", "/about"])}`),
        timestampMs: nowMs,
      },
    ]);

    let server = await startServerProcess({ dataDir });
    try {
      // New records beside the old ones.
      const newEntry = { timestamp: 1764605001000, service: "auth_service", message: "written after" };
      assert.equal((await postServiceLogs(server.url, [newEntry])).status, 200);
      const query = await queryService(server.url, "auth_service", 10);
      assert.equal(query.status, 200, query.text);
      const newStored = JSON.parse(query.text)[1];
      // Exactly the stored JSON of both, oldest first, with no format byte in the answer.
      assert.equal(query.text, `[${legacyEntry},${JSON.stringify(newStored)}]\n`);
      assert.equal(newStored.message, "written after");

      // The idempotency table was rebuilt from the legacy keys of both formats.
      for (const key of ["old-first", "old-body"]) {
        const repeat = await postAccessLogs(server.url, JSON.parse(accessBody(["/"])), {
          "x-customer-id": customer,
          "idempotency-key": key,
        });
        assert.equal(repeat.status, 409, `${key}: ${repeat.text}`);
      }
      const fresh = await postAccessLogs(server.url, JSON.parse(accessBody(["/contact"])), {
        "x-customer-id": customer,
        "idempotency-key": "new-1",
      });
      assert.equal(fresh.status, 202, fresh.text);

      // The analytics consumer counted the legacy batches and the new one.
      await waitForCaughtUp(server.url, 4);
      const { minute } = await allDocuments(server.url, customer);
      assert.deepEqual(
        minute.map((document) => [document.windowStart, document.requestsByPath]),
        [["2025-12-28T18:03:00Z", { "GET /": 2, "GET /about": 1, "GET /contact": 1 }]],
      );
      assert.equal(await server.stop(), 0);

      // The rebuild reads all three formats alike.
      const rebuild = await runSluice(["aggregates", "rebuild", "--data-dir", dataDir]);
      assert.equal(rebuild.status, 0, rebuild.stderr);
      assert.match(rebuild.stdout, /records 3 · entries 4 /);
      assert.match(rebuild.stdout, /undecodable records 0 /);
      server = await startServerProcess({ dataDir });
      assert.deepEqual((await allDocuments(server.url, customer)).minute, minute);
    } finally {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("a record of a format this version does not know", () => {
  // A newer version's format byte: 0x07 is not in the table (src/ingest/FORMAT.md).
  const newer = (json: string) => Buffer.concat([Buffer.from([0x07]), Buffer.from(json)]);

  test("in topics/logs: GET /v1/query answers 500 instead of returning bytes it cannot read", async () => {
    const dataDir = temporaryDataDir();
    await writeTopic(dataDir, topics.serviceLogs, [
      {
        partition: fnv1a32("auth_service") % partitionCount,
        key: "fake\u0000auth_service",
        value: newer(legacyEntry),
        timestampMs: 1764605000000,
      },
    ]);
    const server = await startServerProcess({ dataDir });
    try {
      const query = await queryService(server.url, "auth_service", 10);
      assert.equal(query.status, 500, query.text);
      assert.equal(query.text, "internal server error\n");
      // The server's log line arrives over its stdout pipe, possibly after the reply: wait for it.
      const logged = () =>
        server.logs.some((line) => line.includes("RecordFormatError") && line.includes("0x07"));
      for (let waits = 0; waits < 500 && !logged(); waits++)
        await new Promise((wake) => setTimeout(wake, 10));
      assert.ok(logged(), "the error is logged with its class and the byte");
    } finally {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("in topics/access: serve refuses to start and the rebuild stops, each naming the byte", async () => {
    const dataDir = temporaryDataDir();
    await writeTopic(dataDir, topics.accessLogs, [
      {
        partition: 0,
        key: "cus-new\nnew-format\nr",
        value: newer(accessBody(["/"])),
        timestampMs: Date.now(),
      },
    ]);
    try {
      const started = await startServerProcess({ dataDir }).catch((error: Error) => error);
      if (!(started instanceof Error)) {
        await started.stop();
        assert.fail("serve started over an access log it cannot read");
      }
      assert.match(started.message, /server exited with 1 before listening/);
      assert.match(
        started.message,
        /sluice serve: recovery failed, exiting: a record of topics\/access has format byte 0x07/,
      );
      const rebuild = await runSluice(["aggregates", "rebuild", "--data-dir", dataDir]);
      assert.equal(rebuild.status, 1, rebuild.stdout);
      assert.match(
        rebuild.stderr,
        /sluice aggregates rebuild: a record of topics\/access has format byte 0x07/,
      );
      assert.ok(!fs.existsSync(path.join(dataDir, "analytics", "aggregates.db.rebuild")));
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
