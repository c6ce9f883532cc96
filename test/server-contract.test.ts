// Contract tests of `sluice serve` against the two reference systems (design.md, "Contracts of the
// reference systems"), over real HTTP on loopback against a real child process per describe block:
// - reference A: POST /v1/logs and GET /v1/query — status codes, plain-text errors byte for byte,
//   validation naming index and field, enrichment, FNV-1a routing, tenancy by X-Scope-OrgID;
// - reference B: POST /logs — headers, limits, the JSON error model, x-request-id, idempotency
//   (repeats, other customers, races, SIGTERM and SIGKILL restarts);
// - configurable limits, per-tenant rate limits (429 + Retry-After), /metrics, /ready, /healthz.

import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeAccessBatch, parseJsonStrict } from "../src/ingest/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import {
  accessEntry,
  assertAccessError,
  assertPlainError,
  fnv1a32,
  metricValue,
  partitionLogBytes,
  postAccessLogs,
  postChunked,
  postServiceLogs,
  queryEntries,
  queryService,
  type Reply,
  scrape,
  send,
} from "./support/http-client.ts";
import { type ServerProcess, startServerProcess, temporaryDataDir } from "./support/server.ts";

/** Reference A's four services and the partitions its FNV-1a placement gives them (design.md). */
const referencePlacement = [
  ["event_creator", 0],
  ["focus_allocator", 1],
  ["notification_service", 2],
  ["auth_service", 3],
] as const;

const invalidArgument = { status: 400, category: "invalid_argument", code: "ING_1000" } as const;
const conflict = { status: 409, category: "resource_conflict", code: "ING_1001" } as const;
const MiB = 1024 * 1024;

interface Fixture {
  readonly server: ServerProcess;
  readonly url: string;
}

/** One server per describe block: started before its tests, stopped and its data dir removed after. */
function serverFor(args: string[] = []): Fixture {
  let server: ServerProcess | undefined;
  before(async () => {
    server = await startServerProcess({ args });
  });
  after(async () => {
    if (server) await shutDown(server);
  });
  return {
    get server() {
      assert.ok(server, "server not started");
      return server;
    },
    get url() {
      assert.ok(server, "server not started");
      return server.url;
    },
  };
}

/** SIGTERM (SIGKILL when it takes over 10 s), then removes the data dir. */
async function shutDown(server: ServerProcess): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) {
    const timer = setTimeout(() => server.child.kill("SIGKILL"), 10_000);
    await server.stop();
    clearTimeout(timer);
  }
  fs.rmSync(server.dataDir, { recursive: true, force: true });
}

function nodeIdOf(dataDir: string): string {
  return fs.readFileSync(path.join(dataDir, "node-id"), "utf8").trim();
}

/** `json` padded with spaces before its closing bracket to exactly `bytes` bytes (still valid JSON). */
function paddedTo(json: string, bytes: number): string {
  const missing = bytes - Buffer.byteLength(json);
  assert.ok(missing >= 0 && json.endsWith("]"), `cannot pad ${json.length} bytes to ${bytes}`);
  return `${json.slice(0, -1)}${" ".repeat(missing)}]`;
}

