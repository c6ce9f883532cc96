// Elasticsearch's bulk API body (NDJSON action / document pairs) to IngestStreams, plus one outcome
// per action for the transport's bulk response (ES-BULK.md). Bytes in, streams and items out, no
// transport: Content-Encoding is undone by `inflateBody` first, and the caller renders the items and
// turns a DecodeError (a whole-request refusal, where Elasticsearch refuses the whole request) into
// its status. Refusals Elasticsearch makes per document (a document that is not JSON, an update)
// are items with an error; the other items of the request are still stored.

import { sanitiseLabelName } from "../model/service-stream.ts";
import type { DecodeLimits, IngestEntry, IngestStream } from "./batch.ts";
import { DecodeError } from "./batch.ts";
import { rejectReasons } from "./errors.ts";
import { isPlainObject, parseJsonBody } from "./json-body.ts";
import { esBulkLimits, labelValueCharsMax, streamLabelsMax, timestampMsMax } from "./limits.ts";
import { utcOffsetMinutes, utcWallMs } from "./utc-time.ts";

/** Which document fields become what (the --es-* options). */
export interface EsBulkMapping {
  /** The field whose string value is the line; absent: the whole document is the line. */
  messageField: string;
  /** The field holding the entry's time (RFC 3339 or epoch ms); absent: the receive time. */
  timestampField: string;
  /** Fields that become stream labels, under their Prometheus-sanitised names (dots → `_`). */
  labelFields: readonly string[];
}

export const esBulkActions = ["index", "create", "update", "delete"] as const;
export type EsBulkAction = (typeof esBulkActions)[number];

/** An item's refusal, in Elasticsearch's terms (status, exception type, reason). */
export interface EsItemError {
  status: number;
  type: string;
  reason: string;
}

/** One action of the request, in order: stored (error null) or refused. */
export interface EsBulkItem {
  action: EsBulkAction;
  index: string;
  /** The action's `_id`, else null (the transport generates one for a stored item). */
  id: string | null;
  error: EsItemError | null;
}

export interface EsBulkDecoded {
  streams: IngestStream[];
  items: EsBulkItem[];
}

export interface EsBulkRequest {
  /** `<index>` of `POST /<index>/_bulk`, else null: the default of every action without `_index`. */
  urlIndex: string | null;
  mapping: EsBulkMapping;
  limits: DecodeLimits;
  receivedAtMs: number;
}

/** The stream label that holds the index name. */
export const esIndexLabel = "index";

// Parameters Elasticsearch accepts in an action's object. Sluice reads `_index` and `_id` and
// ignores the rest; `_type` is accepted too (Elasticsearch 7 clients and Fluent Bit's default send
// it; Elasticsearch 8 would refuse it). Anything else is a malformed request, as in Elasticsearch.
const actionParameters = new Set([
  "_index",
  "_id",
  "_type",
  "routing",
  "_routing",
  "pipeline",
  "require_alias",
  "require_data_stream",
  "dynamic_templates",
  "list_executed_pipelines",
  "version",
  "version_type",
  "if_seq_no",
  "if_primary_term",
  "op_type",
  "retry_on_conflict",
  "_source",
]);

const newline = 0x0a;

/** Throws DecodeError for a request Elasticsearch would refuse whole (each message as its reason). */
export function decodeEsBulk(body: Buffer, request: EsBulkRequest): EsBulkDecoded {
  const { limits } = request;
  if (body.length > limits.decodedBytesMax)
    throw new DecodeError(
      rejectReasons.bodyTooLarge,
      `body over the limit of ${limits.decodedBytesMax} bytes`,
    );
  if (body.length > 0 && body[body.length - 1] !== newline)
    throw invalid("The bulk request must be terminated by a newline [\\n]");
  const builder = new StreamBuilder(request);
  const items: EsBulkItem[] = [];
  let start = 0;
  let lineNumber = 0;
  while (start < body.length) {
    const end = body.indexOf(newline, start);
    const actionLine = body.subarray(start, end);
    start = end + 1;
    lineNumber++;
    if (isBlank(actionLine)) continue; // Elasticsearch skips empty lines between actions
    if (items.length >= limits.entriesMax)
      throw new DecodeError(
        rejectReasons.tooManyEntries,
        `too many actions: the limit is ${limits.entriesMax}`,
      );
    const action = parseAction(actionLine, lineNumber, request.urlIndex);
    if (action.name === "delete") {
      items.push(refused(action, 400, "illegal_argument_exception", appendOnly("delete")));
      continue;
    }
    if (start >= body.length)
      throw invalid(
        `The document line of the action on line [${lineNumber}] is missing: the request ends after it`,
      );
    const docEnd = body.indexOf(newline, start);
    const documentLine = body.subarray(start, docEnd);
    start = docEnd + 1;
    lineNumber++;
    if (action.name === "update") {
      items.push(refused(action, 400, "illegal_argument_exception", appendOnly("update")));
      continue;
    }
    items.push(builder.add(action, documentLine));
  }
  if (items.length === 0)
    throw new DecodeError(rejectReasons.emptyBody, "Validation Failed: 1: no requests added;");
  return { streams: builder.streams, items };
}

