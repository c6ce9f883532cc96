// The Loki query routes against a recording backend (the seam to the query engine): what the routes
// ask the backend, the envelopes they answer, their statuses and plain-text errors, form bodies,
// the tenant header, the time budget and a client that goes away (over real loopback HTTP).

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import {
  type LokiData,
  type LokiQueryBackend,
  type LokiQueryLimits,
  LokiRequestError,
  lokiFailureMessages,
  registerLokiQueryRoutes,
} from "./loki-query.ts";
import { sendPlainError } from "./replies.ts";
import { tenantOf } from "./service-routes.ts";

const s = 1_000_000_000n;
const nowNs = 1_700_000_000n * s;

const streamsData: LokiData = {
  resultType: "streams",
  result: [{ stream: { service: "api" }, values: [["1700000000000000000", "hello"]] }],
  stats: { summary: { totalLinesProcessed: 1 } },
};
const vectorData: LokiData = {
  resultType: "vector",
  result: [{ metric: {}, value: [1700000000, "2"] }],
  stats: {},
};

interface Call {
  method: string;
  tenant: string;
  args: unknown[];
}

/** A backend that records every call and answers fixed data, or what `behave` says. */
function recordingBackend(
  behave: (method: string, signal: AbortSignal) => Promise<unknown> | null = () => null,
) {
  const calls: Call[] = [];
  const answer = (method: string, tenant: string, args: unknown[], signal: AbortSignal, fixed: unknown) => {
    calls.push({ method, tenant, args });
    return (behave(method, signal) ?? Promise.resolve(fixed)) as Promise<never>;
  };
  const backend: LokiQueryBackend = {
    query: (tenant, request, signal) =>
      answer("query", tenant, [request], signal, request.kind === "range" ? streamsData : vectorData),
    labelNames: (tenant, request, signal) =>
      answer("labelNames", tenant, [request], signal, ["level", "service"]),
    labelValues: (tenant, name, request, signal) =>
      answer("labelValues", tenant, [name, request], signal, ["api", "db"]),
    series: (tenant, request, signal) => answer("series", tenant, [request], signal, [{ service: "api" }]),
    indexStats: (tenant, request, signal) =>
      answer("indexStats", tenant, [request], signal, { entries: 3, bytes: 30, streams: 1, chunks: 2 }),
    volume: (tenant, request, signal) =>
      answer("volume", tenant, [request], signal, {
        resultType: request.stepNs === null ? "vector" : "matrix",
        result: [],
        stats: { ignored: true },
      }),
  };
  return { backend, calls };
}

const defaultLimits: LokiQueryLimits = { entriesLimitMax: 5000, queryTimeoutMs: 60_000 };

function buildApp(backend: LokiQueryBackend, limits: LokiQueryLimits = defaultLimits): FastifyInstance {
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
  app.setErrorHandler((_error, _request, reply) => sendPlainError(reply, 500, "internal server error"));
  registerLokiQueryRoutes(app, {
    backend,
    tenantOf,
    limits,
    buildInfo: {
      version: "3.4.0",
      revision: "abc123",
      branch: "main",
      buildUser: "sluice",
      buildDate: "2026-12-03",
      goVersion: "node v24",
    },
    nowNs: () => nowNs,
  });
  return app;
}

const form = { "content-type": "application/x-www-form-urlencoded" };

