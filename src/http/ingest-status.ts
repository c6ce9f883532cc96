// The HTTP status of each ingest refusal. src/ingest names why a request was refused (RejectReason)
// and nothing of HTTP; this table is what the HTTP routes (reference A, reference B, Loki push)
// answer for each reason, in the route's own error model. One table so that a reason means the same
// status on every HTTP route: a client can tell "fix the request" (4xx but 429) from "slow down"
// (429, with Retry-After) from "too large" (413).

import { type IngestError, type RejectReason, rejectReasons } from "../ingest/index.ts";

const statusByReason: Record<RejectReason, number> = {
  [rejectReasons.emptyBody]: 400,
  [rejectReasons.invalidJson]: 400,
  [rejectReasons.invalidEntry]: 400,
  [rejectReasons.bodyTooLarge]: 413,
  [rejectReasons.tooManyEntries]: 413,
  [rejectReasons.missingTenant]: 401,
  [rejectReasons.invalidHeader]: 400,
  [rejectReasons.unsupportedMediaType]: 415,
  [rejectReasons.duplicateBatch]: 409,
  [rejectReasons.queueFull]: 429,
  [rejectReasons.tenantRateLimited]: 429,
  [rejectReasons.storageOverloaded]: 429,
  [rejectReasons.idempotencyTableFull]: 503,
  [rejectReasons.invalidProtobuf]: 400,
  [rejectReasons.invalidEncoding]: 400,
  [rejectReasons.invalidUtf8]: 400,
  [rejectReasons.lineTooLong]: 400,
  [rejectReasons.invalidLabels]: 400,
  [rejectReasons.timestampOutOfRange]: 400,
  [rejectReasons.tooManyStreams]: 429,
};

export function httpStatusOfReason(reason: RejectReason): number {
  return statusByReason[reason];
}

export function httpStatusOf(error: IngestError): number {
  return statusByReason[error.reason];
}