/**
 * One document of the single-document API (`POST /<index>/_doc`, `PUT /<index>/_doc/<id>`,
 * `PUT /<index>/_create/<id>`): the same mapping and per-item refusals as a bulk item, the whole
 * body the document (pretty-printed JSON too). The one item says whether it was stored.
 */
export function decodeEsDocument(
  body: Buffer,
  action: { name: "index" | "create"; index: string; id: string | null },
  request: EsBulkRequest,
): EsBulkDecoded {
  if (body.length > request.limits.decodedBytesMax)
    throw new DecodeError(
      rejectReasons.bodyTooLarge,
      `body over the limit of ${request.limits.decodedBytesMax} bytes`,
    );
  const builder = new StreamBuilder(request);
  const item = builder.add(action, body);
  return { streams: builder.streams, items: [item] };
}

interface ParsedAction {
  name: EsBulkAction;
  index: string;
  id: string | null;
}

function parseAction(line: Buffer, lineNumber: number, urlIndex: string | null): ParsedAction {
  const parsed = parseJsonBody(line);
  if ("problem" in parsed)
    throw invalid(`Malformed action/metadata line [${lineNumber}]: ${parsed.detail}`, parsed.problem);
  const value = parsed.value;
  if (!isPlainObject(value))
    throw invalid(
      `Malformed action/metadata line [${lineNumber}], expected START_OBJECT but found [${tokenOf(value)}]`,
    );
  const names = Object.keys(value);
  if (names.length !== 1)
    throw invalid(
      `Malformed action/metadata line [${lineNumber}], expected one field of [create], [delete], [index] or [update], found ${names.length}`,
    );
  const name = names[0]!;
  if (!(esBulkActions as readonly string[]).includes(name))
    throw invalid(
      `Malformed action/metadata line [${lineNumber}], expected field [create], [delete], [index] or [update] but found [${name}]`,
    );
  const parameters = value[name];
  if (!isPlainObject(parameters))
    throw invalid(
      `Malformed action/metadata line [${lineNumber}], expected START_OBJECT but found [${tokenOf(parameters)}]`,
    );
  for (const parameter in parameters) {
    if (!actionParameters.has(parameter))
      throw invalid(`Action/metadata line [${lineNumber}] contains an unknown parameter [${parameter}]`);
  }
  const index = parameters._index ?? urlIndex;
  if (index === null)
    throw new DecodeError(
      rejectReasons.invalidEntry,
      `Validation Failed: 1: index is missing (action/metadata line [${lineNumber}]);`,
    );
  if (typeof index !== "string")
    throw invalid(`Malformed action/metadata line [${lineNumber}]: [_index] must be a string`);
  const id = parameters._id ?? null;
  if (id !== null && typeof id !== "string" && typeof id !== "number")
    throw invalid(`Malformed action/metadata line [${lineNumber}]: [_id] must be a string`);
  return { name: name as EsBulkAction, index, id: id === null ? null : String(id) };
}

/** Builds the streams of one request: entries grouped by their label set. */
class StreamBuilder {
  readonly streams: IngestStream[] = [];
  private readonly byLabels = new Map<string, IngestStream>();
  private readonly request: EsBulkRequest;
  private readonly labelNames: string[];
  private readonly receivedAtNs: bigint;
  /** The documents' fields; those the mapping already uses are never structured metadata too. */
  private readonly fields: FieldTree;

