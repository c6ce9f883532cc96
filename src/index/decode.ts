// What the index reads of a topics/logs record: its stream (tenant, labels, id) and the filter keys
// of its line. The bytes are src/ingest's to decode (decodeServiceRecord; 0x03: decodeStreamRecord) and the stream mapping is
// src/model's (serviceEntryLabels, streamId), so the index and the query executor can never disagree
// about which stream a line is in. Streams are cached: the labels and id of a stream are computed once.
//
// The fast paths (0x01 records in the layout storedJson writes, 0x03 in streamEntryJson's, src/ingest/FORMAT.md) never parses
// the JSON: it finds the fields by their fixed order, keys the message straight from its JSON bytes
// (tokens.ts addJsonLineKeys: the same keys as the decoded string's) and knows the stream by the
// bytes of its service, level and labels. Decoding and keying was ~3.3 µs of a record's ~3.5 µs on
// the indexing path (JSON.parse 2.3 µs); the fast path is measured in bench/index.bench.ts. Any
// record whose bytes do not have exactly that layout is decoded the slow way, so both give the
// same stream and keys (decode.test.ts).

import {
  decodeServiceRecord,
  decodeStreamRecord,
  isStreamEntryValue,
  recordFormats,
} from "../ingest/index.ts";
import type { StoredRecord } from "../log/index.ts";
import { ClearingCache } from "../model/clearing-cache.ts";
import { serviceEntryLabels } from "../model/service-stream.ts";
import type { LabelSet } from "../model/stream.ts";
import { streamId } from "../model/stream-id.ts";
import { indexLimits } from "./limits.ts";
import { addDecodedLineKeys, addLineKeys, decodeJsonLine, type FilterKey, type GramShape } from "./tokens.ts";

export interface StreamRef {
  tenant: string;
  labels: LabelSet;
  id: bigint;
}

export interface DecodedEntry {
  stream: StreamRef;
  line: string;
}

const ascii = (text: string) => Buffer.from(text, "latin1");
const timestampField = ascii('{"timestamp":');
const serviceField = ascii(',"service":"');
const levelField = ascii(',"level":"');
const messageField = ascii(',"message":"');
const labelsField = ascii(',"labels":{');
const enrichmentField = ascii(',"received_at":');
const streamTsField = ascii('{"ts":"');
const streamLabelsField = ascii(',"labels":[');
const streamLineField = ascii(',"line":"');
const streamMetadataField = ascii(',"metadata":');

