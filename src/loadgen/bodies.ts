// The request bodies `sluice loadgen` sends, one encoder per protocol Sluice ingests: reference A's
// and B's JSON, Loki push (JSON, and protobuf + snappy as Promtail and Alloy send it), OTLP logs
// (JSON and protobuf, as the OpenTelemetry exporters send them) and Elasticsearch bulk NDJSON. The
// protobuf bodies are encoded with protobufjs from the same schemas Sluice decodes by hand, so a
// loadgen body is also an independent check of the decoders.

import path from "node:path";
import protobuf from "protobufjs";
import snappyjs from "snappyjs";
import type { ServiceLog } from "./generator.ts";

export interface ProtocolFormat {
  /** Where it is posted by default. */
  path: string;
  contentType: string;
}

export const protocolFormats = {
  v1: { path: "/v1/logs", contentType: "application/json" },
  access: { path: "/logs", contentType: "application/json" },
  loki: { path: "/loki/api/v1/push", contentType: "application/json" },
  "loki-proto": { path: "/loki/api/v1/push", contentType: "application/x-protobuf" },
  otlp: { path: "/v1/logs", contentType: "application/json" },
  "otlp-proto": { path: "/v1/logs", contentType: "application/x-protobuf" },
  es: { path: "/_bulk", contentType: "application/x-ndjson" },
} as const satisfies Record<string, ProtocolFormat>;

/** The Loki push body (JSON shape; the protobuf one is the same object encoded): a stream per label set. */
export function lokiPushObject(logs: readonly ServiceLog[]) {
  const streams = new Map<string, { stream: Record<string, string>; values: Array<[string, string]> }>();
  for (const log of logs) {
    const labels = { service: log.service, level: log.level, ...log.labels };
    const key = JSON.stringify(labels);
    let stream = streams.get(key);
    if (stream === undefined) {
      stream = { stream: labels, values: [] };
      streams.set(key, stream);
    }
    stream.values.push([`${log.timestamp}000000`, log.message]);
  }
  return { streams: [...streams.values()] };
}

/** The OTLP/JSON ExportLogsServiceRequest: one resource per service. */
export function otlpLogsObject(logs: readonly ServiceLog[]) {
  const byService = new Map<string, ServiceLog[]>();
  for (const log of logs) {
    let held = byService.get(log.service);
    if (held === undefined) {
      held = [];
      byService.set(log.service, held);
    }
    held.push(log);
  }
  return {
    resourceLogs: [...byService].map(([service, serviceLogs]) => ({
      resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
      scopeLogs: [
        {
          scope: { name: "sluice-loadgen", version: "1" },
          logRecords: serviceLogs.map((log) => ({
            timeUnixNano: `${log.timestamp}000000`,
            severityText: log.level,
            body: { stringValue: log.message },
            attributes: Object.entries(log.labels ?? {}).map(([key, value]) => ({
              key,
              value: { stringValue: value },
            })),
          })),
        },
      ],
    })),
  };
}

let lokiSchema: protobuf.Type | null = null;

/** Loki push's JSON shape: values are [ns, line] or [ns, line, structured metadata]. */
export interface LokiPushObject {
  streams: {
    stream: Record<string, string>;
    values: ([string, string] | [string, string, Record<string, string>])[];
  }[];
}

/** A Loki PushRequest in protobuf, raw-block snappy compressed, from its JSON shape. */
export function encodeLokiPushProto(body: LokiPushObject): Buffer {
  lokiSchema ??= protobuf
    .loadSync(path.join(import.meta.dirname, "../ingest/loki-push.proto"))
    .lookupType("logproto.PushRequest");
  const message = lokiSchema.fromObject({
    streams: body.streams.map((stream) => ({
      labels: `{${Object.entries(stream.stream)
        .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
        .join(", ")}}`,
      entries: stream.values.map(([ns, line, metadata]) => {
        const nanoseconds = BigInt(ns);
        return {
          timestamp: {
            seconds: Number(nanoseconds / 1_000_000_000n),
            nanos: Number(nanoseconds % 1_000_000_000n),
          },
          line,
          structuredMetadata: Object.entries(metadata ?? {}).map(([name, value]) => ({ name, value })),
        };
      }),
    })),
  });
  return Buffer.from(snappyjs.compress(lokiSchema.encode(message).finish()));
}

// The part of opentelemetry/proto/logs/v1 and common/v1 a log exporter sends (field numbers as there).
const otlpSchemaText = `syntax = "proto3";
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }
message Scope { string name = 1; string version = 2; }
message LogRecord { fixed64 time_unix_nano = 1; int32 severity_number = 2; string severity_text = 3; AnyValue body = 5; repeated KeyValue attributes = 6; bytes trace_id = 9; bytes span_id = 10; }
message ScopeLogs { Scope scope = 1; repeated LogRecord log_records = 2; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; }
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }`;
let otlpSchema: protobuf.Type | null = null;

/** An ExportLogsServiceRequest in protobuf from its OTLP/JSON shape (hex trace and span ids become bytes). */
export function encodeOtlpLogsProto(body: object): Buffer {
  otlpSchema ??= protobuf.parse(otlpSchemaText).root.lookupType("ExportLogsServiceRequest");
  const object = JSON.parse(JSON.stringify(body), (key, value) =>
    key === "traceId" || key === "spanId" ? Buffer.from(value, "hex") : value,
  );
  return Buffer.from(otlpSchema.encode(otlpSchema.fromObject(object)).finish());
}

/** An Elasticsearch bulk body: an `index` action and a document per log, into logs-<service>. */
export function esBulkBody(logs: readonly ServiceLog[]): Buffer {
  const lines: string[] = [];
  for (const log of logs) {
    lines.push(JSON.stringify({ index: { _index: `logs-${log.service}` } }));
    lines.push(
      JSON.stringify({
        "@timestamp": new Date(log.timestamp).toISOString(),
        message: log.message,
        service: { name: log.service },
        log: { level: log.level.toLowerCase() },
        ...log.labels,
      }),
    );
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

/** The body of one batch of service logs in a format (all but `access`). */
export function serviceLogBody(
  format: Exclude<keyof typeof protocolFormats, "access">,
  logs: readonly ServiceLog[],
) {
  switch (format) {
    case "v1":
      return Buffer.from(JSON.stringify(logs));
    case "loki":
      return Buffer.from(JSON.stringify(lokiPushObject(logs)));
    case "loki-proto":
      return encodeLokiPushProto(lokiPushObject(logs));
    case "otlp":
      return Buffer.from(JSON.stringify(otlpLogsObject(logs)));
    case "otlp-proto":
      return encodeOtlpLogsProto(otlpLogsObject(logs));
    case "es":
      return esBulkBody(logs);
  }
}
