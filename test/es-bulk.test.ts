// Contract of the Elasticsearch routes over a real `sluice serve` child process on loopback: the
// official @elastic/elasticsearch v9 client (info, ping, bulk, helpers.bulk, gzip) against Sluice as
// if it were Elasticsearch, the documents found again through /loki/api/v1/query_range under the
// labels they map to; Elasticsearch's bulk response (created items, errors:true with per-item
// errors while the good items are stored), its whole-request error bodies and statuses (malformed
// NDJSON 400, too large / gzip bomb 413, wrong Content-Type 406, limits 429 + Retry-After), the
// X-Elastic-Product header and negotiated media type on every answer, the handshake Filebeat and
// Logstash make (license, xpack, health, nodes, templates, ILM, create index), tenant isolation, and
// /healthz after all of it.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import zlib from "node:zlib";
import { Client } from "@elastic/elasticsearch";
import { postChunked, postServiceLogs, type Reply, send } from "./support/http-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

const baseMs = Date.now() - 10 * 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

interface QueryStream {
  stream: Record<string, string>;
  values: [string, string][];
}

function ndjson(...lines: unknown[]): string {
  return `${lines.map((line) => (typeof line === "string" ? line : JSON.stringify(line))).join("\n")}\n`;
}

function assertEsHeaders(reply: Reply, contentType = /^application\/json$/): void {
  assert.equal(reply.headers.get("x-elastic-product"), "Elasticsearch");
  assert.match(reply.headers.get("content-type") ?? "", contentType);
}

/** Asserts Elasticsearch's error body {error:{root_cause:[{type,reason}],type,reason},status}. */
function assertEsError(reply: Reply, status: number, type: string, reason: RegExp): void {
  assert.equal(reply.status, status, reply.text);
  assertEsHeaders(reply);
  const body = JSON.parse(reply.text);
  assert.deepEqual(Object.keys(body).sort(), ["error", "status"]);
  assert.equal(body.status, status);
  assert.equal(body.error.type, type, reply.text);
  assert.match(body.error.reason, reason);
  assert.deepEqual(body.error.root_cause, [{ type, reason: body.error.reason }]);
}

