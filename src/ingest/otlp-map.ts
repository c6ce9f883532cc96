import type { Buffer } from "node:buffer";
// How an OTLP log record becomes an IngestEntry in a stream (OTLP.md, "Mapping"): shared by the
// protobuf and JSON decoders, which hand each resource, scope and record to one OtlpStreamBuilder.

import { sanitiseLabelName } from "../model/service-stream.ts";
import type { DecodeLimits, IngestEntry, IngestStream } from "./batch.ts";
import { DecodeError } from "./batch.ts";
import { rejectReasons } from "./errors.ts";
import { labelValueCharsMax, streamLabelsMax } from "./limits.ts";

/** Severity number ranges of the OTel log data model (1–4 TRACE … 21–24 FATAL), lowercased as Loki's levels. */
const severityLevels = ["trace", "debug", "info", "warn", "error", "fatal"] as const;

const sanitisedNamesMax = 1024;

/** A log record's fields as decoded, before the mapping (reused by the decoders: copied, never kept). */
export interface OtlpRecord {
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  line: IngestEntry["line"];
  /** Attribute names as sent, or (namesClean) already through attributeName. */
  attributes: [string, string][];
  namesClean: boolean;
  traceIdHex: string;
  spanIdHex: string;
  eventName: string;
}

export function emptyRecord(): OtlpRecord {
  return {
    timeUnixNano: 0n,
    observedTimeUnixNano: 0n,
    severityNumber: 0,
    severityText: "",
    line: "",
    attributes: [],
    namesClean: false,
    traceIdHex: "",
    spanIdHex: "",
    eventName: "",
  };
}

export function levelOf(severityNumber: number, severityText: string): string | null {
  if (severityNumber >= 1 && severityNumber <= 24) return severityLevels[(severityNumber - 1) >> 2]!;
  if (severityText !== "") return severityText.toLowerCase();
  return null;
}

/** What a decoder refused record by record: OTLP's partial_success (rejected_log_records, error_message). */
export interface OtlpRejected {
  records: number;
  message: string;
}

export class OtlpStreamBuilder {
  readonly streams: IngestStream[] = [];
  private readonly limits: DecodeLimits;
  private readonly receivedAtNs: bigint;
  private entryCount = 0;
  private byLevel = new Map<string | null, IngestStream>();
  private resourceLabels: [string, string][] = [];
  private resourceMetadata: [string, string][] = [];
  /** The resource's metadata then the scope's: what every record of the current scope starts with. */
  private metadataPrefix: [string, string][] = [];
  private lastLowercased: [string, string] = ["", ""];
  // The last record's level and stream, and id pairs: a request's records mostly share them, and the
  // pairs are shared by the entries (nothing mutates a metadata pair).
  private lastLevel: string | null | undefined = undefined;
  private lastStream: IngestStream | undefined = undefined;
  private tracePair: [string, string] = ["trace_id", ""];
  private spanPair: [string, string] = ["span_id", ""];
  private readonly sanitisedNames = new Map<string, string>();
  /** The record being decoded has a body over lineBytesMax: it is counted, not stored. */
  private currentTooLong = false;
  /** Records refused one by one (OTLP's partial success): counted, with the first reason. */
  rejected: OtlpRejected = { records: 0, message: "" };

  constructor(limits: DecodeLimits, receivedAtMs: number) {
    this.limits = limits;
    this.receivedAtNs = BigInt(Math.trunc(receivedAtMs)) * 1_000_000n;
  }

  /**
   * Starts a resource: service.name → `service` (absent: `unknown_service`); other attributes
   * become labels (names sanitised) while the set stays within streamLabelsMax with `level`;
   * the rest, a name taken twice or a value over labelValueCharsMax go to every entry's metadata.
   */
  beginResource(attributes: readonly [string, string][]): void {
    let service = "unknown_service";
    const labels: [string, string][] = [];
    const metadata: [string, string][] = [];
    const taken = new Set(["service", "level"]);
    for (const [key, value] of attributes) {
      if (key === "service.name") {
        service = value;
        continue;
      }
      const name = sanitiseLabelName(key);
      if (!taken.has(name) && labels.length < streamLabelsMax - 2 && value.length <= labelValueCharsMax) {
        taken.add(name);
        labels.push([name, value]);
      } else {
        metadata.push([name, value]);
      }
    }
    this.resourceLabels = [["service", service], ...labels];
    this.resourceMetadata = metadata;
    this.metadataPrefix = metadata;
    this.byLevel = new Map();
    this.lastLevel = undefined;
    this.lastStream = undefined;
  }

  /** Starts a scope of the current resource: its name, version and attributes become metadata. */
  beginScope(name: string, version: string, attributes: readonly [string, string][]): void {
    const metadata: [string, string][] = [];
    if (name !== "") metadata.push(["scope_name", name]);
    if (version !== "") metadata.push(["scope_version", version]);
    for (const [key, value] of attributes) metadata.push([sanitiseLabelName(key), value]);
    this.metadataPrefix = [...this.resourceMetadata, ...metadata];
  }

