// Loki's push API, JSON form: `{"streams":[{"stream":{labels},"values":[["<ns>","line"(,{metadata})],…]}]}`
// to IngestStreams. Bytes in, streams out, no transport: Content-Encoding is undone by
// `inflateBody` first (bounded), and the caller turns a DecodeError's reason into its status.
// Labels and lines are checked for well-formed text (a JSON escape can carry a lone surrogate,
// which no UTF-8 store holds); label names and counts are the pipeline's to validate.

import { isUtf8 } from "node:buffer";
import zlib from "node:zlib";
import type { DecodeLimits, IngestEntry, IngestStream } from "./batch.ts";
import { DecodeError } from "./batch.ts";
import { rejectReasons } from "./errors.ts";
import { isPlainObject, parseJsonBody } from "./json-body.ts";

/** Content-Encodings a push body may have. */
export const pushEncodings = ["identity", "gzip"] as const;

/**
 * The body with its Content-Encoding undone, at most `decodedBytesMax` bytes: a gzip bomb stops
 * there (body_too_large), a corrupt stream is invalid_encoding. `encoding` lowercase, "" = identity.
 */
export function inflateBody(body: Buffer, encoding: string, decodedBytesMax: number): Buffer {
  if (encoding === "" || encoding === "identity") return body;
  if (encoding !== "gzip")
    throw new DecodeError(
      rejectReasons.unsupportedMediaType,
      `unsupported Content-Encoding ${JSON.stringify(encoding)}`,
    );
  try {
    return zlib.gunzipSync(body, { maxOutputLength: decodedBytesMax });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
      throw new DecodeError(
        rejectReasons.bodyTooLarge,
        `gzip body inflates past the limit of ${decodedBytesMax} bytes`,
        { cause: error },
      );
    throw new DecodeError(rejectReasons.invalidEncoding, `invalid gzip body: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

const nanosecondsPattern = /^\d{1,19}$/;

/** A Loki JSON push body to streams (throws DecodeError). */
export function decodeLokiPushJson(body: Buffer, limits: DecodeLimits): IngestStream[] {
  if (body.length > limits.decodedBytesMax)
    throw new DecodeError(
      rejectReasons.bodyTooLarge,
      `body over the limit of ${limits.decodedBytesMax} bytes`,
    );
  if (body.length > 0 && !isUtf8(body))
    throw new DecodeError(rejectReasons.invalidUtf8, "body is not valid UTF-8");
  const parsed = parseJsonBody(body);
  if ("problem" in parsed) {
    if (parsed.problem === "empty") throw new DecodeError(rejectReasons.emptyBody, "empty body");
    throw new DecodeError(rejectReasons.invalidJson, `invalid json: ${parsed.detail}`);
  }
  const root = parsed.value;
  if (!isPlainObject(root) || !Array.isArray(root.streams))
    throw new DecodeError(rejectReasons.invalidJson, 'invalid json: want an object with a "streams" array');
  const streams: IngestStream[] = [];
  let entryCount = 0;
  root.streams.forEach((item: unknown, s: number) => {
    if (!isPlainObject(item)) throw invalid(`streams[${s}] must be an object`);
    const labelObject = item.stream;
    if (!isPlainObject(labelObject)) throw invalid(`streams[${s}].stream must be an object of labels`);
    const labels: [string, string][] = [];
    for (const name in labelObject) {
      const value = labelObject[name];
      if (typeof value !== "string") throw invalid(`streams[${s}].stream.${name} must be a string`);
      wellFormed(name, `streams[${s}] label name`);
      wellFormed(value, `streams[${s}] label ${name}`);
      labels.push([name, value]);
    }
    const values = item.values;
    if (!Array.isArray(values)) throw invalid(`streams[${s}].values must be an array`);
    entryCount += values.length;
    if (entryCount > limits.entriesMax)
      throw new DecodeError(
        rejectReasons.tooManyEntries,
        `too many entries: the limit is ${limits.entriesMax}`,
      );
    const entries: IngestEntry[] = values.map((value: unknown, v: number) =>
      entryOf(value, `streams[${s}].values[${v}]`, limits),
    );
    streams.push({ labels, entries });
  });
  return streams;
}

function entryOf(value: unknown, at: string, limits: DecodeLimits): IngestEntry {
  if (!Array.isArray(value) || value.length < 2 || value.length > 3)
    throw invalid(`${at} must be ["<unix ns>", "<line>"] or ["<unix ns>", "<line>", {metadata}]`);
  const [timestamp, line, metadataObject] = value;
  if (typeof timestamp !== "string" || !nanosecondsPattern.test(timestamp))
    throw invalid(`${at}: timestamp must be a string of Unix nanoseconds, got ${JSON.stringify(timestamp)}`);
  if (typeof line !== "string") throw invalid(`${at}: the line must be a string`);
  wellFormed(line, at);
  if (Buffer.byteLength(line, "utf8") > limits.lineBytesMax)
    throw new DecodeError(rejectReasons.lineTooLong, `${at}: line longer than ${limits.lineBytesMax} bytes`);
  const metadata: [string, string][] = [];
  if (metadataObject !== undefined) {
    if (!isPlainObject(metadataObject))
      throw invalid(`${at}: structured metadata must be an object of strings`);
    for (const name in metadataObject) {
      const metadataValue = metadataObject[name];
      if (typeof metadataValue !== "string")
        throw invalid(`${at}: structured metadata ${name} must be a string`);
      wellFormed(name, at);
      wellFormed(metadataValue, at);
      metadata.push([name, metadataValue]);
    }
  }
  return { timestampNs: BigInt(timestamp), line, metadata };
}

function invalid(message: string): DecodeError {
  return new DecodeError(rejectReasons.invalidEntry, message);
}

function wellFormed(text: string, at: string): void {
  if (!text.isWellFormed())
    throw new DecodeError(rejectReasons.invalidUtf8, `${at}: not valid UTF-8 (a lone surrogate)`);
}
