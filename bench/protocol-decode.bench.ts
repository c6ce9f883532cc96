// Protocol decoders alone (no HTTP, no pipeline), one core: records/s and MB/s of body for a
// 1,000-entry Loki protobuf push (snappy block; inflating included) and a 1,000-record OTLP logs
// request as protobuf and as OTLP/JSON (one resource, 3 attributes, trace ids), and a 1,000-document
// Elasticsearch bulk body of Filebeat-shaped ECS documents (nested host/log/agent, ~12 leaves each).
// One line each.
// Usage: node bench/protocol-decode.bench.ts [--seconds 1]

import { Buffer } from "node:buffer";
import path from "node:path";
import { parseArgs } from "node:util";
import protobuf from "protobufjs";
import snappyjs from "snappyjs";
import {
  decodeEsBulk,
  decodeLokiPushProto,
  decodeOtlpLogsJson,
  decodeOtlpLogsProto,
  esBulkMapping,
} from "../src/ingest/index.ts";
import { benchLine, formatCount } from "./stats.ts";

const { values: args } = parseArgs({ options: { seconds: { type: "string", default: "1" } } });
const seconds = Number(args.seconds);
const limits = { entriesMax: 100_000, lineBytesMax: 256 * 1024, decodedBytesMax: 64 * 1024 * 1024 };
const count = 1000;
const line = (index: number) =>
  `level=info ts=2026-12-03T14:45:12.345Z caller=handler.go:112 method=POST path=/v1/login status=200 duration_ms=12.7 user_id=${index}`;

const schema = protobuf.loadSync(path.join(import.meta.dirname, "../src/ingest/loki-push.proto"));
const PushRequest = schema.lookupType("logproto.PushRequest");
const lokiRequest = PushRequest.encode(
  PushRequest.fromObject({
    streams: Array.from({ length: 10 }, (_, stream) => ({
      labels: `{service="service_${stream}", level="info", env="prod"}`,
      entries: Array.from({ length: count / 10 }, (_, index) => ({
        timestamp: { seconds: 1_764_000_000 + index, nanos: index * 1000 },
        line: line(index),
        structuredMetadata:
          index % 3 === 0 ? [{ name: "trace_id", value: "5b8efff798038103d269b633813fc60c" }] : [],
      })),
    })),
  }),
).finish();
const lokiBody = snappyjs.compress(lokiRequest);

const otlpJson = {
  resourceLogs: [
    {
      resource: {
        attributes: [
          { key: "service.name", value: { stringValue: "checkout" } },
          { key: "host.name", value: { stringValue: "web-1" } },
        ],
      },
      scopeLogs: [
        {
          scope: { name: "payments", version: "1.0.0" },
          logRecords: Array.from({ length: count }, (_, index) => ({
            timeUnixNano: String(1_764_000_000_000_000_000n + BigInt(index)),
            severityNumber: 9,
            severityText: "INFO",
            body: { stringValue: line(index) },
            attributes: [
              { key: "http.method", value: { stringValue: "POST" } },
              { key: "http.status_code", value: { intValue: "200" } },
              { key: "user.id", value: { stringValue: `u${index}` } },
            ],
            traceId: "5b8efff798038103d269b633813fc60c",
            spanId: "eee19b7ec3c1b174",
          })),
        },
      ],
    },
  ],
};
const otlpJsonBody = Buffer.from(JSON.stringify(otlpJson));
// The protobuf body, encoded with protobufjs from the same object (hex ids as bytes).
const otlpSchema = protobuf.parse(`syntax = "proto3";
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }
message Scope { string name = 1; string version = 2; }
message LogRecord { fixed64 time_unix_nano = 1; int32 severity_number = 2; string severity_text = 3; AnyValue body = 5; repeated KeyValue attributes = 6; bytes trace_id = 9; bytes span_id = 10; }
message ScopeLogs { Scope scope = 1; repeated LogRecord log_records = 2; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; }
message Request { repeated ResourceLogs resource_logs = 1; }`).root;
const Request = otlpSchema.lookupType("Request");
const protoObject = JSON.parse(JSON.stringify(otlpJson), (key, value) =>
  key === "traceId" || key === "spanId" ? Buffer.from(value, "hex") : value,
);
const otlpProtoBody = Request.encode(Request.fromObject(protoObject)).finish();

const esBulkBody = Buffer.from(
  Array.from({ length: count }, (_, index) =>
    [
      JSON.stringify({ create: { _index: "filebeat-9.2.0" } }),
      JSON.stringify({
        "@timestamp": new Date(1_764_000_000_000 + index).toISOString(),
        message: line(index),
        log: { level: "info", offset: index * 140, file: { path: "/var/log/app/app.log" } },
        host: { name: "web-1", hostname: "web-1", architecture: "x86_64" },
        agent: { type: "filebeat", version: "9.2.0", name: "web-1" },
        ecs: { version: "8.0.0" },
        input: { type: "filestream" },
      }),
    ].join("\n"),
  )
    .join("\n")
    .concat("\n"),
);
const esMapping = esBulkMapping("message", "@timestamp", "service.name,service,host.name,level,log.level");

function measure(name: string, body: Uint8Array, decode: () => unknown): void {
  for (let warm = 0; warm < 50; warm++) decode();
  let best = 0;
  for (let run = 0; run < 3; run++) {
    const started = performance.now();
    let requests = 0;
    while (performance.now() - started < (seconds * 1000) / 3) {
      decode();
      requests++;
    }
    best = Math.max(best, requests / ((performance.now() - started) / 1000));
  }
  console.log(
    benchLine(name, {
      "records/s": formatCount(best * count),
      "MB/s": ((best * body.length) / 1e6).toFixed(1),
      body_bytes: body.length,
    }),
  );
}

measure("decode loki push proto", lokiBody, () => decodeLokiPushProto(lokiBody, limits));
measure("decode otlp logs proto", otlpProtoBody, () => decodeOtlpLogsProto(otlpProtoBody, limits, 0));
measure("decode otlp logs json", otlpJsonBody, () => decodeOtlpLogsJson(otlpJsonBody, limits, 0));
measure("decode es bulk ndjson", esBulkBody, () =>
  decodeEsBulk(esBulkBody, { urlIndex: null, mapping: esMapping, limits, receivedAtMs: 0 }),
);