let uniqueCounter = 0;
function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${++uniqueCounter}`;
}

function entry(service: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { timestamp: 1766944995000, service, level: "INFO", message: "focus session started", ...extra };
}

// ===============================================================================================
describe("reference A: POST /v1/logs and GET /v1/query", () => {
  const fixture = serverFor();

  test('200 with {"received":N} and a newline, for N entries (0 included)', async () => {
    const service = unique("received");
    const three = await postServiceLogs(fixture.url, [entry(service), entry(service), entry(service)]);
    assert.equal(three.status, 200);
    assert.equal(three.text, '{"received":3}\n');
    assert.match(three.headers.get("content-type") ?? "", /^application\/json/);
    const none = await postServiceLogs(fixture.url, "[]");
    assert.equal(none.status, 200);
    assert.equal(none.text, '{"received":0}\n');
  });

  test("any content type (or none) is accepted, as the reference does not look at it", async () => {
    const service = unique("content-type");
    const body = JSON.stringify([entry(service)]);
    for (const contentType of [null, "text/plain", "application/x-www-form-urlencoded"]) {
      const reply = await send(`${fixture.url}/v1/logs`, {
        method: "POST",
        headers: contentType === null ? {} : { "content-type": contentType },
        body: Buffer.from(body),
      });
      assert.equal(reply.status, 200, `content-type ${contentType}: ${reply.text}`);
      assert.equal(reply.text, '{"received":1}\n');
    }
  });

  for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    test(`405 method not allowed: ${method} /v1/logs`, async () => {
      const reply = await send(`${fixture.url}/v1/logs`, { method });
      assertPlainError(reply, 405, "method not allowed");
    });
  }

  test("405 for HEAD /v1/logs too (no body, as for any HEAD)", async () => {
    const reply = await send(`${fixture.url}/v1/logs`, { method: "HEAD" });
    assert.equal(reply.status, 405);
  });

  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    test(`405 method not allowed: ${method} /v1/query`, async () => {
      const reply = await send(`${fixture.url}/v1/query?service=auth_service&limit=1`, { method });
      assertPlainError(reply, 405, "method not allowed");
    });
  }

  test("400 empty body, without a body and with content-length 0", async () => {
    assertPlainError(await send(`${fixture.url}/v1/logs`, { method: "POST" }), 400, "empty body");
    assertPlainError(await postServiceLogs(fixture.url, ""), 400, "empty body");
  });

  const invalidJsonBodies: Array<[string, string | Buffer]> = [
    ["a truncated array", '[{"timestamp":1,'],
    ["a bare word", "nul"],
    ["whitespace only", "   \n"],
    ["a trailing comma", '[{"timestamp":1,"service":"a","message":"m"},]'],
    ["single quotes", "[{'timestamp':1}]"],
    ["a byte-order mark", "\uFEFF[]"],
    ["an object instead of an array", '{"timestamp":1,"service":"a","message":"m"}'],
    ["a string instead of an array", '"hello"'],
    ["a number instead of an array", "42"],
    ["two documents", "[] []"],
    ["invalid UTF-8", Buffer.from([0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d])],
  ];
  for (const [name, body] of invalidJsonBodies) {
    test(`400 invalid json: … for ${name}`, async () => {
      const reply = await postServiceLogs(fixture.url, body);
      assertPlainError(reply, 400, /^invalid json: \S/);
    });
  }

  // Each case: the bad entry sits at `index` of a batch whose other entries are valid.
  const validationCases: Array<{ name: string; bad: unknown; field: string }> = [
    { name: "entry is a number", bad: 7, field: "" },
    { name: "entry is null", bad: null, field: "" },
    { name: "entry is an array", bad: [], field: "" },
    { name: "timestamp missing", bad: { service: "s", message: "m" }, field: "timestamp" },
    { name: "timestamp a string", bad: { timestamp: "1", service: "s", message: "m" }, field: "timestamp" },
    { name: "timestamp negative", bad: { timestamp: -1, service: "s", message: "m" }, field: "timestamp" },
    { name: "timestamp fractional", bad: { timestamp: 1.5, service: "s", message: "m" }, field: "timestamp" },
    { name: "timestamp null", bad: { timestamp: null, service: "s", message: "m" }, field: "timestamp" },
    {
      name: "timestamp 2^64",
      bad: '{"timestamp":18446744073709551616,"service":"s","message":"m"}',
      field: "timestamp",
    },
    { name: "timestamp 1e400", bad: '{"timestamp":1e400,"service":"s","message":"m"}', field: "timestamp" },
    { name: "service missing", bad: { timestamp: 1, message: "m" }, field: "service" },
    { name: "service empty", bad: { timestamp: 1, service: "", message: "m" }, field: "service" },
    { name: "service a number", bad: { timestamp: 1, service: 5, message: "m" }, field: "service" },
    { name: "message missing", bad: { timestamp: 1, service: "s" }, field: "message" },
    { name: "message empty", bad: { timestamp: 1, service: "s", message: "" }, field: "message" },
    {
      name: "message an object",
      bad: { timestamp: 1, service: "s", message: { text: "m" } },
      field: "message",
    },
    { name: "level a number", bad: { timestamp: 1, service: "s", message: "m", level: 3 }, field: "level" },
    {
      name: "labels an array",
      bad: { timestamp: 1, service: "s", message: "m", labels: ["a"] },
      field: "labels",
    },
    {
      name: "labels a string",
      bad: { timestamp: 1, service: "s", message: "m", labels: "a=b" },
      field: "labels",
    },
    {
      name: "label value a number",
      bad: { timestamp: 1, service: "s", message: "m", labels: { a: 1 } },
      field: "labels",
    },
    {
      name: "label value null",
      bad: { timestamp: 1, service: "s", message: "m", labels: { a: null } },
      field: "labels",
    },
    {
      name: "labels nested",
      bad: { timestamp: 1, service: "s", message: "m", labels: { a: { b: "c" } } },
      field: "labels",
    },
  ];
  for (const { name, bad, field } of validationCases) {
    test(`400 naming index and field, batch rejected whole: ${name}`, async () => {
      const service = unique("validation");
      const good = JSON.stringify(entry(service));
      const badJson = typeof bad === "string" ? bad : JSON.stringify(bad);
      const body = `[${good},${good},${good},${badJson},${good}]`;
      const reply = await postServiceLogs(fixture.url, body);
      assertPlainError(reply, 400, /index 3\b/);
      if (field !== "") assert.match(reply.text, new RegExp(`\\b${field}\\b`), reply.text);
      assert.deepEqual(await queryEntries(fixture.url, service, 100), [], "part of the batch was stored");
    });
  }

  test("404 page not found for an unknown path, as Go's mux", async () => {
    assertPlainError(await send(`${fixture.url}/v2/nothing`), 404, "404 page not found");
  });

  test("enrichment: received_at (server clock, int ms), client_ip, the persisted node id", async () => {
    const service = unique("enriched");
    const labels = { focus_type: "deep", duration_minutes: "25" };
    const sentMs = Date.now();
    const reply = await postServiceLogs(fixture.url, [
      { timestamp: 1766944995123, service, level: "WARN", message: "m1", labels, unknownField: "dropped" },
      { timestamp: 1766944995124, service, message: "m2" },
    ]);
    const answeredMs = Date.now();
    assert.equal(reply.status, 200, reply.text);
    const stored = await queryEntries(fixture.url, service, 10);
    assert.equal(stored.length, 2);
    const nodeId = nodeIdOf(fixture.server.dataDir);
    assert.ok(nodeId.length > 0 && nodeId !== "id-string-1", `node id ${nodeId}`);
    for (const record of stored) {
      assert.ok(Number.isSafeInteger(record.received_at), `received_at ${record.received_at}`);
      const receivedAt = record.received_at as number;
      assert.ok(
        receivedAt >= sentMs && receivedAt <= answeredMs,
        `received_at ${receivedAt} not in the request`,
      );
      assert.equal(record.client_ip, "127.0.0.1");
      assert.equal(record.ingested_node_id, nodeId);
    }
    const [first, second] = stored;
    assert.deepEqual(Object.keys(first), [
      "timestamp",
      "service",
      "level",
      "message",
      "labels",
      "received_at",
      "client_ip",
      "ingested_node_id",
    ]);
    assert.deepEqual(
      { ...first, received_at: 0 },
      {
        timestamp: 1766944995123,
        service,
        level: "WARN",
        message: "m1",
        labels,
        received_at: 0,
        client_ip: "127.0.0.1",
        ingested_node_id: nodeId,
      },
    );
    assert.deepEqual(Object.keys(second), [
      "timestamp",
      "service",
      "message",
      "received_at",
      "client_ip",
      "ingested_node_id",
    ]);
    assert.equal(second.message, "m2");
  });

  test("GET /v1/query returns the last N entries of the service, oldest first", async () => {
    const service = unique("ordered");
    const other = unique("ordered-other");
    const batch = (from: number, to: number) => {
      const entries = [];
      for (let i = from; i <= to; i++) entries.push({ timestamp: 1000 + i, service, message: `line ${i}` });
      return entries;
    };
    assert.equal((await postServiceLogs(fixture.url, batch(1, 3))).status, 200);
    assert.equal(
      (await postServiceLogs(fixture.url, [{ timestamp: 5, service: other, message: "x" }])).status,
      200,
    );
    assert.equal((await postServiceLogs(fixture.url, batch(4, 6))).status, 200);
    const messages = async (limit: number) =>
      (await queryEntries(fixture.url, service, limit)).map((record) => record.message);
    assert.deepEqual(await messages(4), ["line 3", "line 4", "line 5", "line 6"]);
    assert.deepEqual(await messages(1), ["line 6"]);
    assert.deepEqual(await messages(100), ["line 1", "line 2", "line 3", "line 4", "line 5", "line 6"]);
    assert.deepEqual(await messages(0), []);
    const reply = await queryService(fixture.url, service, 2);
    assert.match(reply.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(await queryEntries(fixture.url, unique("never-written"), 10), []);
  });

  test("entries read back exactly whichever way their body was written: compact, indented, escaped", async () => {
    // Compact bodies take the copying fast path (src/ingest/service-logs-scan.ts), indented ones
    // the JSON.parse path; a label named "\\" first poisons V8's key lookup (nodejs/node#63785),
    // after which JSON.parse alone would read the label "\n" back as "\\".
    const service = unique("escapes");
    const entries = [
      { timestamp: 1, service, message: "poison", labels: { k: "", "\\": "backslash" } },
      {
        timestamp: 2,
        service,
        level: "INFO",
        message: 'tab\t "quoted" \\ é 😀',
        labels: { k: "", "\n": "newline" },
      },
      { timestamp: 3, service, message: "plain", labels: {} },
    ];
    for (const body of [JSON.stringify(entries), JSON.stringify(entries, null, 2)]) {
      assert.equal((await postServiceLogs(fixture.url, body)).status, 200);
    }
    // Read with the strict parser: this test's own JSON.parse would misread the keys too.
    const reply = await queryService(fixture.url, service, 10);
    assert.equal(reply.status, 200);
    const stored = (parseJsonStrict(reply.text) as Array<Record<string, unknown>>).map(
      ({ timestamp, service, level, message, labels }) => ({
        timestamp,
        service,
        ...(level === undefined ? {} : { level }),
        message,
        labels,
      }),
    );
    assert.deepEqual(stored, [...entries, ...entries]);
  });

  test("GET /v1/query clamps a huge limit instead of failing", async () => {
    const reply = await queryService(fixture.url, "auth_service", "99999999999999999999999");
    assert.equal(reply.status, 200, reply.text);
    assert.ok(Array.isArray(JSON.parse(reply.text)));
  });

  const badLimits: Array<[string, string]> = [
    ["missing", "service=auth_service"],
    ["empty", "service=auth_service&limit="],
    ["not a number", "service=auth_service&limit=ten"],
    ["negative", "service=auth_service&limit=-1"],
    ["fractional", "service=auth_service&limit=1.5"],
    ["exponent", "service=auth_service&limit=1e3"],
    ["hex", "service=auth_service&limit=0x10"],
  ];
  for (const [name, search] of badLimits) {
    test(`400 invalid limit query param value: limit ${name}`, async () => {
      assertPlainError(
        await send(`${fixture.url}/v1/query?${search}`),
        400,
        "invalid limit query param value",
      );
    });
  }

  test("limit with a leading + is an integer to Go's strconv.Atoi: 200, as the reference", async () => {
    const reply = await send(`${fixture.url}/v1/query?service=auth_service&limit=%2B5`);
    assert.equal(reply.status, 200, reply.text);
  });

  test('tenancy: X-Scope-OrgID isolates writes and queries; no header is tenant "fake"', async () => {
    const service = unique("tenanted");
    const write = (message: string, headers: Record<string, string>) =>
      postServiceLogs(fixture.url, [{ timestamp: 1, service, message }], headers);
    assert.equal((await write("from team-a", { "x-scope-orgid": "team-a" })).status, 200);
    assert.equal((await write("from team-b", { "x-scope-orgid": "team-b" })).status, 200);
    assert.equal((await write("from nobody", {})).status, 200);
    const seenBy = async (headers: Record<string, string>) =>
      (await queryEntries(fixture.url, service, 10, headers)).map((record) => record.message);
    assert.deepEqual(await seenBy({ "x-scope-orgid": "team-a" }), ["from team-a"]);
    assert.deepEqual(await seenBy({ "x-scope-orgid": "team-b" }), ["from team-b"]);
    assert.deepEqual(await seenBy({}), ["from nobody"]);
    assert.deepEqual(await seenBy({ "x-scope-orgid": "fake" }), ["from nobody"]);
    assert.deepEqual(await seenBy({ "x-scope-orgid": "team-c" }), []);
  });

  test("an invalid X-Scope-OrgID is a plain-text 400 on both routes", async () => {
    for (const tenant of ["a/b", "x".repeat(151), ".."]) {
      const headers = { "x-scope-orgid": tenant };
      const written = await postServiceLogs(fixture.url, [entry("s")], headers);
      assertPlainError(written, 400, /X-Scope-OrgID/);
      assertPlainError(await queryService(fixture.url, "s", 1, headers), 400, /X-Scope-OrgID/);
    }
  });
});

// ===============================================================================================
describe("reference A: FNV-1a routing", () => {
  const fixture = serverFor();

  test("the test's own FNV-1a gives the reference's placement", () => {
    for (const [service, partition] of referencePlacement)
      assert.equal(fnv1a32(service) % 4, partition, service);
  });

  for (const [service, partition] of referencePlacement) {
    test(`${service} lands on partition ${partition} of 4`, async () => {
      const before = partitionLogBytes(fixture.server.dataDir, 4);
      const reply = await postServiceLogs(fixture.url, [
        entry(service),
        entry(service, { message: "again" }),
      ]);
      assert.equal(reply.status, 200, reply.text);
      const grown = partitionLogBytes(fixture.server.dataDir, 4)
        .map((bytes, p) => (bytes > before[p] ? p : -1))
        .filter((p) => p >= 0);
      assert.deepEqual(grown, [partition]);
    });
  }

  test("a mixed batch is split by service and every service reads back whole", async () => {
    const before = partitionLogBytes(fixture.server.dataDir, 4);
    const batch = referencePlacement.map(([service]) => entry(service, { message: `mixed ${service}` }));
    const reply = await postServiceLogs(fixture.url, batch);
    assert.equal(reply.text, '{"received":4}\n');
    const after = partitionLogBytes(fixture.server.dataDir, 4);
    for (let p = 0; p < 4; p++) assert.ok(after[p] > before[p], `partition ${p} did not grow`);
    for (const [service] of referencePlacement) {
      const stored = await queryEntries(fixture.url, service, 1);
      assert.equal(stored[0]?.message, `mixed ${service}`);
    }
  });
});

// ===============================================================================================
describe("configurable limits and partition count", () => {
  const partitions = 8;
  const fixture = serverFor([
    "--partitions",
    String(partitions),
    "--body-bytes-max",
    "4096",
    "--batch-entries-max",
    "5",
    "--labels-max",
    "2",
    "--line-bytes-max",
    "64",
    "--access-body-bytes-max",
    "2048",
    "--query-limit-max",
    "3",
    "--queue-requests-max",
    "1",
  ]);

  test("--partitions 8: each service lands on FNV-1a(service) % 8", async () => {
    const services = [...referencePlacement.map(([service]) => service), "billing", "search-api", "日本語"];
    for (const service of services) {
      const before = partitionLogBytes(fixture.server.dataDir, partitions);
      assert.equal((await postServiceLogs(fixture.url, [entry(service)])).status, 200);
      const grown = partitionLogBytes(fixture.server.dataDir, partitions)
        .map((bytes, p) => (bytes > before[p] ? p : -1))
        .filter((p) => p >= 0);
      assert.deepEqual(grown, [fnv1a32(service) % partitions], service);
    }
  });

  test("--body-bytes-max: at the limit 200, one byte over 413 (with and without content-length)", async () => {
    const json = JSON.stringify([entry(unique("body-limit"))]);
    const atLimit = await postServiceLogs(fixture.url, paddedTo(json, 4096));
    assert.equal(atLimit.status, 200, atLimit.text);
    const over = paddedTo(json, 4097);
    assertPlainError(await postServiceLogs(fixture.url, over), 413, /too large/);
    const chunked = await postChunked(`${fixture.url}/v1/logs`, { "content-type": "application/json" }, [
      Buffer.from(over.slice(0, 2000)),
      Buffer.from(over.slice(2000)),
    ]);
    assert.equal(chunked.status, 413, chunked.text);
    assert.equal(chunked.headers["content-type"], "text/plain; charset=utf-8");
  });

  test("--batch-entries-max: 5 entries pass, 6 get a 4xx naming the limit", async () => {
    const service = unique("batch-limit");
    const five = Array.from({ length: 5 }, () => ({ timestamp: 1, service, message: "m" }));
    assert.equal((await postServiceLogs(fixture.url, five)).text, '{"received":5}\n');
    const reply = await postServiceLogs(fixture.url, [...five, { timestamp: 1, service, message: "m" }]);
    assert.ok(reply.status === 413 || reply.status === 400, `status ${reply.status}`);
    assertPlainError(reply, reply.status, /\b5\b/);
  });

  test("--labels-max: 2 labels pass, 3 get a 400 naming index and labels", async () => {
    const service = unique("labels-limit");
    const two = { a: "1", b: "2" };
    assert.equal((await postServiceLogs(fixture.url, [entry(service, { labels: two })])).status, 200);
    const reply = await postServiceLogs(fixture.url, [
      entry(service),
      entry(service, { labels: { ...two, c: "3" } }),
    ]);
    assertPlainError(reply, 400, /index 1\b.*label/);
  });

  test("--line-bytes-max: counts UTF-8 bytes of the message; over the limit is a 400 naming index and message", async () => {
    const service = unique("line-limit");
    assert.equal(
      (await postServiceLogs(fixture.url, [entry(service, { message: "x".repeat(64) })])).status,
      200,
    );
    assert.equal(
      (await postServiceLogs(fixture.url, [entry(service, { message: "é".repeat(32) })])).status,
      200,
    );
    for (const message of ["x".repeat(65), "é".repeat(33)]) {
      const reply = await postServiceLogs(fixture.url, [entry(service), entry(service, { message })]);
      assertPlainError(reply, 400, /index 1\b.*message/);
    }
  });

  test("--access-body-bytes-max 2048: at the limit 202, one byte over 400 batch too large", async () => {
    const json = JSON.stringify([accessEntry()]);
    const atLimit = await postAccessLogs(fixture.url, paddedTo(json, 2048), {
      "idempotency-key": unique("k"),
    });
    assert.equal(atLimit.status, 202, atLimit.text);
    const over = await postAccessLogs(fixture.url, paddedTo(json, 2049), { "idempotency-key": unique("k") });
    assertAccessError(over, { ...invalidArgument, description: "batch too large: must be <= 2KB" });
  });

  test("--query-limit-max 3: a larger limit returns the last 3", async () => {
    const service = unique("query-limit");
    const entries = [1, 2, 3, 4, 5].map((i) => ({ timestamp: i, service, message: `m${i}` }));
    assert.equal((await postServiceLogs(fixture.url, entries)).status, 200);
    const stored = await queryEntries(fixture.url, service, 10);
    assert.deepEqual(
      stored.map((record) => record.message),
      ["m3", "m4", "m5"],
    );
  });
  test("--queue-requests-max 1: while one upload is in flight, others get 429 + Retry-After; then 200 again", async () => {
    const service = unique("queue");
    const body = JSON.stringify([{ timestamp: 1, service, message: "held" }]);
    const socket = net.connect(fixture.server.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    const answer = new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk;
      });
      socket.on("close", () => resolve(text));
    });
    socket.write(
      `POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );
    try {
      // Wait until the slow request holds the only queue slot (not a fixed sleep: CI machines are slow).
      for (let deadline = Date.now() + 10_000; Date.now() < deadline; ) {
        const metrics = await (await fetch(`${fixture.url}/metrics`)).text();
        if (/^sluice_ingest_queue_requests 1$/m.test(metrics)) break;
        await new Promise((wake) => setTimeout(wake, 20));
      }
      const refused = await postServiceLogs(fixture.url, [entry(unique("queue-other"))]);
      assertPlainError(refused, 429, /retry/);
      assert.match(refused.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
      const refusedAccess = await postAccessLogs(fixture.url, [accessEntry()], {
        "idempotency-key": unique("q"),
      });
      assertAccessError(refusedAccess, { status: 429, category: "resource_exhausted", code: "ING_1002" });
      assert.match(refusedAccess.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    } finally {
      socket.write(body.slice(10)); // not end(): Node aborts a request whose client half-closes
    }
    assert.match(await answer, /^HTTP\/1\.1 200 [\s\S]*\{"received":1\}\n$/);
    assert.equal((await postServiceLogs(fixture.url, [entry(service)])).status, 200);
    assert.equal((await queryEntries(fixture.url, service, 10)).length, 2);
  });
});

