// OTLP logs over protobuf: an ExportLogsServiceRequest (otlp-logs.proto; field numbers from
// opentelemetry-proto collector/logs/v1, logs/v1, common/v1, resource/v1) read by hand with
// WireReader, mapped by OtlpStreamBuilder (OTLP.md).

import type { Buffer } from "node:buffer";
import { type DecodeLimits, type IngestEntry, type IngestStream, lineBytes } from "./batch.ts";
import { anyValueDepthMax } from "./limits.ts";
import {
  doubleText,
  emptyRecord,
  idHex,
  type OtlpRecord,
  type OtlpRejected,
  OtlpStreamBuilder,
} from "./otlp-map.ts";
import { invalidProtobuf, utf8Strict, utf8View, WireReader, wireType } from "./protobuf-wire.ts";

const { varint, fixed64, lengthDelimited } = wireType;

/** Calls `field(fieldNumber, wireType)` for each field of the message reader.position..end. */
function fields(reader: WireReader, end: number, field: (number: number, type: number) => void): void {
  const outerEnd = reader.end;
  reader.end = end;
  while (reader.position < end) {
    const tag = reader.uint32();
    const number = Math.floor(tag / 8);
    if (number === 0) throw invalidProtobuf("field number 0");
    field(number, tag & 7);
  }
  reader.end = outerEnd;
}

export function decodeOtlpLogsProto(
  body: Uint8Array,
  limits: DecodeLimits,
  receivedAtMs: number,
  rejected?: OtlpRejected,
): IngestStream[] {
  const reader = new WireReader(body);
  const builder = new OtlpStreamBuilder(limits, receivedAtMs);
  if (rejected !== undefined) builder.rejected = rejected;
  fields(reader, reader.end, (number, type) => {
    if (number !== 1) return reader.skip(type);
    reader.expect(type, lengthDelimited, "ExportLogsServiceRequest.resource_logs");
    readResourceLogs(reader, reader.lengthDelimited(), builder);
  });
  return builder.streams;
}

/** ResourceLogs {1: Resource, 2: ScopeLogs repeated, 3: schema_url}: the resource first, wherever it is. */
function readResourceLogs(reader: WireReader, end: number, builder: OtlpStreamBuilder): void {
  const start = reader.position;
  let attributes: [string, string][] = [];
  fields(reader, end, (number, type) => {
    if (number !== 1) return reader.skip(type);
    reader.expect(type, lengthDelimited, "ResourceLogs.resource");
    fields(reader, reader.lengthDelimited(), (resourceField, resourceType) => {
      if (resourceField !== 1) return reader.skip(resourceType);
      reader.expect(resourceType, lengthDelimited, "Resource.attributes");
      attributes.push(readKeyValue(reader, reader.lengthDelimited()));
    });
  });
  builder.beginResource(attributes);
  attributes = [];
  reader.position = start;
  fields(reader, end, (number, type) => {
    if (number !== 2) return reader.skip(type);
    reader.expect(type, lengthDelimited, "ResourceLogs.scope_logs");
    readScopeLogs(reader, reader.lengthDelimited(), builder);
  });
}

/** ScopeLogs {1: InstrumentationScope, 2: LogRecord repeated, 3: schema_url}. */
function readScopeLogs(reader: WireReader, end: number, builder: OtlpStreamBuilder): void {
  const start = reader.position;
  let name = "";
  let version = "";
  const attributes: [string, string][] = [];
  fields(reader, end, (number, type) => {
    if (number !== 1) return reader.skip(type);
    reader.expect(type, lengthDelimited, "ScopeLogs.scope");
    fields(reader, reader.lengthDelimited(), (scopeField, scopeType) => {
      if (scopeField === 1) {
        reader.expect(scopeType, lengthDelimited, "InstrumentationScope.name");
        name = reader.string("the scope name");
      } else if (scopeField === 2) {
        reader.expect(scopeType, lengthDelimited, "InstrumentationScope.version");
        version = reader.string("the scope version");
      } else if (scopeField === 3) {
        reader.expect(scopeType, lengthDelimited, "InstrumentationScope.attributes");
        attributes.push(readKeyValue(reader, reader.lengthDelimited()));
      } else reader.skip(scopeType);
    });
  });
  builder.beginScope(name, version, attributes);
  reader.position = start;
  const record = emptyRecord();
  record.namesClean = true; // readRecordAttribute sanitises each name as it reads it
  const scope: ScopeCaches = {
    attributes: new Map(),
    previous: [],
    lastTraceId: { start: 0, end: 0, hex: "" },
    lastSpanId: { start: 0, end: 0, hex: "" },
  };
  // A loop, not fields(): this runs once per log record.
  const outerEnd = reader.end;
  reader.end = end;
  while (reader.position < end) {
    const tag = reader.uint32();
    const number = Math.floor(tag / 8);
    if (number === 0) throw invalidProtobuf("field number 0");
    if (number !== 2) {
      reader.skip(tag & 7);
      continue;
    }
    reader.expect(tag & 7, lengthDelimited, "ScopeLogs.log_records");
    builder.countEntry();
    readLogRecord(reader, reader.lengthDelimited(), record, builder, scope);
    builder.addRecord(record);
  }
  reader.end = outerEnd;
}

