// Loki's protobuf push (`POST /loki/api/v1/push`, Content-Type application/x-protobuf): a raw
// snappy block holding a logproto.PushRequest. Wire layout in LOKI-PUSH-PROTO.md, the schema in
// loki-push.proto (documentation and the tests' encoder; this decoder reads the wire by hand with
// WireReader: no object per message, strict UTF-8, a DecodeError for anything malformed).

import type { DecodeLimits, IngestEntry, IngestStream } from "./batch.ts";
import { DecodeError } from "./batch.ts";
import { rejectReasons } from "./errors.ts";
import { parsedLabelSet } from "./label-set.ts";
import { invalidProtobuf, utf8View, WireReader, wireType } from "./protobuf-wire.ts";
import { decodeSnappyBlock } from "./snappy.ts";

const nanosPerSecond = 1_000_000_000n;
const noMetadata: IngestEntry["metadata"] = Object.freeze([]) as IngestEntry["metadata"];

/** Decodes a snappy-compressed PushRequest into its streams, in the order sent. */
export function decodeLokiPushProto(body: Uint8Array, limits: DecodeLimits): IngestStream[] {
  const message = decodeSnappyBlock(body, limits.decodedBytesMax);
  return decodePushRequest(message, limits);
}

/** Decodes an uncompressed PushRequest (what the snappy block holds). */
export function decodePushRequest(message: Uint8Array, limits: DecodeLimits): IngestStream[] {
  const reader = new WireReader(message);
  const streams: IngestStream[] = [];
  const counter = { entries: 0 };
  while (reader.position < reader.end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 1) {
      reader.expect(tag & 7, wireType.lengthDelimited, "PushRequest.streams");
      const end = reader.lengthDelimited();
      streams.push(readStream(reader, end, limits, counter));
    } else {
      if (field === 0) throw invalidProtobuf("field number 0");
      reader.skip(tag & 7);
    }
  }
  return streams;
}

function readStream(
  reader: WireReader,
  end: number,
  limits: DecodeLimits,
  counter: { entries: number },
): IngestStream {
  const outerEnd = reader.end;
  reader.end = end;
  let labelsText: string | null = null;
  const entries: IngestEntry[] = [];
  while (reader.position < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 2) {
      reader.expect(tag & 7, wireType.lengthDelimited, "StreamAdapter.entries");
      if (++counter.entries > limits.entriesMax)
        throw new DecodeError(
          rejectReasons.tooManyEntries,
          `the request holds more than ${limits.entriesMax} entries`,
        );
      const entryEnd = reader.lengthDelimited();
      entries.push(readEntry(reader, entryEnd, limits));
    } else if (field === 1) {
      reader.expect(tag & 7, wireType.lengthDelimited, "StreamAdapter.labels");
      labelsText = reader.string("stream labels");
    } else {
      if (field === 0) throw invalidProtobuf("field number 0");
      reader.skip(tag & 7);
    }
  }
  reader.end = outerEnd;
  if (labelsText === null) throw new DecodeError(rejectReasons.invalidLabels, "a stream without labels");
  return { labels: parsedLabelSet(labelsText), entries };
}

function readEntry(reader: WireReader, end: number, limits: DecodeLimits): IngestEntry {
  const outerEnd = reader.end;
  reader.end = end;
  let timestampNs = 0n;
  let line: IngestEntry["line"] = "";
  let metadata = noMetadata;
  while (reader.position < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 2) {
      reader.expect(tag & 7, wireType.lengthDelimited, "EntryAdapter.line");
      const lineEnd = reader.lengthDelimited();
      if (lineEnd - reader.position > limits.lineBytesMax)
        throw new DecodeError(
          rejectReasons.lineTooLong,
          `a line of ${lineEnd - reader.position} bytes is longer than the ${limits.lineBytesMax} allowed`,
        );
      line = utf8View(reader.buffer, reader.position, lineEnd, "a line");
      reader.position = lineEnd;
    } else if (field === 1) {
      reader.expect(tag & 7, wireType.lengthDelimited, "EntryAdapter.timestamp");
      timestampNs = readTimestamp(reader, reader.lengthDelimited());
    } else if (field === 3) {
      reader.expect(tag & 7, wireType.lengthDelimited, "EntryAdapter.structuredMetadata");
      const pairEnd = reader.lengthDelimited();
      if (metadata === noMetadata) metadata = [];
      (metadata as [string, string][]).push(readLabelPair(reader, pairEnd));
    } else {
      // 4 (parsed) is Loki's query-side field: a client's is ignored, as Loki ignores it.
      if (field === 0) throw invalidProtobuf("field number 0");
      reader.skip(tag & 7);
    }
  }
  reader.end = outerEnd;
  return { timestampNs, line, metadata };
}

/** google.protobuf.Timestamp {1: int64 seconds, 2: int32 nanos in [0, 1e9)} as ns since the epoch. */
function readTimestamp(reader: WireReader, end: number): bigint {
  const outerEnd = reader.end;
  reader.end = end;
  let seconds = 0n;
  let nanos = 0;
  while (reader.position < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 1) {
      reader.expect(tag & 7, wireType.varint, "Timestamp.seconds");
      seconds = reader.int64();
    } else if (field === 2) {
      reader.expect(tag & 7, wireType.varint, "Timestamp.nanos");
      nanos = reader.uint32() | 0;
    } else {
      if (field === 0) throw invalidProtobuf("field number 0");
      reader.skip(tag & 7);
    }
  }
  reader.end = outerEnd;
  if (nanos < 0 || nanos >= 1_000_000_000)
    throw new DecodeError(rejectReasons.timestampOutOfRange, `timestamp nanos ${nanos} outside [0, 1e9)`);
  return seconds * nanosPerSecond + BigInt(nanos);
}

/** LabelPairAdapter {1: name, 2: value}. */
function readLabelPair(reader: WireReader, end: number): [string, string] {
  const outerEnd = reader.end;
  reader.end = end;
  let name = "";
  let value = "";
  while (reader.position < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 1) {
      reader.expect(tag & 7, wireType.lengthDelimited, "LabelPairAdapter.name");
      name = reader.string("a structured metadata name");
    } else if (field === 2) {
      reader.expect(tag & 7, wireType.lengthDelimited, "LabelPairAdapter.value");
      value = reader.string("a structured metadata value");
    } else {
      if (field === 0) throw invalidProtobuf("field number 0");
      reader.skip(tag & 7);
    }
  }
  reader.end = outerEnd;
  return [name, value];
}
