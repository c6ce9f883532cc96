// topics/logs format 0x03, "stream entry v1" (FORMAT.md): one line of a generic stream (Loki push,
// and the protocols after it), with its full label set, its nanosecond timestamp and its structured
// metadata. The key stays `tenant 0x00 service`, so routing by service, the tenant prefix check and
// GET /v1/query read these records as they read reference A's.

import { Buffer } from "node:buffer";
import type { RecordColumns } from "../log/index.ts";
import type { Label, LabelSet } from "../model/stream.ts";
import { type EntryColumns, type IngestEntry, streamEntryCount } from "./batch.ts";
import { RecordDecodeError } from "./errors.ts";
import { recordFormats } from "./stored-format.ts";

/** A stream entry as stored, and as a reader gets it back. */
export interface StreamEntry {
  /** Sorted, names unique (a LabelSet), `service_name` included (pipeline enrichment). */
  labels: LabelSet;
  line: string;
  timestampNs: bigint;
  metadata: LabelSet;
  receivedAtMs: number;
  clientIp: string;
  nodeId: string;
}

const nanosecondsPerMillisecond = 1_000_000n;

/** The record timestamp (Unix ms) of an entry: its nanoseconds floored to the millisecond. */
export function streamEntryTimestampMs(timestampNs: bigint): number {
  const ms = timestampNs / nanosecondsPerMillisecond;
  if (timestampNs >= 0n) return Number(ms); // division truncates: for these, that is the floor
  return Number(ms * nanosecondsPerMillisecond > timestampNs ? ms - 1n : ms);
}

/** The value's JSON text after the format byte (FORMAT.md draws it). */
export function streamEntryJson(entry: StreamEntry): string {
  return entryJson(
    entry,
    pairsJson(entry.labels),
    JSON.stringify(entry.clientIp),
    JSON.stringify(entry.nodeId),
  );
}

/** streamEntryJson with the parts a batch shares (a stream's labels, the sender, the node) done once. */
function entryJson(entry: StreamEntry, labelsJson: string, clientIpJson: string, nodeIdJson: string): string {
  const metadata = entry.metadata.length === 0 ? "[]" : pairsJson(entry.metadata);
  return `{"ts":"${entry.timestampNs}","labels":${labelsJson},"line":${JSON.stringify(entry.line)},"metadata":${metadata},"received_at":${entry.receivedAtMs},"client_ip":${clientIpJson},"ingested_node_id":${nodeIdJson}}`;
}

function pairsJson(pairs: readonly Label[]): string {
  let json = "[";
  for (let i = 0; i < pairs.length; i++) {
    if (i > 0) json += ",";
    json += `[${JSON.stringify(pairs[i][0])},${JSON.stringify(pairs[i][1])}]`;
  }
  return `${json}]`;
}

/** A whole value: the format byte, then the JSON. */
export function streamEntryValue(entry: StreamEntry): Buffer {
  return Buffer.from(String.fromCharCode(recordFormats.streamEntryV1) + streamEntryJson(entry));
}

/**
 * `","labels":<the label set's JSON>,"line":` as bytes, by the label set's identity: the pipeline
 * hands every request of a stream the same one.
 */
const labelsPartOf = new WeakMap<LabelSet, Buffer>();

/** One stream's entries in one partition, as the pipeline routes them: the key every record of it has. */
export interface StreamRecords {
  key: Buffer;
  labels: LabelSet;
  /** The entries, as objects or (when set) as `columns`. */
  entries: readonly IngestEntry[];
  columns?: EntryColumns | undefined;
}

/** What every entry of a request shares in its stored value. */
export interface StreamReceipt {
  receivedAtMs: number;
  clientIp: string;
  nodeId: string;
}

/**
 * Record columns of one partition's streams: keys, record timestamps (ms) and 0x03 values, each
 * byte for byte streamEntryValue's of the entry with the receipt. The values are written straight
 * into one buffer: a line given as bytes (IngestEntry) is JSON-escaped byte by byte from the body,
 * never made a string; the JSON of a label set (by identity) and of the receipt are made once.
 */