// ===============================================================================================
describe("reference B: POST /logs", () => {
  const fixture = serverFor();
  const post = (
    body: string | Uint8Array | readonly unknown[],
    headers: Record<string, string | null> = {},
  ) => postAccessLogs(fixture.url, body, { "idempotency-key": unique("batch"), ...headers });

  test("202 Accepted with an empty body", async () => {
    const reply = await post([accessEntry(), accessEntry({ path: "/" })]);
    assert.equal(reply.status, 202, reply.text);
    assert.equal(reply.text, "");
  });

  const headerCases: Array<{ name: string; headers: Record<string, string | null>; description?: string }> = [
    {
      name: "x-customer-id missing",
      headers: { "x-customer-id": null },
      description: "customerID is required",
    },
    {
      name: "x-customer-id blank",
      headers: { "x-customer-id": "   " },
      description: "customerID is required",
    },
    { name: "content-type missing", headers: { "content-type": null } },
    { name: "content-type text/plain", headers: { "content-type": "text/plain" } },
    { name: "content-type form", headers: { "content-type": "application/x-www-form-urlencoded" } },
  ];
  for (const { name, headers, description } of headerCases) {
    test(`400 invalid_argument ING_1000: ${name}`, async () => {
      const body = Buffer.from(JSON.stringify([accessEntry()]));
      assertAccessError(await post(body, headers), { ...invalidArgument, description });
    });
  }

  test("a content-type that contains json is enough", async () => {
    for (const contentType of ["application/json; charset=utf-8", "application/vnd.api+json", "text/json"]) {
      const reply = await post([accessEntry()], { "content-type": contentType });
      assert.equal(reply.status, 202, `${contentType}: ${reply.text}`);
    }
  });

  const bodyCases: Array<{ name: string; body: string | Buffer; description: string | RegExp }> = [
    { name: "truncated json", body: '[{"receivedAt":', description: "invalid json" },
    { name: "an object", body: JSON.stringify(accessEntry()), description: "invalid json" },
    { name: "a string", body: '"x"', description: "invalid json" },
    {
      name: "invalid UTF-8",
      body: Buffer.from([0x5b, 0x22, 0xc0, 0xaf, 0x22, 0x5d]),
      description: "invalid json",
    },
    { name: "an empty array", body: "[]", description: "log entries cannot be empty" },
    {
      name: "index 3 missing receivedAt",
      body: JSON.stringify([
        accessEntry(),
        accessEntry(),
        accessEntry(),
        { ...accessEntry(), receivedAt: undefined },
      ]),
      description: "item at index 3: missing receivedAt",
    },
    {
      name: "missing method",
      body: JSON.stringify([{ ...accessEntry(), method: undefined }]),
      description: "item at index 0: missing method",
    },
    {
      name: "missing path",
      body: JSON.stringify([accessEntry(), { ...accessEntry(), path: undefined }]),
      description: "item at index 1: missing path",
    },
    {
      name: "missing userAgent",
      body: JSON.stringify([{ ...accessEntry(), userAgent: undefined }]),
      description: "item at index 0: missing userAgent",
    },
    {
      name: "method a number",
      body: JSON.stringify([accessEntry({ method: 5 })]),
      description: /^item at index 0: .*method/,
    },
    {
      name: "receivedAt a number",
      body: JSON.stringify([accessEntry({ receivedAt: 1766944995000 })]),
      description: /^item at index 0: .*receivedAt/,
    },
    {
      name: "receivedAt without a zone",
      body: JSON.stringify([accessEntry({ receivedAt: "2025-12-28T18:03:15" })]),
      description: /^item at index 0: .*receivedAt/,
    },
    {
      name: "receivedAt month 13",
      body: JSON.stringify([accessEntry({ receivedAt: "2025-13-28T18:03:15Z" })]),
      description: /^item at index 0: .*receivedAt/,
    },
    {
      name: "receivedAt February 30",
      body: JSON.stringify([accessEntry({ receivedAt: "2025-02-30T18:03:15Z" })]),
      description: /^item at index 0: .*receivedAt/,
    },
    {
      name: "receivedAt free text",
      body: JSON.stringify([accessEntry({ receivedAt: "yesterday" })]),
      description: /^item at index 0: .*receivedAt/,
    },
    {
      name: "path of 2049 characters",
      body: JSON.stringify([accessEntry({ path: `/${"p".repeat(2048)}` })]),
      description: /^item at index 0: .*path/,
    },
    {
      name: "userAgent of 1025 characters",
      body: JSON.stringify([accessEntry({ userAgent: "u".repeat(1025) })]),
      description: /^item at index 0: .*userAgent/,
    },
  ];
  for (const { name, body, description } of bodyCases) {
    test(`400 invalid_argument ING_1000: ${name}`, async () => {
      assertAccessError(await post(body), { ...invalidArgument, description });
    });
  }

  const acceptedCases: Array<[string, Record<string, unknown>]> = [
    ["receivedAt with milliseconds", { receivedAt: "2025-12-28T18:03:15.000Z" }],
    ["receivedAt without fraction", { receivedAt: "2025-12-28T18:03:15Z" }],
    ["receivedAt with nanoseconds", { receivedAt: "2025-12-28T18:03:15.123456789Z" }],
    ["receivedAt with an offset", { receivedAt: "2025-12-28T19:03:15+01:00" }],
    ["method lower case with spaces", { method: "  get " }],
    ["path of exactly 2048 characters", { path: `/${"p".repeat(2047)}` }],
    ["path of 2048 characters once trimmed", { path: `   /${"p".repeat(2047)}   ` }],
    ["userAgent of exactly 1024 characters", { userAgent: "u".repeat(1024) }],
    ["userAgent of 1024 characters once trimmed", { userAgent: ` ${"u".repeat(1024)}\t` }],
  ];
  for (const [name, overrides] of acceptedCases) {
    test(`202 for ${name}`, async () => {
      const reply = await post([accessEntry(overrides)]);
      assert.equal(reply.status, 202, reply.text);
    });
  }

  test("2 MB limit: a body of exactly 2 MiB is accepted, one byte more is batch too large", async () => {
    const entries = Array.from({ length: 2000 }, (_, i) => accessEntry({ path: `/page/${i}` }));
    const json = JSON.stringify(entries);
    assert.equal((await post(paddedTo(json, 2 * MiB))).status, 202);
    assertAccessError(await post(paddedTo(json, 2 * MiB + 1)), {
      ...invalidArgument,
      description: "batch too large: must be <= 2MB",
    });
  });

  test("2 MB limit holds for a chunked body without content-length", async () => {
    const requestId = unique("chunked-request");
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const reply = await postChunked(
      `${fixture.url}/logs`,
      { "content-type": "application/json", "x-customer-id": "cus-axon", "x-request-id": requestId },
      [Buffer.from("["), ...Array.from({ length: 12 }, () => chunk), Buffer.from("]")],
    );
    assert.equal(reply.status, 400, reply.text);
    assert.deepEqual(JSON.parse(reply.text), {
      requestId,
      errorCategory: "invalid_argument",
      errorCode: "ING_1000",
      errorDescription: "batch too large: must be <= 2MB",
    });
    assert.equal(reply.headers["x-request-id"], requestId);
  });

  test("x-request-id is echoed on 202, 400 and 409", async () => {
    const key = unique("echo");
    const accepted = await post([accessEntry()], {
      "idempotency-key": key,
      "x-request-id": "req-accepted-1",
    });
    assert.equal(accepted.status, 202);
    assert.equal(accepted.headers.get("x-request-id"), "req-accepted-1");
    const rejected = await post("[]", { "x-request-id": "req-rejected-1" });
    assert.equal(assertAccessError(rejected, invalidArgument).requestId, "req-rejected-1");
    const repeated = await post([accessEntry()], { "idempotency-key": key, "x-request-id": "req-repeat-1" });
    assert.equal(assertAccessError(repeated, conflict).requestId, "req-repeat-1");
    const noCustomer = await post([accessEntry()], {
      "x-customer-id": null,
      "x-request-id": "req-no-customer",
    });
    assert.equal(assertAccessError(noCustomer, invalidArgument).requestId, "req-no-customer");
  });

  test("x-request-id is generated when absent: present, unique, the same in header and body", async () => {
    const accepted = [await post([accessEntry()]), await post([accessEntry()])];
    const ids = accepted.map((reply) => reply.headers.get("x-request-id") ?? "");
    for (const id of ids) assert.match(id, /^\S{8,}$/);
    assert.notEqual(ids[0], ids[1]);
    const rejected = assertAccessError(await post("[]"), invalidArgument);
    assert.ok(!ids.includes(rejected.requestId));
  });

  test("409 resource_conflict ING_1001 for a repeated idempotency-key of the same customer", async () => {
    const key = unique("batch");
    const body = [accessEntry()];
    assert.equal((await post(body, { "idempotency-key": key })).status, 202);
    assertAccessError(await post(body, { "idempotency-key": key }), {
      ...conflict,
      description: "log batch already processed",
    });
    // A different body under the same key is still the same batch id.
    assertAccessError(await post([accessEntry({ path: "/other" })], { "idempotency-key": key }), {
      ...conflict,
      description: "log batch already processed",
    });
  });

  test("the same idempotency-key from another customer is a different batch: 202", async () => {
    const key = unique("shared-key");
    for (const customer of ["cus-axon", "cus-borealis", "cus-cygnus"]) {
      const reply = await post([accessEntry()], { "idempotency-key": key, "x-customer-id": customer });
      assert.equal(reply.status, 202, `${customer}: ${reply.text}`);
    }
    assert.equal(
      (await post([accessEntry()], { "idempotency-key": key, "x-customer-id": "cus-axon" })).status,
      409,
    );
  });

  test("a rejected batch does not use up its idempotency-key", async () => {
    const key = unique("retry-after-400");
    assert.equal((await post("[]", { "idempotency-key": key })).status, 400);
    assert.equal((await post([accessEntry({ method: 1 })], { "idempotency-key": key })).status, 400);
    assert.equal((await post([accessEntry()], { "idempotency-key": key })).status, 202);
  });

  test("without an idempotency-key each request is its own batch", async () => {
    const body = [accessEntry()];
    assert.equal((await post(body, { "idempotency-key": null })).status, 202);
    assert.equal((await post(body, { "idempotency-key": null })).status, 202);
  });

  test("two identical requests racing: exactly one 202 and one 409 (20 races at once)", async () => {
    const races = Array.from({ length: 20 }, async () => {
      const headers = { "idempotency-key": unique("race"), "x-customer-id": "cus-race" };
      const body = JSON.stringify([accessEntry(), accessEntry({ path: "/careers" })]);
      const replies = await Promise.all([post(body, headers), post(body, headers)]);
      return replies.map((reply) => reply.status).sort();
    });
    for (const statuses of await Promise.all(races)) assert.deepEqual(statuses, [202, 409]);
  });
});

