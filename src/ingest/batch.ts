// The transport-neutral shape of an ingest request: what every protocol decoder (Loki push, OTLP,
// Elasticsearch bulk, syslog, reference A) produces and what the ingest pipeline consumes. A decoder
// turns bytes into streams of entries and knows nothing of HTTP, gRPC or sockets; a transport turns
// the pipeline's typed outcome into its own protocol's status and body.

import { Buffer } from "node:buffer";
import type { RejectReason } from "./errors.ts";

/** One log line as decoded, before validation and enrichment. */
export interface IngestEntry {
  /** Nanoseconds since the Unix epoch. */
  timestampNs: bigint;
  /**
   * The log line (Loki's line, OTLP's body, syslog's MSG, an Elasticsearch document's message): a
   * string, or its UTF-8 bytes when the decoder read it as bytes — a view over the request's body,
   * already checked to be valid UTF-8, which the pipeline copies into the record with no string in
   * between (lineText and lineBytes read either).
   */
  line: string | Uint8Array;
  /** Structured metadata (per-line labels that are not stream labels), as decoded; often empty. */
  metadata: readonly (readonly [name: string, value: string])[];
  /**
   * The entry's sender, when a batch's entries come from several (UDP syslog gathers datagrams of
   * many senders into one batch); absent: the batch's clientIp.
   */
  clientIp?: string;
}

/** An entry's line as a string, whichever form the decoder gave it in. */
export function lineText(line: IngestEntry["line"]): string {
  return typeof line === "string"
    ? line
    : Buffer.from(line.buffer, line.byteOffset, line.length).toString("utf8");
}

/** The UTF-8 bytes of an entry's line. */
export function lineBytes(line: IngestEntry["line"]): number {
  return typeof line === "string" ? Buffer.byteLength(line, "utf8") : line.length;
}

/** Entries that share one set of stream labels, as the protocol sent them (not yet sanitised). */
export interface IngestStream {
  labels: readonly (readonly [name: string, value: string])[];
  /** The entries as objects; empty when `columns` holds them instead. */
  entries: IngestEntry[];
  columns?: EntryColumns;
}

/**
 * A stream's entries as columns over the decoded request, for a decoder whose lines are byte ranges
 * of it (Loki protobuf): what IngestEntry objects would hold, without an object, a BigInt or a view
 * per entry (those were a fifth of a push's main-thread time, and most of its garbage). Entry i is
 * at `seconds[i]` s + `nanos[i]` ns (nanos in [0, 1e9); seconds exact up to 2^53, far past what can
 * be stored), its line bytes lineStarts[i]..lineEnds[i] of `bytes` (valid UTF-8), its metadata
 * `metadata[i]` (undefined: none).
 */
export interface EntryColumns {
  count: number;
  bytes: Uint8Array;
  seconds: number[];
  nanos: number[];
  lineStarts: number[];
  lineEnds: number[];
  metadata: (IngestEntry["metadata"] | undefined)[];
}

/** A stream's entries in either form (IngestStream, and the pipeline's checked streams). */
interface EntriesOf {
  readonly entries: readonly IngestEntry[];
  readonly columns?: EntryColumns | undefined;
}

/** How many entries a stream holds, in either form. */
export function streamEntryCount(stream: EntriesOf): number {
  return stream.columns?.count ?? stream.entries.length;
}

const noMetadata: IngestEntry["metadata"] = Object.freeze([]) as IngestEntry["metadata"];

/** A stream's entries as objects, whichever form the decoder gave them in. */
export function streamEntries(stream: EntriesOf): readonly IngestEntry[] {
  const columns = stream.columns;
  if (columns === undefined) return stream.entries;
  const entries: IngestEntry[] = [];
  for (let i = 0; i < columns.count; i++) {
    const start = columns.lineStarts[i]!;
    entries.push({
      timestampNs: BigInt(columns.seconds[i]!) * 1_000_000_000n + BigInt(columns.nanos[i]!),
      line: columns.bytes.subarray(start, columns.lineEnds[i]!),
      metadata: columns.metadata[i] ?? noMetadata,
    });
  }
  return entries;
}

/** A decoded request, whatever transport brought it. */
export interface IngestBatch {
  tenant: string;
  streams: IngestStream[];
  /** The request's bytes as received (before any Content-Encoding was undone): rates and metrics. */
  receivedBytes: number;
  receivedAtMs: number;
  /** The sender's address, for enrichment and logs. */
  clientIp: string;
}

/**
 * A decoder's refusal of its input: a reason (the rejected-records metric's label and the typed
 * code transports map to their status) and a message for the client. No HTTP status: the transport
 * decides what a reason means in its protocol (Loki 400 text, OTLP 400 Status, Elasticsearch JSON).
 */
export class DecodeError extends Error {
  readonly code = "INGEST_DECODE";
  readonly reason: RejectReason;
  constructor(reason: RejectReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DecodeError";
    this.reason = reason;
  }
}

/** Bounds every decoder applies while decoding (the pipeline checks labels and timestamps after). */
export interface DecodeLimits {
  /** Entries in one request, over all its streams. */
  entriesMax: number;
  /** UTF-8 bytes of one line. */
  lineBytesMax: number;
  /** Bytes a body may inflate to (gzip, snappy): a decompression bomb stops here. */
  decodedBytesMax: number;
}