export function streamRecordColumns(
  streams: readonly StreamRecords[],
  receipt: StreamReceipt,
): RecordColumns {
  let count = 0;
  let keyBytes = 0;
  for (const stream of streams) {
    count += streamEntryCount(stream);
    keyBytes += stream.key.length * streamEntryCount(stream);
  }
  // The tail of a value without metadata is the same for every entry of the request, and the
  // part around the labels the same for every entry of a stream: both are written as bytes.
  const tailOf = (clientIp: string) =>
    `,"received_at":${receipt.receivedAtMs},"client_ip":${JSON.stringify(clientIp)},"ingested_node_id":${JSON.stringify(receipt.nodeId)}}`;
  const tail = tailOf(receipt.clientIp);
  const noMetadataTail = Buffer.from(`,"metadata":[]${tail}`);
  const writer = valueWriter;
  writer.at = 0;
  writer.reserveEntries(count);
  const { timestampsMs, keyLengths, valueLengths } = writer;
  let index = 0;
  for (const stream of streams) {
    const { key, labels, entries, columns } = stream;
    let labelsPart = labelsPartOf.get(labels);
    if (labelsPart === undefined) {
      labelsPart = Buffer.from(`","labels":${pairsJson(labels)},"line":`);
      labelsPartOf.set(labels, labelsPart);
    }
    const streamCount = streamEntryCount(stream);
    for (let i = 0; i < streamCount; i++) {
      const valueStart = writer.at;
      writer.bytes(valueHead);
      let metadata: IngestEntry["metadata"] | undefined;
      let entryTail = tail;
      if (columns !== undefined) {
        // Seconds and nanos as the decimal nanoseconds BigInt would print (the pipeline checked
        // both are in range: seconds >= 0, nanos < 1e9), and their millisecond.
        const seconds = columns.seconds[i]!;
        const nanos = columns.nanos[i]!;
        if (seconds > 0) {
          writer.digits(seconds, 0);
          writer.digits(nanos, 9);
        } else writer.digits(nanos, 0);
        writer.bytes(labelsPart);
        writer.jsonStringBytes(columns.bytes, columns.lineStarts[i]!, columns.lineEnds[i]!);
        metadata = columns.metadata[i];
        timestampsMs[index] = seconds * 1000 + Math.floor(nanos / 1e6);
      } else {
        const entry = entries[i]!;
        writer.ascii(entry.timestampNs.toString());
        writer.bytes(labelsPart);
        if (typeof entry.line === "string") writer.text(JSON.stringify(entry.line));
        else writer.jsonStringBytes(entry.line, 0, entry.line.length);
        metadata = entry.metadata;
        timestampsMs[index] = streamEntryTimestampMs(entry.timestampNs);
        // An entry of another sender than the batch's (UDP syslog) gets its own tail.
        if (entry.clientIp !== undefined && entry.clientIp !== receipt.clientIp)
          entryTail = tailOf(entry.clientIp);
      }
      if (entryTail !== tail) writer.text(`,"metadata":${pairsJson(metadata ?? [])}${entryTail}`);
      else if (metadata === undefined || metadata.length === 0) writer.bytes(noMetadataTail);
      else writer.text(`,"metadata":${pairsJson(metadata)}${tail}`);
      keyLengths[index] = key.length;
      valueLengths[index] = writer.at - valueStart;
      index++;
    }
  }
  const memory = new ArrayBuffer(count * 16 + keyBytes + writer.at);
  const timestampsColumn = new Float64Array(memory, 0, count);
  timestampsColumn.set(timestampsMs.subarray(0, count));
  const keyLengthsColumn = new Uint32Array(memory, count * 8, count);
  keyLengthsColumn.set(keyLengths.subarray(0, count));
  const valueLengthsColumn = new Uint32Array(memory, count * 12, count);
  valueLengthsColumn.set(valueLengths.subarray(0, count));
  const keysColumn = Buffer.from(memory, count * 16, keyBytes);
  let keyAt = 0;
  for (const stream of streams) {
    const { key } = stream;
    for (let i = streamEntryCount(stream); i > 0; i--) {
      keysColumn.set(key, keyAt);
      keyAt += key.length;
    }
  }
  const valuesColumn = Buffer.from(memory, count * 16 + keyBytes, writer.at);
  writer.buffer.copy(valuesColumn, 0, 0, writer.at);
  writer.release();
  return {
    count,
    timestampsMs: timestampsColumn,
    keyLengths: keyLengthsColumn,
    valueLengths: valueLengthsColumn,
    keys: keysColumn,
    values: valuesColumn,
  };
}

