import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { OTLPLogExporter as HttpJsonExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPLogExporter as ProtoExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import fc from "fast-check";
import { encodeOtlpLogsProto } from "../loadgen/bodies.ts";
import { DecodeError, type DecodeLimits, type IngestStream, lineText } from "./batch.ts";
import { rejectReasons } from "./errors.ts";
import { decodeOtlpLogsJson, decodeOtlpLogsProto, encodeOtlpExportLogsResponse } from "./otlp-logs.ts";

const limits: DecodeLimits = {
  entriesMax: 10_000,
  lineBytesMax: 256 * 1024,
  decodedBytesMax: 8 * 1024 * 1024,
};
const receivedAtMs = 1_750_000_000_000;

/** Sends the same records through a real OTel exporter to a loopback capture server: the body it POSTed. */
async function captureExport(kind: "proto" | "json"): Promise<{ contentType: string; body: Buffer }> {
  const captured: { contentType: string; body: Buffer }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      captured.push({ contentType: String(request.headers["content-type"]), body: Buffer.concat(chunks) });
      const json = kind === "json";
      response.writeHead(200, { "content-type": json ? "application/json" : "application/x-protobuf" });
      response.end(
        encodeOtlpExportLogsResponse({ rejectedLogRecords: 0, errorMessage: "" }, json ? "json" : "protobuf"),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`;
  const exporter = kind === "proto" ? new ProtoExporter({ url }) : new HttpJsonExporter({ url });
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({
      "service.name": "checkout",
      "deployment.environment": "prod",
      "host.cpu": 4,
    }),
    processors: [new BatchLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger("payments", "1.2.3");
  logger.emit({
    severityNumber: SeverityNumber.INFO,
    severityText: "INFO",
    body: "payment accepted ✓",
    attributes: { "http.method": "POST", retries: 2 },
  });
  logger.emit({ severityNumber: SeverityNumber.ERROR2, body: { code: 42, ok: false, tags: ["a", 1.5] } });
  logger.emit({ severityText: "Warning", body: 7 });
  await provider.forceFlush();
  await provider.shutdown();
  server.close();
  assert.equal(captured.length, 1);
  return captured[0]!;
}

function flat(streams: IngestStream[]) {
  return streams.flatMap((stream) =>
    stream.entries.map((entry) => ({
      labels: Object.fromEntries(stream.labels),
      ...entry,
      line: lineText(entry.line),
      metadata: Object.fromEntries(entry.metadata),
    })),
  );
}

function rejects(run: () => unknown, reason: string, messagePart?: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof DecodeError, `expected a DecodeError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    if (messagePart !== undefined) assert.ok(error.message.includes(messagePart), error.message);
    return true;
  });
}

function onlyDecodeErrors(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
  }
}

for (const kind of ["proto", "json"] as const) {
  test(`decodes what the real OTel ${kind} exporter sends: labels, level, body kinds, metadata, time`, async () => {
    const { contentType, body } = await captureExport(kind);
    assert.match(contentType, kind === "proto" ? /protobuf/ : /json/);
    const decode = kind === "proto" ? decodeOtlpLogsProto : decodeOtlpLogsJson;
    const entries = flat(decode(body, limits, receivedAtMs));
    assert.equal(entries.length, 3);
    const [info, error, warning] = entries;
    assert.deepEqual(info!.labels, {
      service: "checkout",
      deployment_environment: "prod",
      host_cpu: "4",
      level: "info",
    });
    assert.equal(info!.line, "payment accepted ✓");
    assert.equal(info!.metadata.http_method, "POST");
    assert.equal(info!.metadata.retries, "2");
    assert.equal(info!.metadata.scope_name, "payments");
    assert.equal(info!.metadata.scope_version, "1.2.3");
    const now = BigInt(Date.now()) * 1_000_000n;
    assert.ok(
      info!.timestampNs > now - 60_000_000_000n && info!.timestampNs <= now,
      String(info!.timestampNs),
    );
    assert.equal(error!.labels.level, "error");
    assert.deepEqual(JSON.parse(error!.line), { code: 42, ok: false, tags: ["a", 1.5] });
    assert.equal(warning!.labels.level, "warning");
    assert.equal(warning!.line, "7");
  });
}

