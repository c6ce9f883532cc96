// Reference B: `POST /logs` access-log batches. Validation and normalisation exactly as the reference
// defines them (all four fields required strings; receivedAt RFC 3339; method trimmed and
// upper-cased; path ≤ 2048 and userAgent ≤ 1024 characters after trimming), with its error texts.

import { IngestError, rejectReasons } from "./errors.ts";
import { isPlainObject, parseJsonBody } from "./json-body.ts";

export const accessLimits = {
  // The reference's own bounds on an entry's fields.
  pathCharsMax: 2048,
  userAgentCharsMax: 1024,
  // Header values become log keys and metric labels; the reference never sees longer ones from its
  // gateway, and a bound keeps a hostile client from inflating every stored key.
  customerIdCharsMax: 256,
  idempotencyKeyCharsMax: 256,
  requestIdCharsMax: 256,
} as const;

export interface AccessEntry {
  receivedAtMs: number;
  method: string;
  path: string;
  userAgent: string;
}

function invalid(message: string): IngestError {
  return new IngestError(400, rejectReasons.invalidEntry, message);
}

const fields = ["receivedAt", "method", "path", "userAgent"] as const;

export function parseAccessBatch(body: Buffer): AccessEntry[] {
  const parsed = parseJsonBody(body);
  if ("problem" in parsed) {
    if (parsed.problem === "empty") throw invalid("log entries cannot be empty");
    throw new IngestError(400, rejectReasons.invalidJson, "invalid json");
  }
  const items = parsed.value;
  if (!Array.isArray(items)) throw new IngestError(400, rejectReasons.invalidJson, "invalid json");
  if (items.length === 0) throw invalid("log entries cannot be empty");
  const entries: AccessEntry[] = new Array(items.length);
  for (let index = 0; index < items.length; index++) entries[index] = normaliseEntry(items[index], index);
  return entries;
}

function normaliseEntry(item: unknown, index: number): AccessEntry {
  if (!isPlainObject(item)) throw invalid(`item at index ${index}: must be an object`);
  for (const field of fields) {
    const value = item[field];
    if (value === undefined || value === null) throw invalid(`item at index ${index}: missing ${field}`);
    if (typeof value !== "string") throw invalid(`item at index ${index}: ${field} must be a string`);
  }
  const receivedAt = (item.receivedAt as string).trim();
  const method = (item.method as string).trim().toUpperCase();
  const path = (item.path as string).trim();
  const userAgent = (item.userAgent as string).trim();
  if (receivedAt === "") throw invalid(`item at index ${index}: missing receivedAt`);
  if (method === "") throw invalid(`item at index ${index}: missing method`);
  if (path === "") throw invalid(`item at index ${index}: missing path`);
  if (userAgent === "") throw invalid(`item at index ${index}: missing userAgent`);
  const receivedAtMs = parseRfc3339(receivedAt);
  if (receivedAtMs === null)
    throw invalid(
      `item at index ${index}: invalid receivedAt: must be RFC 3339, e.g. 2025-12-28T18:03:15.000Z`,
    );
  if (path.length > accessLimits.pathCharsMax) {
    throw invalid(`item at index ${index}: path too long: must be <= ${accessLimits.pathCharsMax} chars`);
  }
  if (userAgent.length > accessLimits.userAgentCharsMax) {
    throw invalid(
      `item at index ${index}: userAgent too long: must be <= ${accessLimits.userAgentCharsMax} chars`,
    );
  }
  return { receivedAtMs, method, path, userAgent };
}

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/** RFC 3339 (with the Go layout 2006-01-02T15:04:05.000Z as a special case) to Unix ms; null if invalid. */
export function parseRfc3339(text: string): number | null {
  const match = rfc3339.exec(text);
  if (match === null) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return null;
  const milliseconds = match[7] ? Number(match[7].slice(0, 3).padEnd(3, "0")) : 0;
  let offsetMs = 0;
  const zone = match[8];
  if (zone !== "Z" && zone !== "z") {
    const zoneHours = Number(zone.slice(1, 3));
    const zoneMinutes = Number(zone.slice(4, 6));
    if (zoneHours > 23 || zoneMinutes > 59) return null;
    offsetMs = (zone[0] === "-" ? -1 : 1) * (zoneHours * 60 + zoneMinutes) * 60_000;
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, milliseconds);
  return utc.getTime() - offsetMs;
}

/** The stored record of a batch: key "customer\nidempotencyKey"; value holds the normalised entries. */
export function accessBatchKey(customerId: string, idempotencyKey: string): Buffer {
  return Buffer.from(`${customerId}\n${idempotencyKey}`);
}

export function splitAccessBatchKey(key: Uint8Array): { customerId: string; idempotencyKey: string } {
  const text = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("utf8");
  const split = text.indexOf("\n");
  return { customerId: text.slice(0, split), idempotencyKey: text.slice(split + 1) };
}

export interface StoredAccessBatch {
  requestId: string;
  /** [receivedAtMs, method, path, userAgent] per entry: compact, and the order is the contract. */
  entries: Array<[number, string, string, string]>;
}

export function encodeAccessBatch(requestId: string, entries: readonly AccessEntry[]): Buffer {
  const stored: StoredAccessBatch = {
    requestId,
    entries: entries.map((entry) => [entry.receivedAtMs, entry.method, entry.path, entry.userAgent]),
  };
  return Buffer.from(JSON.stringify(stored));
}

export function decodeAccessBatch(value: Uint8Array): StoredAccessBatch {
  return JSON.parse(
    Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8"),
  ) as StoredAccessBatch;
}
