// GET /ready while the server recovers: a real `sluice serve` child on a data dir whose access log
// holds many batches, so the idempotency rebuild takes a while. The port opens first; from then on
// /ready answers 503 until recovery is done, a write is refused with 503 in its protocol's error
// model (OTLP/HTTP protobuf: a Status; OTLP/gRPC: UNAVAILABLE with RetryInfo), and afterwards /ready is 200, writes are accepted and a prefilled key is a repeat (409), so
// the keys were all loaded before ready. Also: SIGTERM during recovery exits 0 and releases the data
// dir; a failing recovery exits 1 with a clear message instead of staying up.
//
// No timing is asserted. Recovery is observed: the first /ready answer must be a 503. If this
// machine recovers the data before a first request gets there, the data grows and the run repeats.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import { after, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { dataLayout, topics } from "../src/config/index.ts";
import { accessBatchKey } from "../src/ingest/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import { accessEntry, postAccessLogs, postServiceLogs, type Reply, send } from "./support/http-client.ts";
import { sluiceEntry, temporaryDataDir } from "./support/server.ts";

const partitionCount = 4;
const prefilledBatchCounts = [300_000, 1_200_000]; // the second only when the first recovered too fast
const batchBody = Buffer.from(JSON.stringify([accessEntry()]));
const dataDirs: string[] = [];
after(() => {
  for (const dataDir of dataDirs) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** A data dir whose access log holds `count` one-entry batches stored just now. */
async function prefilledDataDir(count: number): Promise<string> {
  const dataDir = temporaryDataDir("sluice-recovery-");
  dataDirs.push(dataDir);
  const log = PartitionLog.open({
    directory: dataLayout.topicDirectory(dataDir, topics.accessLogs),
    partitionCount,
  });
  const nowMs = Date.now();
  const perAppend = 5000;
  for (let first = 0; first < count; first += perAppend * partitionCount) {
    await Promise.all(
      Array.from({ length: partitionCount }, (_, partition) => {
        const records = [];
        for (let n = 0; n < perAppend; n++) {
          const index = first + n * partitionCount + partition;
          if (index >= count) break;
          records.push({
            timestampMs: nowMs,
            key: accessBatchKey("cus-axon", `pre-${index}`, "r"),
            value: batchBody,
          });
        }
        return records.length > 0 ? log.append(partition, records) : Promise.resolve();
      }),
    );
  }
  await log.close();
  return dataDir;
}

interface Child {
  child: ChildProcess;
  url: string;
  grpcPort: number;
  logs: string[];
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Spawns `sluice serve` and resolves as soon as the port is open (the first log line with a port). */
async function spawnServer(dataDir: string): Promise<Child> {
  const child = spawn(
    process.execPath,
    [
      sluiceEntry,
      "serve",
      "--port",
      "0",
      "--otlp-grpc-port",
      "0",
      "--host",
      "127.0.0.1",
      "--data-dir",
      dataDir,
      "--partitions",
      "4",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const logs: string[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const ports = await new Promise<{ url: string; grpcPort: number }>((resolve, reject) => {
    let buffered = "";
    child.stdout!.on("data", (chunk) => {
      buffered += chunk;
      for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        logs.push(line);
        const parsed = JSON.parse(line);
        if (typeof parsed.port === "number")
          resolve({ url: `http://127.0.0.1:${parsed.port}`, grpcPort: parsed.grpcPort });
      }
    });
    exited.then((code) => reject(new Error(`server exited with ${code} before listening: ${stderr}`)));
  });
  return { child, ...ports, logs, stderr: () => stderr, exited };
}

const messages = (child: Child) => child.logs.map((line) => JSON.parse(line).msg as string);

interface FirstAnswers {
  ready: Reply;
  access: Reply;
  service: Reply;
  otlp: Reply;
  elasticsearch: Reply;
  grpc: grpc.ServiceError | null;
}

/** An OTLP/gRPC Export of an empty request: null on success, else the error. */
function grpcExport(port: number): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const identity = (bytes: Buffer) => bytes;
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
      identity,
      identity,
      Buffer.alloc(0),
      new grpc.Metadata(),
      (error) => {
        client.close();
        resolve(error);
      },
    );
  });
}

/**
 * Starts servers on ever larger data until the first requests after the port opens (/ready and a
 * write on each protocol, sent together) are all answered 503: recovery seen, not raced.
 */
async function serverSeenRecovering(): Promise<{
  server: Child;
  dataDir: string;
  batches: number;
  first: FirstAnswers;
}> {
  for (const batches of prefilledBatchCounts) {
    const dataDir = await prefilledDataDir(batches);
    const server = await spawnServer(dataDir);
    const [ready, access, service, otlp, grpcError, elasticsearch] = await Promise.all([
      send(`${server.url}/ready`),
      postAccessLogs(server.url, [accessEntry()], { "idempotency-key": "during" }),
      postServiceLogs(server.url, [{ timestamp: 1, service: "auth_service", message: "m" }]),
      send(`${server.url}/v1/logs`, {
        method: "POST",
        headers: { "content-type": "application/x-protobuf" },
        body: new Uint8Array(0),
      }),
      grpcExport(server.grpcPort),
      send(`${server.url}/_bulk`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: '{"index":{"_index":"a"}}\n{"message":"m"}\n',
      }),
    ]);
    if (
      [ready, access, service, otlp, elasticsearch].every((reply) => reply.status === 503) &&
      grpcError?.code === grpc.status.UNAVAILABLE
    )
      return {
        server,
        dataDir,
        batches,
        first: { ready, access, service, otlp, grpc: grpcError, elasticsearch },
      };
    assert.equal(ready.status, 200, ready.text);
    server.child.kill("SIGTERM");
    assert.equal(await server.exited, 0);
  }
  assert.fail(`the first /ready was 200 even with ${prefilledBatchCounts.at(-1)} batches to recover`);
}

