// TEMPORARY: replaced by src/ingest's (or src/model's) decoder of service entries at merge. Reads one
// record of topics/logs (src/ingest/FORMAT.md: format 0x01 or legacy `{`, key `tenant 0x00 service`)
// into what the index needs: the stream (tenant, labels, id) and the line (`message`). The labels of a
// reference A entry: `service`, `level` when present, and the entry's `labels` with names sanitised
// to [A-Za-z0-9_].

import { isLegacyValue, RecordFormatError, recordFormats } from "../ingest/index.ts";
import type { StoredRecord } from "../log/index.ts";
import { type LabelSet, labelSet } from "../model/stream.ts";
import { indexLimits } from "./limits.ts";
import { streamIdOf } from "./stream-id.ts";

export interface StreamRef {
  tenant: string;
  labels: LabelSet;
  id: bigint;
}

export interface DecodedEntry {
  stream: StreamRef;
  line: string;
}

const decoder = new TextDecoder();
const defaultTenant = "fake";

/** Thrown for a record of a known format that does not decode (skipped, like analytics does). */
export class UndecodableEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UndecodableEntryError";
  }
}

export class EntryDecoder {
  readonly #streams = new Map<string, StreamRef>();

  /** Throws RecordFormatError for a format this version does not know, UndecodableEntryError for junk. */
  decode(record: StoredRecord): DecodedEntry {
    const value = record.value;
    let jsonStart: number;
    if (value[0] === recordFormats.serviceEntryV1) jsonStart = 1;
    else if (value.length > 0 && isLegacyValue(value)) jsonStart = 0;
    else throw new RecordFormatError(`a record of topics/logs has an unknown format byte ${value[0]}`);
    let entry: { service?: unknown; level?: unknown; message?: unknown; labels?: unknown };
    try {
      entry = JSON.parse(decoder.decode(value.subarray(jsonStart)));
    } catch {
      throw new UndecodableEntryError(`record at offset ${record.offset} is not JSON`);
    }
    if (typeof entry !== "object" || entry === null)
      throw new UndecodableEntryError("entry is not an object");
    const key = decoder.decode(record.key);
    const nul = key.indexOf("\u0000");
    const tenant = nul < 0 ? defaultTenant : key.slice(0, nul);
    return {
      stream: this.#stream(tenant, entry),
      line: typeof entry.message === "string" ? entry.message : "",
    };
  }

  #stream(tenant: string, entry: { service?: unknown; level?: unknown; labels?: unknown }): StreamRef {
    const labelsObject = typeof entry.labels === "object" && entry.labels !== null ? entry.labels : null;
    const cacheKey = `${tenant}\u0000${String(entry.service)}\u0000${entry.level === undefined ? "\u0001" : String(entry.level)}\u0000${labelsObject === null ? "" : JSON.stringify(labelsObject)}`;
    let stream = this.#streams.get(cacheKey);
    if (stream !== undefined) return stream;
    const pairs: [string, string][] = [];
    if (labelsObject !== null)
      for (const [name, value] of Object.entries(labelsObject))
        pairs.push([name.replace(/[^A-Za-z0-9_]/g, "_"), String(value)]);
    if (entry.service !== undefined) pairs.push(["service", String(entry.service)]);
    if (entry.level !== undefined) pairs.push(["level", String(entry.level)]);
    const labels = labelSet(pairs);
    stream = { tenant, labels, id: streamIdOf(tenant, labels) };
    if (this.#streams.size >= indexLimits.streamCacheEntriesMax) this.#streams.clear();
    this.#streams.set(cacheKey, stream);
    return stream;
  }
}