/**
 * A scope's record attributes already read, by their KeyValue's bytes: `http.method=POST` is the
 * same bytes on every record, and is then one hash and one comparison instead of two strings, a
 * pair and a sanitised name. Keyed by FNV-1a of some of the bytes, holding where they are in the body
 * (which outlives the decode) and the pair, shared by the records: nothing mutates a pair.
 */
interface ScopeCaches {
  attributes: AttributeCache;
  /**
   * The last record's attributes by position: records of one logger mostly repeat the same ones
   * in the same order, and the bytes compared with the one before need no hash and no lookup.
   */
  previous: AttributeAt[];
  lastTraceId: LastId;
  lastSpanId: LastId;
}

interface AttributeAt {
  start: number;
  end: number;
  pair: [string, string];
}

type AttributeCache = Map<number, AttributeAt>;
// KeyValues this short are the ones that repeat (a key and a short value); a scope's cache holds at
// most this many, so a stream of unique values (user ids) costs a bounded number of misses kept.
const cachedAttributeBytesMax = 64;
const cachedAttributesMax = 256;

function readRecordAttribute(
  reader: WireReader,
  end: number,
  builder: OtlpStreamBuilder,
  scope: ScopeCaches,
  position: number,
): [string, string] {
  const start = reader.position;
  const previous = scope.previous[position];
  if (previous !== undefined && sameBytes(reader.buffer, previous.start, previous.end, start, end)) {
    reader.position = end;
    return previous.pair;
  }
  const pair = readAttributeByHash(reader, end, builder, scope.attributes);
  if (previous === undefined) scope.previous[position] = { start, end, pair };
  else {
    previous.start = start;
    previous.end = end;
    previous.pair = pair;
  }
  return pair;
}

/** A record attribute read whole: its name through the builder's sanitising. */
function readAttribute(reader: WireReader, end: number, builder: OtlpStreamBuilder): [string, string] {
  const pair = readKeyValue(reader, end);
  pair[0] = builder.attributeName(pair[0]);
  return pair;
}

/** Whether bytes aStart..aEnd and bStart..bEnd of one buffer are the same bytes. */
function sameBytes(buffer: Buffer, aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  const length = aEnd - aStart;
  if (length !== bEnd - bStart) return false;
  for (let index = 0; index < length; index++)
    if (buffer[aStart + index] !== buffer[bStart + index]) return false;
  return true;
}

function readAttributeByHash(
  reader: WireReader,
  end: number,
  builder: OtlpStreamBuilder,
  cache: AttributeCache,
): [string, string] {
  const start = reader.position;
  const buffer = reader.buffer;
  if (end - start > cachedAttributeBytesMax) return readAttribute(reader, end, builder);
  // Hashed on the length and the first and last four bytes (where a key and a value differ); a
  // hit is compared byte for byte, so a collision is only a miss.
  const length = end - start;
  let hash = Math.imul(0x811c9dc5 ^ length, 0x01000193);
  for (let index = 0; index < 4 && index < length; index++) {
    hash = Math.imul(hash ^ buffer[start + index]!, 0x01000193);
    hash = Math.imul(hash ^ buffer[end - 1 - index]!, 0x01000193);
  }
  const held = cache.get(hash);
  if (held !== undefined && sameBytes(buffer, held.start, held.end, start, end)) {
    reader.position = end;
    return held.pair;
  }
  const pair = readAttribute(reader, end, builder);
  if (held === undefined && cache.size < cachedAttributesMax) cache.set(hash, { start, end, pair });
  return pair;
}