  constructor(request: EsBulkRequest) {
    this.request = request;
    const { mapping } = request;
    this.fields = new FieldTree(
      new Set([mapping.messageField, mapping.timestampField, ...mapping.labelFields]),
    );
    this.labelNames = request.mapping.labelFields.map(sanitiseLabelName);
    this.receivedAtNs = BigInt(request.receivedAtMs) * 1_000_000n;
  }

  add(action: ParsedAction, line: Buffer): EsBulkItem {
    const indexProblem = indexNameProblem(action.index);
    if (indexProblem !== null)
      return refused(
        action,
        400,
        "invalid_index_name_exception",
        `Invalid index name [${action.index}], ${indexProblem}`,
      );
    if (action.id !== null && Buffer.byteLength(action.id) > esBulkLimits.idBytesMax)
      return refused(
        action,
        400,
        "illegal_argument_exception",
        `id [${action.id.slice(0, 64)}…] is too long, must be no longer than ${esBulkLimits.idBytesMax} bytes`,
      );
    const parsed = parseJsonBody(line);
    if ("problem" in parsed) {
      const reason =
        parsed.problem === "empty"
          ? "failed to parse, document is empty"
          : `failed to parse: ${parsed.detail}`;
      return refused(action, 400, "document_parsing_exception", reason);
    }
    const document = parsed.value;
    if (!isPlainObject(document))
      return refused(
        action,
        400,
        "document_parsing_exception",
        `failed to parse: the document must be a JSON object, found [${tokenOf(document)}]`,
      );
    const { mapping, limits } = this.request;
    const time = timestampOf(fieldValue(document, mapping.timestampField), this.receivedAtNs);
    if (time === null)
      return refused(
        action,
        400,
        "document_parsing_exception",
        `failed to parse field [${mapping.timestampField}] of type [date]: want RFC 3339 or epoch milliseconds from 1970 on`,
      );
    const message = fieldValue(document, mapping.messageField);
    const hasMessage = typeof message === "string";
    const text = hasMessage ? message : line.toString("utf8").trim();
    if (!text.isWellFormed())
      return refused(
        action,
        400,
        "document_parsing_exception",
        `failed to parse field [${mapping.messageField}]: not valid UTF-8 (a lone surrogate)`,
      );
    const lineBytes = Buffer.byteLength(text, "utf8");
    if (lineBytes > limits.lineBytesMax)
      return refused(
        action,
        400,
        "illegal_argument_exception",
        `the log line of ${lineBytes} bytes is over the limit of ${limits.lineBytesMax} bytes`,
      );
    const labels: [string, string][] = [[esIndexLabel, action.index]];
    const taken = new Set<string>([esIndexLabel]);
    for (let f = 0; f < mapping.labelFields.length; f++) {
      const field = mapping.labelFields[f]!;
      const value = scalarText(fieldValue(document, field));
      if (value === null || value === "" || taken.has(this.labelNames[f]!)) continue;
      if (value.length > labelValueCharsMax || !value.isWellFormed())
        return refused(
          action,
          400,
          "illegal_argument_exception",
          `the value of label field [${field}] is longer than ${labelValueCharsMax} characters or not valid UTF-8`,
        );
      taken.add(this.labelNames[f]!);
      labels.push([this.labelNames[f]!, value]);
    }
    const metadata = hasMessage ? metadataOf(document, this.fields) : [];
    this.#append(labels, { timestampNs: time, line: text, metadata });
    return { action: action.name, index: action.index, id: action.id, error: null };
  }

  #append(labels: [string, string][], entry: IngestEntry): void {
    const key = JSON.stringify(labels);
    let stream = this.byLabels.get(key);
    if (stream === undefined) {
      stream = { labels, entries: [] };
      this.byLabels.set(key, stream);
      this.streams.push(stream);
    }
    stream.entries.push(entry);
  }
}

/**
 * A document field by name: the literal top-level key first (`"service.name": "x"`), else the
 * dotted path through objects (`"service": {"name": "x"}`, as ECS documents nest it).
 */
