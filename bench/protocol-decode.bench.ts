// Protocol decoders alone (no HTTP, no pipeline), one core: records/s and MB/s of body for a
// 1,000-entry Loki protobuf push (snappy block; inflating included) and a 1,000-record OTLP logs
// request as protobuf and as OTLP/JSON (one resource, 3 attributes, trace ids), and a 1,000-document
// Elasticsearch bulk body of Filebeat-shaped ECS documents (nested host/log/agent, ~12 leaves each).
// "otlp proto ids" is the OTLP protobuf body with a distinct trace and span id on every record.
// One line each.
// Usage: node bench/protocol-decode.bench.ts [--seconds 1]

import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import {
  decodeEsBulk,
  decodeLokiPushProto,
  decodeOtlpLogsJson,
  decodeOtlpLogsProto,
  esBulkMapping,
} from "../src/ingest/index.ts";
import { encodeLokiPushProto, encodeOtlpLogsProto } from "../src/loadgen/bodies.ts";
import { benchLine, formatCount } from "./stats.ts";

const { values: args } = parseArgs({ options: { seconds: { type: "string", default: "1" } } });
const seconds = Number(args.seconds);
const limits = { entriesMax: 100_000, lineBytesMax: 256 * 1024, decodedBytesMax: 64 * 1024 * 1024 };
const count = 1000;
const line = (index: number) =>
  `level=info ts=2026-12-03T14:45:12.345Z caller=handler.go:112 method=POST path=/v1/login status=200 duration_ms=12.7 user_id=${index}`;

const lokiBody = encodeLokiPushProto({
  streams: Array.from({ length: 10 }, (_, stream) => ({
    stream: { service: `service_${stream}`, level: "info", env: "prod" },
    values: Array.from(
      { length: count / 10 },
      (_, index): [string, string] | [string, string, Record<string, string>] => {
        const ns = String((1_764_000_000n + BigInt(index)) * 1_000_000_000n + BigInt(index * 1000));
        return index % 3 === 0
          ? [ns, line(index), { trace_id: "5b8efff798038103d269b633813fc60c" }]
          : [ns, line(index)];
      },
    ),
  })),
});

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
const otlpProtoBody = encodeOtlpLogsProto(otlpJson);
// The same with a distinct trace and span id on every record: the decoder reuses an id equal to
// the last record's (records of one request or span sit together), this is its worst case.
const otlpDistinctIds = structuredClone(otlpJson);
otlpDistinctIds.resourceLogs[0]!.scopeLogs[0]!.logRecords.forEach((record, index) => {
  record.traceId = (index + 1).toString(16).padStart(32, "0");
  record.spanId = (index + 1).toString(16).padStart(16, "0");
});
const otlpProtoDistinctIdsBody = encodeOtlpLogsProto(otlpDistinctIds);

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
measure("decode otlp proto ids", otlpProtoDistinctIdsBody, () =>
  decodeOtlpLogsProto(otlpProtoDistinctIdsBody, limits, 0),
);
measure("decode otlp logs json", otlpJsonBody, () => decodeOtlpLogsJson(otlpJsonBody, limits, 0));
measure("decode es bulk ndjson", esBulkBody, () =>
  decodeEsBulk(esBulkBody, { urlIndex: null, mapping: esMapping, limits, receivedAtMs: 0 }),
);