/** OTLP/JSON body of one resource and one record, for shape tests. */
function jsonBody(record: Record<string, unknown>, resource: unknown = { attributes: [] }): Uint8Array {
  return Buffer.from(JSON.stringify({ resourceLogs: [{ resource, scopeLogs: [{ logRecords: [record] }] }] }));
}

describe("decodeOtlpLogsJson", () => {
  test("renders every AnyValue kind: strings as they are, the rest as JSON text", () => {
    const cases: [unknown, string][] = [
      [{ stringValue: "plain" }, "plain"],
      [{ intValue: "9007199254740993" }, "9007199254740993"],
      [{ intValue: 5 }, "5"],
      [{ doubleValue: 2.5 }, "2.5"],
      [{ doubleValue: "NaN" }, "NaN"],
      [{ boolValue: true }, "true"],
      [{ bytesValue: "AAEC" }, "AAEC"],
      [
        {
          arrayValue: { values: [{ stringValue: "x" }, { intValue: "1" }, {}, { doubleValue: "Infinity" }] },
        },
        '["x",1,null,"Infinity"]',
      ],
      [
        {
          kvlistValue: {
            values: [
              { key: "k", value: { boolValue: false } },
              { key: "n", value: { kvlistValue: { values: [] } } },
            ],
          },
        },
        '{"k":false,"n":{}}',
      ],
      [undefined, ""],
    ];
    for (const [body, expected] of cases) {
      const [entry] = flat(decodeOtlpLogsJson(jsonBody({ timeUnixNano: "1", body }), limits, receivedAtMs));
      assert.equal(entry!.line, expected, JSON.stringify(body));
    }
  });

  test("service, level, ids, time fallbacks and the label bound", () => {
    const attributes = Array.from({ length: 20 }, (_, index) => ({
      key: `attr.${index}`,
      value: { stringValue: `v${index}` },
    }));
    const [entry] = flat(
      decodeOtlpLogsJson(
        jsonBody(
          {
            observedTimeUnixNano: 1_700_000_000_000_000_000,
            severityNumber: 13,
            traceId: "5B8EFFF798038103D269B633813FC60C",
            spanId: "EEE19B7EC3C1B174",
          },
          { attributes },
        ),
        limits,
        receivedAtMs,
      ),
    );
    assert.equal(entry!.labels.service, "unknown_service");
    assert.equal(entry!.labels.level, "warn");
    assert.equal(Object.keys(entry!.labels).length, 15);
    assert.equal(entry!.metadata.attr_19, "v19");
    assert.equal(entry!.metadata.trace_id, "5b8efff798038103d269b633813fc60c");
    assert.equal(entry!.metadata.span_id, "eee19b7ec3c1b174");
    assert.equal(entry!.timestampNs, 1_700_000_000_000_000_000n);
    const [noTime] = flat(
      decodeOtlpLogsJson(jsonBody({ severityNumber: "SEVERITY_NUMBER_FATAL2" }), limits, receivedAtMs),
    );
    assert.equal(noTime!.timestampNs, BigInt(receivedAtMs) * 1_000_000n);
    assert.equal(noTime!.labels.level, "fatal");
  });

  test("bad shapes are refused with a message naming the field", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ timeUnixNano: true }, "resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano"],
      [{ severityNumber: "loud" }, "logRecords[0].severityNumber"],
      [{ traceId: "xyz" }, "logRecords[0].traceId"],
      [{ body: { intValue: "1.5" } }, "logRecords[0].body.intValue"],
      [{ body: { weird: 1 } }, "logRecords[0].body"],
      [{ attributes: [{ key: 3 }] }, "logRecords[0].attributes[0].key"],
      [{ attributes: {} }, "logRecords[0].attributes"],
    ];
    for (const [record, path] of cases)
      rejects(
        () => decodeOtlpLogsJson(jsonBody(record), limits, receivedAtMs),
        rejectReasons.invalidEntry,
        path,
      );
    rejects(() => decodeOtlpLogsJson(Buffer.from("{"), limits, receivedAtMs), rejectReasons.invalidJson);
    rejects(
      () => decodeOtlpLogsJson(Buffer.from("[]"), limits, receivedAtMs),
      rejectReasons.invalidEntry,
      "the body",
    );
    rejects(
      () => decodeOtlpLogsJson(Buffer.from([0x7b, 0xff, 0x7d]), limits, receivedAtMs),
      rejectReasons.invalidUtf8,
    );
    let deep: unknown = { stringValue: "x" };
    for (let depth = 0; depth < 40; depth++) deep = { arrayValue: { values: [deep] } };
    rejects(
      () => decodeOtlpLogsJson(jsonBody({ body: deep }), limits, receivedAtMs),
      rejectReasons.invalidEntry,
    );
  });

  test("limits: too many records; a body over lineBytesMax refuses its record alone (partial success)", () => {
    const body = jsonBody({ body: { stringValue: "x".repeat(100) } });
    const request = {
      resourceLogs: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "s" } }] },
          scopeLogs: [
            {
              logRecords: [
                { body: { stringValue: "short one" } },
                { body: { stringValue: "x".repeat(100) } },
                { body: { stringValue: "z".repeat(150) } },
                { body: { stringValue: "short two" } },
              ],
            },
          ],
        },
      ],
    };
    for (const [name, decode, bytes] of [
      ["json", decodeOtlpLogsJson, Buffer.from(JSON.stringify(request))],
      ["proto", decodeOtlpLogsProto, encodeOtlpLogsProto(request)],
    ] as const) {
      const rejected = { records: 0, message: "" };
      const lines = flat(decode(bytes, { ...limits, lineBytesMax: 99 }, receivedAtMs, rejected)).map(
        (entry) => entry.line,
      );
      assert.deepEqual(lines, ["short one", "short two"], name);
      assert.equal(rejected.records, 2, name);
      assert.match(
        rejected.message,
        /longer than the 99 bytes allowed were not stored \(the first: 100 bytes\)/,
        name,
      );
    }
    assert.equal(flat(decodeOtlpLogsJson(body, { ...limits, lineBytesMax: 99 }, receivedAtMs)).length, 0);
    // A structured body is measured as the JSON text it is stored as.
    const rejected = { records: 0, message: "" };
    const kvlist = jsonBody({
      body: { kvlistValue: { values: [{ key: "k", value: { stringValue: "y".repeat(95) } }] } },
    });
    assert.equal(
      flat(decodeOtlpLogsJson(kvlist, { ...limits, lineBytesMax: 99 }, receivedAtMs, rejected)).length,
      0,
    );
    assert.equal(rejected.records, 1);
    rejects(
      () => decodeOtlpLogsJson(body, { ...limits, entriesMax: 0 }, receivedAtMs),
      rejectReasons.tooManyEntries,
    );
  });
});

