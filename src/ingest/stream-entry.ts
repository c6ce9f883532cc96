// topics/logs format 0x03, "stream entry v1" (FORMAT.md): one line of a generic stream (Loki push,
// and the protocols after it), with its full label set, its nanosecond timestamp and its structured
// metadata. The key stays `tenant 0x00 service`, so routing by service, the tenant prefix check and
// GET /v1/query read these records as they read reference A's.

import type { RecordColumns } from "../log/index.ts";
import type { Label, LabelSet } from "../model/stream.ts";
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

/** The JSON of a label set, by identity: the pipeline hands every request of a stream the same one. */
const labelsJsonOf = new WeakMap<LabelSet, string>();

/**
 * Record columns of one partition's entries: keys, record timestamps (ms) and 0x03 values, byte for
 * byte streamEntryValue's. The values are written straight into the columns, and the JSON of a
 * label set (entries of one stream share the array) and of the sender and node are made once.
 */
export function streamEntryColumns(keys: readonly Buffer[], entries: readonly StreamEntry[]): RecordColumns {
  const formatByte = String.fromCharCode(recordFormats.streamEntryV1);
  const quoted = new Map<string, string>();
  const quote = (text: string) => {
    let json = quoted.get(text);
    if (json === undefined) {
      json = JSON.stringify(text);
      quoted.set(text, json);
    }
    return json;
  };
  const texts = new Array<string>(entries.length);
  const valueLengths = new Uint32Array(entries.length);
  let keyBytes = 0;
  let valueBytes = 0;
  for (const key of keys) keyBytes += key.length;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    let labels = labelsJsonOf.get(entry.labels);
    if (labels === undefined) {
      labels = pairsJson(entry.labels);
      labelsJsonOf.set(entry.labels, labels);
    }
    texts[i] = formatByte + entryJson(entry, labels, quote(entry.clientIp), quote(entry.nodeId));
    valueLengths[i] = Buffer.byteLength(texts[i], "utf8");
    valueBytes += valueLengths[i];
  }
  const count = entries.length;
  const memory = new ArrayBuffer(count * 16 + keyBytes + valueBytes);
  const timestampsMs = new Float64Array(memory, 0, count);
  const keyLengths = new Uint32Array(memory, count * 8, count);
  const valueLengthsColumn = new Uint32Array(memory, count * 12, count);
  valueLengthsColumn.set(valueLengths);
  const keysColumn = Buffer.from(memory, count * 16, keyBytes);
  const valuesColumn = Buffer.from(memory, count * 16 + keyBytes, valueBytes);
  let keyAt = 0;
  let valueAt = 0;
  for (let i = 0; i < count; i++) {
    timestampsMs[i] = streamEntryTimestampMs(entries[i].timestampNs);
    keyLengths[i] = keys[i].length;
    keysColumn.set(keys[i], keyAt);
    keyAt += keys[i].length;
    const written = valuesColumn.write(texts[i], valueAt, "utf8");
    if (written !== valueLengths[i])
      throw new Error(`BUG: value ${i} wrote ${written} of ${valueLengths[i]} bytes`);
    valueAt += written;
  }
  return {
    count,
    timestampsMs,
    keyLengths,
    valueLengths: valueLengthsColumn,
    keys: keysColumn,
    values: valuesColumn,
  };
}

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
