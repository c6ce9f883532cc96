// Public surface of the ingest stage: decoders, validation, enrichment, routing, backpressure.
export {
  type AccessBatchKey,
  type AccessEntry,
  accessBatchKey,
  accessBatchValue,
  accessLimits,
  decodeAccessBatch,
  parseAccessBatch,
  parseRfc3339,
  splitAccessBatchKey,
  storedAccessBatchKey,
} from "./access-logs.ts";
export { Admission, type AdmissionLimits } from "./admission.ts";
export {
  DecodeError,
  type DecodeLimits,
  type IngestBatch,
  type IngestEntry,
  type IngestStream,
} from "./batch.ts";
export {
  IngestError,
  RecordDecodeError,
  RecordFormatError,
  type RejectReason,
  recordDecodeErrorCode,
  recordFormatErrorCode,
  rejectReasons,
} from "./errors.ts";
export { IdempotencyTable, type RebuildOptions, type Reservation, reservations } from "./idempotency.ts";
export { hasEscapedKey, parseJsonStrict } from "./json-strict.ts";
export { parseLabelSet } from "./label-set.ts";
export { idempotencyLimits } from "./limits.ts";
export { decodeLokiPushProto } from "./loki-push-proto.ts";
export {
  decodeOtlpLogsJson,
  decodeOtlpLogsProto,
  encodeOtlpExportLogsResponse,
  type OtlpExportResult,
} from "./otlp-logs.ts";
export {
  type DecodedServiceLogs,
  decodeServiceLogs,
  type Enrichment,
  enrichAndRoute,
  parseServiceLogs,
  type ServiceLogDecoding,
  type ServiceLogEntry,
  type ServiceLogLimits,
  type ServiceLogRequest,
  serviceStreamKey,
  storedServiceEntry,
} from "./service-logs.ts";
export {
  type DecodedServiceRecord,
  decodeServiceRecord,
  hasKeyPrefix,
  type StoredServiceEntry,
  serviceKeyPrefix,
} from "./service-logs-stored.ts";
export { isLegacyValue, type RecordFormat, recordFormats } from "./stored-format.ts";
export { TenantLimiter, type TenantRates } from "./tenant-limits.ts";