describe("Elasticsearch bulk API and handshake", () => {
  let server: ServerProcess;
  let url: string;
  let client: Client;
  before(async () => {
    server = await startServerProcess({
      args: ["--body-bytes-max", "65536", "--decoded-bytes-max", "262144", "--streams-per-tenant-max", "20"],
    });
    url = server.url;
    client = new Client({ node: url, headers: { "x-scope-orgid": "shop" } });
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });

  function bulk(
    body: string | Uint8Array,
    headers: Record<string, string> = {},
    path = "/_bulk",
  ): Promise<Reply> {
    return send(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson", ...headers },
      body,
    });
  }

  /** query_range over the last 15 minutes, polled until `count` lines are there (searchable < 1 s). */
  async function lines(query: string, tenant: string, count: number): Promise<QueryStream[]> {
    let result: QueryStream[] = [];
    for (let attempt = 0; attempt < 100; attempt++) {
      const params = new URLSearchParams({ query, since: "15m", limit: "5000" });
      const reply = await send(`${url}/loki/api/v1/query_range?${params}`, {
        headers: { "x-scope-orgid": tenant },
      });
      assert.equal(reply.status, 200, reply.text);
      result = JSON.parse(reply.text).data.result;
      if (result.reduce((n, stream) => n + stream.values.length, 0) >= count) return result;
      await new Promise((wake) => setTimeout(wake, 50));
    }
    return result;
  }

  test("the official client's handshake: info() and ping() as against Elasticsearch 9", async () => {
    const info = await client.info();
    assert.equal(info.version.number, "9.2.0");
    assert.equal(info.version.build_flavor, "default");
    assert.equal(info.tagline, "You Know, for Search");
    assert.equal(info.cluster_name, "sluice");
    assert.match(info.cluster_uuid, /^[A-Za-z0-9_-]{22}$/);
    for (const field of [
      "lucene_version",
      "minimum_wire_compatibility_version",
      "minimum_index_compatibility_version",
    ])
      assert.ok((info.version as unknown as Record<string, string>)[field], field);
    assert.equal(await client.ping(), true);
    // The client asks with compatible-with=9 and gets the vendor type back; a plain client gets JSON.
    const vendor = await send(`${url}/`, {
      headers: { accept: "application/vnd.elasticsearch+json; compatible-with=9" },
    });
    assertEsHeaders(vendor, /^application\/vnd\.elasticsearch\+json;compatible-with=9$/);
    assertEsHeaders(await send(`${url}/`));
    const head = await send(`${url}/`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("x-elastic-product"), "Elasticsearch");
  });

  test("client.bulk: created items with generated ids; the lines found under the mapped labels", async () => {
    const response = await client.bulk({
      operations: [
        { index: { _index: "orders" } },
        {
          message: "order placed",
          "@timestamp": iso(baseMs),
          service: { name: "checkout" },
          level: "info",
          user: "ann",
        },
        { create: { _index: "orders", _id: "given-1" } },
        { message: "order paid", "@timestamp": baseMs + 1, "service.name": "checkout", level: "info" },
      ],
    });
    assert.equal(response.errors, false);
    assert.equal(typeof response.took, "number");
    const [first, second] = response.items;
    assert.equal(first!.index!.status, 201);
    assert.equal(first!.index!.result, "created");
    assert.equal(first!.index!._index, "orders");
    assert.match(first!.index!._id!, /^[A-Za-z0-9_-]{20}$/);
    assert.deepEqual(second!.create, {
      _index: "orders",
      _id: "given-1",
      _version: 1,
      result: "created",
      _shards: { total: 1, successful: 1, failed: 0 },
      _seq_no: second!.create!._seq_no,
      _primary_term: 1,
      status: 201,
    });
    const found = await lines('{index="orders", service_name="checkout", level="info"}', "shop", 2);
    const byLine = new Map(
      found.flatMap((s) => s.values.map(([ts, line]) => [line, { ts, stream: s.stream }])),
    );
    assert.deepEqual(byLine.get("order placed"), {
      ts: `${BigInt(baseMs) * 1_000_000n}`,
      stream: { index: "orders", level: "info", service_name: "checkout", user: "ann" },
    });
    assert.equal(byLine.get("order paid")?.ts, `${BigInt(baseMs + 1) * 1_000_000n}`);
  });

  test("client.helpers.bulk over an array of documents, gzip-compressed, all stored", async () => {
    const gzipClient = new Client({ node: url, compression: true, headers: { "x-scope-orgid": "shop" } });
    try {
      const documents = Array.from({ length: 600 }, (_, i) => ({
        "@timestamp": iso(baseMs + 1000 + i),
        message: `helper line ${i}`,
        host: { name: "web-1" },
        log: { level: i % 2 === 0 ? "info" : "warn" },
      }));
      const stats = await gzipClient.helpers.bulk({
        datasource: documents,
        onDocument: () => ({ index: { _index: "helpers" } }),
        flushBytes: 16_000,
        retries: 0,
      });
      assert.equal(stats.total, 600);
      assert.equal(stats.successful, 600);
      assert.equal(stats.failed, 0);
    } finally {
      await gzipClient.close();
    }
    const found = await lines('{index="helpers", host_name="web-1"}', "shop", 600);
    const all = found.flatMap((s) => s.values.map(([, line]) => line));
    assert.equal(all.length, 600);
    assert.equal(new Set(all).size, 600);
    assert.deepEqual(found.map((s) => s.stream.log_level).sort(), ["info", "warn"]);
  });

  test("the single-document API: client.index() and client.create() are one-item requests", async () => {
    const indexed = await client.index({
      index: "single",
      document: { message: "one doc", "@timestamp": iso(baseMs + 5), level: "warn" },
    });
    assert.equal(indexed.result, "created");
    assert.equal(indexed._index, "single");
    assert.match(indexed._id, /^[A-Za-z0-9_-]{20}$/);
    const withId = await client.index({ index: "single", id: "my-id", document: { message: "with id" } });
    assert.equal(withId._id, "my-id");
    const created = await client.create({ index: "single", id: "c-1", document: { message: "created" } });
    assert.deepEqual(
      { ...created, _seq_no: 0 },
      {
        _index: "single",
        _id: "c-1",
        _version: 1,
        result: "created",
        _shards: { total: 1, successful: 1, failed: 0 },
        _seq_no: 0,
        _primary_term: 1,
      },
    );
    const pretty = await send(`${url}/single/_doc`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-scope-orgid": "shop" },
      body: JSON.stringify({ message: "pretty printed" }, null, 2),
    });
    assert.equal(pretty.status, 201, pretty.text);
    assertEsHeaders(pretty);
    const refused = await send(`${url}/single/_doc`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-scope-orgid": "shop" },
      body: "{not json",
    });
    assertEsError(refused, 400, "document_parsing_exception", /failed to parse/);
    const badIndex = await send(`${url}/Single/_doc/1`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assertEsError(badIndex, 400, "invalid_index_name_exception", /must be lowercase/);
    const found = await lines('{index="single"}', "shop", 4);
    assert.deepEqual(found.flatMap((s) => s.values.map(([, line]) => line)).sort(), [
      "created",
      "one doc",
      "pretty printed",
      "with id",
    ]);
  });

  test("mixed items: errors:true, each refused item with its status and error, the good ones stored", async () => {
    const reply = await bulk(
      Buffer.concat([
        Buffer.from(
          ndjson(
            { index: { _index: "mixed" } },
            { message: "good one" },
            { update: { _index: "mixed", _id: "u1" } },
            { doc: { message: "x" } },
            { delete: { _index: "mixed", _id: "d1" } },
            { index: { _index: "mixed" } },
            "{not json",
            { index: { _index: "mixed" } },
            '"a string"',
            { index: { _index: "Bad-Index" } },
            { message: "refused" },
            { index: { _index: "mixed" } },
          ),
        ),
        Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x0a]), // {"<0xff>":1}: not UTF-8
        Buffer.from(ndjson({ create: { _index: "mixed" } }, { message: "good two" })),
      ]),
      { "x-scope-orgid": "mixed" },
    );
    assert.equal(reply.status, 200, reply.text);
    assertEsHeaders(reply);
    const body = JSON.parse(reply.text);
    assert.equal(body.errors, true);
    const outcome = body.items.map((item: Record<string, { status: number; error?: { type: string } }>) => {
      const [action, result] = Object.entries(item)[0]!;
      return [action, result.status, result.error?.type ?? null];
    });
    assert.deepEqual(outcome, [
      ["index", 201, null],
      ["update", 400, "illegal_argument_exception"],
      ["delete", 400, "illegal_argument_exception"],
      ["index", 400, "document_parsing_exception"],
      ["index", 400, "document_parsing_exception"],
      ["index", 400, "invalid_index_name_exception"],
      ["index", 400, "document_parsing_exception"],
      ["create", 201, null],
    ]);
    assert.deepEqual(Object.keys(body.items[1].update).sort(), ["_id", "_index", "error", "status"]);
    assert.equal(body.items[1].update._id, "u1");
    assert.match(body.items[1].update.error.reason, /append-only/);
    const found = await lines('{index="mixed"}', "mixed", 2);
    assert.deepEqual(found.flatMap((s) => s.values.map(([, line]) => line)).sort(), ["good one", "good two"]);
  });

  test("invalid UTF-8 in a document is an item error; in an action line the whole request is a 400", async () => {
    const good = Buffer.from(ndjson({ index: { _index: "utf" } }, { message: "fine" }));
    const badDocument = Buffer.concat([
      Buffer.from(ndjson({ index: { _index: "utf" } })),
      Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x0a]),
      good,
    ]);
    const reply = await bulk(badDocument, { "x-scope-orgid": "utf" });
    assert.equal(reply.status, 200, reply.text);
    const body = JSON.parse(reply.text);
    assert.deepEqual(
      body.items.map((item: { index: { status: number } }) => item.index.status),
      [400, 201],
    );
    assert.equal(body.items[0].index.error.type, "document_parsing_exception");
    const badAction = Buffer.concat([Buffer.from([0x7b, 0xff, 0x7d, 0x0a]), good]);
    assertEsError(
      await bulk(badAction),
      400,
      "illegal_argument_exception",
      /Malformed action\/metadata line \[1\]/,
    );
  });

  test("malformed NDJSON and requests Elasticsearch refuses whole: 400 in its error body", async () => {
    const cases: [string, string, string, RegExp][] = [
      [
        "an action that is not JSON",
        ndjson("{index", { m: 1 }),
        "illegal_argument_exception",
        /Malformed action\/metadata line \[1\]/,
      ],
      [
        "an unknown action",
        ndjson({ upsert: {} }, { m: 1 }),
        "illegal_argument_exception",
        /expected field \[create\], \[delete\], \[index\] or \[update\] but found \[upsert\]/,
      ],
      [
        "an unknown action parameter",
        ndjson({ index: { _index: "a", nope: 1 } }, { m: 1 }),
        "illegal_argument_exception",
        /unknown parameter \[nope\]/,
      ],
      [
        "no final newline",
        '{"index":{"_index":"a"}}\n{"m":1}',
        "illegal_argument_exception",
        /terminated by a newline/,
      ],
      [
        "a missing document line",
        ndjson({ index: { _index: "a" } }),
        "illegal_argument_exception",
        /document line .* is missing/,
      ],
      [
        "no index in the action or URL",
        ndjson({ index: {} }, { m: 1 }),
        "action_request_validation_exception",
        /index is missing/,
      ],
      ["an empty body", "", "action_request_validation_exception", /no requests added/],
      ["a corrupt gzip body", "not gzip", "illegal_argument_exception", /invalid gzip body/],
    ];
    for (const [name, body, type, reason] of cases) {
      const reply = await bulk(body, name === "a corrupt gzip body" ? { "content-encoding": "gzip" } : {});
      assertEsError(reply, 400, type, reason);
    }
  });

  test("POST /<index>/_bulk: the URL's index for actions without _index; PUT /_bulk too", async () => {
    const reply = await bulk(
      ndjson(
        { index: {} },
        { message: "from url" },
        { index: { _index: "explicit" } },
        { message: "explicit" },
      ),
      { "x-scope-orgid": "urlidx" },
      "/url-index/_bulk",
    );
    assert.equal(reply.status, 200, reply.text);
    const body = JSON.parse(reply.text);
    assert.deepEqual(
      body.items.map((item: { index: { _index: string } }) => item.index._index),
      ["url-index", "explicit"],
    );
    const put = await send(`${url}/_bulk`, {
      method: "PUT",
      headers: { "content-type": "application/json", "x-scope-orgid": "urlidx" },
      body: ndjson({ create: { _index: "put" } }, { message: "via put" }),
    });
    assert.equal(put.status, 200, put.text);
    const found = await lines('{index=~"url-index|explicit|put"}', "urlidx", 3);
    assert.deepEqual(found.map((s) => s.stream.index).sort(), ["explicit", "put", "url-index"]);
  });

  test("media types: ndjson, json and the compatible-with vendor types; others 406; an unknown version 400", async () => {
    const body = ndjson({ index: { _index: "types" } }, { message: "typed" });
    for (const [contentType, answered] of [
      ["application/json", /^application\/json$/],
      ["application/x-ndjson; charset=utf-8", /^application\/json$/],
      [
        "application/vnd.elasticsearch+x-ndjson; compatible-with=9",
        /^application\/vnd\.elasticsearch\+json;compatible-with=9$/,
      ],
      [
        "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
        /^application\/vnd\.elasticsearch\+json;compatible-with=8$/,
      ],
    ] as const) {
      const reply = await bulk(body, { "content-type": contentType });
      assert.equal(reply.status, 200, `${contentType}: ${reply.text}`);
      assertEsHeaders(reply, answered);
    }
    const wrong = await bulk(body, { "content-type": "text/plain" });
    assert.equal(wrong.status, 406);
    assertEsHeaders(wrong);
    assert.deepEqual(JSON.parse(wrong.text), {
      error: "Content-Type header [text/plain] is not supported",
      status: 406,
    });
    assertEsError(
      await bulk(body, { "content-type": "application/vnd.elasticsearch+x-ndjson; compatible-with=5" }),
      400,
      "media_type_header_exception",
      /compatible-with=5/,
    );
  });

  test("413 for a gzip bomb, a declared length over the limit and a chunked body over it", async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20));
    assert.ok(bomb.length < 65536);
    assertEsError(
      await bulk(bomb, { "content-encoding": "gzip" }),
      413,
      "content_too_long_exception",
      /inflates past the limit of 262144/,
    );
    const large = ndjson({ index: { _index: "big" } }, { message: "x".repeat(70_000) });
    assertEsError(await bulk(large), 413, "content_too_long_exception", /the limit is 65536/);
    const chunked = await postChunked(`${url}/_bulk`, { "content-type": "application/x-ndjson" }, [
      Buffer.from(large.slice(0, 40_000)),
      Buffer.from(large.slice(40_000)),
    ]);
    assert.equal(chunked.status, 413, chunked.text);
    assert.equal(chunked.headers["x-elastic-product"], "Elasticsearch");
    assert.equal(JSON.parse(chunked.text).error.type, "content_too_long_exception");
  });

  test("limits are 429 es_rejected_execution_exception with Retry-After; nothing of the request stored", async () => {
    const streams = (n: number, from = 0) =>
      ndjson(
        ...Array.from({ length: n }, (_, i) => [
          { index: { _index: `s${from + i}` } },
          { message: "x" },
        ]).flat(),
      );
    assert.equal((await bulk(streams(20), { "x-scope-orgid": "many" })).status, 200);
    const refused = await bulk(streams(2, 100), { "x-scope-orgid": "many" });
    assertEsError(refused, 429, "es_rejected_execution_exception", /over its limit of 20 active streams/);
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    assert.deepEqual(await lines('{index=~"s10[01]"}', "many", 0), []);
  });

  test("the tenant is X-Scope-OrgID: other tenants see nothing; an invalid one is a 400", async () => {
    assert.deepEqual(await lines('{index="orders"}', "other", 0), []);
    assert.deepEqual(await lines('{index="orders"}', "fake", 0), []);
    assertEsError(
      await bulk(ndjson({ index: { _index: "a" } }, { m: 1 }), { "x-scope-orgid": "a/b" }),
      400,
      "illegal_argument_exception",
      /invalid X-Scope-OrgID/,
    );
  });

  test("the start-up calls of Filebeat and Logstash: license, xpack, health, nodes, templates, ILM, create index", async () => {
    const license = await client.license.get();
    assert.equal(license.license.status, "active");
    assert.equal(license.license.type, "basic");
    const xpack = await client.xpack.info();
    assert.equal(xpack.features.ilm?.available, true);
    const health = await client.cluster.health();
    assert.equal(health.status, "green");
    assert.equal(health.cluster_name, "sluice");
    const nodes = await client.nodes.info({ metric: "http" });
    const [node] = Object.values(nodes.nodes);
    assert.equal(node!.version, "9.2.0");
    assert.equal(node!.http?.publish_address, `127.0.0.1:${server.port}`);
    // Templates, ILM policies and pipelines are acknowledged, never kept: a shipper checks, gets a
    // 404, and puts its own at every start.
    assert.equal(await client.indices.existsIndexTemplate({ name: "filebeat-9.2.0" }), false);
    const missing = await send(`${url}/_index_template/filebeat-9.2.0`);
    assertEsError(
      missing,
      404,
      "resource_not_found_exception",
      /index template matching \[filebeat-9\.2\.0\] not found/,
    );
    const putTemplate = await client.indices.putIndexTemplate({
      name: "filebeat-9.2.0",
      index_patterns: ["filebeat-*"],
    });
    assert.equal(putTemplate.acknowledged, true);
    for (const path of [
      "/_template/logstash",
      "/_ilm/policy/filebeat",
      "/_ingest/pipeline/p1",
      "/_component_template/c",
    ]) {
      const put = await send(`${url}${path}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.equal(put.status, 200, `${path}: ${put.text}`);
      assertEsHeaders(put);
      assert.deepEqual(JSON.parse(put.text), { acknowledged: true });
      const head = await send(`${url}${path}`, { method: "HEAD" });
      assert.equal(head.status, 404, path);
      assert.equal(head.text, "");
    }
    const created = await client.indices.create({ index: "logstash-2026.12.04-000001" });
    assert.deepEqual(created, {
      acknowledged: true,
      shards_acknowledged: true,
      index: "logstash-2026.12.04-000001",
    });
    assert.equal(await client.indices.exists({ index: "logstash" }), false);
  });

  test("Sluice's own routes are unchanged beside the Elasticsearch ones", async () => {
    const putLogs = await send(`${url}/logs`, { method: "PUT", body: "x" });
    assert.equal(putLogs.status, 404);
    assert.equal(putLogs.text, "404 page not found\n");
    const unknown = await send(`${url}/no-such-page`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.text, "404 page not found\n");
    const posted = await postServiceLogs(url, [{ timestamp: baseMs, service: "api", message: "ref a" }]);
    assert.equal(posted.status, 200);
    assert.equal(posted.text, '{"received":1}\n');
  });

  test("the process never crashed: /healthz answers after everything above", async () => {
    const reply = await send(`${url}/healthz`);
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "ok\n");
    assert.equal(server.child.exitCode, null);
  });
});