/**
 * LogRecord {1: fixed64 time_unix_nano, 2: severity_number, 3: severity_text, 5: AnyValue body,
 * 6: KeyValue attributes, 7: dropped count, 8: fixed32 flags, 9: trace_id, 10: span_id,
 * 11: fixed64 observed_time_unix_nano, 12: event_name}.
 */
function readLogRecord(
  reader: WireReader,
  end: number,
  record: OtlpRecord,
  builder: OtlpStreamBuilder,
  scope: ScopeCaches,
): void {
  record.timeUnixNano = 0n;
  record.observedTimeUnixNano = 0n;
  record.severityNumber = 0;
  record.severityText = "";
  record.line = "";
  record.attributes = [];
  record.traceIdHex = "";
  record.spanIdHex = "";
  record.eventName = "";
  const outerEnd = reader.end;
  reader.end = end;
  while (reader.position < end) {
    const tag = reader.uint32();
    const number = Math.floor(tag / 8);
    const type = tag & 7;
    switch (number) {
      case 1:
        reader.expect(type, fixed64, "LogRecord.time_unix_nano");
        record.timeUnixNano = reader.fixed64();
        break;
      case 2:
        reader.expect(type, varint, "LogRecord.severity_number");
        record.severityNumber = reader.uint32() | 0;
        break;
      case 3:
        reader.expect(type, lengthDelimited, "LogRecord.severity_text");
        record.severityText = reader.internedString("severity_text");
        break;
      case 5: {
        reader.expect(type, lengthDelimited, "LogRecord.body");
        const bodyEnd = reader.lengthDelimited();
        record.line = readBody(reader, bodyEnd, builder);
        builder.checkLineBytes(lineBytes(record.line));
        break;
      }
      case 6:
        reader.expect(type, lengthDelimited, "LogRecord.attributes");
        record.attributes.push(
          readRecordAttribute(reader, reader.lengthDelimited(), builder, scope, record.attributes.length),
        );
        break;
      case 9:
        reader.expect(type, lengthDelimited, "LogRecord.trace_id");
        record.traceIdHex = readIdHex(reader, scope.lastTraceId);
        break;
      case 10:
        reader.expect(type, lengthDelimited, "LogRecord.span_id");
        record.spanIdHex = readIdHex(reader, scope.lastSpanId);
        break;
      case 11:
        reader.expect(type, fixed64, "LogRecord.observed_time_unix_nano");
        record.observedTimeUnixNano = reader.fixed64();
        break;
      case 12:
        reader.expect(type, lengthDelimited, "LogRecord.event_name");
        record.eventName = reader.string("event_name");
        break;
      case 0:
        throw invalidProtobuf("field number 0");
      default:
        reader.skip(type);
    }
  }
  reader.end = outerEnd;
}

/**
 * The last id read into one field (trace or span) of a scope's records: where its bytes are in the
 * body and their hex. Records of one request or span sit side by side in a batch and share their
 * ids; hex is most of an id's cost, so an id equal to the last is its string again.
 */
interface LastId {
  start: number;
  end: number;
  hex: string;
}

/** A bytes field holding an id, as lowercase hex ("" for an empty or all-zero id). */
function readIdHex(reader: WireReader, last: LastId): string {
  const end = reader.lengthDelimited();
  const start = reader.position;
  reader.position = end;
  if (sameBytes(reader.buffer, last.start, last.end, start, end)) return last.hex;
  last.start = start;
  last.end = end;
  last.hex = idHex(reader.buffer, start, end);
  return last.hex;
}

/**
 * A log record's body: when it is just a string (nearly always), its UTF-8 bytes as a view over
 * the request, which the pipeline copies into the record as they are; anything else, or a string
 * written in any but the one-byte tag, as readAnyValue renders it.
 */
function readBody(reader: WireReader, end: number, builder: OtlpStreamBuilder): IngestEntry["line"] {
  const start = reader.position;
  if (start < end && reader.buffer[start] === 0x0a) {
    reader.position = start + 1;
    const outerEnd = reader.end;
    reader.end = end;
    const stringEnd = reader.lengthDelimited();
    reader.end = outerEnd;
    if (stringEnd === end) {
      const line = builder.checkLineBytes(end - reader.position)
        ? utf8View(reader.buffer, reader.position, end, "a log record body")
        : "";
      reader.position = end;
      return line;
    }
  }
  reader.position = start;
  return readAnyValue(reader, end, 0, false, builder);
}