// ===============================================================================================
describe("idempotency and data survive restarts on the same data dir", () => {
  const dataDir = temporaryDataDir();
  let server: ServerProcess | undefined;
  let nodeId = "";
  const customer = "cus-restart";
  const acknowledgedKeys: string[] = [];
  const serviceMessages: string[] = [];

  const postBatch = (key: string, customerId = customer, extra: Record<string, string> = {}) =>
    postAccessLogs(server!.url, [accessEntry()], {
      "idempotency-key": key,
      "x-customer-id": customerId,
      ...extra,
    });
  const postLine = async (message: string) => {
    const reply = await postServiceLogs(server!.url, [
      { timestamp: serviceMessages.length, service: "restart_service", message },
    ]);
    assert.equal(reply.status, 200, reply.text);
    serviceMessages.push(message);
  };
  const assertAllRepeatsConflict = async () => {
    const replies = await Promise.all(acknowledgedKeys.map((key) => postBatch(key)));
    replies.forEach((reply, i) => {
      assert.equal(
        reply.status,
        409,
        `key ${acknowledgedKeys[i]} after restart: ${reply.status} ${reply.text}`,
      );
      assertAccessError(reply, { ...conflict, description: "log batch already processed" });
    });
  };
  const assertServiceLinesKept = async () => {
    const stored = await queryEntries(server!.url, "restart_service", 1000);
    assert.deepEqual(
      stored.map((record) => record.message),
      serviceMessages,
    );
    for (const record of stored) assert.equal(record.ingested_node_id, nodeId);
  };

  before(async () => {
    server = await startServerProcess({ dataDir });
    nodeId = nodeIdOf(dataDir);
  });
  after(async () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) await server.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test("after SIGTERM (exit 0): repeats get 409, other customers and new keys 202, same node id", async () => {
    for (let i = 1; i <= 5; i++) {
      const key = `batch-${String(i).padStart(6, "0")}`;
      assert.equal((await postBatch(key)).status, 202);
      acknowledgedKeys.push(key);
    }
    await postLine("before SIGTERM");
    assert.equal(await server!.stop(), 0, "SIGTERM exit code");
    server = await startServerProcess({ dataDir });
    assert.equal(nodeIdOf(dataDir), nodeId, "node id changed across a restart");
    await assertAllRepeatsConflict();
    assert.equal((await postBatch(acknowledgedKeys[0], "cus-other")).status, 202);
    assert.equal((await postBatch("batch-000006")).status, 202);
    acknowledgedKeys.push("batch-000006");
    await postLine("after SIGTERM restart");
    await assertServiceLinesKept();
  });

  test("after SIGKILL right after the acks: every acknowledged key still gets 409", async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `kill-batch-${String(i).padStart(6, "0")}`);
    const replies = await Promise.all(keys.map((key) => postBatch(key)));
    for (const [i, reply] of replies.entries()) assert.equal(reply.status, 202, `${keys[i]}: ${reply.text}`);
    acknowledgedKeys.push(...keys);
    await postLine("just before SIGKILL");
    await server!.kill();
    server = await startServerProcess({ dataDir });
    assert.equal(nodeIdOf(dataDir), nodeId);
    await assertAllRepeatsConflict();
    assert.equal((await postBatch("after-kill-new-key")).status, 202);
    await assertServiceLinesKept();
  });

  test("a batch is stored normalised (method upper-cased, fields trimmed) with its request id", async () => {
    const key = "normalised-batch";
    const reply = await postAccessLogs(
      server!.url,
      [
        accessEntry({
          receivedAt: " 2025-12-28T18:03:15.250Z ",
          method: " get ",
          path: "  /about  ",
          userAgent: "\tcurl/8.5.0 ",
        }),
      ],
      { "idempotency-key": key, "x-customer-id": customer, "x-request-id": "req-normalised" },
    );
    assert.equal(reply.status, 202, reply.text);
    assert.equal(await server!.stop(), 0);
    const log = PartitionLog.open({
      directory: path.join(dataDir, "topics", "access"),
      partitionCount: 4,
      compressionThreads: 0,
    });
    try {
      // Key: customer, idempotency key and request id; value: the body as received, which the
      // analytics consumer decodes and normalises with the ingest path's own code.
      const wanted = Buffer.from(`${customer}\n${key}\nreq-normalised`);
      const found = log.readLast(fnv1a32(customer) % 4, 1, (record) => wanted.equals(record.key));
      assert.equal(found.length, 1, "the batch is not in the customer's partition");
      assert.deepEqual(decodeAccessBatch(found[0].value), [
        {
          receivedAtMs: Date.parse("2025-12-28T18:03:15.250Z"),
          method: "GET",
          path: "/about",
          userAgent: "curl/8.5.0",
        },
      ]);
    } finally {
      await log.close();
    }
  });
});

