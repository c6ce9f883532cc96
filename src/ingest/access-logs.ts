// Reference B: `POST /logs` access-log batches. Validation and normalisation exactly as the reference
// defines them (all four fields required strings; receivedAt RFC 3339; method trimmed and
// upper-cased; path ≤ 2048 and userAgent ≤ 1024 characters after trimming), with its error texts.

import { IngestError, RecordFormatError, rejectReasons } from "./errors.ts";
import { isPlainObject, parseJsonBody } from "./json-body.ts";
import { isLegacyValue, recordFormats, unknownFormat } from "./stored-format.ts";

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
  return new IngestError(rejectReasons.invalidEntry, message);
}

const fields = ["receivedAt", "method", "path", "userAgent"] as const;

export function parseAccessBatch(body: Buffer): AccessEntry[] {
  const parsed = parseJsonBody(body);
  if ("problem" in parsed) {
    if (parsed.problem === "empty") throw invalid("log entries cannot be empty");
    throw new IngestError(rejectReasons.invalidJson, "invalid json");
  }
  const items = parsed.value;
  if (!Array.isArray(items)) throw new IngestError(rejectReasons.invalidJson, "invalid json");
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

// RFC 3339 by hand: it runs once per entry on the ingest path, and the regex + Date version it
// replaced was the largest single cost of POST /logs (9.8% of the server's samples at 500-entry
// batches). access-logs.test.ts checks it against a regex + Date reference on random input.
const zero = 48;

/** Value of `count` decimal digits at `start`, or -1 if any is not a digit. */
function digitsAt(text: string, start: number, count: number): number {
  let value = 0;
  for (let index = start; index < start + count; index++) {
    const digit = text.charCodeAt(index) - zero;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const monthDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const shifted = month <= 2 ? year - 1 : year;
  const era = Math.floor(shifted / 400);
  const yearOfEra = shifted - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * RFC 3339 date-time (`2025-12-28T18:03:15.000Z`, `T`/`t`/space separator, 1–9 fraction digits,
 * `Z`/`z` or ±HH:MM) to Unix ms, fractions truncated to the millisecond; null if invalid.
 */
export function parseRfc3339(text: string): number | null {
  const length = text.length;
  if (length < 20) return null;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  if ((year | month | day | hour | minute | second) < 0) return null;
  const separator = text[10];
  if (text[4] !== "-" || text[7] !== "-" || text[13] !== ":" || text[16] !== ":") return null;
  if (separator !== "T" && separator !== "t" && separator !== " ") return null;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  if (day > (month === 2 && isLeapYear(year) ? 29 : monthDays[month - 1])) return null;
  let position = 19;
  let milliseconds = 0;
  if (text[position] === ".") {
    const fractionStart = ++position;
    while (position < length && position - fractionStart < 10) {
      const digit = text.charCodeAt(position) - zero;
      if (digit < 0 || digit > 9) break;
      if (position - fractionStart < 3) milliseconds = milliseconds * 10 + digit;
      position++;
    }
    const fractionDigits = position - fractionStart;
    if (fractionDigits === 0 || fractionDigits > 9) return null;
    for (let missing = fractionDigits; missing < 3; missing++) milliseconds *= 10;
  }
  let offsetMs = 0;
  const zone = text[position];
  if (zone === "Z" || zone === "z") {
    if (position + 1 !== length) return null;
  } else if (zone === "+" || zone === "-") {
    if (position + 6 !== length || text[position + 3] !== ":") return null;
    const zoneHours = digitsAt(text, position + 1, 2);
    const zoneMinutes = digitsAt(text, position + 4, 2);
    if (zoneHours < 0 || zoneMinutes < 0 || zoneHours > 23 || zoneMinutes > 59) return null;
    offsetMs = (zone === "-" ? -1 : 1) * (zoneHours * 60 + zoneMinutes) * 60_000;
  } else return null;
  const dayMs = 86_400_000;
  return (
    daysFromCivil(year, month, day) * dayMs +
    ((hour * 60 + minute) * 60 + second) * 1000 +
    milliseconds -
    offsetMs
  );
}

/**
 * The stored record of a batch (src/ingest/FORMAT.md): key "customer \n idempotencyKey \n requestId"
 * (header values cannot hold a newline), value the format byte and then the request body exactly as
 * received and validated. Storing the body rather than a re-encoding spares the ingest path a
 * JSON.stringify per batch (~8% of POST /logs at 500-entry batches); the consumer parses and
 * normalises it again with the same code, so both see the same entries.
 */
export function accessBatchKey(customerId: string, idempotencyKey: string, requestId: string): Buffer {
  return Buffer.from(`${customerId}\n${idempotencyKey}\n${requestId}`);
}

/**
 * The stored value of a batch: the format byte, then `body`. One copy of the body, which was just
 * parsed whole: 0.35 µs for a 20-entry body of 2.5 kB (against ~9 µs for its JSON.parse; scratch
 * microbenchmark, 3 rounds of 200k). allocUnsafe, not allocUnsafeSlow (1.35 µs): bodies under 4 kB
 * share the pool's slabs, which die with the requests' other small buffers once the log has encoded
 * the record.
 */
export function accessBatchValue(body: Buffer): Buffer {
  const value = Buffer.allocUnsafe(1 + body.length);
  value[0] = recordFormats.accessBatchV1;
  body.copy(value, 1);
  return value;
}

/** The formats a stored batch can be in: the current one and the two written before the format byte. */
type AccessFormat = "v1" | "legacyBody" | "legacyFirst";

/** Which format a stored batch value is in; throws RecordFormatError for a byte this version does not know. */
function accessFormatOf(value: Uint8Array): AccessFormat {
  if (value[0] === recordFormats.accessBatchV1) return "v1";
  // The first format (before 2026-11-25) stored {requestId, entries: [...]}; the next one the body
  // (a validated JSON array: `[`, or JSON whitespace before it).
  if (value[0] === openBrace) return "legacyFirst";
  if (isLegacyValue(value)) return "legacyBody";
  throw unknownFormat("topics/access", value);
}

export interface AccessBatchKey {
  customerId: string;
  idempotencyKey: string;
  requestId: string;
}

/**
 * The parts of a stored batch's key. The value's format byte says which key format it is in (the
 * first format's key had no request id); throws RecordFormatError for an unknown format.
 */
export function storedAccessBatchKey(key: Uint8Array, value: Uint8Array): AccessBatchKey {
  const format = accessFormatOf(value);
  const parts = splitAccessBatchKey(key);
  if (format === "v1" && parts.requestId === "" && !hasTwoNewlines(key))
    throw new RecordFormatError(
      "a record of topics/access in format 0x02 has a key of fewer than three parts",
    );
  return parts;
}

function hasTwoNewlines(key: Uint8Array): boolean {
  const first = key.indexOf(newline);
  return first >= 0 && key.indexOf(newline, first + 1) >= 0;
}

export function splitAccessBatchKey(key: Uint8Array): AccessBatchKey {
  const text = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("utf8");
  const first = text.indexOf("\n");
  if (first < 0) return { customerId: "", idempotencyKey: text, requestId: "" };
  const second = text.indexOf("\n", first + 1);
  // Records of the first format (before 2026-11-25) had no request id in the key.
  if (second < 0)
    return { customerId: text.slice(0, first), idempotencyKey: text.slice(first + 1), requestId: "" };
  return {
    customerId: text.slice(0, first),
    idempotencyKey: text.slice(first + 1, second),
    requestId: text.slice(second + 1),
  };
}

const openBrace = 0x7b;
const newline = 0x0a;

/**
 * The normalised entries of a stored batch. Throws RecordFormatError for a format this version does
 * not know, and IngestError if the value is not a valid batch of its format (it was validated
 * before it was stored, so that means another writer).
 */
export function decodeAccessBatch(value: Uint8Array): AccessEntry[] {
  const format = accessFormatOf(value);
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (format === "v1") return parseAccessBatch(bytes.subarray(1));
  if (format === "legacyBody") return parseAccessBatch(bytes);
  // The first format: {requestId, entries: [[receivedAtMs, method, path, userAgent], …]}.
  const legacy = JSON.parse(bytes.toString("utf8")) as { entries: Array<[number, string, string, string]> };
  return legacy.entries.map(([receivedAtMs, method, path, userAgent]) => ({
    receivedAtMs,
    method,
    path,
    userAgent,
  }));
}
