// OTLP logs end to end over a real `sluice serve` child: the OpenTelemetry SDK with each of its three
// log exporters (OTLP/HTTP JSON, OTLP/HTTP protobuf, OTLP/gRPC; gzip where the exporter offers it)
// writes records that come back through the Loki query API and reference A's GET /v1/query; every
// OTLP/HTTP refusal answers its status with a google.rpc.Status in the request's encoding (bad
// protobuf, truncated, invalid JSON naming the field, a gzip bomb, too large, an unsupported
// Content-Encoding, a bad tenant, rate limits with Retry-After, a full queue); OTLP/gRPC answers
// INVALID_ARGUMENT, RESOURCE_EXHAUSTED (with RetryInfo when retryable) and UNAVAILABLE to a raw
// grpc-js client, and the process lives on; a JSON array on /v1/logs is still reference A's.

import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import zlib from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { OTLPLogExporter as GrpcExporter } from "@opentelemetry/exporter-logs-otlp-grpc";
import { OTLPLogExporter as HttpJsonExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPLogExporter as ProtoExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter } from "@opentelemetry/sdk-logs";
import { encodeRpcStatus, rpcCodes } from "../src/ingest/index.ts";
import { send } from "./support/http-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

const exportPath = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
const nowNs = BigInt(Date.now() - 60_000) * 1_000_000n;

// --- a minimal protobuf writer for hand-made ExportLogsServiceRequests -----------------------------

function varint(value: number | bigint): number[] {
  let rest = BigInt(value);
  const bytes: number[] = [];
  while (rest >= 0x80n) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return bytes;
}

function field(number: number, bytes: Uint8Array | string): Buffer {
  const value = typeof bytes === "string" ? Buffer.from(bytes) : Buffer.from(bytes);
  return Buffer.concat([Buffer.from([...varint(number * 8 + 2), ...varint(value.length)]), value]);
}

function stringValue(text: string): Buffer {
  return field(1, text); // AnyValue.string_value
}

/** ExportLogsServiceRequest with one resource (service.name), one scope, `lines` string-bodied INFO records. */
function otlpProto(service: string, lines: string[]): Buffer {
  const records = lines.map((line, i) => {
    const time = Buffer.alloc(8);
    time.writeBigUInt64LE(nowNs + BigInt(i));
    return field(
      2,
      Buffer.concat([Buffer.from([0x09]), time, Buffer.from([0x10, 9]), field(5, stringValue(line))]),
    );
  });
  const resource = field(
    1,
    field(1, Buffer.concat([field(1, "service.name"), field(2, stringValue(service))])),
  );
  const scopeLogs = field(2, Buffer.concat([field(1, field(1, "test-scope")), ...records]));
  return field(1, Buffer.concat([resource, scopeLogs]));
}

function otlpJson(service: string, lines: string[]): string {
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
        scopeLogs: [
          {
            scope: { name: "test-scope" },
            logRecords: lines.map((line, i) => ({
              timeUnixNano: String(nowNs + BigInt(i)),
              severityNumber: 9,
              body: { stringValue: line },
            })),
          },
        ],
      },
    ],
  });
}

/** google.rpc.Status from protobuf: code and message (details are checked as bytes where they matter). */
function decodeStatus(bytes: Buffer): { code: number; message: string } {
  let position = 0;
  let code = 0;
  let message = "";
  const readVarint = () => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[position++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  };
  while (position < bytes.length) {
    const tag = readVarint();
    if (tag === 0x08) code = readVarint();
    else if ((tag & 7) === 2) {
      const length = readVarint();
      if (tag === 0x12) message = bytes.subarray(position, position + length).toString("utf8");
      position += length;
    } else throw new Error(`unexpected tag ${tag} in a Status`);
  }
  return { code, message };
}

// --- HTTP and gRPC helpers ---------------------------------------------------------------------

async function postOtlp(
  url: string,
  contentType: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const response = await fetch(`${url}/v1/logs`, {
    method: "POST",
    headers: { "content-type": contentType, ...headers },
    body,
  });
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  };
}

