// Reading back what the ingest routes stored: a record of topics/logs (FORMAT.md: service entry v1,
// legacy, or stream entry v1 0x03) to its tenant and entry. The ingest stage owns that format, so the decoding
// lives here beside the writers; the query stage maps the decoded entry onto a stream
// (src/model/service-stream.ts) and never looks at the bytes itself, except for the key prefix
// check below, which lets a reader skip other tenants' records without decoding their values.

import { serviceLogEntry } from "../model/service-stream.ts";
import type { LogEntry } from "../model/stream.ts";
import { RecordDecodeError } from "./errors.ts";
import { storedServiceEntry } from "./service-logs.ts";
import { recordFormats } from "./stored-format.ts";
import { decodeStreamEntryValue, type StreamEntry, streamEntryTimestampMs } from "./stream-entry.ts";

/** A stored entry: the reference A fields and the enrichment, as GET /v1/query returns them. */
export interface StoredServiceEntry {
  timestamp: number;
  service: string;
  level?: string;
  message: string;
  labels?: Record<string, string>;
  received_at?: number;
  client_ip?: string;
  ingested_node_id?: string;
}

export interface DecodedServiceRecord {
  /** From the key: the bytes before its 0x00. */
  tenant: string;
  entry: StoredServiceEntry;
}

const keySeparator = 0x00;

/** The bytes every key of `tenant`'s records starts with: the tenant and the 0x00 (FORMAT.md). */
export function serviceKeyPrefix(tenant: string): Buffer {
  return Buffer.from(`${tenant}\u0000`);
}

/** Whether `key` starts with `prefix` (serviceKeyPrefix): a record of that tenant, its value undecoded. */
export function hasKeyPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

/**
 * The tenant and entry of a topics/logs record. Throws RecordFormatError for a format byte this
 * version does not know, RecordDecodeError for a known format whose bytes are not what it says.
 */
export function decodeServiceRecord(key: Uint8Array, value: Uint8Array): DecodedServiceRecord {
  const separator = key.indexOf(keySeparator);
  if (separator < 0) throw new RecordDecodeError("a topics/logs key without its 0x00 separator");
  const tenant = textOf(key.subarray(0, separator));
  const json = storedServiceEntry(value); // throws RecordFormatError
  let parsed: unknown;
  try {
    parsed = JSON.parse(textOf(json));
  } catch (error) {
    throw new RecordDecodeError("a topics/logs value that is not a JSON entry", { cause: error });
  }
  return { tenant, entry: checkedEntry(parsed) };
}

/** Whether a topics/logs value is a generic stream entry (format 0x03) rather than reference A's. */
export function isStreamEntryValue(value: Uint8Array): boolean {
  return value[0] === recordFormats.streamEntryV1;
}

/** The tenant (from the key) and entry of a 0x03 record. Throws RecordDecodeError for junk. */
export function decodeStreamRecord(
  key: Uint8Array,
  value: Uint8Array,
): { tenant: string; entry: StreamEntry } {
  return { tenant: tenantOf(key), entry: decodeStreamEntryValue(value) };
}

/**
 * Any topics/logs record as the line the query stage sees, whatever its format: 0x01 and legacy
 * through reference A's stream mapping (src/model/service-stream.ts), 0x03 as stored (its labels,
 * nanoseconds and metadata). Throws RecordFormatError / RecordDecodeError as decodeServiceRecord.
 */
export function decodeLogRecord(key: Uint8Array, value: Uint8Array): { tenant: string; entry: LogEntry } {
  if (isStreamEntryValue(value)) {
    const { tenant, entry } = decodeStreamRecord(key, value);
    return {
      tenant,
      entry: {
        timestampNs: entry.timestampNs,
        labels: entry.labels,
        line: entry.line,
        metadata: entry.metadata,
      },
    };
  }
  const { tenant, entry } = decodeServiceRecord(key, value);
  return { tenant, entry: serviceLogEntry(entry) };
}

/**
 * The JSON GET /v1/query answers for a record: a reference A entry's stored text as it is (a view
 * of `value`), and for a 0x03 stream entry the same shape built from it — `timestamp` (ms),
 * `service` (the key's), `level` (its `level` label, if any), `message` (the line), `labels` (the
 * other stream labels), then the enrichment. Throws RecordFormatError for an unknown format.
 */
export function serviceEntryJson(key: Uint8Array, value: Uint8Array): Uint8Array {
  if (!isStreamEntryValue(value)) return storedServiceEntry(value);
  const { entry } = decodeStreamRecord(key, value);
  const separator = key.indexOf(keySeparator);
  const service = textOf(key.subarray(separator + 1));
  let level: string | undefined;
  const labels: Record<string, string> = {};
  let labelCount = 0;
  for (const [name, labelValue] of entry.labels) {
    if (name === "level") level = labelValue;
    else if (name !== "service") {
      labels[name] = labelValue;
      labelCount++;
    }
  }
  const shown: StoredServiceEntry = {
    timestamp: streamEntryTimestampMs(entry.timestampNs),
    service,
    ...(level === undefined ? {} : { level }),
    message: entry.line,
    ...(labelCount === 0 ? {} : { labels }),
    received_at: entry.receivedAtMs,
    client_ip: entry.clientIp,
    ingested_node_id: entry.nodeId,
  };
  return Buffer.from(JSON.stringify(shown));
}

function tenantOf(key: Uint8Array): string {
  const separator = key.indexOf(keySeparator);
  if (separator < 0) throw new RecordDecodeError("a topics/logs key without its 0x00 separator");
  return textOf(key.subarray(0, separator));
}

function textOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}

/** The fields a reader relies on, checked: ingest validated them, but the bytes came from a disk. */
function checkedEntry(parsed: unknown): StoredServiceEntry {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new RecordDecodeError("a topics/logs value that is not a JSON object");
  const entry = parsed as Record<string, unknown>;
  if (typeof entry.timestamp !== "number" || !Number.isSafeInteger(entry.timestamp))
    throw new RecordDecodeError("a stored entry without an integer timestamp");
  if (typeof entry.service !== "string") throw new RecordDecodeError("a stored entry without a service");
  if (typeof entry.message !== "string") throw new RecordDecodeError("a stored entry without a message");
  if (entry.level === null) delete entry.level;
  if (entry.level !== undefined && typeof entry.level !== "string")
    throw new RecordDecodeError("a stored entry whose level is not a string");
  if (entry.labels === null) delete entry.labels;
  if (entry.labels !== undefined) {
    const labels = entry.labels;
    if (typeof labels !== "object" || labels === null || Array.isArray(labels))
      throw new RecordDecodeError("a stored entry whose labels are not an object");
    for (const name in labels)
      if (typeof (labels as Record<string, unknown>)[name] !== "string")
        throw new RecordDecodeError("a stored entry with a label value that is not a string");
  }
  return entry as unknown as StoredServiceEntry;
}
