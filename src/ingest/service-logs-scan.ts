// The fast path of POST /v1/logs: bodies whose entries are written exactly as Sluice stores them.
//
// The stored text of an entry (storedJson in service-logs.ts) is the entry as JSON.stringify writes
// it — fields in the reference's order, no whitespace, JSON.stringify's escapes — followed by the
// enrichment; the stored value is the format byte and that text (FORMAT.md). Clients that build their bodies with JSON.stringify (the reference's load generator,
// Sluice's, most JavaScript loggers) send entries in exactly that form, so their bytes can be
// copied into the records as they are, instead of JSON.parse building objects and storedJson
// writing them back. This scanner checks, byte by byte, that a body is a JSON array of such
// entries and that every entry passes validation, and only then builds the record columns.
// Anything else — whitespace inside an entry, another key order, an unknown field, an escape
// JSON.stringify would not write, a label name that JSON.parse would reorder, a string whose
// escaped bytes exceed a bound counted in characters, more than labelsScannedMax labels, any
// error — makes it give up (undefined), and the general path (parseServiceLogs, enrichAndRoute)
// decides, with its exact error messages. So everything accepted here is accepted there with the
// same records, byte for byte (property tests in service-logs-scan.test.ts).
//
// Cost, 100-entry bodies of the load generator (13.5 kB): ~40 µs here against ~117 µs for
// JSON.parse, validation and enrichAndRoute (scratch microbenchmark, 5 rounds, medians); end to end
// it took the server's main thread from ~0.74 to ~0.59 cores at a higher rate (docs/benchmarks.md).

import { isUtf8 } from "node:buffer";
import type { RecordColumns } from "../log/index.ts";
import { fnv1a32Bytes } from "../model/hash.ts";
import { jsonCode as byte, isJsonWhitespace } from "./json-bytes.ts";
import {
  labelNameCharsMax,
  labelValueCharsMax,
  levelCharsMax,
  serviceCharsMax,
  streamLabelsMax,
  timestampMsMax,
} from "./limits.ts";
import type { ServiceLogLimits } from "./service-logs.ts";
import { recordFormats } from "./stored-format.ts";

// The fixed parts of a stored entry, each including the quote or brace that opens the value.
const timestampField = Buffer.from('{"timestamp":');
const serviceField = Buffer.from(',"service":"');
const levelField = Buffer.from(',"level":"');
const messageField = Buffer.from(',"message":"');
const labelsField = Buffer.from(',"labels":{');
// A timestamp of more digits is above timestampMsMax (2^51 has 16).
const timestampDigitsMax = 16;
// The most labels an entry may have besides its service (limits.ts streamLabelsMax); more are left
// to the general path, which rejects them. It also bounds the repeated-name check here, which
// compares each name with every earlier one.
const labelsScannedMax = streamLabelsMax - 1;

/**
 * Per-entry positions of one body, reused from request to request: grown up to the largest body's
 * entry count and kept (24 bytes an entry, so at most 24 × batch-entries-max bytes).
 */
class Scratch {
  starts: Uint32Array;
  ends: Uint32Array;
  timestampsMs: Float64Array;
  routes: Uint32Array;
  nextInPartition: Int32Array;
  constructor(capacity: number) {
    this.starts = new Uint32Array(capacity);
    this.ends = new Uint32Array(capacity);
    this.timestampsMs = new Float64Array(capacity);
    this.routes = new Uint32Array(capacity);
    this.nextInPartition = new Int32Array(capacity);
  }
}
let scratch = new Scratch(256);

/** What scanEntry found besides the entry's end: its timestamp and where its service name is. */
const scanned = { timestampMs: 0, serviceStart: 0, serviceEnd: 0 };
/** The hash and length of each label name of the entry being scanned (scanLabels). */
const labelNameHashes = new Uint32Array(labelsScannedMax);
const labelNameLengths = new Uint32Array(labelsScannedMax);

/** The distinct services of one body: where the first one's name is, its partition and its key. */
interface Route {
  nameStart: number;
  nameEnd: number;
  partition: number;
  key: Buffer;
}

