// Reading back what POST /v1/logs stored: a record of topics/logs (FORMAT.md, service entry v1 or
// legacy) to its tenant and reference A entry. The ingest stage owns that format, so the decoding
// lives here beside the writers; the query stage maps the decoded entry onto a stream
// (src/model/service-stream.ts) and never looks at the bytes itself, except for the key prefix
// check below, which lets a reader skip other tenants' records without decoding their values.

import { RecordDecodeError } from "./errors.ts";
import { storedServiceEntry } from "./service-logs.ts";

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
