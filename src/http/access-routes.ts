// Reference B: POST /logs access-log batches, with its headers, limits, error model and
// idempotency (409 for a repeated key of the same customer, across restarts and races).

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  accessBatchKey,
  accessBatchValue,
  accessLimits,
  IdempotencyTable,
  IngestError,
  parseAccessBatch,
  rejectReasons,
  reservations,
} from "../ingest/index.ts";
import { partitionFor } from "../model/hash.ts";
import { ulid } from "../model/ulid.ts";
import { admit, appendRouted, type ServerContext, topics } from "./context.ts";
import { accessErrors, accessKindFor, formatLimit, lingerBeforeClose, sendAccessError } from "./replies.ts";

const route = "/logs";

declare module "fastify" {
  interface FastifyRequest {
    sluiceRequestId?: string;
  }
}

/** The first of a repeated header or query parameter: reference B reads one value of each. */
export function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function header(request: FastifyRequest, name: string): string | undefined {
  return firstValue(request.headers[name]);
}

/** Reference B's request id: the client's x-request-id when sane, else a new ULID; echoed back. */
export function assignRequestId(request: FastifyRequest, reply: FastifyReply): string {
  const given = header(request, "x-request-id")?.trim();
  const requestId = given && given.length <= accessLimits.requestIdCharsMax ? given : ulid();
  request.sluiceRequestId = requestId;
  reply.header("x-request-id", requestId);
  return requestId;
}

/** The tenant of reference B's routes, or the error description when it is missing or too long. */
export function customerIdProblem(request: FastifyRequest): string | null {
  const customerId = header(request, "x-customer-id")?.trim();
  if (!customerId) return "customerID is required";
  if (customerId.length > accessLimits.customerIdCharsMax)
    return `customerID too long: must be <= ${accessLimits.customerIdCharsMax} chars`;
  return null;
}

export function registerAccessRoutes(app: FastifyInstance, context: ServerContext): void {
  const bodyBytesMax = context.config["access-body-bytes-max"];

  app.post(route, {
    bodyLimit: bodyBytesMax,
    onRequest: async (request, reply) => {
      const requestId = assignRequestId(request, reply);
      const problem = headerProblem(request);
      if (problem !== null) {
        context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.invalidHeader });
        return sendAccessError(reply, requestId, accessErrors.invalidArgument, problem);
      }
      const declared = Number(header(request, "content-length"));
      if (declared > bodyBytesMax) {
        context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.bodyTooLarge });
        lingerBeforeClose(request.raw.socket);
        return sendAccessError(
          reply,
          requestId,
          accessErrors.invalidArgument,
          `batch too large: must be <= ${formatLimit(bodyBytesMax)}`,
        );
      }
      if (!admit(context, request, reply, bodyBytesMax)) {
        context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.queueFull });
        reply.header("connection", "close"); // do not read the refused body: the client resends it
        lingerBeforeClose(request.raw.socket);
        return sendAccessError(
          reply,
          requestId,
          accessErrors.rateLimited,
          "too many requests in flight, retry later",
          1,
        );
      }
    },
    handler: async (request, reply) => {
      const requestId = request.sluiceRequestId!;
      const customerId = header(request, "x-customer-id")!.trim();
      let pair: string | null = null;
      try {
        const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
        const entries = parseAccessBatch(body);
        const nowMs = Date.now();
        const idempotencyKey = header(request, "idempotency-key")?.trim() || ulid(nowMs);
        const reserving = IdempotencyTable.pair(customerId, idempotencyKey);
        // The duplicate check comes first: a repeat is answered 409 and costs no rate.
        const reservation = context.idempotency.reserve(reserving, nowMs);
        if (reservation === reservations.duplicate)
          throw new IngestError(rejectReasons.duplicateBatch, "log batch already processed");
        if (reservation === reservations.full) {
          throw new IngestError(
            rejectReasons.idempotencyTableFull,
            "too many idempotency keys held, retry later",
            { retryAfterS: 60 },
          );
        }
        pair = reserving;
        // Only counts cross the await below (see the same in service-routes.ts); the record's value
        // (the body behind its format byte) the log lets go of once it is encoded into a flight.
        const entryCount = entries.length;
        const bodyBytes = body.length;
        request.body = undefined;
        context.tenantLimiter.admit(customerId, entryCount, bodyBytes, nowMs, "customer");
        const record = {
          timestampMs: nowMs,
          key: accessBatchKey(customerId, idempotencyKey, requestId),
          value: accessBatchValue(body),
        };
        await appendRouted(
          context,
          topics.accessLogs,
          context.accessLog,
          new Map([[partitionFor(customerId, context.config.partitions), [record]]]),
        );
        context.idempotency.confirm(pair, nowMs);
        pair = null;
        context.metrics.ingestedRecords.inc({ route, tenant: customerId }, entryCount);
        context.metrics.ingestedBytes.inc({ route, tenant: customerId }, bodyBytes);
        return reply.code(202).send();
      } catch (error) {
        if (pair !== null) context.idempotency.release(pair);
        return replyAccessError(context, reply, requestId, error);
      }
    },
  });
}

/** Header checks done before the body is read: the tenant, the media type, the key's size. */
function headerProblem(request: FastifyRequest): string | null {
  const customerProblem = customerIdProblem(request);
  if (customerProblem !== null) return customerProblem;
  const contentType = header(request, "content-type") ?? "";
  if (!contentType.toLowerCase().includes("json")) return "content-type must be application/json";
  const idempotencyKey = header(request, "idempotency-key")?.trim() ?? "";
  if (idempotencyKey.length > accessLimits.idempotencyKeyCharsMax) {
    return `idempotency-key too long: must be <= ${accessLimits.idempotencyKeyCharsMax} chars`;
  }
  return null;
}

export function replyAccessError(
  context: ServerContext,
  reply: FastifyReply,
  requestId: string,
  error: unknown,
): FastifyReply {
  if (error instanceof IngestError) {
    context.metrics.rejectedRequests.inc({ route, reason: error.reason });
    return sendAccessError(reply, requestId, accessKindFor(error), error.message, error.retryAfterS);
  }
  context.logger.error({ err: error, requestId }, "POST /logs failed");
  return sendAccessError(reply, requestId, accessErrors.internal, "internal server error");
}
