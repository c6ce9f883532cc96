// Loki's protobuf push (`POST /loki/api/v1/push`, Content-Type application/x-protobuf): a raw
// snappy block holding a logproto.PushRequest. Wire layout in LOKI-PUSH-PROTO.md, the schema in
// loki-push.proto (documentation and the tests' encoder; this decoder reads the wire by hand with
// WireReader: no object per message, strict UTF-8, a DecodeError for anything malformed).

import { DecodeError, type DecodeLimits, type EntryColumns, type IngestStream } from "./batch.ts";
import { rejectReasons } from "./errors.ts";
import { parsedLabelSet } from "./label-set.ts";
import { checkUtf8, invalidProtobuf, WireReader, wireType } from "./protobuf-wire.ts";
import { decodeSnappyBlock } from "./snappy.ts";

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
  const columns: EntryColumns = {
    count: 0,
    bytes: reader.buffer,
    seconds: [],
    nanos: [],
    lineStarts: [],
    lineEnds: [],
    metadata: [],
  };
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
      readEntry(reader, entryEnd, limits, columns);
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
  return { labels: parsedLabelSet(labelsText), entries: [], columns };
}

/** One EntryAdapter, appended to the stream's columns (its line a checked range of the message). */
function readEntry(reader: WireReader, end: number, limits: DecodeLimits, columns: EntryColumns): void {
  const outerEnd = reader.end;
  reader.end = end;
  const index = columns.count++;
  columns.seconds.push(0);
  columns.nanos.push(0);
  columns.lineStarts.push(0);
  columns.lineEnds.push(0);
  columns.metadata.push(undefined);
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
      checkUtf8(reader.buffer, reader.position, lineEnd, "a line");
      columns.lineStarts[index] = reader.position;
      columns.lineEnds[index] = lineEnd;
      reader.position = lineEnd;
    } else if (field === 1) {
      reader.expect(tag & 7, wireType.lengthDelimited, "EntryAdapter.timestamp");
      readTimestamp(reader, reader.lengthDelimited(), columns, index);
    } else if (field === 3) {
      reader.expect(tag & 7, wireType.lengthDelimited, "EntryAdapter.structuredMetadata");
      const pairEnd = reader.lengthDelimited();
      const pair = readLabelPair(reader, pairEnd);
      const pairs = columns.metadata[index] as [string, string][] | undefined;
      if (pairs === undefined) columns.metadata[index] = [pair];
      else pairs.push(pair);
    } else {
      // 4 (parsed) is Loki's query-side field: a client's is ignored, as Loki ignores it.
      if (field === 0) throw invalidProtobuf("field number 0");
      reader.skip(tag & 7);
    }
  }
  reader.end = outerEnd;
}

/** google.protobuf.Timestamp {1: int64 seconds, 2: int32 nanos in [0, 1e9)} into entry `index`. */
function readTimestamp(reader: WireReader, end: number, columns: EntryColumns, index: number): void {
  const outerEnd = reader.end;
  reader.end = end;
  let seconds = 0;
  let nanos = 0;
  while (reader.position < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 1) {
      reader.expect(tag & 7, wireType.varint, "Timestamp.seconds");
      seconds = reader.int64Number();
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
  columns.seconds[index] = seconds;
  columns.nanos[index] = nanos;
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
