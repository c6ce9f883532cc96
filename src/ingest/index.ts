// Public surface of the ingest stage: decoders, validation, enrichment, routing, backpressure.
export {
  type AccessEntry,
  accessBatchKey,
  accessLimits,
  decodeAccessBatch,
  parseAccessBatch,
  parseRfc3339,
  splitAccessBatchKey,
} from "./access-logs.ts";
export { Admission, type AdmissionLimits } from "./admission.ts";
export { IngestError, type RejectReason, rejectReasons } from "./errors.ts";
export { IdempotencyTable, type RebuildOptions, type Reservation, reservations } from "./idempotency.ts";
export { hasEscapedKey, parseJsonStrict } from "./json-strict.ts";
export { idempotencyLimits } from "./limits.ts";
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
} from "./service-logs.ts";
export { TenantLimiter, type TenantRates } from "./tenant-limits.ts";
