// topics/logs format 0x03, "stream entry v1" (FORMAT.md): one line of a generic stream (Loki push,
// and the protocols after it), with its full label set, its nanosecond timestamp and its structured
// metadata. The key stays `tenant 0x00 service`, so routing by service, the tenant prefix check and
// GET /v1/query read these records as they read reference A's.

import { Buffer } from "node:buffer";
import type { RecordColumns } from "../log/index.ts";
import type { Label, LabelSet } from "../model/stream.ts";
import type { IngestEntry } from "./batch.ts";
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
  entries: readonly IngestEntry[];
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
    count += stream.entries.length;
    keyBytes += stream.key.length * stream.entries.length;
  }
  // The tail of a value without metadata is the same for every entry of the request, and the
  // part around the labels the same for every entry of a stream: both are written as bytes.
  const tail = `,"received_at":${receipt.receivedAtMs},"client_ip":${JSON.stringify(receipt.clientIp)},"ingested_node_id":${JSON.stringify(receipt.nodeId)}}`;
  const noMetadataTail = Buffer.from(`,"metadata":[]${tail}`);
  const writer = valueWriter;
  writer.at = 0;
  const timestampsMs = new Float64Array(count);
  const keyLengths = new Uint32Array(count);
  const valueLengths = new Uint32Array(count);
  let index = 0;
  for (const { key, labels, entries } of streams) {
    let labelsPart = labelsPartOf.get(labels);
    if (labelsPart === undefined) {
      labelsPart = Buffer.from(`","labels":${pairsJson(labels)},"line":`);
      labelsPartOf.set(labels, labelsPart);
    }
    for (const entry of entries) {
      const valueStart = writer.at;
      writer.bytes(valueHead);
      writer.ascii(entry.timestampNs.toString());
      writer.bytes(labelsPart);
      if (typeof entry.line === "string") writer.text(JSON.stringify(entry.line));
      else writer.jsonStringBytes(entry.line);
      if (entry.metadata.length === 0) writer.bytes(noMetadataTail);
      else writer.text(`,"metadata":${pairsJson(entry.metadata)}${tail}`);
      timestampsMs[index] = streamEntryTimestampMs(entry.timestampNs);
      keyLengths[index] = key.length;
      valueLengths[index] = writer.at - valueStart;
      index++;
    }
  }
  const memory = new ArrayBuffer(count * 16 + keyBytes + writer.at);
  const timestampsColumn = new Float64Array(memory, 0, count);
  timestampsColumn.set(timestampsMs);
  const keyLengthsColumn = new Uint32Array(memory, count * 8, count);
  keyLengthsColumn.set(keyLengths);
  const valueLengthsColumn = new Uint32Array(memory, count * 12, count);
  valueLengthsColumn.set(valueLengths);
  const keysColumn = Buffer.from(memory, count * 16, keyBytes);
  let keyAt = 0;
  for (const { key, entries } of streams) {
    for (let i = 0; i < entries.length; i++) {
      key.copy(keysColumn, keyAt);
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

/**
 * A growing scratch buffer the values of one call are written into (then copied out whole): one
 * per process, used synchronously. Room is made before each write for its worst case (3 bytes per
 * UTF-16 unit of a string, 6 per byte of an escaped line), so no write is ever cut short.
 */
class ValueWriter {
  buffer = Buffer.allocUnsafe(valueWriterBytesKept);
  at = 0;

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

  bytes(bytes: Buffer): void {
    this.#room(bytes.length);
    // TypedArray set, not Buffer copy: the same memmove without copy's argument checks in JS,
    // which cost more than the copy for these short parts.
    this.buffer.set(bytes, this.at);
    this.at += bytes.length;
  }

  /** `bytes` (valid UTF-8) as a JSON string, exactly as JSON.stringify writes the same text. */
  jsonStringBytes(bytes: Buffer): void {
    this.#room(bytes.length * 6 + 2);
    const buffer = this.buffer;
    let at = this.at;
    buffer[at++] = 0x22;
    let runStart = 0;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]!;
      if (byte >= 0x20 && byte !== 0x22 && byte !== 0x5c) continue;
      if (i > runStart) at += bytes.copy(buffer, at, runStart, i);
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
    if (runStart === 0) {
      buffer.set(bytes, at); // no escape at all, the common case: no view to make
      at += bytes.length;
    } else if (bytes.length > runStart) at += bytes.copy(buffer, at, runStart, bytes.length);
    buffer[at++] = 0x22;
    this.at = at;
  }

  /** After a call: a buffer grown past what is worth keeping is let go. */
  release(): void {
    if (this.buffer.length > valueWriterBytesKept) this.buffer = Buffer.allocUnsafe(valueWriterBytesKept);
  }
}

/** The scratch kept between requests: a 100-entry push of long lines fits; bigger ones grow it once. */
const valueWriterBytesKept = 1024 * 1024;
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
