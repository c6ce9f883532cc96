// End-to-end contract of Loki's query API over a real `sluice serve` child process on loopback:
// reference A entries ingested with POST /v1/logs under two X-Scope-OrgID tenants, then read back
// through every Loki route with the answers Loki gives for the same data. Reference A's entries are
// streams labelled {service, level} with the message as the line (src/model/README.md).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { postServiceLogs, type Reply, send } from "./support/http-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

const tenantA = "team-a";
const tenantB = "team-b";
/** A minute boundary half an hour ago (ms): every entry sits off a step boundary. */
const baseMs = Math.floor((Date.now() - 30 * 60_000) / 60_000) * 60_000;
const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;

const entriesA = [
  { timestamp: baseMs + 1_000, service: "api", level: "info", message: "request ok 1" },
  { timestamp: baseMs + 10_000, service: "api", level: "error", message: "request failed: timeout" },
  { timestamp: baseMs + 20_000, service: "api", level: "info", message: "request ok 2" },
  { timestamp: baseMs + 30_000, service: "db", level: "error", message: "db timeout" },
  { timestamp: baseMs + 70_000, service: "db", level: "info", message: "db ok" },
];
const entriesB = [{ timestamp: baseMs + 5_000, service: "api", level: "info", message: "tenant b secret" }];

const streamOf = (entry: { service: string; level: string }) => ({
  level: entry.level,
  service: entry.service,
});

interface Stream {
  stream: Record<string, string>;
  values: [string, string][];
}