/** The format byte and `{"ts":"`: how every 0x03 value starts. */
const valueHead = Buffer.from(`${String.fromCharCode(recordFormats.streamEntryV1)}{"ts":"`);

/** JSON.stringify's short escape of each byte under 0x20, the quote and the backslash (0: none, \u00XX). */
const shortEscapes = new Uint8Array(0x60);
for (const [byte, letter] of [
  [0x08, "b"],
  [0x09, "t"],
  [0x0a, "n"],
  [0x0c, "f"],
  [0x0d, "r"],
  [0x22, '"'],
  [0x5c, "\\"],
] as const)
  shortEscapes[byte] = letter.charCodeAt(0);
const hexDigits = Buffer.from("0123456789abcdef");
/** "00", "01" … "99" as bytes: two decimal digits per lookup. */
const digitPairs = Buffer.from(Array.from({ length: 100 }, (_, n) => String(n).padStart(2, "0")).join(""));
/** Runs of a line up to this many bytes are copied by a loop, longer ones by a view and set(). */
const shortRunBytes = 24;

/**
 * A growing scratch buffer the values of one call are written into (then copied out whole): one
 * per process, used synchronously. Room is made before each write for its worst case (3 bytes per
 * UTF-16 unit of a string, 6 per byte of an escaped line), so no write is ever cut short.
 */
class ValueWriter {
  buffer = Buffer.allocUnsafe(valueWriterBytesKept);
  at = 0;
  // Per-entry columns of the call, copied out with the values: three fresh typed arrays per
  // partition per request were a tenth of Loki push's garbage-collection time.
  timestampsMs = new Float64Array(valueWriterEntriesKept);
  keyLengths = new Uint32Array(valueWriterEntriesKept);
  valueLengths = new Uint32Array(valueWriterEntriesKept);

  reserveEntries(count: number): void {
    if (count <= this.timestampsMs.length) return;
    this.timestampsMs = new Float64Array(count);
    this.keyLengths = new Uint32Array(count);
    this.valueLengths = new Uint32Array(count);
  }

  #room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }

  text(text: string): void {
    this.#room(text.length * 3);
    this.at += this.buffer.write(text, this.at, "utf8");
  }

  /** Text known to be ASCII (digits): latin1 is the same bytes, written faster. */
  ascii(text: string): void {
    this.#room(text.length);
    this.at += this.buffer.write(text, this.at, "latin1");
  }

  /**
   * A whole number 0 <= value < 2^53 in decimal, padded with zeros to `width` digits: written two
   * digits at a time, no string made.
   */
  digits(value: number, width: number): void {
    let length = 1;
    for (let power = 10; power <= value && length < 16; power *= 10) length++;
    if (length < width) length = width;
    this.#room(length);
    const buffer = this.buffer;
    let at = this.at + length;
    this.at = at;
    let left = length;
    while (left >= 2) {
      const rest = Math.floor(value / 100);
      const two = (value - rest * 100) * 2;
      buffer[--at] = digitPairs[two + 1]!;
      buffer[--at] = digitPairs[two]!;
      value = rest;
      left -= 2;
    }
    if (left === 1) buffer[--at] = 0x30 + value;
  }

  bytes(bytes: Buffer): void {
    this.#room(bytes.length);
    // TypedArray set, not Buffer copy: the same memmove without copy's argument checks in JS,
    // which cost more than the copy for these short parts.
    this.buffer.set(bytes, this.at);
    this.at += bytes.length;
  }

  /** Bytes start..end (valid UTF-8) as a JSON string, exactly as JSON.stringify writes the same text. */
  jsonStringBytes(bytes: Uint8Array, start: number, end: number): void {
    this.#room((end - start) * 6 + 2);
    const buffer = this.buffer;
    let at = this.at;
    buffer[at++] = 0x22;
    let runStart = start;
    for (let i = start; i < end; i++) {
      const byte = bytes[i]!;
      if (byte >= 0x20 && byte !== 0x22 && byte !== 0x5c) continue;
      if (i > runStart) {
        buffer.set(bytes.subarray(runStart, i), at);
        at += i - runStart;
      }
      buffer[at++] = 0x5c;
      const short = shortEscapes[byte]!;
      if (short !== 0) buffer[at++] = short;
      else {
        buffer[at++] = 0x75;
        buffer[at++] = 0x30;
        buffer[at++] = 0x30;
        buffer[at++] = hexDigits[byte >> 4]!;
        buffer[at++] = hexDigits[byte & 15]!;
      }
      runStart = i + 1;
    }
    if (end - runStart <= shortRunBytes) {
      // A short run (or the whole of a short line) byte by byte: no view to make, no call.
      for (let i = runStart; i < end; i++) buffer[at++] = bytes[i]!;
    } else {
      buffer.set(runStart === 0 && end === bytes.length ? bytes : bytes.subarray(runStart, end), at);
      at += end - runStart;
    }
    buffer[at++] = 0x22;
    this.at = at;
  }

