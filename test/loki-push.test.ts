// Contract of POST /loki/api/v1/push (JSON) over a real `sluice serve` child process on loopback:
// 204 once durable, Loki's plain-text errors and statuses for each refusal (bad JSON, invalid UTF-8,
// bad nanosecond strings, invalid labels, a gzip bomb, a huge body, a wrong Content-Type, too many
// streams), gzip bodies, the lines read back through /loki/api/v1/query_range and GET /v1/query,
// tenant isolation, and the real pino-loki library as the client.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import zlib from "node:zlib";
import pino from "pino";
import { pinoLoki } from "pino-loki";
import winston from "winston";
import LokiTransport from "winston-loki";
import { assertPlainError, type Reply, send } from "./support/http-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

const baseNs = BigInt(Date.now() - 10 * 60_000) * 1_000_000n;

function push(url: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Reply> {
  return send(`${url}/loki/api/v1/push`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

function pushBody(streams: { stream: Record<string, string>; values: unknown[][] }[]): string {
  return JSON.stringify({ streams });
}

interface QueryStream {
  stream: Record<string, string>;
  values: [string, string][];
}

/** query_range over the last 15 minutes (every line of these tests). */
async function queryRange(url: string, query: string, tenant?: string): Promise<QueryStream[]> {
  const params = new URLSearchParams({ query, since: "15m", limit: "1000" });
  const reply = await send(`${url}/loki/api/v1/query_range?${params}`, {
    headers: tenant === undefined ? {} : { "x-scope-orgid": tenant },
  });
  assert.equal(reply.status, 200, reply.text);
  return JSON.parse(reply.text).data.result;
}

describe("POST /loki/api/v1/push", () => {
  let server: ServerProcess;
  let url: string;
  before(async () => {
    server = await startServerProcess({
      args: ["--body-bytes-max", "65536", "--decoded-bytes-max", "262144", "--streams-per-tenant-max", "3"],
    });
    url = server.url;
  });
  after(async () => {
    await server.stop();
  });

  test("204 with an empty body once stored; the lines come back through query_range with ns timestamps", async () => {
    const reply = await push(
      url,
      pushBody([
        {
          stream: { service_name: "checkout", env: "prod" },
          values: [
            [`${baseNs + 1n}`, "order placed"],
            [`${baseNs + 2n}`, "order paid", { trace_id: "abc" }],
          ],
        },
      ]),
      { "x-scope-orgid": "shop" },
    );
    assert.equal(reply.status, 204, reply.text);
    assert.equal(reply.text, "");
    const result = await queryRange(url, '{service_name="checkout"}', "shop");
    // Structured metadata shows as labels of the answer's stream, as in Loki 3 (two streams here).
    const byLine = new Map(
      result.flatMap((s) => s.values.map(([ts, line]) => [line, { ts, stream: s.stream }])),
    );
    assert.deepEqual(byLine.get("order placed"), {
      ts: `${baseNs + 1n}`,
      stream: { env: "prod", service_name: "checkout" },
    });
    assert.deepEqual(byLine.get("order paid"), {
      ts: `${baseNs + 2n}`,
      stream: { env: "prod", service_name: "checkout", trace_id: "abc" },
    });
    const filtered = await queryRange(url, '{env="prod"} |= "paid"', "shop");
    assert.deepEqual(
      filtered.flatMap((stream) => stream.values.map(([, line]) => line)),
      ["order paid"],
    );
  });

  test("tenants are isolated: another tenant and the default tenant see nothing of it", async () => {
    assert.deepEqual(await queryRange(url, '{service_name="checkout"}', "other"), []);
    assert.deepEqual(await queryRange(url, '{service_name="checkout"}'), []);
  });

  test("a gzip body is inflated; GET /v1/query reads the lines as reference A entries", async () => {
    const body = zlib.gzipSync(
      pushBody([
        { stream: { service: "gz", level: "warn" }, values: [[`${baseNs + 5_000_000n}`, "zipped"]] },
      ]),
    );
    const reply = await push(url, body, { "content-encoding": "gzip", "x-scope-orgid": "shop" });
    assert.equal(reply.status, 204, reply.text);
    const entries = await send(`${url}/v1/query?service=gz&limit=10`, {
      headers: { "x-scope-orgid": "shop" },
    });
    assert.equal(entries.status, 200);
    const [entry] = JSON.parse(entries.text);
    assert.equal(entry.timestamp, Number((baseNs + 5_000_000n) / 1_000_000n));
    assert.deepEqual([entry.service, entry.level, entry.message], ["gz", "warn", "zipped"]);
    assert.deepEqual(entry.labels, { service_name: "gz" });
  });

  test("400 for bad input, each with its plain-text message", async () => {
    const cases: [string, string | Uint8Array, RegExp][] = [
      ["not JSON", "{", /^invalid json: /],
      ["empty body", "", /^empty body$/m],
      ["no streams array", "{}", /streams/],
      ["invalid UTF-8", Buffer.from([0x7b, 0xff, 0x7d]), /^body is not valid UTF-8$/m],
      [
        "a lone surrogate in a line",
        '{"streams":[{"stream":{"a":"1"},"values":[["1","\\ud800"]]}]}',
        /not valid UTF-8/,
      ],
      [
        "a non-numeric ns string",
        pushBody([{ stream: { a: "1" }, values: [["12a", "x"]] }]),
        /Unix nanoseconds/,
      ],
      ["a number for the ns", pushBody([{ stream: { a: "1" }, values: [[12, "x"]] }]), /Unix nanoseconds/],
      ["a negative ns string", pushBody([{ stream: { a: "1" }, values: [["-5", "x"]] }]), /Unix nanoseconds/],
      [
        "a 20-digit ns string",
        pushBody([{ stream: { a: "1" }, values: [["10000000000000000000", "x"]] }]),
        /Unix nanoseconds/,
      ],
      [
        "an invalid label name",
        pushBody([{ stream: { "a-b": "1" }, values: [["1", "x"]] }]),
        /invalid label name/,
      ],
      ["no labels", pushBody([{ stream: {}, values: [["1", "x"]] }]), /at least one label/],
      ["a corrupt gzip body", "not gzip", /invalid gzip body/],
    ];
    for (const [name, body, message] of cases) {
      const reply = await push(
        url,
        body,
        name === "a corrupt gzip body" ? { "content-encoding": "gzip" } : {},
      );
      assert.equal(reply.status, 400, `${name}: ${reply.text}`);
      assertPlainError(reply, 400, message);
    }
  });

  test("413 for a gzip bomb and for a body over the limit", async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20)); // ~10 KB inflating to 10 MiB
    assert.ok(bomb.length < 65536);
    assertPlainError(
      await push(url, bomb, { "content-encoding": "gzip" }),
      413,
      /inflates past the limit of 262144/,
    );
    assertPlainError(await push(url, "x".repeat(70_000)), 413, /request body too large: the limit is 65536/);
  });

  test("415 for a Content-Type or Content-Encoding it does not decode", async () => {
    const body = pushBody([{ stream: { a: "1" }, values: [["1", "x"]] }]);
    assertPlainError(
      await push(url, body, { "content-type": "text/plain" }),
      415,
      /unsupported Content-Type "text\/plain"/,
    );
    assertPlainError(
      await push(url, body, { "content-encoding": "br" }),
      415,
      /unsupported Content-Encoding "br"/,
    );
  });

  test("429 with Retry-After past the active streams per tenant; known streams still pass", async () => {
    const streams = (n: number) =>
      pushBody(
        Array.from({ length: n }, (_, i) => ({ stream: { job: `j${i}` }, values: [[`${baseNs}`, "x"]] })),
      );
    assert.equal((await push(url, streams(3), { "x-scope-orgid": "many" })).status, 204);
    const refused = await push(url, streams(4), { "x-scope-orgid": "many" });
    assertPlainError(refused, 429, /over its limit of 3 active streams/);
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    assert.equal((await push(url, streams(3), { "x-scope-orgid": "many" })).status, 204);
    assert.equal((await push(url, streams(1), { "x-scope-orgid": "few" })).status, 204, "per tenant");
  });

  test("400 for an invalid X-Scope-OrgID", async () => {
    assertPlainError(
      await push(url, pushBody([{ stream: { a: "1" }, values: [["1", "x"]] }]), { "x-scope-orgid": "a/b" }),
      400,
      /invalid X-Scope-OrgID/,
    );
  });

  test("the winston-loki library pushes protobuf + snappy lines that query_range finds", async () => {
    const errors: unknown[] = [];
    const transport = new LokiTransport({
      host: url,
      headers: { "X-Scope-OrgID": "winston-tenant" },
      labels: { app: "winston-app" },
      batching: true,
      interval: 0.2,
      json: false,
      onConnectionError: (error: unknown) => errors.push(error),
    });
    const logger = winston.createLogger({ transports: [transport] });
    logger.info("payment accepted");
    logger.warn("card declined: ünïcode ✓");
    try {
      const deadline = Date.now() + 10_000;
      let lines: string[] = [];
      while (Date.now() < deadline) {
        const result = await queryRange(url, '{app="winston-app"}', "winston-tenant");
        lines = result.flatMap((s) => s.values.map(([, line]) => line));
        if (lines.length >= 2) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(errors, []);
      assert.equal(lines.length, 2, JSON.stringify(lines));
      assert.ok(lines.some((line) => line.includes("card declined: ünïcode ✓")));
      const warn = await queryRange(url, '{app="winston-app", level="warn"}', "winston-tenant");
      assert.equal(warn.length, 1);
      assert.deepEqual(await queryRange(url, '{app="winston-app"}', "fake"), []);
    } finally {
      logger.close();
    }
  });

  test("protobuf bodies: truncated, not snappy, or claiming a huge size are a 400 or 413, the server unharmed", async () => {
    const proto = { "content-type": "application/x-protobuf" };
    // A snappy block whose varint length header promises 4 GiB.
    assertPlainError(await push(url, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]), proto), 413, /./);
    const notSnappy = await push(url, Buffer.from("definitely not snappy at all"), proto);
    assert.equal(notSnappy.status, 400, notSnappy.text);
    // A real snappy block (literal) of a truncated PushRequest: field 1, length 50, 3 bytes present.
    const truncated = Buffer.from([0x05, 0x10, 0x0a, 0x32, 0x0a, 0x01, 0x7b]);
    const reply = await push(url, truncated, proto);
    assert.equal(reply.status, 400, reply.text);
    assert.equal((await send(`${url}/ready`, {})).status, 200);
  });

  test("the pino-loki library pushes lines that query_range finds under its tenant", async () => {
    const stream = pinoLoki({
      host: url,
      headers: { "X-Scope-OrgID": "pino-tenant" },
      labels: { application: "pino-app" },
      batching: false,
    });
    const logger = pino({ level: "info" }, stream);
    logger.info({ order: 7 }, "hello from pino");
    logger.error("pino failure");
    const deadline = Date.now() + 10_000;
    let lines: string[] = [];
    while (Date.now() < deadline) {
      const result = await queryRange(url, '{application="pino-app"}', "pino-tenant");
      lines = result.flatMap((s) => s.values.map(([, line]) => line));
      if (lines.length >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(lines.length, 2, JSON.stringify(lines));
    assert.ok(lines.some((line) => line.includes("hello from pino")));
    assert.ok(lines.some((line) => line.includes("pino failure")));
    const result = await queryRange(url, '{service_name="pino-app"}', "pino-tenant");
    assert.ok(result.length >= 1, `service_name discovered from application: ${JSON.stringify(result)}`);
    assert.deepEqual(
      await queryRange(url, '{application="pino-app"}', "shop"),
      [],
      "not under another tenant",
    );
    stream.end();
  });
});