function fieldValue(document: Record<string, unknown>, field: string): unknown {
  if (Object.hasOwn(document, field)) return document[field];
  if (!field.includes(".")) return undefined;
  let value: unknown = document;
  for (const part of field.split(".")) {
    if (!isPlainObject(value) || !Object.hasOwn(value, part)) return undefined;
    value = value[part];
  }
  return value;
}

function scalarText(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return null;
}

/** A document field seen in this request: its dotted path, sanitised name, whether mapped. */
interface FieldNode {
  path: string;
  name: string;
  mapped: boolean;
  children: Map<string, FieldNode>;
}

/**
 * The fields of one request's documents as a tree, so each distinct path is joined, sanitised and
 * looked up in the mapping once per request rather than once per document. A 1,000-document
 * Filebeat-shaped body (bench/protocol-decode.bench.ts, noisy shared machine, 2026-12-04): with a
 * join + sanitise per leaf 61k documents/s, 0.45x the OTLP/JSON decoder in the same run; with the
 * tree 109k-151k, 0.65-0.87x. At most esBulkLimits.fieldNodesMax nodes are kept; past it they are
 * built and dropped.
 */
class FieldTree {
  readonly root: FieldNode = { path: "", name: "", mapped: false, children: new Map() };
  private readonly mappedFields: ReadonlySet<string>;
  private nodeCount = 0;

  constructor(mappedFields: ReadonlySet<string>) {
    this.mappedFields = mappedFields;
  }

  child(parent: FieldNode, key: string): FieldNode {
    const held = parent.children.get(key);
    if (held !== undefined) return held;
    const path = parent === this.root ? key : `${parent.path}.${key}`;
    const node = {
      path,
      name: sanitiseLabelName(path),
      mapped: this.mappedFields.has(path),
      children: new Map(),
    };
    if (this.nodeCount < esBulkLimits.fieldNodesMax) {
      parent.children.set(key, node);
      this.nodeCount++;
    }
    return node;
  }
}

/**
 * Structured metadata of a document whose message is the line: its scalar leaves (objects walked,
 * arrays as JSON text) other than the mapped fields, names sanitised (`log.file.path` →
 * `log_file_path`), the first esBulkLimits.metadataFieldsMax of them in document order; longer
 * values and deeper leaves are left out (ES-BULK.md).
 */
function metadataOf(document: Record<string, unknown>, fields: FieldTree): [string, string][] {
  const metadata: [string, string][] = [];
  visitLeaves(document, fields.root, 1, fields, metadata);
  return metadata;
}

function visitLeaves(
  object: Record<string, unknown>,
  parent: FieldNode,
  depth: number,
  fields: FieldTree,
  metadata: [string, string][],
): void {
  for (const key in object) {
    if (metadata.length >= esBulkLimits.metadataFieldsMax) return;
    const node = fields.child(parent, key);
    if (node.mapped) continue;
    const value = object[key];
    if (isPlainObject(value)) {
      if (depth < esBulkLimits.metadataDepthMax) visitLeaves(value, node, depth + 1, fields, metadata);
      continue;
    }
    const text = Array.isArray(value) ? JSON.stringify(value) : scalarText(value);
    if (text === null || text === "" || text.length > labelValueCharsMax || !text.isWellFormed()) continue;
    if (node.name.length > esBulkLimits.metadataNameCharsMax || hasName(metadata, node.name)) continue;
    metadata.push([node.name, text]);
  }
}

/** Whether a name is taken (two paths can sanitise to one name): a scan, metadata is short. */
function hasName(metadata: readonly (readonly [string, string])[], name: string): boolean {
  for (const [held] of metadata) if (held === name) return true;
  return false;
}

const nanosecondsPerMillisecond = 1_000_000n;
const timestampNsMax = BigInt(timestampMsMax) * nanosecondsPerMillisecond;
// strict_date_optional_time, Elasticsearch's default date format (with epoch_millis): a date, an
// optional time to the nanosecond, an optional zone (UTC when none).
const datePattern =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

/** The entry time in ns: the field's value, the receive time when absent, null when unusable. */
export function timestampOf(value: unknown, receivedAtNs: bigint): bigint | null {
  if (value === undefined || value === null) return receivedAtNs;
  let ns: bigint | null = null;
  if (typeof value === "number") ns = epochMsToNs(value);
  else if (typeof value === "string")
    ns = /^-?\d+(\.\d+)?$/.test(value) ? epochMsToNs(Number(value)) : dateToNs(value);
  if (ns === null || ns < 0n || ns >= timestampNsMax) return null;
  return ns;
}