/**
 * The record columns of `body` by partition, or undefined when the body is not in the stored form
 * (then the general path must decode it). `keyPrefix` is the tenant and the NUL that precedes the
 * service in each key; `suffix` is the enrichment that replaces each entry's closing brace.
 */
export function scanCanonicalServiceLogs(
  body: Buffer,
  limits: ServiceLogLimits,
  partitionCount: number,
  keyPrefix: Buffer,
  suffix: Buffer,
): Map<number, RecordColumns> | undefined {
  if (body.length === 0 || !isUtf8(body)) return undefined;
  let position = skipWhitespace(body, 0);
  if (body[position] !== byte.openBracket) return undefined;
  position = skipWhitespace(body, position + 1);
  if (body[position] !== byte.openBrace) return undefined; // an empty array: rare, left to the general path

  const routes: Route[] = [];
  const routeByHash = new Map<number, number>();
  const heads = new Int32Array(partitionCount).fill(-1);
  const tails = new Int32Array(partitionCount).fill(-1);
  const counts = new Uint32Array(partitionCount);
  const bytes = new Float64Array(partitionCount); // key and value bytes of each partition's columns
  const partitionsInOrder: number[] = []; // of first appearance, as the general path's Map has them
  let count = 0;
  for (;;) {
    if (count === limits.entriesMax) return undefined;
    if (count === scratch.starts.length) grow(Math.min(count * 2, limits.entriesMax));
    const end = scanEntry(body, position, limits);
    if (end < 0) return undefined;
    // Route by service: the name's bytes have no escapes, so they are its UTF-8 text.
    const nameStart = scanned.serviceStart;
    const nameEnd = scanned.serviceEnd;
    const hash = fnv1a32Bytes(body, nameStart, nameEnd);
    let routeIndex = routeByHash.get(hash);
    if (routeIndex === undefined) {
      routeIndex = routes.length;
      const key = Buffer.allocUnsafe(keyPrefix.length + nameEnd - nameStart);
      keyPrefix.copy(key, 0);
      body.copy(key, keyPrefix.length, nameStart, nameEnd);
      routes.push({ nameStart, nameEnd, partition: hash % partitionCount, key });
      routeByHash.set(hash, routeIndex);
    } else if (!sameBytes(body, routes[routeIndex], nameStart, nameEnd)) {
      return undefined; // two services of one body with one hash: rare, left to the general path
    }
    const route = routes[routeIndex];
    const partition = route.partition;
    scratch.timestampsMs[count] = scanned.timestampMs;
    scratch.starts[count] = position;
    scratch.ends[count] = end; // the entry's closing brace, which the suffix replaces
    scratch.routes[count] = routeIndex;
    scratch.nextInPartition[count] = -1;
    if (heads[partition] < 0) {
      heads[partition] = count;
      partitionsInOrder.push(partition);
    } else scratch.nextInPartition[tails[partition]] = count;
    tails[partition] = count;
    counts[partition]++;
    bytes[partition] += route.key.length + 1 + (end - position) + suffix.length; // 1: the format byte
    count++;

    position = skipWhitespace(body, end + 1);
    if (body[position] === byte.closeBracket) break;
    if (body[position] !== byte.comma) return undefined;
    position = skipWhitespace(body, position + 1);
  }
  if (skipWhitespace(body, position + 1) !== body.length) return undefined;

  const routed = new Map<number, RecordColumns>();
  for (const partition of partitionsInOrder) {
    routed.set(
      partition,
      columnsOf(body, routes, heads[partition], counts[partition], bytes[partition], suffix),
    );
  }
  return routed;
}

/**
 * Checks the entry at `start` (its opening brace); returns the position of its closing brace, or
 * -1 when it is not in the stored form or not valid. Leaves its timestamp and the place of its
 * service name in `scanned`.
 */