export class EntryDecoder {
  // Two caches: one by decoded fields (decode), one by the bytes of the fast path's layout.
  readonly #streams = new ClearingCache<StreamRef>(
    indexLimits.streamCacheEntriesMax,
    indexLimits.streamCacheCharsMax,
  );
  readonly #streamsByBytes = new ClearingCache<StreamRef>(
    indexLimits.streamCacheEntriesMax,
    indexLimits.streamCacheCharsMax,
  );
  /** The last 0x03 record's stream, by copies of its tenant and label bytes. */
  #lastStream: { tenant: Uint8Array; labels: Uint8Array; stream: StreamRef } | null = null;

  /** Throws RecordFormatError for a format this version does not know, RecordDecodeError for junk. */
  decode(record: StoredRecord): DecodedEntry {
    if (isStreamEntryValue(record.value)) return this.#decodeStreamEntry(record);
    const { tenant, entry } = decodeServiceRecord(record.key, record.value);
    const cacheKey = `${tenant}\u0000${entry.service}\u0000${entry.level ?? "\u0001"}\u0000${
      entry.labels === undefined ? "" : JSON.stringify(entry.labels)
    }`;
    return { stream: this.#stream(this.#streams, cacheKey, tenant, entry), line: entry.message };
  }

  /**
   * The record's stream, with its line's filter keys added to `keys` (addLineKeys of the line).
   * Throws as decode() does; then nothing was added.
   */
  decodeKeys(record: StoredRecord, shape: GramShape, keys: Set<FilterKey>): StreamRef {
    const fast =
      record.value[0] === recordFormats.streamEntryV1
        ? this.#fastStreamKeys(record, shape, keys)
        : this.#fastKeys(record, shape, keys);
    if (fast !== null) return fast;
    const { stream, line } = this.decode(record);
    addLineKeys(line, shape, keys);
    return stream;
  }

  #fastKeys(record: StoredRecord, shape: GramShape, keys: Set<FilterKey>): StreamRef | null {
    const { key, value } = record;
    if (value[0] !== recordFormats.serviceEntryV1 || !startsWith(value, 1, timestampField)) return null;
    let at = 1 + timestampField.length;
    while (at < value.length && value[at] !== 0x2c) at++; // the integer timestamp, up to its comma
    if (!startsWith(value, at, serviceField)) return null;
    const streamFrom = at; // service and level: the stream's bytes in the value
    at = skipJsonString(value, at + serviceField.length);
    if (at < 0) return null;
    if (startsWith(value, at, levelField)) {
      at = skipJsonString(value, at + levelField.length);
      if (at < 0) return null;
    }
    const streamTo = at;
    if (!startsWith(value, at, messageField)) return null;
    const messageAt = at + messageField.length;
    at = decodeJsonLine(value, messageAt); // decoded once: keyed below, once the layout is checked
    if (at < 0) return null;
    let labelsFrom = at;
    let labelsTo = at;
    if (startsWith(value, at, labelsField)) {
      labelsFrom = at + labelsField.length - 1;
      labelsTo = skipJsonObject(value, labelsFrom);
      if (labelsTo < 0) return null;
      at = labelsTo;
    }
    // What follows is the enrichment ingest appends, or the end: no field of the stream can follow.
    if (!(startsWith(value, at, enrichmentField) || (at === value.length - 1 && value[at] === 0x7d)))
      return null;
    const separator = key.indexOf(0x00);
    if (separator < 0) return null;
    const cacheKey = `${latin1(key, 0, separator)}\u0000${latin1(value, streamFrom, streamTo)}\u0000${latin1(
      value,
      labelsFrom,
      labelsTo,
    )}`;
    let stream = this.#streamsByBytes.get(cacheKey);
    if (stream === undefined) {
      const { tenant, entry } = decodeServiceRecord(key, value);
      stream = this.#stream(this.#streamsByBytes, cacheKey, tenant, entry);
    }
    addDecodedLineKeys(shape, keys);
    return stream;
  }

  /**
   * The fast path of a 0x03 record in the layout streamEntryJson writes (src/ingest/FORMAT.md): the
   * stream known by the bytes of its labels array, the line keyed from its JSON bytes. Null for any
   * other layout (then decoded the slow way, to the same stream and keys).
   */
  #fastStreamKeys(record: StoredRecord, shape: GramShape, keys: Set<FilterKey>): StreamRef | null {
    const { key, value } = record;
    if (!startsWith(value, 1, streamTsField)) return null;
    let at = skipJsonString(value, 1 + streamTsField.length);
    if (at < 0 || !startsWith(value, at, streamLabelsField)) return null;
    const labelsFrom = at + streamLabelsField.length - 1;
    const labelsTo = skipJsonObject(value, labelsFrom);
    if (labelsTo < 0 || !startsWith(value, labelsTo, streamLineField)) return null;
    const lineAt = labelsTo + streamLineField.length;
    // The line is decoded once: the layout after it is checked before it is keyed.
    at = decodeJsonLine(value, lineAt);
    if (at < 0 || !startsWith(value, at, streamMetadataField)) return null;
    const separator = key.indexOf(0x00);
    if (separator < 0) return null;
    // The pipeline writes a request's entries stream by stream, so a record is most often of the
    // same stream as the one before: the same tenant and label bytes are that stream again, with no
    // key to build. Else by the bytes' text (the tenant has no 0x00: it ends at the key's first;
    // the labels are JSON: unambiguous).
    const last = this.#lastStream;
    if (
      last !== null &&
      last.tenant.length === separator &&
      startsWith(key, 0, last.tenant) &&
      last.labels.length === labelsTo - labelsFrom &&
      startsWith(value, labelsFrom, last.labels)
    ) {
      addDecodedLineKeys(shape, keys);
      return last.stream;
    }
    const cacheKey = `${latin1(key, 0, separator)}\u0000\u0003${latin1(value, labelsFrom, labelsTo)}`;
    let stream = this.#streamsByBytes.get(cacheKey);
    if (stream === undefined) {
      const { tenant, entry } = decodeStreamRecord(key, value);
      stream = { tenant, labels: entry.labels, id: streamId(tenant, entry.labels) };
      this.#streamsByBytes.set(cacheKey, stream, labelChars(stream.labels));
    }
    this.#lastStream = {
      tenant: Uint8Array.prototype.slice.call(key, 0, separator),
      labels: Uint8Array.prototype.slice.call(value, labelsFrom, labelsTo),
      stream,
    };
    addDecodedLineKeys(shape, keys);
    return stream;
  }

  #stream(
    cache: ClearingCache<StreamRef>,
    cacheKey: string,
    tenant: string,
    entry: Parameters<typeof serviceEntryLabels>[0],
  ): StreamRef {
    let stream = cache.get(cacheKey);
    if (stream === undefined) {
      const labels = serviceEntryLabels(entry);
      stream = { tenant, labels, id: streamId(tenant, labels) };
      cache.set(cacheKey, stream, labelChars(labels));
    }
    return stream;
  }

  /** A generic stream entry (format 0x03): its stored label set is the stream's. */
  #decodeStreamEntry(record: StoredRecord): DecodedEntry {
    const { tenant, entry } = decodeStreamRecord(record.key, record.value);
    // Lengths make the key unambiguous whatever the values hold (a value may contain 0x00).
    let cacheKey = `${tenant}\u0000\u0003`;
    for (const [name, value] of entry.labels) cacheKey += `${name.length}:${name}${value.length}:${value}`;
    let stream = this.#streams.get(cacheKey);
    if (stream === undefined) {
      stream = { tenant, labels: entry.labels, id: streamId(tenant, entry.labels) };
      this.#streams.set(cacheKey, stream, labelChars(entry.labels));
    }
    return { stream, line: entry.line };
  }
}

/** Characters a label set's strings hold (what a cached stream costs beyond its key). */
function labelChars(labels: LabelSet): number {
  let chars = 0;
  for (const [name, value] of labels) chars += name.length + value.length;
  return chars;
}

function startsWith(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

/** The offset past the closing quote of the JSON string whose content starts at `at`, or -1. */
function skipJsonString(bytes: Uint8Array, at: number): number {
  for (let i = at; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === 0x22) return i + 1;
    if (byte === 0x5c) i++;
  }
  return -1;
}

/** The offset past the `}` closing the JSON object that starts at `at` (its `{`), or -1. */
function skipJsonObject(bytes: Uint8Array, at: number): number {
  let depth = 0;
  for (let i = at; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === 0x22) {
      i = skipJsonString(bytes, i + 1) - 1;
      if (i < 0) return -1;
    } else if (byte === 0x7b || byte === 0x5b) depth++;
    else if (byte === 0x7d || byte === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function latin1(bytes: Uint8Array, from: number, to: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString("latin1");
}