function assertProtoStatus(
  reply: { status: number; headers: Headers; body: Buffer },
  status: number,
  code: number,
  message: RegExp,
): void {
  assert.equal(reply.status, status, reply.body.toString());
  assert.equal(reply.headers.get("content-type"), "application/x-protobuf");
  const decoded = decodeStatus(reply.body);
  assert.equal(decoded.code, code, decoded.message);
  assert.match(decoded.message, message);
}

function assertJsonStatus(
  reply: { status: number; headers: Headers; body: Buffer },
  status: number,
  code: number,
  message: RegExp,
): void {
  assert.equal(reply.status, status, reply.body.toString());
  assert.match(reply.headers.get("content-type") ?? "", /^application\/json/);
  const decoded = JSON.parse(reply.body.toString());
  assert.equal(decoded.code, code, reply.body.toString());
  assert.match(decoded.message, message);
}

const identity = (bytes: Buffer) => bytes;

function grpcClient(port: number, options: grpc.ClientOptions = {}): grpc.Client {
  return new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
}

/** One raw Export call: resolves with the response bytes or the ServiceError. */
function rawExport(
  client: grpc.Client,
  request: Buffer,
  tenant?: string,
): Promise<{ response: Buffer } | { error: grpc.ServiceError }> {
  const metadata = new grpc.Metadata();
  if (tenant !== undefined) metadata.set("x-scope-orgid", tenant);
  return new Promise((resolve) => {
    client.makeUnaryRequest(exportPath, identity, identity, request, metadata, (error, response) => {
      resolve(error ? { error } : { response: response as Buffer });
    });
  });
}

function expectGrpcError(
  outcome: { response: Buffer } | { error: grpc.ServiceError },
  code: grpc.status,
): grpc.ServiceError {
  assert.ok("error" in outcome, "expected a gRPC error, got a response");
  assert.equal(outcome.error.code, code, `${outcome.error.code}: ${outcome.error.details}`);
  return outcome.error;
}

interface QueryStream {
  stream: Record<string, string>;
  values: [string, string][];
}

async function queryRange(url: string, query: string, tenant: string): Promise<QueryStream[]> {
  const params = new URLSearchParams({ query, since: "15m", limit: "1000" });
  const reply = await send(`${url}/loki/api/v1/query_range?${params}`, {
    headers: { "x-scope-orgid": tenant },
  });
  assert.equal(reply.status, 200, reply.text);
  return JSON.parse(reply.text).data.result;
}

async function queryEntries(
  url: string,
  service: string,
  tenant: string,
): Promise<Record<string, unknown>[]> {
  const reply = await send(`${url}/v1/query?${new URLSearchParams({ service, limit: "100" })}`, {
    headers: { "x-scope-orgid": tenant },
  });
  assert.equal(reply.status, 200, reply.text);
  return JSON.parse(reply.text);
}

/** Emits two records through the SDK and `exporter`, then flushes and shuts the provider down. */
async function emitThroughSdk(exporter: LogRecordExporter, service: string): Promise<void> {
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ "service.name": service, "deployment.environment": "prod" }),
    processors: [new BatchLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger("checkout-lib", "1.0.0");
  logger.emit({
    severityNumber: SeverityNumber.INFO,
    severityText: "INFO",
    body: `order placed by ${service}`,
    attributes: { "http.method": "POST", attempt: 2 },
  });
  logger.emit({ severityNumber: SeverityNumber.ERROR, body: `payment failed for ${service}` });
  await provider.forceFlush();
  await provider.shutdown();
}

/** The lines written by emitThroughSdk read back through query_range (both selectors) and GET /v1/query. */
async function assertReadBack(url: string, service: string, tenant: string): Promise<void> {
  for (const selector of [`{service="${service}"}`, `{service_name="${service}"}`]) {
    const streams = await queryRange(url, selector, tenant);
    const byLine = new Map(streams.flatMap((s) => s.values.map(([, line]) => [line, s.stream])));
    const info = byLine.get(`order placed by ${service}`);
    const error = byLine.get(`payment failed for ${service}`);
    assert.ok(info && error, `${selector}: ${JSON.stringify(streams)}`);
    assert.equal(info.level, "info");
    assert.equal(info.deployment_environment, "prod");
    assert.equal(info.http_method, "POST"); // a log attribute, as structured metadata
    assert.equal(info.attempt, "2");
    assert.equal(info.scope_name, "checkout-lib");
    assert.equal(error.level, "error");
  }
  const entries = await queryEntries(url, service, tenant);
  assert.deepEqual(entries.map((entry) => [entry.service, entry.level, entry.message]).sort(), [
    [service, "error", `payment failed for ${service}`],
    [service, "info", `order placed by ${service}`],
  ]);
}