  /** Counts a record against entriesMax before it is decoded (so a huge request stops early). */
  countEntry(): void {
    if (++this.entryCount > this.limits.entriesMax)
      throw new DecodeError(
        rejectReasons.tooManyEntries,
        `the request holds more than ${this.limits.entriesMax} log records`,
      );
  }

  addRecord(record: OtlpRecord): void {
    if (this.currentTooLong) {
      this.currentTooLong = false;
      this.rejected.records++;
      return;
    }
    const level = levelOf(record.severityNumber, record.severityText);
    let stream = level === this.lastLevel ? this.lastStream : this.byLevel.get(level);
    if (stream === undefined) {
      const labels =
        level === null ? this.resourceLabels : [...this.resourceLabels, ["level", level] as [string, string]];
      stream = { labels, entries: [] };
      this.byLevel.set(level, stream);
      this.streams.push(stream);
    }
    const attributes = record.attributes;
    if (!record.namesClean)
      for (let index = 0; index < attributes.length; index++) {
        const pair = attributes[index]!;
        pair[0] = this.attributeName(pair[0]);
      }
    // The resource's and scope's metadata (names sanitised when they began) lead every record's;
    // pushed into one new array (a concat and then the ids' pushes would allocate it twice).
    let metadata = attributes;
    const prefix = this.metadataPrefix;
    if (prefix.length > 0) {
      metadata = [];
      for (let index = 0; index < prefix.length; index++) metadata.push(prefix[index]!);
      for (let index = 0; index < attributes.length; index++) metadata.push(attributes[index]!);
    }
    if (record.traceIdHex !== "") {
      if (this.tracePair[1] !== record.traceIdHex) this.tracePair = ["trace_id", record.traceIdHex];
      metadata.push(this.tracePair);
    }
    if (record.spanIdHex !== "") {
      if (this.spanPair[1] !== record.spanIdHex) this.spanPair = ["span_id", record.spanIdHex];
      metadata.push(this.spanPair);
    }
    if (record.eventName !== "") metadata.push(["event_name", record.eventName]);
    if (record.severityText !== "" && this.lowercase(record.severityText) !== level)
      metadata.push(["severity_text", record.severityText]);
    const timestampNs =
      record.timeUnixNano !== 0n
        ? record.timeUnixNano
        : record.observedTimeUnixNano !== 0n
          ? record.observedTimeUnixNano
          : this.receivedAtNs;
    const entry: IngestEntry = { timestampNs, line: record.line, metadata };
    stream.entries.push(entry);
    this.lastLevel = level;
    this.lastStream = stream;
  }

  /** toLowerCase of the last text asked (a request's records mostly share one severity text). */
  private lowercase(text: string): string {
    if (text !== this.lastLowercased[0]) this.lastLowercased = [text, text.toLowerCase()];
    return this.lastLowercased[1];
  }

  /**
   * sanitiseLabelName through a per-request cache: attribute keys repeat on every record
   * (`http.method`), and sanitising builds the name char by char. Bounded: past
   * sanitisedNamesMax distinct keys it sanitises without caching.
   */
  attributeName(name: string): string {
    let clean = this.sanitisedNames.get(name);
    if (clean === undefined) {
      clean = isCleanName(name) ? name : sanitiseLabelName(name);
      if (this.sanitisedNames.size < sanitisedNamesMax) this.sanitisedNames.set(name, clean);
    }
    return clean;
  }

  /**
   * False when a body of `bytes` is over lineBytesMax: the record is then refused alone (counted
   * in `rejected`, OTLP's partial success) and the rest of the request is stored.
   */
  checkLineBytes(bytes: number): boolean {
    if (bytes <= this.limits.lineBytesMax) return true;
    if (this.rejected.message === "")
      this.rejected.message = `log records with a body longer than the ${this.limits.lineBytesMax} bytes allowed were not stored (the first: ${bytes} bytes)`;
    this.currentTooLong = true;
    return false;
  }
}

function isCleanName(name: string): boolean {
  if (name.length === 0) return false;
  for (let index = 0; index < name.length; index++) {
    const code = name.charCodeAt(index);
    const letter = (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || code === 0x5f;
    if (!letter && !(index > 0 && code >= 0x30 && code <= 0x39)) return false;
  }
  return true;
}

/** JSON text of an AnyValue that is not a string, nested or not (shared rendering rules). */
export function doubleText(value: number, nested: boolean): string {
  if (Number.isFinite(value)) return String(value);
  return nested ? JSON.stringify(String(value)) : String(value);
}

/**
 * Lowercase hex of an id, bytes start..end of `buffer`; an empty or all-zero id (invalid in OTLP)
 * is "". Straight from the body's range: no view, and toString's hex beat a table of byte pairs
 * (2.5× on 16-byte ids, once the string is flattened to be written).
 */
export function idHex(buffer: Buffer, start: number, end: number): string {
  for (let index = start; index < end; index++)
    if (buffer[index] !== 0) return buffer.toString("hex", start, end);
  return "";
}