function epochMsToNs(ms: number): bigint | null {
  if (!Number.isFinite(ms)) return null;
  const whole = Math.floor(ms);
  return BigInt(whole) * nanosecondsPerMillisecond + BigInt(Math.round((ms - whole) * 1e6));
}

function dateToNs(text: string): bigint | null {
  const match = datePattern.exec(text);
  if (match === null) return null;
  const [, year, month, day, hour = "0", minute = "0", second = "0", fraction = "", zone = "Z"] = match;
  // Month 13, Feb 30, hour 24 or year 0099 are refused, not rolled over (utc-time.ts).
  if (Number(second) > 59) return null;
  const ms = utcWallMs(
    Number(year),
    Number(month),
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
  );
  if (ms === null) return null;
  let offsetMinutes: number | null = 0;
  if (zone !== "Z" && zone !== "z") {
    const digits = zone.slice(1).replace(":", "");
    offsetMinutes = utcOffsetMinutes(zone[0]!, Number(digits.slice(0, 2)), Number(digits.slice(2) || "0"));
    if (offsetMinutes === null) return null;
  }
  const fractionNs = fraction === "" ? 0n : BigInt(fraction.padEnd(9, "0"));
  return BigInt(ms - offsetMinutes * 60_000) * nanosecondsPerMillisecond + fractionNs;
}

/** Why Elasticsearch would refuse this index name, else null (MetadataCreateIndexService). */
function indexNameProblem(name: string): string | null {
  if (name === "") return "must not be empty";
  if (name !== name.toLowerCase()) return "must be lowercase";
  if (name === "." || name === "..") return 'must not be "." or ".."';
  if (/^[-_+]/.test(name)) return "must not start with '_', '-', or '+'";
  if (/[\\/*?"<>| ,#:]/.test(name))
    return 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]';
  if (Buffer.byteLength(name) > esBulkLimits.indexBytesMax)
    return `index name is too long, (${Buffer.byteLength(name)} > ${esBulkLimits.indexBytesMax})`;
  if (!name.isWellFormed()) return "must be valid UTF-8";
  return null;
}

function refused(action: ParsedAction, status: number, type: string, reason: string): EsBulkItem {
  return { action: action.name, index: action.index, id: action.id, error: { status, type, reason } };
}

function appendOnly(action: string): string {
  return `[${action}] is not supported: Sluice stores log lines append-only; use [index] or [create]`;
}

function invalid(message: string, problem?: string): DecodeError {
  if (problem === "utf8") return new DecodeError(rejectReasons.invalidUtf8, message);
  return new DecodeError(rejectReasons.invalidJson, message);
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return false;
  return true;
}

/** Jackson's token name for what was found where an object was wanted (as Elasticsearch reports it). */
function tokenOf(value: unknown): string {
  if (Array.isArray(value)) return "START_ARRAY";
  if (typeof value === "string") return "VALUE_STRING";
  if (typeof value === "number") return "VALUE_NUMBER";
  if (typeof value === "boolean") return value ? "VALUE_TRUE" : "VALUE_FALSE";
  return "VALUE_NULL";
}

/** The most label fields a mapping may name: the stream also carries `index` and `service_name`. */
export const esLabelFieldsMax = streamLabelsMax - 2;

/** The mapping of the --es-* options; throws a plain Error (a start-up misconfiguration) when unusable. */
export function esBulkMapping(
  messageField: string,
  timestampField: string,
  labelFields: string,
): EsBulkMapping {
  const fields = labelFields
    .split(",")
    .map((field) => field.trim())
    .filter((field) => field !== "");
  if (fields.length > esLabelFieldsMax)
    throw new Error(`--es-label-fields names ${fields.length} fields, the limit is ${esLabelFieldsMax}`);
  if (messageField.trim() === "" || timestampField.trim() === "")
    throw new Error("--es-message-field and --es-timestamp-field must not be empty");
  return { messageField, timestampField, labelFields: fields };
}