describe("OTLP logs: the OpenTelemetry SDK's three exporters, and every refusal", () => {
  let server: ServerProcess;
  let url: string;
  let grpcPort: number;
  before(async () => {
    server = await startServerProcess({
      args: ["--otlp-grpc-port", "0", "--body-bytes-max", "65536", "--decoded-bytes-max", "262144"],
    });
    url = server.url;
    assert.ok(server.grpcPort !== null && server.grpcPort > 0, "the listening line carries the gRPC port");
    grpcPort = server.grpcPort;
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test("OTLP/HTTP JSON exporter: 200, the lines come back through the Loki API and GET /v1/query", async () => {
    const exporter = new HttpJsonExporter({ url: `${url}/v1/logs`, headers: { "X-Scope-OrgID": "otel" } });
    await emitThroughSdk(exporter, "checkout-json");
    await assertReadBack(url, "checkout-json", "otel");
  });

  test("OTLP/HTTP protobuf exporter, gzip: the same", async () => {
    const exporter = new ProtoExporter({
      url: `${url}/v1/logs`,
      headers: { "X-Scope-OrgID": "otel" },
      compression: "gzip" as never, // CompressionAlgorithm.GZIP (the enum lives in a transitive package)
    });
    await emitThroughSdk(exporter, "checkout-proto");
    await assertReadBack(url, "checkout-proto", "otel");
  });

  test("OTLP/gRPC exporter, gzip, tenant from metadata: the same", async () => {
    const metadata = new grpc.Metadata();
    metadata.set("x-scope-orgid", "otel");
    const exporter = new GrpcExporter({
      url: `http://127.0.0.1:${grpcPort}`,
      metadata,
      compression: "gzip" as never,
    });
    await emitThroughSdk(exporter, "checkout-grpc");
    await assertReadBack(url, "checkout-grpc", "otel");
  });

  test("tenants are isolated on both transports", async () => {
    for (const service of ["checkout-json", "checkout-proto", "checkout-grpc"]) {
      assert.deepEqual(await queryRange(url, `{service="${service}"}`, "someone-else"), []);
      assert.deepEqual(await queryEntries(url, service, "fake"), []); // the default tenant
    }
  });

  test("200 answers: an empty ExportLogsServiceResponse in the request's encoding", async () => {
    const proto = await postOtlp(url, "application/x-protobuf", otlpProto("hand-made", ["a", "b"]));
    assert.equal(proto.status, 200);
    assert.equal(proto.headers.get("content-type"), "application/x-protobuf");
    assert.equal(proto.body.length, 0); // partial_success unset
    const json = await postOtlp(url, "application/json; charset=utf-8", ` \n${otlpJson("hand-made", ["c"])}`);
    assert.equal(json.status, 200);
    assert.equal(json.headers.get("content-type"), "application/json");
    assert.equal(json.body.toString(), "{}");
    const empty = await postOtlp(url, "application/x-protobuf", new Uint8Array(0));
    assert.equal(empty.status, 200, "an empty request is a success, as the spec asks");
    const gzipJson = await postOtlp(url, "application/json", zlib.gzipSync(otlpJson("hand-made", ["d"])), {
      "content-encoding": "gzip",
    });
    assert.equal(gzipJson.status, 200, gzipJson.body.toString());
    const entries = await queryEntries(url, "hand-made", "fake");
    assert.deepEqual(entries.map((entry) => entry.message).sort(), ["a", "b", "c", "d"]);
  });

  test("a JSON array on /v1/logs is still reference A's, so are other objects and other content types", async () => {
    const body = JSON.stringify([{ timestamp: 1_700_000_000_000, service: "ref-a", message: "hello" }]);
    const reply = await send(`${url}/v1/logs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, '{"received":1}\n');
    // An object without resourceLogs first is reference A's (its 400), even `{}`.
    for (const other of ["{}", '{"timestamp":1,"service":"a","message":"m"}']) {
      const refused = await send(`${url}/v1/logs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: other,
      });
      assert.equal(refused.status, 400);
      assert.match(refused.text, /^invalid json: /);
      assert.equal(refused.headers.get("content-type"), "text/plain; charset=utf-8");
    }
    // An OTLP body under text/plain is not OTLP: reference A answers it, in plain text.
    const object = await send(`${url}/v1/logs`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: otlpJson("not-otlp", ["x"]),
    });
    assert.equal(object.status, 400);
    assert.equal(object.headers.get("content-type"), "text/plain; charset=utf-8");
    // A gzip'd array is not OTLP either: reference A reads no Content-Encoding and refuses the bytes.
    const gzipArray = await send(`${url}/v1/logs`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: zlib.gzipSync(body),
    });
    assert.equal(gzipArray.headers.get("content-type"), "text/plain; charset=utf-8");
  });

  test("400 with a google.rpc.Status for bad data, protobuf and JSON", async () => {
    const garbage = await postOtlp(
      url,
      "application/x-protobuf",
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
    );
    assertProtoStatus(garbage, 400, rpcCodes.invalidArgument, /./);
    const whole = otlpProto("truncated", ["a line that will be cut"]);
    const truncated = await postOtlp(url, "application/x-protobuf", whole.subarray(0, whole.length - 5));
    assertProtoStatus(truncated, 400, rpcCodes.invalidArgument, /./);
    const invalidJson = await postOtlp(url, "application/json", '{"resourceLogs": [');
    assertJsonStatus(invalidJson, 400, rpcCodes.invalidArgument, /^invalid json: /);
    const wrongShape = JSON.parse(otlpJson("shape", ["x"]));
    wrongShape.resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano = "soon";
    const shaped = await postOtlp(url, "application/json", JSON.stringify(wrongShape));
    assertJsonStatus(
      shaped,
      400,
      rpcCodes.invalidArgument,
      /resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.timeUnixNano/,
    );
    const corruptGzip = await postOtlp(url, "application/x-protobuf", Buffer.from("not gzip at all"), {
      "content-encoding": "gzip",
    });
    assertProtoStatus(corruptGzip, 400, rpcCodes.invalidArgument, /gzip/);
    const badTenant = await postOtlp(url, "application/x-protobuf", otlpProto("t", ["x"]), {
      "x-scope-orgid": "no spaces allowed",
    });
    assertProtoStatus(badTenant, 400, rpcCodes.invalidArgument, /X-Scope-OrgID/);
    const badUtf8 = await postOtlp(url, "application/json", Buffer.from('{"resourceLogs":"\xff"}', "latin1"));
    assertJsonStatus(badUtf8, 400, rpcCodes.invalidArgument, /UTF-8/);
    assert.deepEqual(
      await queryEntries(url, "truncated", "fake"),
      [],
      "nothing of a refused request is stored",
    );
  });

  test("413 with a Status: a gzip bomb past --decoded-bytes-max, a body past --body-bytes-max", async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(1024 * 1024)); // ~1 KB inflating to 1 MiB > 256 KiB
    assertProtoStatus(
      await postOtlp(url, "application/x-protobuf", bomb, { "content-encoding": "gzip" }),
      413,
      rpcCodes.resourceExhausted,
      /inflates past the limit of 262144 bytes/,
    );
    const jsonBomb = zlib.gzipSync(`{"resourceLogs":[${" ".repeat(1024 * 1024)}]}`);
    assertJsonStatus(
      await postOtlp(url, "application/json", jsonBomb, { "content-encoding": "gzip" }),
      413,
      rpcCodes.resourceExhausted,
      /inflates past the limit/,
    );
    const large = otlpProto("large", ["x".repeat(70_000)]);
    const tooLarge = await postOtlp(url, "application/x-protobuf", large);
    assertProtoStatus(tooLarge, 413, rpcCodes.resourceExhausted, /the limit is 65536 bytes/);
    assert.equal((await send(`${url}/healthz`)).status, 200);
  });

  test("415 with a Status: an OTLP body in a Content-Encoding the server does not read", async () => {
    assertProtoStatus(
      await postOtlp(url, "application/x-protobuf", otlpProto("br", ["x"]), { "content-encoding": "br" }),
      415,
      rpcCodes.invalidArgument,
      /unsupported Content-Encoding "br"/,
    );
  });

  test("gRPC: INVALID_ARGUMENT for garbage, a truncated message, a bad tenant; a response for a good one", async () => {
    const client = grpcClient(grpcPort);
    try {
      const garbage = expectGrpcError(
        await rawExport(client, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])),
        grpc.status.INVALID_ARGUMENT,
      );
      assert.ok(garbage.details.length > 0);
      const whole = otlpProto("grpc-raw", ["cut"]);
      expectGrpcError(
        await rawExport(client, whole.subarray(0, whole.length - 3)),
        grpc.status.INVALID_ARGUMENT,
      );
      expectGrpcError(await rawExport(client, whole, "bad tenant!"), grpc.status.INVALID_ARGUMENT);
      const ok = await rawExport(client, whole, "raw");
      assert.ok("response" in ok);
      assert.equal(ok.response.length, 0, "an empty ExportLogsServiceResponse");
      const entries = await queryEntries(url, "grpc-raw", "raw");
      assert.deepEqual(
        entries.map((entry) => entry.message),
        ["cut"],
      );
    } finally {
      client.close();
    }
  });

  test("gRPC: a message past --body-bytes-max is RESOURCE_EXHAUSTED, gzip'd or not; the process lives on", async () => {
    const plain = grpcClient(grpcPort);
    const gzip = grpcClient(grpcPort, { "grpc.default_compression_algorithm": 2 }); // gzip
    try {
      const large = otlpProto("grpc-large", ["x".repeat(70_000)]);
      expectGrpcError(await rawExport(plain, large), grpc.status.RESOURCE_EXHAUSTED);
      // Zeros compress to ~1 KB: only the inflated size is over the limit.
      expectGrpcError(await rawExport(gzip, Buffer.alloc(1024 * 1024)), grpc.status.RESOURCE_EXHAUSTED);
      const small = await rawExport(gzip, otlpProto("grpc-gzip", ["zipped"]), "raw");
      assert.ok("response" in small, "a gzip'd message within the limit is taken");
    } finally {
      plain.close();
      gzip.close();
    }
    assert.equal((await send(`${url}/healthz`)).status, 200);
    assert.deepEqual(
      (await queryEntries(url, "grpc-gzip", "raw")).map((entry) => entry.message),
      ["zipped"],
    );
  });

  test("gRPC port: garbage bytes, an HTTP/1 request, an unknown method; the server keeps serving", async () => {
    for (const bytes of [
      Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.alloc(64, 0xff)]),
      Buffer.alloc(4096, 0x5a),
    ]) {
      const socket = net.connect(grpcPort, "127.0.0.1");
      socket.on("error", () => {}); // a reset is a fine answer to garbage
      socket.on("data", () => {});
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.write(bytes);
      await new Promise<void>((resolve) => {
        socket.once("close", () => resolve());
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 500);
      });
    }
    const client = grpcClient(grpcPort);
    try {
      const unknown = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.makeUnaryRequest(
          "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
          identity,
          identity,
          Buffer.alloc(0),
          new grpc.Metadata(),
          (error) => resolve(error),
        ),
      );
      assert.equal(unknown?.code, grpc.status.UNIMPLEMENTED);
      assert.ok("response" in (await rawExport(client, otlpProto("after-garbage", ["still here"]), "raw")));
    } finally {
      client.close();
    }
    assert.equal((await send(`${url}/healthz`)).status, 200);
  });
});