describe("loki query routes", () => {
  test("query_range: parsed request to the backend, Loki's envelope", async () => {
    const { backend, calls } = recordingBackend();
    const app = buildApp(backend);
    const reply = await app.inject({
      url: "/loki/api/v1/query_range?query=%7Bservice%3D%22api%22%7D&start=1000&end=2000&limit=10&direction=FORWARD",
      headers: { "x-scope-orgid": "team-a" },
    });
    assert.equal(reply.statusCode, 200);
    assert.equal(reply.headers["content-type"], "application/json; charset=utf-8");
    assert.equal(reply.body, `${JSON.stringify({ status: "success", data: streamsData })}\n`);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].tenant, "team-a");
    const request = calls[0].args[0] as Record<string, unknown>;
    assert.equal(request.kind, "range");
    assert.equal(request.queryText, '{service="api"}');
    assert.equal((request.query as { kind: string }).kind, "log");
    assert.deepEqual(
      [request.startNs, request.endNs, request.limit, request.direction, request.stepNs, request.intervalNs],
      [1000n * s, 2000n * s, 10, "forward", 4n * s, 0n],
    );
  });

  test("query_range by POST form body, body before URL", async () => {
    const { backend, calls } = recordingBackend();
    const reply = await buildApp(backend).inject({
      method: "POST",
      url: "/loki/api/v1/query_range?limit=3",
      headers: form,
      payload: new URLSearchParams({
        query: 'sum(count_over_time({a="b"}[1m]))',
        limit: "7",
        step: "60",
      }).toString(),
    });
    assert.equal(reply.statusCode, 200);
    const request = calls[0].args[0] as Record<string, unknown>;
    assert.equal(request.limit, 7);
    assert.equal(request.stepNs, 60n * s);
    assert.equal(calls[0].tenant, "fake"); // Loki's tenant without the header
  });

  test("a syntax error is a 400 with Loki's position text, before the backend", async () => {
    const { backend, calls } = recordingBackend();
    const reply = await buildApp(backend).inject({ url: "/loki/api/v1/query_range?query=%7Bservice%3D%7D" });
    assert.equal(reply.statusCode, 400);
    assert.equal(reply.headers["content-type"], "text/plain; charset=utf-8");
    assert.match(reply.body, /^parse error at line 1, col \d+: .+\n$/);
    assert.equal(calls.length, 0);
  });

  test("parameter errors are 400 with Loki's messages", async () => {
    const app = buildApp(recordingBackend().backend);
    const cases: [string, string][] = [
      [
        "/loki/api/v1/query_range?query=%7Ba%3D%22b%22%7D&start=2000&end=1000",
        "end timestamp must not be before or equal to start time",
      ],
      ["/loki/api/v1/query_range?query=%7Ba%3D%22b%22%7D&limit=0", "limit must be a positive value"],
      ["/loki/api/v1/query_range?query=%7Ba%3D%22b%22%7D&direction=up", "invalid direction 'up'"],
      [
        "/loki/api/v1/query_range?query=%7Ba%3D%22b%22%7D&step=-5",
        "zero or negative query resolution step widths are not accepted. Try a positive integer",
      ],
      [
        "/loki/api/v1/query_range?query=%7Ba%3D%22b%22%7D&start=x",
        `could not parse 'start' parameter: strconv.ParseInt: parsing "x": invalid syntax`,
      ],
      ["/loki/api/v1/query?query=%7Ba%3D%22b%22%7D", lokiFailureMessages.instantLogQuery],
      ["/loki/api/v1/index/volume?query=%7Ba%3D%22b%22%7D&aggregateBy=x", "invalid aggregation option"],
    ];
    for (const [url, message] of cases) {
      const reply = await app.inject({ url });
      assert.equal(reply.statusCode, 400, url);
      assert.equal(reply.body, `${message}\n`, url);
    }
  });

  test("a log query's limit over the maximum is refused, a metric query's is not", async () => {
    const { backend, calls } = recordingBackend();
    const app = buildApp(backend, { ...defaultLimits, entriesLimitMax: 50 });
    const refused = await app.inject({ url: "/loki/api/v1/query_range?query=%7Ba%3D%22b%22%7D&limit=51" });
    assert.equal(refused.statusCode, 400);
    assert.equal(
      refused.body,
      "max entries limit per query exceeded, limit > max_entries_limit_per_query (51 > 50)\n",
    );
    const metric = await app.inject({
      url: `/loki/api/v1/query_range?${new URLSearchParams({ query: 'count_over_time({a="b"}[1m])', limit: "51" })}`,
    });
    assert.equal(metric.statusCode, 200);
    assert.equal(calls.length, 1);
  });

  test("instant query: metric queries reach the backend with time", async () => {
    const { backend, calls } = recordingBackend();
    const reply = await buildApp(backend).inject({
      url: "/loki/api/v1/query?query=vector(1)%2Bvector(1)&time=1700000000.5",
    });
    assert.equal(reply.statusCode, 200);
    assert.equal(reply.body, `${JSON.stringify({ status: "success", data: vectorData })}\n`);
    const request = calls[0].args[0] as Record<string, unknown>;
    assert.equal(request.kind, "instant");
    assert.equal(request.timeNs, nowNs + 500_000_000n);
  });

  test("labels and label values", async () => {
    const { backend, calls } = recordingBackend();
    const app = buildApp(backend);
    const names = await app.inject({ url: "/loki/api/v1/labels?start=1000&end=2000" });
    assert.equal(names.body, '{"status":"success","data":["level","service"]}\n');
    assert.deepEqual(calls[0].args[0], { startNs: 1000n * s, endNs: 2000n * s, query: null });
    const values = await app.inject({
      method: "POST",
      url: "/loki/api/v1/label/service/values",
      headers: form,
      payload: "query=%7Blevel%3D%22error%22%7D",
    });
    assert.equal(values.body, '{"status":"success","data":["api","db"]}\n');
    assert.deepEqual(calls[1].args, [
      "service",
      { startNs: nowNs - 3600n * s, endNs: nowNs, query: '{level="error"}' },
    ]);
  });

  test("series by GET and POST form with repeated match[]", async () => {
    const { backend, calls } = recordingBackend();
    const app = buildApp(backend);
    const get = await app.inject({
      url: "/loki/api/v1/series?match[]=%7Bb%3D%221%22%7D&match[]=%7Ba%3D%221%22%7D",
    });
    assert.equal(get.body, '{"status":"success","data":[{"service":"api"}]}\n');
    const post = await app.inject({
      method: "POST",
      url: "/loki/api/v1/series",
      headers: form,
      payload: "match%5B%5D=%7Bb%3D%221%22%7D&match%5B%5D=%7Ba%3D%221%22%7D&start=1000&end=2000",
    });
    assert.equal(post.statusCode, 200);
    assert.deepEqual((calls[0].args[0] as { matchers: string[] }).matchers, ['{a="1"}', '{b="1"}']);
    assert.deepEqual(calls[1].args[0], {
      startNs: 1000n * s,
      endNs: 2000n * s,
      matchers: ['{a="1"}', '{b="1"}'],
    });
  });

  test("index stats is a bare object in Loki's field order", async () => {
    const { backend, calls } = recordingBackend();
    const reply = await buildApp(backend).inject({
      url: "/loki/api/v1/index/stats?query=%7Ba%3D%22b%22%7D&start=1000&end=2000",
    });
    assert.equal(reply.body, '{"streams":1,"chunks":2,"bytes":30,"entries":3}\n');
    assert.deepEqual(calls[0].args[0], { query: '{a="b"}', startNs: 1000n * s, endNs: 2000n * s });
  });

  test("volume and volume_range: Prometheus data without stats", async () => {
    const { backend, calls } = recordingBackend();
    const app = buildApp(backend);
    const instant = await app.inject({
      url: "/loki/api/v1/index/volume?query=%7Ba%3D%22b%22%7D&targetLabels=a",
    });
    assert.equal(instant.body, '{"status":"success","data":{"resultType":"vector","result":[]}}\n');
    const range = await app.inject({
      url: "/loki/api/v1/index/volume_range?query=%7Ba%3D%22b%22%7D&start=0&end=3600&step=60",
    });
    assert.equal(range.body, '{"status":"success","data":{"resultType":"matrix","result":[]}}\n');
    assert.deepEqual(calls[0].args[0], {
      query: '{a="b"}',
      startNs: nowNs - 3600n * s,
      endNs: nowNs,
      limit: 100,
      targetLabels: ["a"],
      aggregateBy: "series",
      stepNs: null,
    });
    assert.equal((calls[1].args[0] as { stepNs: bigint }).stepNs, 60n * s);
  });

  test("buildinfo", async () => {
    const reply = await buildApp(recordingBackend().backend).inject({ url: "/loki/api/v1/status/buildinfo" });
    assert.equal(reply.statusCode, 200);
    assert.deepEqual(Object.keys(JSON.parse(reply.body)), [
      "version",
      "revision",
      "branch",
      "buildUser",
      "buildDate",
      "goVersion",
    ]);
    assert.equal(JSON.parse(reply.body).version, "3.4.0");
  });

  test("an invalid tenant header is a 400 and reaches no backend", async () => {
    const { backend, calls } = recordingBackend();
    const reply = await buildApp(backend).inject({
      url: "/loki/api/v1/labels",
      headers: { "x-scope-orgid": "a/b" },
    });
    assert.equal(reply.statusCode, 400);
    assert.match(reply.body, /^invalid X-Scope-OrgID/);
    assert.equal(calls.length, 0);
  });

  test("backend errors: a LokiRequestError as is, a QueryError 400, anything else 500", async () => {
    const failures: Record<string, Error> = {
      series: new LokiRequestError(400, "maximum of series (500) reached for a single query"),
      labelNames: new Error("disk on fire"),
    };
    const { backend } = recordingBackend((method) =>
      failures[method] ? Promise.reject(failures[method]) : null,
    );
    const app = buildApp(backend);
    const series = await app.inject({ url: "/loki/api/v1/series" });
    assert.deepEqual(
      [series.statusCode, series.body],
      [400, "maximum of series (500) reached for a single query\n"],
    );
    const labels = await app.inject({ url: "/loki/api/v1/labels" });
    assert.deepEqual([labels.statusCode, labels.body], [500, "internal server error\n"]);
    const { backend: parsing } = recordingBackend((method) =>
      method === "labelValues"
        ? import("../query/index.ts").then(({ parseQuery }) => parseQuery("{a=}"))
        : null,
    );
    const values = await buildApp(parsing).inject({ url: "/loki/api/v1/label/a/values?query=%7Ba%3D%7D" });
    assert.equal(values.statusCode, 400);
    assert.match(values.body, /^parse error at line 1, col \d+: /);
  });

  test("past the time budget the backend is aborted and the answer is a 504", async () => {
    const { backend } = recordingBackend(
      (_method, signal) =>
        new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    );
    const reply = await buildApp(backend, { ...defaultLimits, queryTimeoutMs: 1 }).inject({
      url: "/loki/api/v1/labels",
    });
    assert.equal(reply.statusCode, 504);
    assert.equal(reply.body, `${lokiFailureMessages.deadline}\n`);
  });

  test("a client that goes away aborts the backend's signal", async () => {
    let called!: () => void;
    const backendCalled = new Promise<void>((resolve) => {
      called = resolve;
    });
    let aborted!: (reason: unknown) => void;
    const backendAborted = new Promise<unknown>((resolve) => {
      aborted = resolve;
    });
    const { backend } = recordingBackend((_method, signal) => {
      called();
      return new Promise((_resolve, reject) =>
        signal.addEventListener("abort", () => {
          aborted(signal.reason);
          reject(signal.reason);
        }),
      );
    });
    const app = buildApp(backend);
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { port } = app.server.address() as AddressInfo;
      const request = http.get({ port, host: "127.0.0.1", path: "/loki/api/v1/series" });
      request.on("error", () => {}); // the socket is destroyed on purpose
      await backendCalled;
      request.destroy();
      const reason = await backendAborted;
      assert.equal((reason as Error).name, "AbortError");
    } finally {
      await app.close();
    }
  });

  test("methods other than GET and POST are 405 with no body, as Loki's router answers", async () => {
    const reply = await buildApp(recordingBackend().backend).inject({
      method: "DELETE",
      url: "/loki/api/v1/labels",
    });
    assert.deepEqual([reply.statusCode, reply.body], [405, ""]);
  });
});
