// Which format a stored record is in. The first byte of every record value Sluice writes to its
// topics names the format of the whole record, key and value (src/ingest/FORMAT.md draws each one
// byte by byte). A reader looks at that byte before anything else and refuses one it does not know
// (RecordFormatError) rather than guessing from the shape. Values written before the byte existed
// start with JSON text (`{`, `[` or JSON whitespace), which no format byte is: they are the legacy
// formats, read as before.

import { RecordFormatError } from "./errors.ts";
import { isJsonWhitespace, jsonCode } from "./json-bytes.ts";

/**
 * The format bytes, one table for both topics so that a record read from the wrong topic is refused
 * too. New formats take the next free byte of 0x01–0x08 (then 0x0e–0x1f): control characters that
 * never start a JSON text, so a format byte can never be mistaken for a legacy value. Never reuse a
 * byte, and never change what an existing one means: add a format instead.
 */
export const recordFormats = {
  /** topics/logs: key `tenant 0x00 service`; value 0x01, then the enriched reference A entry as JSON. */
  serviceEntryV1: 0x01,
  /** topics/access: key `customer \n idempotency-key \n request-id`; value 0x02, then the body as received. */
  accessBatchV1: 0x02,
  /** topics/logs: key `tenant 0x00 service`; value 0x03, then a generic stream entry as JSON (stream-entry.ts). */
  streamEntryV1: 0x03,
} as const;

export type RecordFormat = (typeof recordFormats)[keyof typeof recordFormats];

/** Whether a value has no format byte: it starts with JSON text, as every value before the byte did. */
export function isLegacyValue(value: Uint8Array): boolean {
  const first = value[0];
  return first === jsonCode.openBrace || first === jsonCode.openBracket || isJsonWhitespace(first);
}

/** The error for a value whose first byte is no format `topic`'s readers know. */
export function unknownFormat(topic: string, value: Uint8Array): RecordFormatError {
  const what =
    value.length === 0 ? "an empty value" : `format byte 0x${value[0].toString(16).padStart(2, "0")}`;
  return new RecordFormatError(
    `a record of ${topic} has ${what}, which this Sluice cannot read (written by a newer version or another writer)`,
  );
}