describe("decodeOtlpLogsProto", () => {
  test("every truncation and random or mutated bytes: only DecodeError", async () => {
    const { body } = await captureExport("proto");
    for (let length = 0; length < body.length; length++)
      onlyDecodeErrors(() => decodeOtlpLogsProto(body.subarray(0, length), limits, receivedAtMs));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) =>
        onlyDecodeErrors(() => decodeOtlpLogsProto(bytes, limits, receivedAtMs)),
      ),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(body.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const mutated = Uint8Array.from(body);
          for (const [at, value] of edits) mutated[at] = value;
          onlyDecodeErrors(() => decodeOtlpLogsProto(mutated, limits, receivedAtMs));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("decodes exactly as the JSON decoder for any records: repeated and look-alike attributes and ids (property)", () => {
    // The protobuf decoder reuses a repeated attribute's pair, and an id equal to the last one's
    // string; look-alikes (same length, same first and last four bytes) and ids that come back
    // after another must still come out as sent. The JSON decoder has no such reuse.
    const attribute = fc.constantFrom(
      { key: "http.method", value: { stringValue: "POST" } },
      { key: "http.method", value: { stringValue: "GET" } },
      { key: "tag", value: { stringValue: "AA1BBBB" } },
      { key: "tag", value: { stringValue: "AA2BBBB" } },
      { key: "tag", value: { stringValue: "AA1BBBB".repeat(12) } },
      { key: "user.id", value: { stringValue: "u1" } },
    );
    const id = (bytes: number) =>
      fc.constantFrom(
        "",
        "0".repeat(bytes * 2),
        "ab".repeat(bytes),
        "ac".repeat(bytes),
        `${"ab".repeat(bytes - 1)}cd`,
      );
    const record = fc.record({
      timeUnixNano: fc.bigInt({ min: 1n, max: 2n ** 62n }).map(String),
      severityNumber: fc.integer({ min: 0, max: 24 }),
      body: fc.string({ maxLength: 40 }).map((text) => ({ stringValue: text })),
      attributes: fc.array(attribute, { maxLength: 4 }),
      traceId: id(16),
      spanId: id(8),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 12 }), (logRecords) => {
        const request = {
          resourceLogs: [
            {
              resource: { attributes: [{ key: "service.name", value: { stringValue: "svc" } }] },
              scopeLogs: [{ scope: { name: "s", version: "1" }, logRecords }],
            },
          ],
        };
        const json = decodeOtlpLogsJson(Buffer.from(JSON.stringify(request)), limits, receivedAtMs);
        const proto = decodeOtlpLogsProto(encodeOtlpLogsProto(request), limits, receivedAtMs);
        assert.deepEqual(flat(proto), flat(json));
      }),
      { numRuns: 500 },
    );
  });

  test("invalid UTF-8 in a body string is invalid_utf8", () => {
    // LogRecord {5: AnyValue {1: 0xff}} inside ScopeLogs, ResourceLogs, the request.
    const anyValue = [0x0a, 0x01, 0xff];
    const record = [0x2a, anyValue.length, ...anyValue];
    const scope = [0x12, record.length, ...record];
    const resource = [0x12, scope.length, ...scope];
    const request = Uint8Array.from([0x0a, resource.length, ...resource]);
    rejects(() => decodeOtlpLogsProto(request, limits, receivedAtMs), rejectReasons.invalidUtf8);
    request[request.length - 1] = 0x41;
    assert.equal(flat(decodeOtlpLogsProto(request, limits, receivedAtMs))[0]!.line, "A");
  });
});

test("encodeOtlpExportLogsResponse: empty on full success, partial success in both encodings", () => {
  assert.equal(
    encodeOtlpExportLogsResponse({ rejectedLogRecords: 0, errorMessage: "" }, "protobuf").length,
    0,
  );
  assert.equal(
    Buffer.from(encodeOtlpExportLogsResponse({ rejectedLogRecords: 0, errorMessage: "" }, "json")).toString(),
    "{}",
  );
  assert.deepEqual(
    [...encodeOtlpExportLogsResponse({ rejectedLogRecords: 300, errorMessage: "ab" }, "protobuf")],
    [0x0a, 0x07, 0x08, 0xac, 0x02, 0x12, 0x02, 0x61, 0x62],
  );
  assert.deepEqual(
    JSON.parse(
      Buffer.from(
        encodeOtlpExportLogsResponse({ rejectedLogRecords: 3, errorMessage: "too old" }, "json"),
      ).toString(),
    ),
    {
      partialSuccess: { rejectedLogRecords: "3", errorMessage: "too old" },
    },
  );
});
