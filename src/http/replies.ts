// The two error models. Reference A answers plain text the way Go's http.Error does (text/plain,
// nosniff, the message plus a newline). Reference B answers JSON {requestId, errorCategory,
// errorCode, errorDescription}.

import type { Socket } from "node:net";
import type { FastifyReply } from "fastify";
import type { IngestError } from "../ingest/index.ts";
import { httpStatusOf } from "./ingest-status.ts";

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

/**
 * How long a connection whose request body was refused unread keeps draining (and discarding) what
 * the client still sends before it closes. Without it Node closes right after the answer, and a
 * client still uploading gets a reset (EPIPE) instead of reading the 413 / 429 (seen in 1 of 8
 * refused 12 MB chunked uploads on a loaded machine). Bounded in time; drained bytes are dropped.
 */
export const lingerMs = 2000;

/** Makes the socket's close after this answer a lingering one (see lingerMs). */
export function lingerBeforeClose(socket: Socket): void {
  if (socket.destroyed) return;
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    socket.end(); // the answer goes out with a FIN; reading continues
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
    socket.once("end", () => socket.destroy()); // the client is done sending
    socket.resume();
  };
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
  const status = httpStatusOf(error);
  if (status === 409) return accessErrors.conflict;
  if (status === 429) return accessErrors.rateLimited;
  if (status === 503) return accessErrors.unavailable;
  if (status >= 500) return accessErrors.internal;
  return accessErrors.invalidArgument;
}

/** "2MB" for 2 MiB, as the reference writes its limit; exact bytes otherwise. */
export function formatLimit(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}MB`;
  if (bytes % 1024 === 0) return `${bytes / 1024}KB`;
  return `${bytes} bytes`;
}