function scanEntry(body: Buffer, start: number, limits: ServiceLogLimits): number {
  if (!matches(body, start, timestampField)) return -1;
  let position = start + timestampField.length;
  const digitsStart = position;
  let timestampMs = 0;
  if (body[position] === byte.zero) {
    position++;
  } else {
    for (;;) {
      const digit = body[position]; // undefined past the end: not a digit
      if (!(digit >= byte.zero && digit <= byte.nine)) break;
      timestampMs = timestampMs * 10 + (digit - byte.zero);
      position++;
    }
    if (position === digitsStart || position - digitsStart > timestampDigitsMax) return -1;
  }
  if (timestampMs > timestampMsMax) return -1;
  scanned.timestampMs = timestampMs;

  if (!matches(body, position, serviceField)) return -1;
  position += serviceField.length;
  const serviceEnd = stringEnd(body, position, false);
  if (serviceEnd < 0 || serviceEnd === position || serviceEnd - position > serviceCharsMax) return -1;
  scanned.serviceStart = position;
  scanned.serviceEnd = serviceEnd;
  position = serviceEnd + 1;

  let streamLabels = 1; // service
  if (matches(body, position, levelField)) {
    streamLabels++;
    position += levelField.length;
    const levelEnd = stringEnd(body, position, true);
    if (levelEnd < 0 || levelEnd - position > levelCharsMax) return -1;
    position = levelEnd + 1;
  }
  if (!matches(body, position, messageField)) return -1;
  position += messageField.length;
  const messageEnd = stringEnd(body, position, true);
  // Escapes make the raw bytes longer than the message, so within the limit here means within it there.
  if (messageEnd < 0 || messageEnd === position || messageEnd - position > limits.lineBytesMax) return -1;
  position = messageEnd + 1;

  if (matches(body, position, labelsField)) {
    // Over either bound gives up: the general path words the error (limits.ts streamLabelsMax).
    const labelsMax = Math.min(limits.labelsMax, streamLabelsMax - streamLabels);
    position = scanLabels(body, position + labelsField.length, labelsMax);
    if (position < 0) return -1;
  }
  return body[position] === byte.closeBrace ? position : -1;
}

/** Checks a labels object from after its opening brace; returns the position after its closing one. */
function scanLabels(body: Buffer, start: number, labelsMax: number): number {
  let position = start;
  if (body[position] === byte.closeBrace) return position + 1;
  for (let count = 1; ; count++) {
    if (count > labelsMax || count > labelsScannedMax || body[position] !== byte.quote) return -1;
    const nameStart = position + 1;
    const nameEnd = stringEnd(body, nameStart, true);
    // A name starting with a digit may be an array index, which JSON.parse puts before the others.
    if (nameEnd < 0 || nameEnd === nameStart || nameEnd - nameStart > labelNameCharsMax) return -1;
    if (body[nameStart] >= byte.zero && body[nameStart] <= byte.nine) return -1;
    if (body[nameEnd + 1] !== byte.colon || body[nameEnd + 2] !== byte.quote) return -1;
    if (repeatsName(body, count - 1, nameStart, nameEnd)) return -1;
    const valueStart = nameEnd + 3;
    const valueEnd = stringEnd(body, valueStart, true);
    if (valueEnd < 0 || valueEnd - valueStart > labelValueCharsMax) return -1;
    position = valueEnd + 1;
    if (body[position] === byte.closeBrace) return position + 1;
    if (body[position] !== byte.comma) return -1;
    position++;
  }
}

/**
 * Whether the label name at [nameStart, nameEnd) may repeat one of the `earlier` names before it
 * in its entry (JSON.parse keeps the last value of a repeated name but the first one's place):
 * true when an earlier name has the same length and FNV-1a hash — a repeat, or a collision that
 * the general path sorts out. Escapes are JSON.stringify's only, so equal names have equal bytes.
 * Records this name for the next ones.
 */
function repeatsName(body: Buffer, earlier: number, nameStart: number, nameEnd: number): boolean {
  const hash = fnv1a32Bytes(body, nameStart, nameEnd);
  const length = nameEnd - nameStart;
  for (let i = 0; i < earlier; i++)
    if (labelNameHashes[i] === hash && labelNameLengths[i] === length) return true;
  labelNameHashes[earlier] = hash;
  labelNameLengths[earlier] = length;
  return false;
}

