// google.rpc.Status, the error body of OTLP on both transports: an OTLP/HTTP 4xx/5xx answers one
// (protobuf or JSON, as the request was), an OTLP/gRPC error carries one in the
// `grpc-status-details-bin` trailer when it has details (RetryInfo). The code table maps an ingest
// refusal to its google.rpc.Code once, so HTTP's Status.code and gRPC's status agree. Layout: OTLP.md.
//
// Status   1: int32 code   2: string message   3: Any details (repeated)
// Any      1: string type_url   2: bytes value
// RetryInfo 1: Duration retry_delay      Duration 1: int64 seconds   2: int32 nanos

import { Buffer } from "node:buffer";
import { type RejectReason, rejectReasons } from "./errors.ts";
import { varintBytes } from "./protobuf-wire.ts";

/** The google.rpc.Code values OTLP answers with (the same numbers as gRPC status codes). */
export const rpcCodes = {
  ok: 0,
  invalidArgument: 3,
  alreadyExists: 6,
  resourceExhausted: 8,
  internal: 13,
  unavailable: 14,
  unauthenticated: 16,
} as const;

export type RpcCode = (typeof rpcCodes)[keyof typeof rpcCodes];

/**
 * What each refusal is as a google.rpc.Code. Per the OTLP spec a client retries UNAVAILABLE and
 * retries RESOURCE_EXHAUSTED only when the Status carries a RetryInfo: so the per-tenant quotas
 * (rates, active streams) are RESOURCE_EXHAUSTED sent with their RetryInfo, the server's own
 * overload (queue, storage, idempotency table) UNAVAILABLE, and a request too large for any retry
 * RESOURCE_EXHAUSTED without one (as grpc itself answers an oversized message).
 */
const codeByReason: Record<RejectReason, RpcCode> = {
  [rejectReasons.emptyBody]: rpcCodes.invalidArgument,
  [rejectReasons.invalidJson]: rpcCodes.invalidArgument,
  [rejectReasons.invalidEntry]: rpcCodes.invalidArgument,
  [rejectReasons.bodyTooLarge]: rpcCodes.resourceExhausted,
  [rejectReasons.tooManyEntries]: rpcCodes.resourceExhausted,
  [rejectReasons.missingTenant]: rpcCodes.unauthenticated,
  [rejectReasons.invalidHeader]: rpcCodes.invalidArgument,
  [rejectReasons.unsupportedMediaType]: rpcCodes.invalidArgument,
  [rejectReasons.duplicateBatch]: rpcCodes.alreadyExists,
  [rejectReasons.queueFull]: rpcCodes.unavailable,
  [rejectReasons.tenantRateLimited]: rpcCodes.resourceExhausted,
  [rejectReasons.storageOverloaded]: rpcCodes.unavailable,
  [rejectReasons.idempotencyTableFull]: rpcCodes.unavailable,
  [rejectReasons.invalidProtobuf]: rpcCodes.invalidArgument,
  [rejectReasons.invalidEncoding]: rpcCodes.invalidArgument,
  [rejectReasons.invalidUtf8]: rpcCodes.invalidArgument,
  [rejectReasons.lineTooLong]: rpcCodes.invalidArgument,
  [rejectReasons.invalidLabels]: rpcCodes.invalidArgument,
  [rejectReasons.timestampOutOfRange]: rpcCodes.invalidArgument,
  [rejectReasons.tooManyStreams]: rpcCodes.resourceExhausted,
};

export function rpcCodeOfReason(reason: RejectReason): RpcCode {
  return codeByReason[reason];
}

export interface RpcStatus {
  code: RpcCode;
  message: string;
  /** When set, a google.rpc.RetryInfo detail asks the client to wait this many seconds. */
  retryDelayS: number | null;
}

const retryInfoTypeUrl = "type.googleapis.com/google.rpc.RetryInfo";

/** A google.rpc.Status as protobuf or as proto3 JSON (`{"code":3,"message":"…","details":[…]}`). */
export function encodeRpcStatus(status: RpcStatus, encoding: "protobuf" | "json"): Buffer {
  const { code, message, retryDelayS } = status;
  if (retryDelayS !== null && !(Number.isSafeInteger(retryDelayS) && retryDelayS >= 0))
    throw new Error(`BUG: retryDelayS must be whole seconds, got ${retryDelayS}`);
  if (encoding === "json") {
    const details =
      retryDelayS === null ? [] : [{ "@type": retryInfoTypeUrl, retryDelay: `${retryDelayS}s` }];
    return Buffer.from(JSON.stringify(details.length === 0 ? { code, message } : { code, message, details }));
  }
  const parts: Buffer[] = [];
  if (code !== 0) parts.push(Buffer.from([0x08, ...varintBytes(code)]));
  const messageBytes = Buffer.from(message, "utf8");
  if (messageBytes.length > 0) parts.push(lengthDelimited(0x12, messageBytes));
  if (retryDelayS !== null) {
    const duration = retryDelayS > 0 ? Buffer.from([0x08, ...varintBytes(retryDelayS)]) : Buffer.alloc(0);
    const retryInfo = lengthDelimited(0x0a, duration);
    const any = Buffer.concat([
      lengthDelimited(0x0a, Buffer.from(retryInfoTypeUrl)),
      lengthDelimited(0x12, retryInfo),
    ]);
    parts.push(lengthDelimited(0x1a, any));
  }
  return Buffer.concat(parts);
}

function lengthDelimited(tag: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag, ...varintBytes(bytes.length)]), bytes]);
}
