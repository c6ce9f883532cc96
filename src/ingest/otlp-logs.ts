// OTLP logs (ExportLogsServiceRequest over HTTP protobuf/JSON and gRPC): the two decoders and the
// response encoder. Mapping and wire layout: OTLP.md.

import { Buffer } from "node:buffer";
import { varintBytes } from "./protobuf-wire.ts";

export { decodeOtlpLogsJson } from "./otlp-logs-json.ts";
export { decodeOtlpLogsProto } from "./otlp-logs-proto.ts";

export interface OtlpExportResult {
  /** Log records the server did not accept (0 on full success). */
  rejectedLogRecords: number;
  /** Why, for the client (empty on full success). */
  errorMessage: string;
}

/**
 * ExportLogsServiceResponse {1: ExportLogsPartialSuccess {1: int64 rejected_log_records,
 * 2: string error_message}}. On full success partial_success is left unset, as OTLP requires: an
 * empty message (protobuf) or `{}` (JSON). JSON writes the int64 as a decimal string.
 */
export function encodeOtlpExportLogsResponse(
  result: OtlpExportResult,
  encoding: "protobuf" | "json",
): Uint8Array {
  const { rejectedLogRecords, errorMessage } = result;
  if (!Number.isSafeInteger(rejectedLogRecords) || rejectedLogRecords < 0)
    throw new Error(`BUG: rejectedLogRecords must be a count, got ${rejectedLogRecords}`);
  const full = rejectedLogRecords === 0 && errorMessage === "";
  if (encoding === "json") {
    const partialSuccess = { rejectedLogRecords: String(rejectedLogRecords), errorMessage };
    return Buffer.from(JSON.stringify(full ? {} : { partialSuccess }));
  }
  if (full) return new Uint8Array(0);
  const inner: number[] = [];
  if (rejectedLogRecords > 0) inner.push(0x08, ...varintBytes(rejectedLogRecords));
  const message = Buffer.from(errorMessage, "utf8");
  if (message.length > 0) inner.push(0x12, ...varintBytes(message.length), ...message);
  return Uint8Array.from([0x0a, ...varintBytes(inner.length), ...inner]);
}
