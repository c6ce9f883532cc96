// Turning a request body into a JSON value with clear errors: empty bodies, invalid UTF-8 (which
// JSON.parse would silently turn into U+FFFD) and malformed JSON are told apart.

import { isUtf8 } from "node:buffer";
import { IngestError, rejectReasons } from "./errors.ts";
import { hasEscapedKey, parseJsonStrict } from "./json-strict.ts";

export type JsonProblem = "empty" | "utf8" | "syntax";

export function parseJsonBody(body: Buffer): { value: unknown } | { problem: JsonProblem; detail: string } {
  if (body.length === 0) return { problem: "empty", detail: "empty body" };
  if (!isUtf8(body)) return { problem: "utf8", detail: "body is not valid UTF-8" };
  try {
    const text = body.toString("utf8");
    const value = JSON.parse(text);
    // JSON.parse can decode escaped keys wrongly (json-strict.ts): those bodies are parsed again.
    return { value: hasEscapedKey(body) ? parseJsonStrict(text) : value };
  } catch (error) {
    // RangeError: nesting deep enough to exhaust the parser's stack.
    const detail = error instanceof RangeError ? "nesting too deep" : (error as Error).message;
    return { problem: "syntax", detail };
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function invalidEntry(index: number, message: string): IngestError {
  return new IngestError(rejectReasons.invalidEntry, `invalid entry at index ${index}: ${message}`);
}
