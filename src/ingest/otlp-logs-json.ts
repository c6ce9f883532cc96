// OTLP logs over JSON (OTLP/JSON: the proto3 JSON mapping with lowerCamelCase names — the proto
// names are accepted too —, hex trace and span ids, 64-bit integers as decimal strings or numbers,
// enums as integers or names, bytes as base64), mapped by OtlpStreamBuilder (OTLP.md). A shape
// that does not fit is DecodeError(invalid_entry) naming the field's path.

import { Buffer } from "node:buffer";
import type { DecodeLimits, IngestStream } from "./batch.ts";
import { DecodeError } from "./batch.ts";
import { rejectReasons } from "./errors.ts";
import { anyValueDepthMax } from "./limits.ts";
import {
  doubleText,
  emptyRecord,
  type OtlpRecord,
  type OtlpRejected,
  OtlpStreamBuilder,
} from "./otlp-map.ts";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
type Json = unknown;
type JsonObject = Record<string, Json>;

function bad(path: string, expected: string, value: Json): DecodeError {
  const shown = value === undefined ? "nothing" : JSON.stringify(value)?.slice(0, 60);
  return new DecodeError(rejectReasons.invalidEntry, `${path}: expected ${expected}, got ${shown}`);
}

function isObject(value: Json): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field(object: JsonObject, camel: string, snake: string): Json {
  const value = object[camel];
  return value === undefined ? object[snake] : value;
}

function list(object: JsonObject, camel: string, snake: string, path: string): Json[] {
  const value = field(object, camel, snake);
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw bad(`${path}.${camel}`, "an array", value);
  return value;
}

function optionalObject(object: JsonObject, camel: string, snake: string, path: string): JsonObject | null {
  const value = field(object, camel, snake);
  if (value === undefined || value === null) return null;
  if (!isObject(value)) throw bad(`${path}.${camel}`, "an object", value);
  return value;
}

function text(object: JsonObject, camel: string, snake: string, path: string): string {
  const value = field(object, camel, snake);
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") throw bad(`${path}.${camel}`, "a string", value);
  return value;
}

/** A uint64/int64 as a decimal string or a JSON number. */
function int64(value: Json, path: string): bigint {
  if (typeof value === "string" && /^-?\d{1,20}$/.test(value)) return BigInt(value);
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  throw bad(path, "an integer (a decimal string or a number)", value);
}

function time(object: JsonObject, camel: string, snake: string, path: string): bigint {
  const value = field(object, camel, snake);
  if (value === undefined || value === null) return 0n;
  const nanos = int64(value, `${path}.${camel}`);
  if (nanos < 0n || nanos >= 2n ** 64n) throw bad(`${path}.${camel}`, "a uint64", value);
  return nanos;
}

const severityNames = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

function severityNumber(object: JsonObject, path: string): number {
  const value = field(object, "severityNumber", "severity_number");
  if (value === undefined || value === null) return 0;
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 2 ** 31) return value;
  if (typeof value === "string") {
    const match = /^SEVERITY_NUMBER_(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)([234]?)$/.exec(value);
    if (match) return severityNames.indexOf(match[1]!) * 4 + (match[2] === "" ? 1 : Number(match[2]));
    if (value === "SEVERITY_NUMBER_UNSPECIFIED") return 0;
  }
  throw bad(`${path}.severityNumber`, "a severity number (an integer 0-24 or its enum name)", value);
}

function hexId(object: JsonObject, camel: string, snake: string, bytes: number, path: string): string {
  const value = text(object, camel, snake, path);
  if (value === "") return "";
  if (value.length !== bytes * 2 || !/^[0-9a-fA-F]+$/.test(value))
    throw bad(`${path}.${camel}`, `${bytes} bytes as ${bytes * 2} hex digits`, value);
  const lower = value.toLowerCase();
  return /^0+$/.test(lower) ? "" : lower;
}

