// The two error models. Reference A answers plain text the way Go's http.Error does (text/plain,
// nosniff, the message plus a newline). Reference B answers JSON {requestId, errorCategory,
// errorCode, errorDescription}.

import type { FastifyReply } from "fastify";
import type { IngestError } from "../ingest/index.ts";

export function sendPlainError(
  reply: FastifyReply,
  status: number,
  message: string,
  retryAfterS: number | null = null,
): FastifyReply {
  if (retryAfterS !== null) reply.header("retry-after", String(retryAfterS));
  return reply
    .code(status)
    .header("content-type", "text/plain; charset=utf-8")
    .header("x-content-type-options", "nosniff")
    .send(`${message}\n`);
}

export const accessErrors = {
  invalidArgument: { status: 400, category: "invalid_argument", code: "ING_1000" },
  conflict: { status: 409, category: "resource_conflict", code: "ING_1001" },
  rateLimited: { status: 429, category: "resource_exhausted", code: "ING_1002" },
  unavailable: { status: 503, category: "unavailable", code: "SYS_9002" },
  internal: { status: 500, category: "internal", code: "ING_9000" },
} as const;

export type AccessErrorKind = (typeof accessErrors)[keyof typeof accessErrors];

export function sendAccessError(
  reply: FastifyReply,
  requestId: string,
  kind: AccessErrorKind,
  description: string,
  retryAfterS: number | null = null,
): FastifyReply {
  if (retryAfterS !== null) reply.header("retry-after", String(retryAfterS));
  return reply
    .code(kind.status)
    .header("content-type", "application/json")
    .send(
      JSON.stringify({
        requestId,
        errorCategory: kind.category,
        errorCode: kind.code,
        errorDescription: description,
      }),
    );
}

export function accessKindFor(error: IngestError): AccessErrorKind {
  if (error.status === 409) return accessErrors.conflict;
  if (error.status === 429) return accessErrors.rateLimited;
  if (error.status === 503) return accessErrors.unavailable;
  if (error.status >= 500) return accessErrors.internal;
  return accessErrors.invalidArgument;
}

/** "2MB" for 2 MiB, as the reference writes its limit; exact bytes otherwise. */
export function formatLimit(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}MB`;
  if (bytes % 1024 === 0) return `${bytes / 1024}KB`;
  return `${bytes} bytes`;
}
