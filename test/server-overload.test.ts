// Overload: many clients send large batches as fast as they can into a server with a small ingest
// queue. The server must push back with 429 + Retry-After instead of buffering, keep its resident
// memory under a bound derived from its configuration, and store every record it acknowledged.

import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { test } from "node:test";
import { ServiceLogGenerator } from "../src/loadgen/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import { startServerProcess, temporaryDataDir } from "./support/server.ts";

const MiB = 1024 * 1024;
const queueBytesMax = 8 * MiB;
const heapMiB = 128;
const semiSpaceMiB = 2;
// The default of --query-threads, passed explicitly so the bound below counts what runs.
const queryThreads = 2;
// The memory model of docs/operations.md: resident memory stays under a fixed allowance for the
// runtime, fastify, the log and the compressor thread (150 MiB), plus the V8 heap limit, plus the
// young generation, plus the request bodies admitted into the queue (as Buffers, outside the heap),
// plus an idle isolate per query thread (no query runs here; measured ~20 MiB each: 327 MiB with two,
// 287 MiB with --query-threads 0, in one run).
const rssBoundBytes =
  150 * MiB + heapMiB * MiB + 3 * semiSpaceMiB * MiB + 4 * queueBytesMax + queryThreads * 24 * MiB;

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

function post(
  agent: http.Agent,
  url: string,
  body: Buffer,
): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve) => {
    const request = http.request(
      url,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": body.length },
      },
      (response) => {
        response.resume();
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            retryAfter: response.headers["retry-after"] as string | undefined,
          }),
        );
      },
    );
    request.on("error", () => resolve({ status: 0, retryAfter: undefined }));
    request.end(body);
  });
}

test("an overloaded server answers 429 + Retry-After, stays under its memory bound and keeps every ack", {
  timeout: 120_000,
}, async (t) => {
  const dataDir = temporaryDataDir("sluice-overload-");
  let server: Awaited<ReturnType<typeof startServerProcess>> | undefined;
  try {
    server = await startServerProcess({
      dataDir,
      // A small idempotency table: this test bounds the ingest queue, and the start-up heap check
      // counts the table (src/cli/heap.ts) against the small heap below.
      args: [
        "--queue-bytes-max",
        String(queueBytesMax),
        "--queue-requests-max",
        "64",
        "--idempotency-keys-max",
        "10000",
        "--query-threads",
        String(queryThreads),
      ],
      nodeArgs: [`--max-old-space-size=${heapMiB}`, `--max-semi-space-size=${semiSpaceMiB}`],
    });
    const generator = new ServiceLogGenerator({ seed: 3 });
    const bodies = Array.from({ length: 8 }, () => Buffer.from(JSON.stringify(generator.batch(5000))));
    const recordsPerBody = 5000;
    let acknowledgedRecords = 0;
    const statuses = new Map<number, number>();
    let retryAfterSeen = false;
    let rssMax = 0;
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, rssBytes(server!.child.pid!));
    }, 50);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 48 });
    const deadline = Date.now() + 8000;
    await Promise.all(
      Array.from({ length: 48 }, async (_, worker) => {
        for (let n = 0; Date.now() < deadline; n++) {
          const { status, retryAfter } = await post(
            agent,
            `${server!.url}/v1/logs`,
            bodies[(worker + n) % bodies.length],
          );
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status === 200) acknowledgedRecords += recordsPerBody;
          if (status === 429 && retryAfter !== undefined && Number(retryAfter) >= 1) retryAfterSeen = true;
        }
      }),
    );
    clearInterval(sampler);
    agent.destroy();
    t.diagnostic(
      `statuses ${JSON.stringify(Object.fromEntries(statuses))}; RSS max ${(rssMax / 2 ** 20).toFixed(0)} MiB (bound ${(rssBoundBytes / 2 ** 20).toFixed(0)} MiB); ${acknowledgedRecords} records acknowledged`,
    );
    assert.ok((statuses.get(429) ?? 0) > 0, "the server pushed back");
    assert.ok(retryAfterSeen, "429 answers carry Retry-After");
    assert.ok(acknowledgedRecords > 0, "the server kept accepting while pushing back");
    assert.deepEqual(
      [...statuses.keys()].filter((status) => status !== 200 && status !== 429),
      [],
      "only 200 and 429",
    );
    assert.ok(rssMax < rssBoundBytes, `RSS ${rssMax} exceeds the bound ${rssBoundBytes}`);
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(await server.stop(), 0);

    const log = PartitionLog.open({
      directory: path.join(dataDir, "topics", "logs"),
      partitionCount: 4,
      onEvent: () => {},
    });
    const storedRecords = log
      .stats()
      .partitions.reduce((sum, _, partition) => sum + log.partition(partition).endOffset, 0);
    await log.close();
    assert.equal(storedRecords, acknowledgedRecords, "every acknowledged record is stored, and nothing else");
  } finally {
    if (server && server.child.exitCode === null) await server.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