describe("Loki query API", () => {
  let server: ServerProcess;
  let url: string;
  before(async () => {
    server = await startServerProcess();
    url = server.url;
    for (const [tenant, entries] of [
      [tenantA, entriesA],
      [tenantB, entriesB],
    ] as const) {
      const reply = await postServiceLogs(url, entries, { "x-scope-orgid": tenant });
      assert.equal(reply.status, 200, reply.text);
    }
    // New lines become searchable within a second of their acknowledgement (issue 13): wait for it.
    for (let attempt = 0; attempt < 100; attempt++) {
      const reply = await get("/loki/api/v1/query_range", allOfA(), tenantA);
      if (reply.status === 200 && linesOf(reply).length === entriesA.length) break;
      await new Promise((wake) => setTimeout(wake, 50));
    }
  });
  after(async () => {
    await server?.stop();
  });

  function get(path: string, params: Record<string, string>, tenant?: string): Promise<Reply> {
    const headers: Record<string, string> = tenant === undefined ? {} : { "x-scope-orgid": tenant };
    return send(`${url}${path}?${new URLSearchParams(params)}`, { headers });
  }
  const window = { start: ns(baseMs), end: ns(baseMs + 120_000) };
  const allOfA = () => ({ query: '{service=~".+"}', ...window, limit: "1000" });

  function json(reply: Reply): { status: string; data: { resultType: string; result: unknown[] } } {
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers.get("content-type"), "application/json; charset=utf-8");
    return JSON.parse(reply.text);
  }
  /** The lines of a streams answer, across streams, in timestamp order of the query's direction. */
  function linesOf(reply: Reply, direction: "forward" | "backward" = "backward"): string[] {
    const body = json(reply);
    assert.equal(body.data.resultType, "streams");
    const values = (body.data.result as Stream[]).flatMap((stream) => stream.values);
    values.sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1) * (direction === "forward" ? 1 : -1));
    return values.map(([, line]) => line);
  }
  function assertPlain(reply: Reply, status: number, message: string | RegExp): void {
    assert.equal(reply.status, status, reply.text);
    assert.equal(reply.headers.get("content-type"), "text/plain; charset=utf-8");
    if (typeof message === "string") assert.equal(reply.text, `${message}\n`);
    else assert.match(reply.text, message);
  }

  test("streams: limit and direction backward (newest first)", async () => {
    const reply = await get(
      "/loki/api/v1/query_range",
      { query: '{service="api"}', ...window, limit: "2" },
      tenantA,
    );
    const body = json(reply);
    assert.equal(body.status, "success");
    const streams = body.data.result as Stream[];
    assert.deepEqual(
      streams.map((stream) => stream.stream).sort((a, b) => a.level.localeCompare(b.level)),
      [streamOf({ service: "api", level: "error" }), streamOf({ service: "api", level: "info" })],
    );
    for (const stream of streams) {
      const timestamps = stream.values.map(([timestamp]) => BigInt(timestamp));
      assert.deepEqual(
        timestamps,
        [...timestamps].sort((a, b) => (a < b ? 1 : -1)),
        "backward: newest first",
      );
    }
    assert.deepEqual(linesOf(reply), ["request ok 2", "request failed: timeout"]);
    assert.ok("stats" in body.data);
  });

  test("streams: direction forward (oldest first), values as [ns string, line]", async () => {
    const reply = await get(
      "/loki/api/v1/query_range",
      { query: '{service="api"}', ...window, limit: "2", direction: "forward" },
      tenantA,
    );
    assert.deepEqual(linesOf(reply, "forward"), ["request ok 1", "request failed: timeout"]);
    const info = (json(reply).data.result as Stream[]).find((stream) => stream.stream.level === "info");
    assert.deepEqual(info?.values, [[ns(baseMs + 1_000), "request ok 1"]]);
  });

  test("streams: a line filter", async () => {
    const reply = await get(
      "/loki/api/v1/query_range",
      { ...allOfA(), query: '{service=~".+"} |= "timeout"' },
      tenantA,
    );
    assert.deepEqual(linesOf(reply), ["db timeout", "request failed: timeout"]);
  });

  test("streams: POST form body", async () => {
    const reply = await send(`${url}/loki/api/v1/query_range`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-scope-orgid": tenantA },
      body: new URLSearchParams({ query: '{service="db"}', ...window }).toString(),
    });
    assert.deepEqual(linesOf(reply), ["db ok", "db timeout"]);
  });

  test("an empty result", async () => {
    const body = json(
      await get("/loki/api/v1/query_range", { query: '{service="nope"}', ...window }, tenantA),
    );
    assert.deepEqual([body.status, body.data.resultType, body.data.result], ["success", "streams", []]);
  });

  test("a bad query: 400 with Loki's position text", async () => {
    assertPlain(
      await get("/loki/api/v1/query_range", { query: "{service=}", ...window }, tenantA),
      400,
      /^parse error at line 1, col 10: syntax error: unexpected }/,
    );
  });

  test("a bad time range: 400", async () => {
    assertPlain(
      await get(
        "/loki/api/v1/query_range",
        { query: '{service="api"}', start: window.end, end: window.start },
        tenantA,
      ),
      400,
      "end timestamp must not be before or equal to start time",
    );
    assertPlain(
      await get("/loki/api/v1/query_range", { query: '{service="api"}', start: "yesterday" }, tenantA),
      400,
      `could not parse 'start' parameter: strconv.ParseInt: parsing "yesterday": invalid syntax`,
    );
  });

  test("a limit over the maximum: 400, not a clamp", async () => {
    assertPlain(
      await get("/loki/api/v1/query_range", { query: '{service="api"}', ...window, limit: "5001" }, tenantA),
      400,
      "max entries limit per query exceeded, limit > max_entries_limit_per_query (5001 > 5000)",
    );
  });

  test("matrix: count_over_time by level", async () => {
    const reply = await get(
      "/loki/api/v1/query_range",
      {
        query: 'sum by (level) (count_over_time({service=~".+"}[1m]))',
        start: ns(baseMs + 60_000),
        end: ns(baseMs + 120_000),
        step: "60",
      },
      tenantA,
    );
    const body = json(reply);
    assert.equal(body.data.resultType, "matrix");
    const series = (
      body.data.result as { metric: Record<string, string>; values: [number, string][] }[]
    ).sort((a, b) => a.metric.level.localeCompare(b.metric.level));
    const atS = (ms: number) => (baseMs + ms) / 1000;
    assert.deepEqual(series, [
      { metric: { level: "error" }, values: [[atS(60_000), "2"]] },
      {
        metric: { level: "info" },
        values: [
          [atS(60_000), "2"],
          [atS(120_000), "1"],
        ],
      },
    ]);
  });

  test("vector: an instant metric query", async () => {
    const time = ns(baseMs + 120_000);
    const body = json(
      await get("/loki/api/v1/query", { query: 'sum(count_over_time({service="api"}[5m]))', time }, tenantA),
    );
    assert.equal(body.data.resultType, "vector");
    assert.deepEqual(body.data.result, [{ metric: {}, value: [(baseMs + 120_000) / 1000, "3"] }]);
  });

  test("vector(1)+vector(1), Grafana's health check", async () => {
    const body = json(
      await get("/loki/api/v1/query", { query: "vector(1)+vector(1)", time: "1700000000" }, tenantA),
    );
    assert.deepEqual(body.data.resultType, "vector");
    assert.deepEqual(body.data.result, [{ metric: {}, value: [1700000000, "2"] }]);
  });

  test("an instant log query is refused", async () => {
    assertPlain(
      await get("/loki/api/v1/query", { query: '{service="api"}' }, tenantA),
      400,
      "log queries are not supported as an instant query type, please change your query to a range query type",
    );
  });

  test("labels and label values", async () => {
    const labels = json(await get("/loki/api/v1/labels", window, tenantA));
    assert.deepEqual(labels.data, ["level", "service"]);
    const values = json(await get("/loki/api/v1/label/service/values", window, tenantA));
    assert.deepEqual(values.data, ["api", "db"]);
    const narrowed = json(
      await get("/loki/api/v1/label/level/values", { ...window, query: '{service="db"}' }, tenantA),
    );
    assert.deepEqual(narrowed.data, ["error", "info"]);
  });

  test("series: GET and POST form", async () => {
    const expected = [
      streamOf({ service: "db", level: "error" }),
      streamOf({ service: "db", level: "info" }),
    ];
    const byLevel = (a: Record<string, string>, b: Record<string, string>) => a.level.localeCompare(b.level);
    const viaGet = json(
      await get("/loki/api/v1/series", { "match[]": '{service="db"}', ...window }, tenantA),
    );
    assert.deepEqual((viaGet.data as unknown as Record<string, string>[]).sort(byLevel), expected);
    const viaPost = await send(`${url}/loki/api/v1/series`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-scope-orgid": tenantA },
      body: new URLSearchParams({ "match[]": '{service="db"}', ...window }).toString(),
    });
    assert.deepEqual((json(viaPost).data as unknown as Record<string, string>[]).sort(byLevel), expected);
  });

  test("index stats", async () => {
    const reply = await get("/loki/api/v1/index/stats", { query: '{service="api"}', ...window }, tenantA);
    assert.equal(reply.status, 200, reply.text);
    const stats = JSON.parse(reply.text);
    assert.deepEqual(Object.keys(stats), ["streams", "chunks", "bytes", "entries"]);
    assert.equal(stats.streams, 2);
    assert.equal(stats.entries, 3);
    assert.ok(stats.bytes > 0);
  });

  test("volume: bytes per matching series", async () => {
    const body = json(
      await get("/loki/api/v1/index/volume", { query: '{service="db"}', ...window }, tenantA),
    );
    assert.equal(body.data.resultType, "vector");
    const result = body.data.result as { metric: Record<string, string>; value: [number, string] }[];
    assert.deepEqual(
      result.map((sample) => sample.metric),
      [{ service: "db" }],
    );
    assert.ok(Number(result[0].value[1]) > 0);
    const range = json(
      await get(
        "/loki/api/v1/index/volume_range",
        { query: '{service="db"}', ...window, step: "60" },
        tenantA,
      ),
    );
    assert.equal(range.data.resultType, "matrix");
  });

  test("buildinfo", async () => {
    const reply = await get("/loki/api/v1/status/buildinfo", {});
    assert.equal(reply.status, 200);
    const info = JSON.parse(reply.text);
    for (const field of ["version", "revision", "branch", "buildUser", "buildDate", "goVersion"])
      assert.equal(typeof info[field], "string", field);
  });

  test("tenant isolation: tenant B never sees tenant A's lines, nor A B's", async () => {
    const linesB = linesOf(await get("/loki/api/v1/query_range", allOfA(), tenantB));
    assert.deepEqual(linesB, ["tenant b secret"]);
    const linesA = linesOf(await get("/loki/api/v1/query_range", allOfA(), tenantA));
    assert.deepEqual(linesA.sort(), entriesA.map((entry) => entry.message).sort());
    assert.deepEqual(json(await get("/loki/api/v1/label/service/values", window, tenantB)).data, ["api"]);
    const seriesB = json(
      await get("/loki/api/v1/series", { "match[]": '{service=~".+"}', ...window }, tenantB),
    );
    assert.deepEqual(seriesB.data, [streamOf({ service: "api", level: "info" })]);
    // The default tenant ("fake", as in Loki) holds nothing here.
    assert.deepEqual(linesOf(await get("/loki/api/v1/query_range", allOfA())), []);
  });

  test("an invalid tenant header: 400", async () => {
    const reply = await get("/loki/api/v1/labels", {}, "a/b");
    assert.equal(reply.status, 400);
    assert.match(reply.text, /^invalid X-Scope-OrgID/);
  });
});

test("--query-entries-max raises the maximum limit everywhere (routes and evaluator agree)", async () => {
  const raised = await startServerProcess({ args: ["--query-entries-max", "10000"] });
  try {
    const query = new URLSearchParams({ query: '{service=~".+"}', limit: "6000" });
    const accepted = await send(`${raised.url}/loki/api/v1/query_range?${query}`);
    assert.equal(accepted.status, 200, accepted.text);
    query.set("limit", "10001");
    const refused = await send(`${raised.url}/loki/api/v1/query_range?${query}`);
    assert.equal(refused.status, 400);
    assert.match(refused.text, /limit > max_entries_limit_per_query \(10001 > 10000\)/);
  } finally {
    await raised.stop();
  }
});
