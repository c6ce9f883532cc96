// What the index reads of a topics/logs record: its stream (tenant, labels, id) and its line. The
// bytes are src/ingest's to decode (decodeServiceRecord; decodeStreamRecord for format 0x03) and the stream mapping is src/model's
// (serviceEntryLabels, streamId), so the index and the query executor can never disagree about
// which stream a line is in. Streams are cached: the labels and id of a stream are computed once.

import { decodeServiceRecord, decodeStreamRecord, isStreamEntryValue } from "../ingest/index.ts";
import type { StoredRecord } from "../log/index.ts";
import { serviceEntryLabels } from "../model/service-stream.ts";
import type { LabelSet } from "../model/stream.ts";
import { streamId } from "../model/stream-id.ts";
import { indexLimits } from "./limits.ts";

export interface StreamRef {
  tenant: string;
  labels: LabelSet;
  id: bigint;
}

export interface DecodedEntry {
  stream: StreamRef;
  line: string;
}

export class EntryDecoder {
  readonly #streams = new Map<string, StreamRef>();

  /** Throws RecordFormatError for a format this version does not know, RecordDecodeError for junk. */
  decode(record: StoredRecord): DecodedEntry {
    if (isStreamEntryValue(record.value)) return this.#decodeStreamEntry(record);
    const { tenant, entry } = decodeServiceRecord(record.key, record.value);
    const cacheKey = `${tenant}\u0000${entry.service}\u0000${entry.level ?? "\u0001"}\u0000${
      entry.labels === undefined ? "" : JSON.stringify(entry.labels)
    }`;
    let stream = this.#streams.get(cacheKey);
    if (stream === undefined) {
      const labels = serviceEntryLabels(entry);
      stream = { tenant, labels, id: streamId(tenant, labels) };
      if (this.#streams.size >= indexLimits.streamCacheEntriesMax) this.#streams.clear();
      this.#streams.set(cacheKey, stream);
    }
    return { stream, line: entry.message };
  }

  /** A generic stream entry (format 0x03): its stored label set is the stream's. */
  #decodeStreamEntry(record: StoredRecord): DecodedEntry {
    const { tenant, entry } = decodeStreamRecord(record.key, record.value);
    let cacheKey = `${tenant}\u0000\u0003`;
    for (const [name, value] of entry.labels) cacheKey += `\u0000${name}\u0000${value}`;
    let stream = this.#streams.get(cacheKey);
    if (stream === undefined) {
      stream = { tenant, labels: entry.labels, id: streamId(tenant, entry.labels) };
      if (this.#streams.size >= indexLimits.streamCacheEntriesMax) this.#streams.clear();
      this.#streams.set(cacheKey, stream);
    }
    return { stream, line: entry.line };
  }
}