// ===============================================================================================
describe("per-tenant rate limits", () => {
  // Whether a second request is refused must not depend on how fast this machine sends it. At 1
  // record (or byte) per second, a first request of N records passes (the bucket is full) and leaves
  // N − 1 seconds of debt: with N in the thousands, the refill while a test runs is provably
  // irrelevant. The bucket arithmetic itself is tested against a fake clock (tenant-limits.test.ts).
  const records = serverFor(["--tenant-records-per-s", "1"]);
  const bytes = serverFor(["--tenant-bytes-per-s", "1"]);
  const debtRecords = 3600; // an hour of debt at 1 record/s
  const lines = (count: number, tenant: string) =>
    Array.from({ length: count }, (_, i) => ({
      timestamp: i,
      service: `svc-${tenant}`,
      message: `line ${i}`,
    }));

  function assertRetryAfter(reply: Reply): number {
    const retryAfter = reply.headers.get("retry-after");
    assert.match(retryAfter ?? "", /^[1-9]\d*$/, `Retry-After ${retryAfter}`);
    const waitS = Number(retryAfter);
    assert.ok(waitS <= 60, `Retry-After ${waitS} is capped at 60`);
    return waitS;
  }

  test("records/s on /v1/logs: over the limit is a plain-text 429 with Retry-After", async () => {
    const headers = { "x-scope-orgid": "rate-records" };
    assert.equal((await postServiceLogs(records.url, lines(debtRecords, "r"), headers)).status, 200);
    const limited = await postServiceLogs(records.url, lines(5, "r"), headers);
    assertPlainError(limited, 429, /rate/);
    assertRetryAfter(limited);
  });

  test("records/s on /v1/logs: a retry after Retry-After passes (checked whenever the 429 came)", async (t) => {
    // Here the debt is short, so that waiting it out is quick; the 429 is then certain only if the
    // second request landed within 3 s of the first, which the client can bound from outside.
    const headers = { "x-scope-orgid": "rate-retry" };
    const startedMs = performance.now();
    assert.equal((await postServiceLogs(records.url, lines(3, "t"), headers)).status, 200);
    const second = await postServiceLogs(records.url, lines(1, "t"), headers);
    const elapsedMs = performance.now() - startedMs;
    if (second.status !== 429) {
      assert.equal(second.status, 200, second.text);
      assert.ok(elapsedMs >= 3000, `200 within ${Math.round(elapsedMs)} ms of 3 records at 1/s`);
      t.diagnostic(`the machine took ${Math.round(elapsedMs)} ms for two requests: no 429 to retry`);
      return;
    }
    const waitS = assertRetryAfter(second);
    assert.ok(waitS <= 3, `Retry-After ${waitS} for 3 records at 1/s`);
    await new Promise((wake) => setTimeout(wake, waitS * 1000 + 100));
    assert.equal((await postServiceLogs(records.url, lines(1, "t"), headers)).status, 200);
  });

  test("one tenant over its limit does not limit another (nor the default tenant)", async () => {
    const limitedHeaders = { "x-scope-orgid": "rate-noisy" };
    assert.equal((await postServiceLogs(records.url, lines(debtRecords, "n"), limitedHeaders)).status, 200);
    assert.equal((await postServiceLogs(records.url, lines(5, "n"), limitedHeaders)).status, 429);
    assert.equal(
      (await postServiceLogs(records.url, lines(5, "q"), { "x-scope-orgid": "rate-quiet" })).status,
      200,
    );
    assert.equal((await postServiceLogs(records.url, lines(5, "d"))).status, 200);
  });

  test("bytes/s on /v1/logs: a second body after a large one gets 429 with Retry-After", async () => {
    const headers = { "x-scope-orgid": "rate-bytes" };
    const big = [{ timestamp: 1, service: "bytes", message: "b".repeat(3800) }]; // ~an hour at 1 byte/s
    assert.equal((await postServiceLogs(bytes.url, big, headers)).status, 200);
    const limited = await postServiceLogs(bytes.url, lines(1, "b"), headers);
    assertPlainError(limited, 429, /rate/);
    assertRetryAfter(limited);
  });

  test("records/s on /logs per customer: 429 in the JSON error model with Retry-After; the key stays usable", async () => {
    const customer = "cus-rate";
    const large = Array.from({ length: debtRecords }, (_, i) => accessEntry({ path: `/p${i}` }));
    const batch = Array.from({ length: 5 }, (_, i) => accessEntry({ path: `/p${i}` }));
    const first = await postAccessLogs(records.url, large, {
      "x-customer-id": customer,
      "idempotency-key": "rate-1",
    });
    assert.equal(first.status, 202, first.text);
    const limited = await postAccessLogs(records.url, batch, {
      "x-customer-id": customer,
      "idempotency-key": "rate-2",
    });
    assert.equal(limited.status, 429, limited.text);
    const error = assertAccessError(limited, {
      status: 429,
      category: "resource_exhausted",
      code: "ING_1002",
    });
    assert.ok(error.errorDescription.length > 0);
    assertRetryAfter(limited);
    // The 429 did not use up the key: a repeat is checked before the rate, so the same key again is
    // refused by the rate (429), not as a duplicate (409); another customer may use it at once.
    const again = await postAccessLogs(records.url, batch, {
      "x-customer-id": customer,
      "idempotency-key": "rate-2",
    });
    assert.equal(again.status, 429, `the 429 used up the idempotency key: ${again.text}`);
    const other = await postAccessLogs(records.url, batch, {
      "x-customer-id": "cus-rate-other",
      "idempotency-key": "rate-2",
    });
    assert.equal(other.status, 202, other.text);
    const repeat = await postAccessLogs(records.url, large, {
      "x-customer-id": customer,
      "idempotency-key": "rate-1",
    });
    assert.equal(repeat.status, 409, "a repeat costs no rate: it is answered 409 even over the limit");
  });
});

