// Typed ingest failures. Each carries a reason (the label of the rejected-records metric) and no
// transport status: each transport maps the reason onto its protocol (src/http/ingest-status.ts for
// the HTTP routes, in each route's own error model).

export const rejectReasons = {
  emptyBody: "empty_body",
  invalidJson: "invalid_json",
  invalidEntry: "invalid_entry",
  bodyTooLarge: "body_too_large",
  tooManyEntries: "too_many_entries",
  missingTenant: "missing_tenant",
  invalidHeader: "invalid_header",
  unsupportedMediaType: "unsupported_media_type",
  duplicateBatch: "duplicate_batch",
  queueFull: "queue_full",
  tenantRateLimited: "tenant_rate_limited",
  storageOverloaded: "storage_overloaded",
  idempotencyTableFull: "idempotency_table_full",
  // The protocols of issue 14 (src/ingest/batch.ts decoders and the pipeline).
  invalidProtobuf: "invalid_protobuf",
  invalidEncoding: "invalid_encoding",
  invalidUtf8: "invalid_utf8",
  lineTooLong: "line_too_long",
  invalidLabels: "invalid_labels",
  timestampOutOfRange: "timestamp_out_of_range",
  tooManyStreams: "too_many_streams",
} as const;

export type RejectReason = (typeof rejectReasons)[keyof typeof rejectReasons];

export const ingestErrorCode = "INGEST_REJECTED";

/**
 * A refused request: the reason (the rejected-records metric's label, and what a transport maps to
 * its own status: src/http/ingest-status.ts for HTTP), a message for the client and, for a refusal
 * that passes with time (rates, a full queue, a busy log), the seconds to wait. No HTTP status: the
 * same refusal is a 429 to a Loki client, a RESOURCE_EXHAUSTED to a gRPC one.
 */
export class IngestError extends Error {
  readonly code = ingestErrorCode;
  readonly reason: RejectReason;
  /** Seconds a client should wait before retrying (rates, queues, storage), else null. */
  readonly retryAfterS: number | null;
  constructor(
    reason: RejectReason,
    message: string,
    options: { retryAfterS?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "IngestError";
    this.reason = reason;
    this.retryAfterS = options.retryAfterS ?? null;
  }
}

export const recordFormatErrorCode = "INGEST_RECORD_FORMAT";

/**
 * A stored record whose format byte this version does not know (src/ingest/FORMAT.md): written by
 * a newer Sluice or by another writer. Readers stop on it instead of guessing what it holds.
 */
export class RecordFormatError extends Error {
  readonly code = recordFormatErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RecordFormatError";
  }
}

export const recordDecodeErrorCode = "INGEST_RECORD_DECODE";

/**
 * A stored record of a format this version knows whose bytes do not decode as that format says
 * (src/ingest/FORMAT.md): a key without its separator, a value that is not the JSON entry. Unlike
 * RecordFormatError, a newer version would not read it either; readers skip it and count it.
 */
export class RecordDecodeError extends Error {
  readonly code = recordDecodeErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RecordDecodeError";
  }
}
