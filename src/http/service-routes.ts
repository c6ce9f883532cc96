// Reference A: POST /v1/logs and GET /v1/query, byte for byte where the reference defines the
// answer; plain-text errors; tenant from X-Scope-OrgID.

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  decodeServiceLogs,
  IngestError,
  rejectReasons,
  type ServiceLogDecoding,
  type ServiceLogRequest,
  serviceEntryJson,
  tenantOfHeader,
} from "../ingest/index.ts";
import { admit, clientIp, type ServerContext } from "./context.ts";
import { httpStatusOf } from "./ingest-status.ts";
import { handleOtlpLogs, isOtlpProtobufRequest, otlpBodyOf, otlpRefusals } from "./otlp-route.ts";
import { lingerBeforeClose, sendPlainError } from "./replies.ts";

export { defaultTenant } from "../ingest/index.ts";

export function tenantOf(request: FastifyRequest): string {
  return tenantOfHeader(request.headers["x-scope-orgid"]);
}

const otherMethods = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"] as const;
const route = "/v1/logs";

export function registerServiceRoutes(app: FastifyInstance, context: ServerContext): void {
  const { config } = context;
  const decoding: ServiceLogDecoding = {
    limits: {
      entriesMax: config["batch-entries-max"],
      labelsMax: config["labels-max"],
      lineBytesMax: config["line-bytes-max"],
    },
    partitionCount: config.partitions,
    nodeId: context.nodeId,
  };

  app.post(route, {
    bodyLimit: config["body-bytes-max"],
    onRequest: async (request, reply) => {
      // A declared length over the limit is refused before any of the body is read; answering from
      // the body parser instead would reset the connection under a client still sending.
      // An OTLP protobuf request is known from its Content-Type and refused in OTLP's model (a
      // Status); OTLP/JSON is known only from its body, so before it is read it is refused as here.
      const otlpProtobuf = isOtlpProtobufRequest(request);
      if (Number(request.headers["content-length"]) > config["body-bytes-max"]) {
        context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.bodyTooLarge });
        lingerBeforeClose(request.raw.socket);
        if (otlpProtobuf) return otlpRefusals.tooLarge(reply, config["body-bytes-max"]);
        return sendPlainError(reply, 413, `body too large: the limit is ${config["body-bytes-max"]} bytes`);
      }
      if (!admit(context, request, reply, config["body-bytes-max"])) {
        context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.queueFull });
        reply.header("connection", "close"); // do not read the refused body: the client resends it
        lingerBeforeClose(request.raw.socket);
        if (otlpProtobuf) return otlpRefusals.queueFull(reply);
        return sendPlainError(reply, 429, "too many requests in flight, retry later", 1);
      }
    },
    handler: async (request, reply) => {
      // OTLP (protobuf, or a JSON object that starts with resourceLogs) goes to otlp-route.ts; a
      // JSON array and any other body stay reference A's, untouched (the check only reads it).
      const received = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
      const otlp = otlpBodyOf(request, received, config["decoded-bytes-max"]);
      if (otlp !== null) {
        request.body = undefined;
        return handleOtlpLogs(context, request, reply, otlp, received.length);
      }
      try {
        const tenant = tenantOf(request);
        const bodyBytes = (request.body as Buffer | undefined)?.length ?? 0;
        const receivedAtMs = Date.now();
        // Only counts cross the await: neither the body nor its records stay in this frame (held
        // across the fsync, they would be promoted to the old generation; docs/handover.md). The
        // log lets go of the records once they are encoded.
        const entryCount = await decodeAndAppend(context, decoding, takeBody(request), {
          tenant,
          receivedAtMs,
          clientIp: clientIp(request),
        });
        context.metrics.ingestedRecords.inc({ route, tenant }, entryCount);
        context.metrics.ingestedBytes.inc({ route, tenant }, bodyBytes);
        return reply
          .code(200)
          .header("content-type", "application/json")
          .send(`{"received":${entryCount}}\n`);
      } catch (error) {
        return replyPlainError(context, reply, error);
      }
    },
  });
  app.route({ method: [...otherMethods], url: route, handler: methodNotAllowed });

  app.get("/v1/query", async (request, reply) => {
    try {
      const tenant = tenantOf(request);
      const query = request.query as Record<string, string | string[] | undefined>;
      const limitText = typeof query.limit === "string" ? query.limit : undefined;
      if (limitText === undefined || !/^\+?\d+$/.test(limitText))
        return sendPlainError(reply, 400, "invalid limit query param value");
      const service = typeof query.service === "string" ? query.service : "";
      if (service === "") return sendPlainError(reply, 400, "missing service query param value");
      const limit = Math.min(Number(limitText), config["query-limit-max"]);
      // Through the block index when it is on (only the blocks holding the service's streams are
      // read), else the partition read backwards: the same records either way (last-entries.ts).
      const { records } = await context.queryEngine.lastServiceRecords(tenant, service, limit);
      // A record of a format this version cannot read fails the query (a 500, logged with its
      // RecordFormatError) rather than answering with bytes that may not be the entry.
      const parts: Uint8Array[] = [Buffer.from("[")];
      records.forEach((record, i) => {
        if (i > 0) parts.push(Buffer.from(","));
        parts.push(serviceEntryJson(record.key, record.value)); // reference A's JSON (a 0x03 entry mapped onto it)
      });
      parts.push(Buffer.from("]\n"));
      return reply.code(200).header("content-type", "application/json").send(Buffer.concat(parts));
    } catch (error) {
      return replyPlainError(context, reply, error);
    }
  });
  app.route({
    method: ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
    url: "/v1/query",
    handler: methodNotAllowed,
  });
}

/** The raw body, which the request then no longer holds (fastify would keep it until the reply). */
function takeBody(request: FastifyRequest): Buffer {
  const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
  request.body = undefined;
  return body;
}

/**
 * Decodes a body (throws IngestError for a bad one), checks the tenant's rates and appends the
 * records; resolves with the entry count once they are durable. Not async, see the caller.
 */
function decodeAndAppend(
  context: ServerContext,
  decoding: ServiceLogDecoding,
  body: Buffer,
  request: ServiceLogRequest,
): Promise<number> {
  const decoded = decodeServiceLogs(body, request, decoding);
  // The pipeline's tail (tenant rates, append): the body is already records (the fast path).
  return context.pipeline.pushRouted(
    request.tenant,
    decoded.routed,
    decoded.entryCount,
    body.length,
    request.receivedAtMs,
  );
}

async function methodNotAllowed(_request: FastifyRequest, reply: FastifyReply) {
  return sendPlainError(reply, 405, "method not allowed");
}

function replyPlainError(context: ServerContext, reply: FastifyReply, error: unknown): FastifyReply {
  if (error instanceof IngestError) {
    context.metrics.rejectedRequests.inc({
      route: reply.request.routeOptions.url ?? "unknown",
      reason: error.reason,
    });
    return sendPlainError(reply, httpStatusOf(error), error.message, error.retryAfterS);
  }
  context.logger.error({ err: error, url: reply.request.url }, "request failed");
  return sendPlainError(reply, 500, "internal server error");
}
