// POST /loki/api/v1/push, JSON (application/json) and protobuf + snappy (application/x-protobuf): Loki's push API over the
// ingest pipeline. Tenant from X-Scope-OrgID (the same rules as every route), Content-Encoding gzip
// inflated within --decoded-bytes-max, 204 once the lines are durable. Errors are Loki's: plain
// text and its status codes — 400 bad input, 413 too large, 415 an unsupported Content-Type or
// Content-Encoding, 429 (+ Retry-After) limits, 503 recovering. Decoders by media
// type: `pushDecoders`.

import type { FastifyInstance, FastifyReply } from "fastify";
import {
  DecodeError,
  type DecodeLimits,
  decodeLokiPushJson,
  decodeLokiPushProto,
  IngestError,
  type IngestStream,
  inflateBody,
  rejectReasons,
} from "../ingest/index.ts";
import { admit, clientIp, contentEncodingOf, mediaTypeOf, type ServerContext } from "./context.ts";
import { httpStatusOf, httpStatusOfReason } from "./ingest-status.ts";
import { lingerBeforeClose, sendPlainError } from "./replies.ts";
import { tenantOf } from "./service-routes.ts";

const route = "/loki/api/v1/push";

/** A push body decoder for one media type: bytes (already inflated) to streams; throws DecodeError. */
export type PushDecoder = (body: Buffer, limits: DecodeLimits) => IngestStream[];

/**
 * The media types this route decodes. Loki reads any body that is not JSON as protobuf; here an
 * absent Content-Type is protobuf too (what Promtail-era clients send), and an unknown one is 415.
 */
export const pushDecoders = new Map<string, PushDecoder>([
  ["application/json", decodeLokiPushJson],
  ["application/x-protobuf", decodeLokiPushProto],
  ["", decodeLokiPushProto],
]);

export function registerLokiPushRoute(app: FastifyInstance, context: ServerContext): void {
  const { config } = context;
  const bodyBytesMax = config["body-bytes-max"];
  const limits: DecodeLimits = context.pipeline.limits;
  app.post(route, {
    bodyLimit: bodyBytesMax,
    onRequest: async (request, reply) => {
      // Refused before the body is read (see the same in service-routes.ts).
      if (Number(request.headers["content-length"]) > bodyBytesMax) {
        context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.bodyTooLarge });
        lingerBeforeClose(request.raw.socket);
        return sendPlainError(reply, 413, `request body too large: the limit is ${bodyBytesMax} bytes`);
      }
      if (!pushDecoders.has(mediaTypeOf(request))) {
        context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.unsupportedMediaType });
        lingerBeforeClose(request.raw.socket);
        return sendPlainError(
          reply,
          415,
          `unsupported Content-Type ${JSON.stringify(request.headers["content-type"] ?? "")}: this server accepts ${[...pushDecoders.keys()].filter((type) => type !== "").join(", ")}`,
        );
      }
      if (!admit(context, request, reply, bodyBytesMax)) {
        context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.queueFull });
        reply.header("connection", "close");
        lingerBeforeClose(request.raw.socket);
        return sendPlainError(reply, 429, "too many requests in flight, retry later", 1);
      }
    },
    handler: async (request, reply) => {
      try {
        const tenant = tenantOf(request);
        const received = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
        request.body = undefined;
        const receivedBytes = received.length;
        const encoding = contentEncodingOf(request);
        const decode = pushDecoders.get(mediaTypeOf(request)) as PushDecoder;
        const streams = decode(inflateBody(received, encoding, limits.decodedBytesMax), limits);
        const result = await context.pipeline.push({
          tenant,
          streams,
          receivedBytes,
          receivedAtMs: Date.now(),
          clientIp: clientIp(request),
        });
        context.metrics.ingestedRecords.inc({ route, tenant }, result.entries);
        context.metrics.ingestedBytes.inc({ route, tenant }, receivedBytes);
        return reply.code(204).send();
      } catch (error) {
        return replyPushError(context, reply, error);
      }
    },
  });
}

function replyPushError(context: ServerContext, reply: FastifyReply, error: unknown): FastifyReply {
  if (error instanceof DecodeError) {
    context.metrics.rejectedRequests.inc({ route, reason: error.reason });
    return sendPlainError(reply, httpStatusOfReason(error.reason), error.message);
  }
  if (error instanceof IngestError) {
    context.metrics.rejectedRequests.inc({ route, reason: error.reason });
    return sendPlainError(reply, httpStatusOf(error), error.message, error.retryAfterS);
  }
  context.logger.error({ err: error, url: reply.request.url }, "push failed");
  return sendPlainError(reply, 500, "internal server error");
}