/**
 * The position of the quote that ends the string starting at `start`, or -1 for anything
 * JSON.stringify would not have written: a raw control character, an escape other than its
 * `\" \\ \b \f \n \r \t` (it writes `\u` only for other control characters and lone surrogates),
 * or with `escapes` false any escape at all.
 */
function stringEnd(body: Buffer, start: number, escapes: boolean): number {
  for (let position = start; position < body.length; position++) {
    const code = body[position];
    if (code === byte.quote) return position;
    if (code === byte.backslash) {
      if (!escapes) return -1;
      const escaped = body[++position];
      if (
        escaped !== byte.quote &&
        escaped !== byte.backslash &&
        escaped !== byte.b &&
        escaped !== byte.f &&
        escaped !== byte.n &&
        escaped !== byte.r &&
        escaped !== byte.t
      )
        return -1;
    } else if (code < byte.space) {
      return -1;
    }
  }
  return -1;
}

function matches(body: Buffer, position: number, literal: Buffer): boolean {
  if (position + literal.length > body.length) return false;
  for (let i = 0; i < literal.length; i++) if (body[position + i] !== literal[i]) return false;
  return true;
}

function skipWhitespace(body: Buffer, start: number): number {
  let position = start;
  while (isJsonWhitespace(body[position])) position++;
  return position;
}

/**
 * Whether a service name has the bytes of the route's. A loop, not Buffer.compare: names are short,
 * and compare's argument checks cost more (~12% of this scanner's time, profiled).
 */
function sameBytes(body: Buffer, route: Route, nameStart: number, nameEnd: number): boolean {
  if (route.nameEnd - route.nameStart !== nameEnd - nameStart) return false;
  for (let a = route.nameStart, b = nameStart; b < nameEnd; a++, b++) if (body[a] !== body[b]) return false;
  return true;
}

function grow(capacity: number): void {
  const larger = new Scratch(capacity);
  larger.starts.set(scratch.starts);
  larger.ends.set(scratch.ends);
  larger.timestampsMs.set(scratch.timestampsMs);
  larger.routes.set(scratch.routes);
  larger.nextInPartition.set(scratch.nextInPartition);
  scratch = larger;
}

/**
 * One partition's records in one ArrayBuffer, laid out as toColumns in service-logs.ts lays them
 * out: timestamps, key lengths, value lengths, keys, values. Each value is the format byte, the
 * entry's bytes up to its closing brace, then the suffix (FORMAT.md).
 */
function columnsOf(
  body: Buffer,
  routes: readonly Route[],
  head: number,
  count: number,
  keyAndValueBytes: number,
  suffix: Buffer,
): RecordColumns {
  const memory = new ArrayBuffer(count * 16 + keyAndValueBytes); // 8 + 4 + 4 bytes per record
  const timestampsMs = new Float64Array(memory, 0, count);
  const keyLengths = new Uint32Array(memory, count * 8, count);
  const valueLengths = new Uint32Array(memory, count * 12, count);
  const { starts, ends, routes: routeOf, nextInPartition } = scratch;
  let keyBytes = 0;
  for (let entry = head, i = 0; entry >= 0; entry = nextInPartition[entry], i++) {
    timestampsMs[i] = scratch.timestampsMs[entry];
    keyLengths[i] = routes[routeOf[entry]].key.length;
    keyBytes += keyLengths[i];
    valueLengths[i] = 1 + ends[entry] - starts[entry] + suffix.length;
  }
  const keys = Buffer.from(memory, count * 16, keyBytes);
  const values = Buffer.from(memory, count * 16 + keyBytes, keyAndValueBytes - keyBytes);
  let keyPosition = 0;
  let valuePosition = 0;
  for (let entry = head; entry >= 0; entry = nextInPartition[entry]) {
    const key = routes[routeOf[entry]].key;
    keys.set(key, keyPosition);
    keyPosition += key.length;
    values[valuePosition++] = recordFormats.serviceEntryV1;
    values.set(body.subarray(starts[entry], ends[entry]), valuePosition);
    valuePosition += ends[entry] - starts[entry];
    values.set(suffix, valuePosition);
    valuePosition += suffix.length;
  }
  return { count, timestampsMs, keyLengths, valueLengths, keys, values };
}
