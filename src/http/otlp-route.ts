// OTLP/HTTP logs on POST /v1/logs, beside reference A on the same path (service-routes.ts routes
// here). Which body is OTLP: `Content-Type: application/x-protobuf`, or `application/json` whose
// (inflated) body is an object starting with the key `resourceLogs`; everything else (a JSON array
// above all) stays reference A's, byte for byte. Answers as the OTLP spec says: 200 with an
// ExportLogsServiceResponse in the request's encoding once the records are durable; errors a
// google.rpc.Status in that encoding — 400 bad data, 413 too large, 415 an unsupported
// Content-Encoding, 429/503 with Retry-After (retryable). Statuses: src/ingest/OTLP.md.

import type { FastifyReply, FastifyRequest } from "fastify";
import {
  DecodeError,
  type DecodeLimits,
  decodeOtlpLogsJson,
  decodeOtlpLogsProto,
  encodeOtlpExportLogsResponse,
  encodeRpcStatus,
  IngestError,
  inflateBody,
  type RpcCode,
  rejectReasons,
  rpcCodeOfReason,
  rpcCodes,
} from "../ingest/index.ts";
import { clientIp, contentEncodingOf, mediaTypeOf, type ServerContext } from "./context.ts";
import { httpStatusOfReason } from "./ingest-status.ts";
import { tenantOf } from "./service-routes.ts";

const route = "/v1/logs";
const emptyBody = Buffer.alloc(0);
export type OtlpEncoding = "protobuf" | "json";

const contentTypes: Record<OtlpEncoding, string> = {
  protobuf: "application/x-protobuf",
  json: "application/json",
};

/**
 * OTLP protobuf is known from the headers alone, before the body is read (so onRequest refusals
 * can already answer a Status); OTLP/JSON only once the body is in (otlpJsonBody).
 */
export function isOtlpProtobufRequest(request: FastifyRequest): boolean {
  return mediaTypeOf(request) === contentTypes.protobuf;
}

export interface OtlpBody {
  encoding: OtlpEncoding;
  /** The body with its Content-Encoding undone, or the DecodeError that undoing it raised. */
  decoded: Buffer | DecodeError;
}

/**
 * Whether a received /v1/logs body is OTLP, and which encoding: protobuf by Content-Type; JSON when
 * the Content-Type is application/json and the (inflated) body is an object whose first key is
 * `resourceLogs` (or the proto name `resource_logs`), as every OTLP/JSON encoder writes it. null:
 * reference A's — a JSON array always, whatever its headers, and every other body, other objects
 * (`{}` included) among them, which reference A refuses as it always has. A gzip body under
 * application/json that does not inflate (corrupt, a bomb, an unknown Content-Encoding) is OTLP's
 * to refuse: reference A reads no Content-Encoding, so no such body was ever one of its own.
 */
export function otlpBodyOf(request: FastifyRequest, body: Buffer, decodedBytesMax: number): OtlpBody | null {
  const protobuf = isOtlpProtobufRequest(request);
  if (!protobuf && mediaTypeOf(request) !== contentTypes.json) return null;
  const encoding = contentEncodingOf(request);
  const identity = encoding === "" || encoding === "identity";
  if (!protobuf) {
    if (body[skipWhitespace(body, 0)] === 0x5b) return null;
    if (identity) return startsWithResourceLogs(body) ? { encoding: "json", decoded: body } : null;
  }
  let decoded: Buffer | DecodeError;
  try {
    decoded = inflateBody(body, encoding, decodedBytesMax);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
    decoded = error;
  }
  if (protobuf || decoded instanceof DecodeError)
    return { encoding: protobuf ? "protobuf" : "json", decoded };
  return startsWithResourceLogs(decoded) ? { encoding: "json", decoded } : null;
}

const resourceLogsKeys = [Buffer.from('"resourceLogs"'), Buffer.from('"resource_logs"')];

/** `{`, then the key "resourceLogs" / "resource_logs", with JSON whitespace around. */
function startsWithResourceLogs(body: Buffer): boolean {
  let position = skipWhitespace(body, 0);
  if (body[position] !== 0x7b) return false;
  position = skipWhitespace(body, position + 1);
  return resourceLogsKeys.some((key) => body.subarray(position, position + key.length).equals(key));
}