async function untilReady(url: string): Promise<number> {
  let notReady = 0;
  for (;;) {
    const ready = await send(`${url}/ready`);
    if (ready.status === 200) return notReady;
    assert.equal(ready.status, 503, ready.text);
    notReady++;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("/ready while recovering", () => {
  test("503 from the moment the port opens, writes refused in each error model, then 200", async () => {
    const { server, batches, first } = await serverSeenRecovering();
    try {
      assert.equal(first.ready.text, "not ready: recovering\n");
      const error = JSON.parse(first.access.text);
      assert.equal(error.errorCategory, "unavailable");
      assert.equal(error.errorCode, "SYS_9002");
      assert.match(error.errorDescription, /recovering/);
      assert.ok(error.requestId);
      assert.equal(first.access.headers.get("retry-after"), "1");
      assert.match(first.service.headers.get("content-type") ?? "", /^text\/plain/);
      assert.match(first.service.text, /^server is recovering .*retry later\n$/);
      // OTLP: protobuf over HTTP gets its Status (code 14 UNAVAILABLE), gRPC UNAVAILABLE + RetryInfo.
      assert.equal(first.otlp.headers.get("content-type"), "application/x-protobuf");
      assert.equal(first.otlp.headers.get("retry-after"), "1");
      assert.match(first.otlp.text, /server is recovering/);
      assert.ok(first.grpc !== null);
      assert.match(first.grpc.details, /recovering/);
      assert.equal(first.grpc.metadata.get("grpc-status-details-bin").length, 1, "a RetryInfo: retryable");
      // The Elasticsearch routes answer in Elasticsearch's error body, with its product header.
      assert.equal(first.elasticsearch.headers.get("x-elastic-product"), "Elasticsearch");
      assert.equal(first.elasticsearch.headers.get("retry-after"), "1");
      const esError = JSON.parse(first.elasticsearch.text);
      assert.equal(esError.status, 503);
      assert.equal(esError.error.type, "cluster_block_exception");
      assert.match(esError.error.reason, /recovering/);
      assert.equal((await send(`${server.url}/healthz`)).status, 200, "liveness answers in every phase");
      assert.equal((await send(`${server.url}/metrics`)).status, 200, "/metrics answers in every phase");
      await untilReady(server.url);
      // Ready: the keys were all loaded first (a prefilled one is a repeat), and writes go through.
      const repeat = await postAccessLogs(server.url, [accessEntry()], {
        "idempotency-key": `pre-${batches - 1}`,
      });
      assert.equal(repeat.status, 409, repeat.text);
      const accepted = await postAccessLogs(server.url, [accessEntry()], { "idempotency-key": "during" });
      assert.equal(accepted.status, 202, accepted.text);
      const v1 = await postServiceLogs(server.url, [{ timestamp: 1, service: "auth_service", message: "m" }]);
      assert.equal(v1.status, 200, v1.text);
      assert.equal(await grpcExport(server.grpcPort), null, "OTLP/gRPC is served once ready");
      const log = messages(server);
      assert.ok(log.indexOf("sluice recovering") < log.indexOf("sluice listening"), log.join("\n"));
      assert.ok(log.includes("idempotency keys rebuilt from the access log"));
    } finally {
      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0, server.stderr());
    }
  });

  test("SIGTERM during recovery shuts down cleanly (exit 0) and releases the data dir", async () => {
    const { server, dataDir } = await serverSeenRecovering();
    server.child.kill("SIGTERM");
    assert.equal(await server.exited, 0, server.stderr());
    const log = messages(server);
    assert.ok(log.includes("shutting down"));
    assert.ok(log.includes("sluice stopped"), log.join("\n"));
    assert.ok(!log.includes("sluice listening"), "stopped before ready");
    // The LOCKs are gone: the same data dir opens again and becomes ready.
    const again = await spawnServer(dataDir);
    try {
      await untilReady(again.url);
    } finally {
      again.child.kill("SIGTERM");
      assert.equal(await again.exited, 0, again.stderr());
    }
  });

  test("a failing recovery exits 1 with a clear message, not a listening server", async () => {
    const dataDir = temporaryDataDir("sluice-recovery-");
    dataDirs.push(dataDir);
    const storeFile = dataLayout.aggregateStoreFile(dataDir);
    fs.mkdirSync(storeFile.slice(0, storeFile.lastIndexOf("/")), { recursive: true });
    fs.writeFileSync(storeFile, Buffer.alloc(8192, 0x5a)); // not a SQLite database
    const server = await spawnServer(dataDir);
    assert.equal(await server.exited, 1);
    assert.match(server.stderr(), /^sluice serve: recovery failed, exiting: .+/m);
    assert.ok(messages(server).includes("recovery failed"));
  });
});