// ===============================================================================================
describe("operations: /metrics, /ready, /healthz", () => {
  const fixture = serverFor();

  test("GET /ready is 200 once serving, GET /healthz is 200", async () => {
    const ready = await send(`${fixture.url}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(ready.text.trim(), "ready");
    const healthz = await send(`${fixture.url}/healthz`);
    assert.equal(healthz.status, 200);
  });

  test("GET /metrics is Prometheus text and counts requests, ingested records and bytes, rejections", async () => {
    const raw = await send(`${fixture.url}/metrics`);
    assert.equal(raw.status, 200);
    assert.match(raw.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    for (const name of [
      "sluice_http_requests_total",
      "sluice_ingested_records_total",
      "sluice_ingested_bytes_total",
      "sluice_rejected_requests_total",
    ])
      assert.match(raw.text, new RegExp(`^# TYPE ${name} counter$`, "m"));
    const before = await scrape(fixture.url);

    const serviceBody = JSON.stringify([
      entry("metrics_service"),
      entry("metrics_service"),
      entry("metrics_service"),
    ]);
    assert.equal(
      (await postServiceLogs(fixture.url, serviceBody, { "x-scope-orgid": "metrics-tenant" })).status,
      200,
    );
    assert.equal((await postServiceLogs(fixture.url, "")).status, 400);
    const accessBody = JSON.stringify([accessEntry(), accessEntry()]);
    const accessHeaders = { "x-customer-id": "cus-metrics", "idempotency-key": "metrics-1" };
    assert.equal((await postAccessLogs(fixture.url, accessBody, accessHeaders)).status, 202);
    assert.equal((await postAccessLogs(fixture.url, accessBody, accessHeaders)).status, 409);

    const afterScrape = await scrape(fixture.url);
    const delta = (name: string, labels: Record<string, string>) =>
      metricValue(afterScrape, name, labels) - metricValue(before, name, labels);
    assert.equal(delta("sluice_ingested_records_total", { route: "/v1/logs", tenant: "metrics-tenant" }), 3);
    assert.equal(
      delta("sluice_ingested_bytes_total", { route: "/v1/logs", tenant: "metrics-tenant" }),
      Buffer.byteLength(serviceBody),
    );
    assert.equal(delta("sluice_ingested_records_total", { route: "/logs", tenant: "cus-metrics" }), 2);
    assert.equal(
      delta("sluice_http_requests_total", { route: "/v1/logs", method: "POST", status: "200" }),
      1,
    );
    assert.equal(
      delta("sluice_http_requests_total", { route: "/v1/logs", method: "POST", status: "400" }),
      1,
    );
    assert.equal(delta("sluice_http_requests_total", { route: "/logs", method: "POST", status: "202" }), 1);
    assert.equal(delta("sluice_http_requests_total", { route: "/logs", method: "POST", status: "409" }), 1);
    assert.equal(delta("sluice_rejected_requests_total", { route: "/logs", reason: "duplicate_batch" }), 1);
    assert.equal(delta("sluice_rejected_requests_total", { route: "/v1/logs", reason: "empty_body" }), 1);
  });
});