/** The position of the first byte at or after `from` that is not JSON whitespace (or the length). */
function skipWhitespace(body: Buffer, from: number): number {
  let position = from;
  while (position < body.length && isJsonWhitespace(body[position])) position++;
  return position;
}

function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/**
 * Decodes, pushes through the pipeline (validation, limits, the durable append) and answers 200
 * with an ExportLogsServiceResponse, or the refusal as a Status. The pipeline takes a request whole
 * or refuses it whole, so a 200 never carries partial_success here.
 */
export async function handleOtlpLogs(
  context: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  body: OtlpBody,
  receivedBytes: number,
): Promise<FastifyReply> {
  const limits: DecodeLimits = context.pipeline.limits;
  try {
    const tenant = tenantOf(request);
    if (body.decoded instanceof DecodeError) throw body.decoded;
    const receivedAtMs = Date.now();
    const decode = body.encoding === "protobuf" ? decodeOtlpLogsProto : decodeOtlpLogsJson;
    const rejected = { records: 0, message: "" }; // records refused alone: partial success
    const streams = decode(body.decoded, limits, receivedAtMs, rejected);
    body.decoded = emptyBody; // the bytes do not wait for the fsync (service-routes.ts, takeBody)
    const result = await context.pipeline.push({
      tenant,
      streams,
      receivedBytes,
      receivedAtMs,
      clientIp: clientIp(request),
    });
    context.metrics.ingestedRecords.inc({ route, tenant }, result.entries);
    context.metrics.ingestedBytes.inc({ route, tenant }, receivedBytes);
    if (rejected.records > 0)
      context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.lineTooLong }, rejected.records);
    const answer = encodeOtlpExportLogsResponse(
      { rejectedLogRecords: rejected.records, errorMessage: rejected.message },
      body.encoding,
    );
    return reply.code(200).header("content-type", contentTypes[body.encoding]).send(Buffer.from(answer));
  } catch (error) {
    if (error instanceof DecodeError || error instanceof IngestError) {
      context.metrics.rejectedRequests.inc({ route, reason: error.reason });
      const retryAfterS = error instanceof IngestError ? error.retryAfterS : null;
      return sendOtlpError(reply, body.encoding, httpStatusOfReason(error.reason), {
        code: rpcCodeOfReason(error.reason),
        message: error.message,
        retryAfterS,
      });
    }
    context.logger.error({ err: error, url: request.url }, "OTLP export failed");
    return sendOtlpError(reply, body.encoding, 500, {
      code: rpcCodes.internal,
      message: "internal server error",
      retryAfterS: null,
    });
  }
}

/**
 * An OTLP/HTTP failure: the HTTP status, a google.rpc.Status body in the request's encoding and,
 * for a retryable refusal, Retry-After (the OTel exporters honour it).
 */
export function sendOtlpError(
  reply: FastifyReply,
  encoding: OtlpEncoding,
  status: number,
  error: { code: RpcCode; message: string; retryAfterS: number | null },
): FastifyReply {
  if (error.retryAfterS !== null) reply.header("retry-after", String(error.retryAfterS));
  // Status.details stay empty on HTTP: Retry-After is how OTLP/HTTP says when to retry.
  const bodyBytes = encodeRpcStatus(
    { code: error.code, message: error.message, retryDelayS: null },
    encoding,
  );
  return reply.code(status).header("content-type", contentTypes[encoding]).send(bodyBytes);
}

/** The onRequest refusals (before the body is read) of an OTLP protobuf request, as Statuses. */
export const otlpRefusals = {
  tooLarge(reply: FastifyReply, bodyBytesMax: number): FastifyReply {
    return sendOtlpError(reply, "protobuf", 413, {
      code: rpcCodeOfReason(rejectReasons.bodyTooLarge),
      message: `body too large: the limit is ${bodyBytesMax} bytes`,
      retryAfterS: null,
    });
  },
  queueFull(reply: FastifyReply): FastifyReply {
    return sendOtlpError(reply, "protobuf", 429, {
      code: rpcCodeOfReason(rejectReasons.queueFull),
      message: "too many requests in flight, retry later",
      retryAfterS: 1,
    });
  },
  notReady(reply: FastifyReply, message: string, retryAfterS: number): FastifyReply {
    return sendOtlpError(reply, "protobuf", 503, { code: rpcCodes.unavailable, message, retryAfterS });
  },
};
