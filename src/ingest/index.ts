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
export { type Appender, logAppender } from "./appender.ts";
export {
  DecodeError,
  type DecodeLimits,
  type IngestBatch,
  type IngestEntry,
  type IngestStream,
} from "./batch.ts";
export {
  IngestError,
  ingestErrorCode,
  RecordDecodeError,
  RecordFormatError,
  type RejectReason,
  recordDecodeErrorCode,
  recordFormatErrorCode,
  rejectReasons,
} from "./errors.ts";
export {
  decodeEsBulk,
  decodeEsDocument,
  type EsBulkDecoded,
  type EsBulkItem,
  type EsBulkMapping,
  type EsItemError,
  esBulkMapping,
  esIndexLabel,
} from "./es-bulk.ts";
export { IdempotencyTable, type RebuildOptions, type Reservation, reservations } from "./idempotency.ts";
export { hasEscapedKey, parseJsonStrict } from "./json-strict.ts";
export { parseLabelSet } from "./label-set.ts";
export { idempotencyLimits } from "./limits.ts";
export { decodeLokiPushJson, inflateBody, pushEncodings } from "./loki-push-json.ts";
export { decodeLokiPushProto } from "./loki-push-proto.ts";
export {
  decodeOtlpLogsJson,
  decodeOtlpLogsProto,
  encodeOtlpExportLogsResponse,
  type OtlpExportResult,
} from "./otlp-logs.ts";
export { encodeRpcStatus, type RpcCode, type RpcStatus, rpcCodeOfReason, rpcCodes } from "./otlp-status.ts";
export {
  type AdmissionTicket,
  IngestPipeline,
  type IngestPipelineOptions,
  type PipelineLimits,
  type PushResult,
} from "./pipeline.ts";
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
  decodeLogRecord,
  decodeServiceRecord,
  decodeStreamRecord,
  hasKeyPrefix,
  isStreamEntryValue,
  type StoredServiceEntry,
  serviceEntryJson,
  serviceKeyPrefix,
} from "./service-logs-stored.ts";
export { isLegacyValue, type RecordFormat, recordFormats } from "./stored-format.ts";
export {
  decodeStreamEntryValue,
  discoverServiceName,
  routingService,
  type StreamEntry,
  streamEntryValue,
  unknownService,
} from "./stream-entry.ts";
export { StreamLimiter } from "./streams.ts";
export {
  parseSyslogMessage,
  type SyslogFormat,
  type SyslogMessage,
  type SyslogReceipt,
  syslogFormats,
  syslogStreams,
} from "./syslog.ts";
export { defaultTenant, tenantOfHeader } from "./tenant.ts";
export { TenantLimiter, type TenantRates } from "./tenant-limits.ts";