  /** After a call: a buffer grown past what is worth keeping is let go. */
  release(): void {
    if (this.buffer.length > valueWriterBytesKept) this.buffer = Buffer.allocUnsafe(valueWriterBytesKept);
    if (this.timestampsMs.length > valueWriterEntriesKept) {
      this.timestampsMs = new Float64Array(valueWriterEntriesKept);
      this.keyLengths = new Uint32Array(valueWriterEntriesKept);
      this.valueLengths = new Uint32Array(valueWriterEntriesKept);
    }
  }
}

/** The scratch kept between requests: a 100-entry push of long lines fits; bigger ones grow it once. */
const valueWriterBytesKept = 1024 * 1024;
const valueWriterEntriesKept = 4096;
const valueWriter = new ValueWriter();

/** The entry of a 0x03 value (its first byte already checked). Throws RecordDecodeError for junk. */
export function decodeStreamEntryValue(value: Uint8Array): StreamEntry {
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      Buffer.from(value.buffer, value.byteOffset + 1, value.byteLength - 1).toString("utf8"),
    );
  } catch (error) {
    throw new RecordDecodeError("a stream entry value that is not JSON", { cause: error });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new RecordDecodeError("a stream entry value that is not a JSON object");
  const fields = parsed as Record<string, unknown>;
  if (typeof fields.ts !== "string" || !/^-?\d{1,30}$/.test(fields.ts))
    throw new RecordDecodeError("a stream entry without its nanosecond timestamp");
  if (typeof fields.line !== "string") throw new RecordDecodeError("a stream entry without its line");
  return {
    timestampNs: BigInt(fields.ts),
    labels: checkedPairs(fields.labels, "labels"),
    line: fields.line,
    metadata: checkedPairs(fields.metadata, "metadata"),
    receivedAtMs: typeof fields.received_at === "number" ? fields.received_at : 0,
    clientIp: typeof fields.client_ip === "string" ? fields.client_ip : "",
    nodeId: typeof fields.ingested_node_id === "string" ? fields.ingested_node_id : "",
  };
}

function checkedPairs(value: unknown, what: string): LabelSet {
  if (!Array.isArray(value)) throw new RecordDecodeError(`a stream entry whose ${what} are not an array`);
  for (const pair of value) {
    if (
      !Array.isArray(pair) ||
      pair.length !== 2 ||
      typeof pair[0] !== "string" ||
      typeof pair[1] !== "string"
    )
      throw new RecordDecodeError(`a stream entry with a malformed pair in its ${what}`);
  }
  return value as LabelSet;
}

/**
 * Labels that name a stream's service, in the order Loki's distributor looks for them when it
 * discovers `service_name` (its default discover_service_name list): the first present, non-empty
 * one names the service, else "unknown_service".
 */
export const serviceNameLabels = [
  "service_name",
  "service",
  "app",
  "application",
  "name",
  "app_kubernetes_io_name",
  "container",
  "container_name",
  "k8s_container_name",
  "component",
  "workload",
  "job",
  "k8s_job_name",
] as const;

export const unknownService = "unknown_service";

/** The `service_name` Loki would give a stream of `labels` (any order). */
export function discoverServiceName(labels: readonly Label[]): string {
  for (const name of serviceNameLabels) {
    for (const [n, v] of labels) if (n === name && v !== "") return v;
  }
  return unknownService;
}

/**
 * The service a stream's records are keyed and partitioned by: its `service` label when it has one
 * (what `{service="x"}` selectors and GET /v1/query?service=x find in partition FNV-1a(x), the
 * partition pruning of src/query/exec/log-source.ts), else its discovered `service_name`.
 */
export function routingService(labels: readonly Label[]): string {
  for (const [n, v] of labels) if (n === "service" && v !== "") return v;
  return discoverServiceName(labels);
}