/** An AnyValue rendered as OTLP.md says (a top-level string as is, anything else JSON text). */
function anyValue(value: Json, path: string, depth: number, nested: boolean): string {
  if (depth > anyValueDepthMax)
    throw bad(path, `an AnyValue nested at most ${anyValueDepthMax} deep`, "deeper");
  if (value === undefined || value === null) return nested ? "null" : "";
  if (!isObject(value)) throw bad(path, "an AnyValue object", value);
  let kind: string | undefined;
  for (const key in value) {
    if (value[key] === undefined || value[key] === null) continue;
    kind = key;
  }
  if (kind === undefined) return nested ? "null" : "";
  const inner = value[kind];
  switch (kind) {
    case "stringValue":
    case "string_value":
      if (typeof inner !== "string") throw bad(`${path}.stringValue`, "a string", inner);
      return nested ? JSON.stringify(inner) : inner;
    case "boolValue":
    case "bool_value":
      if (typeof inner !== "boolean") throw bad(`${path}.boolValue`, "true or false", inner);
      return inner ? "true" : "false";
    case "intValue":
    case "int_value":
      return int64(inner, `${path}.intValue`).toString();
    case "doubleValue":
    case "double_value": {
      let number: number;
      if (typeof inner === "number") number = inner;
      else if (inner === "NaN" || inner === "Infinity" || inner === "-Infinity") number = Number(inner);
      else if (typeof inner === "string" && inner.trim() !== "" && Number.isFinite(Number(inner)))
        number = Number(inner);
      else throw bad(`${path}.doubleValue`, "a number", inner);
      return doubleText(number, nested);
    }
    case "bytesValue":
    case "bytes_value": {
      if (typeof inner !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(inner))
        throw bad(`${path}.bytesValue`, "base64", inner);
      const base64 = Buffer.from(inner, "base64").toString("base64");
      return nested ? `"${base64}"` : base64;
    }
    case "arrayValue":
    case "array_value": {
      if (!isObject(inner)) throw bad(`${path}.arrayValue`, "an object with values", inner);
      const values = list(inner, "values", "values", `${path}.arrayValue`);
      return `[${values.map((item, index) => anyValue(item, `${path}.arrayValue.values[${index}]`, depth + 1, true)).join(",")}]`;
    }
    case "kvlistValue":
    case "kvlist_value": {
      if (!isObject(inner)) throw bad(`${path}.kvlistValue`, "an object with values", inner);
      const values = list(inner, "values", "values", `${path}.kvlistValue`);
      const parts = values.map((item, index) => {
        const [key, rendered] = keyValue(item, `${path}.kvlistValue.values[${index}]`, depth + 1, true);
        return `${JSON.stringify(key)}:${rendered}`;
      });
      return `{${parts.join(",")}}`;
    }
    default:
      throw bad(
        path,
        "one of stringValue, boolValue, intValue, doubleValue, bytesValue, arrayValue, kvlistValue",
        kind,
      );
  }
}

function keyValue(item: Json, path: string, depth: number, nested: boolean): [string, string] {
  if (!isObject(item)) throw bad(path, "a {key, value} object", item);
  const key = item.key;
  if (typeof key !== "string") throw bad(`${path}.key`, "a string", key);
  return [key, anyValue(item.value, `${path}.value`, depth, nested)];
}

function attributes(object: JsonObject, path: string): [string, string][] {
  return list(object, "attributes", "attributes", path).map((item, index) =>
    keyValue(item, `${path}.attributes[${index}]`, 0, false),
  );
}

export function decodeOtlpLogsJson(
  body: Uint8Array,
  limits: DecodeLimits,
  receivedAtMs: number,
  rejected?: OtlpRejected,
): IngestStream[] {
  let parsed: Json;
  try {
    parsed = JSON.parse(strictUtf8.decode(body));
  } catch (error) {
    if (error instanceof SyntaxError)
      throw new DecodeError(rejectReasons.invalidJson, `invalid json: ${error.message}`, { cause: error });
    throw new DecodeError(rejectReasons.invalidUtf8, "the body is not valid UTF-8", { cause: error });
  }
  if (!isObject(parsed)) throw bad("the body", "an ExportLogsServiceRequest object", parsed);
  const builder = new OtlpStreamBuilder(limits, receivedAtMs);
  if (rejected !== undefined) builder.rejected = rejected;
  const record: OtlpRecord = emptyRecord();
  list(parsed, "resourceLogs", "resource_logs", "").forEach((resourceLogs, resourceIndex) => {
    const resourcePath = `resourceLogs[${resourceIndex}]`;
    if (!isObject(resourceLogs)) throw bad(resourcePath, "an object", resourceLogs);
    const resource = optionalObject(resourceLogs, "resource", "resource", resourcePath);
    builder.beginResource(resource === null ? [] : attributes(resource, `${resourcePath}.resource`));
    list(resourceLogs, "scopeLogs", "scope_logs", resourcePath).forEach((scopeLogs, scopeIndex) => {
      const scopePath = `${resourcePath}.scopeLogs[${scopeIndex}]`;
      if (!isObject(scopeLogs)) throw bad(scopePath, "an object", scopeLogs);
      const scope = optionalObject(scopeLogs, "scope", "scope", scopePath);
      builder.beginScope(
        scope === null ? "" : text(scope, "name", "name", `${scopePath}.scope`),
        scope === null ? "" : text(scope, "version", "version", `${scopePath}.scope`),
        scope === null ? [] : attributes(scope, `${scopePath}.scope`),
      );
      list(scopeLogs, "logRecords", "log_records", scopePath).forEach((item, recordIndex) => {
        const path = `${scopePath}.logRecords[${recordIndex}]`;
        if (!isObject(item)) throw bad(path, "an object", item);
        builder.countEntry();
        record.timeUnixNano = time(item, "timeUnixNano", "time_unix_nano", path);
        record.observedTimeUnixNano = time(item, "observedTimeUnixNano", "observed_time_unix_nano", path);
        record.severityNumber = severityNumber(item, path);
        record.severityText = text(item, "severityText", "severity_text", path);
        record.line = anyValue(field(item, "body", "body"), `${path}.body`, 0, false);
        builder.checkLineBytes(Buffer.byteLength(record.line));
        record.attributes = attributes(item, path);
        record.traceIdHex = hexId(item, "traceId", "trace_id", 16, path);
        record.spanIdHex = hexId(item, "spanId", "span_id", 8, path);
        record.eventName = text(item, "eventName", "event_name", path);
        builder.addRecord(record);
      });
    });
  });
  return builder.streams;
}