/** KeyValue {1: key, 2: AnyValue value}: the value rendered as text (OTLP.md). A loop, not fields(): no closure per attribute. */
function readKeyValue(reader: WireReader, end: number): [string, string] {
  let key = "";
  let value = "";
  const outerEnd = reader.end;
  reader.end = end;
  while (reader.position < end) {
    const tag = reader.uint32();
    const number = Math.floor(tag / 8);
    if (number === 1) {
      reader.expect(tag & 7, lengthDelimited, "KeyValue.key");
      key = reader.internedString("an attribute key");
    } else if (number === 2) {
      reader.expect(tag & 7, lengthDelimited, "KeyValue.value");
      value = readAnyValue(reader, reader.lengthDelimited(), 0, false, null);
    } else if (number === 0) throw invalidProtobuf("field number 0");
    else reader.skip(tag & 7);
  }
  reader.end = outerEnd;
  return [key, value];
}

/**
 * AnyValue {1: string, 2: bool, 3: int64, 4: double, 5: ArrayValue, 6: KeyValueList, 7: bytes}
 * as text: a top-level string as it is, anything else (and any nested value) as JSON text.
 * An AnyValue with no field set is "" at the top, null nested. The last field wins (proto3 oneof).
 */
function readAnyValue(
  reader: WireReader,
  end: number,
  depth: number,
  nested: boolean,
  builder: OtlpStreamBuilder | null,
): string {
  if (depth > anyValueDepthMax) throw invalidProtobuf(`AnyValue nested deeper than ${anyValueDepthMax}`);
  let text = nested ? "null" : "";
  const outerEnd = reader.end;
  reader.end = end;
  while (reader.position < end) {
    const tag = reader.uint32();
    const number = Math.floor(tag / 8);
    const type = tag & 7;
    if (number === 1) {
      reader.expect(type, lengthDelimited, "AnyValue.string_value");
      if (builder !== null) {
        const stringEnd = reader.lengthDelimited();
        // A body too long is not decoded at all: its record is refused alone (partial success).
        text = builder.checkLineBytes(stringEnd - reader.position)
          ? utf8Strict(reader.buffer, reader.position, stringEnd, "a log record body")
          : "";
        reader.position = stringEnd;
      } else {
        const value = reader.internedString("a string value");
        text = nested ? JSON.stringify(value) : value;
      }
    } else if (number === 2) {
      reader.expect(type, varint, "AnyValue.bool_value");
      text = reader.bool() ? "true" : "false";
    } else if (number === 3) {
      reader.expect(type, varint, "AnyValue.int_value");
      text = reader.int64Text();
    } else if (number === 4) {
      reader.expect(type, fixed64, "AnyValue.double_value");
      text = doubleText(reader.double(), nested);
    } else if (number === 7) {
      reader.expect(type, lengthDelimited, "AnyValue.bytes_value");
      const bytesEnd = reader.lengthDelimited();
      const base64 = reader.buffer.toString("base64", reader.position, bytesEnd);
      reader.position = bytesEnd;
      text = nested ? `"${base64}"` : base64;
    } else if (number === 5 || number === 6) {
      reader.expect(type, lengthDelimited, number === 5 ? "AnyValue.array_value" : "AnyValue.kvlist_value");
      const listEnd = reader.lengthDelimited();
      const parts: string[] = [];
      fields(reader, listEnd, (itemField, itemType) => {
        if (itemField !== 1) return reader.skip(itemType);
        reader.expect(itemType, lengthDelimited, "ArrayValue.values / KeyValueList.values");
        const itemEnd = reader.lengthDelimited();
        if (number === 5) parts.push(readAnyValue(reader, itemEnd, depth + 1, true, null));
        else {
          const [key, value] = readNestedKeyValue(reader, itemEnd, depth + 1);
          parts.push(`${JSON.stringify(key)}:${value}`);
        }
      });
      text = number === 5 ? `[${parts.join(",")}]` : `{${parts.join(",")}}`;
    } else if (number === 0) {
      throw invalidProtobuf("field number 0");
    } else reader.skip(type);
  }
  reader.end = outerEnd;
  return text;
}

function readNestedKeyValue(reader: WireReader, end: number, depth: number): [string, string] {
  let key = "";
  let value = "null";
  fields(reader, end, (number, type) => {
    if (number === 1) {
      reader.expect(type, lengthDelimited, "KeyValue.key");
      key = reader.string("a key");
    } else if (number === 2) {
      reader.expect(type, lengthDelimited, "KeyValue.value");
      value = readAnyValue(reader, reader.lengthDelimited(), depth, true, null);
    } else reader.skip(type);
  });
  return [key, value];
}