describe("OTLP logs under limits: 429 + Retry-After, RESOURCE_EXHAUSTED with RetryInfo, UNAVAILABLE", () => {
  let server: ServerProcess;
  let grpcPort: number;
  // One record per second and a bucket of one second: a first request of N records passes and
  // leaves N − 1 seconds of debt, so the next one is refused whatever the test's own pace.
  const debtRecords = 3600;
  const lines = Array.from({ length: debtRecords }, (_, i) => `line ${i}`);
  before(async () => {
    server = await startServerProcess({
      args: ["--otlp-grpc-port", "0", "--tenant-records-per-s", "1", "--queue-requests-max", "1"],
    });
    assert.ok(server.grpcPort !== null);
    grpcPort = server.grpcPort;
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  function assertRetryAfter(headers: Headers): number {
    const retryAfter = headers.get("retry-after") ?? "";
    assert.match(retryAfter, /^[1-9]\d*$/, `Retry-After ${retryAfter}`);
    return Number(retryAfter);
  }

  test("OTLP/HTTP over the tenant's records/s: 429, Retry-After and a Status, JSON and protobuf", async () => {
    const headers = { "x-scope-orgid": "rate-http" };
    const first = await postOtlp(url(), "application/json", otlpJson("rated", lines), headers);
    assert.equal(first.status, 200, first.body.toString());
    const json = await postOtlp(url(), "application/json", otlpJson("rated", ["more"]), headers);
    assertJsonStatus(json, 429, rpcCodes.resourceExhausted, /over its ingestion rate limit/);
    assert.ok(assertRetryAfter(json.headers) <= 60);
    const proto = await postOtlp(url(), "application/x-protobuf", otlpProto("rated", ["more"]), headers);
    assertProtoStatus(proto, 429, rpcCodes.resourceExhausted, /over its ingestion rate limit/);
    assertRetryAfter(proto.headers);
  });

  test("OTLP/gRPC over the rate: RESOURCE_EXHAUSTED with a RetryInfo in grpc-status-details-bin", async () => {
    const client = grpcClient(grpcPort);
    try {
      assert.ok("response" in (await rawExport(client, otlpProto("rated", lines), "rate-grpc")));
      const error = expectGrpcError(
        await rawExport(client, otlpProto("rated", ["more"]), "rate-grpc"),
        grpc.status.RESOURCE_EXHAUSTED,
      );
      const [details] = error.metadata.get("grpc-status-details-bin");
      assert.ok(Buffer.isBuffer(details), "a RetryInfo says the refusal is retryable");
      const retryDelayS = [...Array(61).keys()].find((seconds) =>
        details.equals(
          encodeRpcStatus(
            { code: rpcCodes.resourceExhausted, message: error.details, retryDelayS: seconds },
            "protobuf",
          ),
        ),
      );
      assert.ok(retryDelayS !== undefined && retryDelayS >= 1, `RetryInfo in ${details.toString("hex")}`);
      assert.ok(details.includes(Buffer.from("type.googleapis.com/google.rpc.RetryInfo")));
    } finally {
      client.close();
    }
  });

  test("a full ingest queue: OTLP/HTTP protobuf 429 with a Status, OTLP/gRPC UNAVAILABLE with RetryInfo", async () => {
    // --queue-requests-max 1: a request whose body never finishes holds the only place.
    const socket = net.connect(server.port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[",
    );
    await new Promise((resolve) => setTimeout(resolve, 200)); // the server admits it
    const client = grpcClient(grpcPort);
    try {
      const proto = await postOtlp(url(), "application/x-protobuf", otlpProto("queued", ["x"]));
      assertProtoStatus(proto, 429, rpcCodes.unavailable, /too many requests in flight/);
      assert.equal(proto.headers.get("retry-after"), "1");
      const error = expectGrpcError(
        await rawExport(client, otlpProto("queued", ["x"])),
        grpc.status.UNAVAILABLE,
      );
      const [details] = error.metadata.get("grpc-status-details-bin");
      assert.ok(
        Buffer.isBuffer(details) &&
          details.equals(
            encodeRpcStatus(
              { code: rpcCodes.unavailable, message: error.details, retryDelayS: 1 },
              "protobuf",
            ),
          ),
      );
    } finally {
      socket.destroy();
    }
    // The place comes back once the held request is gone.
    let outcome = await rawExport(client, otlpProto("queued", ["after"]));
    for (let attempt = 0; attempt < 50 && "error" in outcome; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      outcome = await rawExport(client, otlpProto("queued", ["after"]));
    }
    client.close();
    assert.ok("response" in outcome, "accepted once the queue has room");
  });

  function url(): string {
    return server.url;
  }
});
