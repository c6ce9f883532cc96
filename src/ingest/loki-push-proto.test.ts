import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import protobuf from "protobufjs";
import snappyjs from "snappyjs";
import winston from "winston";
import LokiTransport from "winston-loki";
import { DecodeError, type DecodeLimits, lineText, streamEntries } from "./batch.ts";
import { rejectReasons } from "./errors.ts";
import { parseLabelSet } from "./label-set.ts";
import { decodeLokiPushProto, decodePushRequest } from "./loki-push-proto.ts";

const directory = path.dirname(fileURLToPath(import.meta.url));
const schema = protobuf.loadSync(path.join(directory, "loki-push.proto"));
const PushRequest = schema.lookupType("logproto.PushRequest");
const limits: DecodeLimits = {
  entriesMax: 10_000,
  lineBytesMax: 256 * 1024,
  decodedBytesMax: 8 * 1024 * 1024,
};

interface TestStream {
  labels: [string, string][];
  entries: { seconds: number; nanos: number; line: string; metadata: [string, string][] }[];
}

/** `{a="b", …}` with Go/JSON escapes, as Loki clients write it. */
function formatLabels(labels: [string, string][]): string {
  return `{${labels.map(([name, value]) => `${name}=${JSON.stringify(value)}`).join(", ")}}`;
}

function encodeRequest(streams: TestStream[]): Uint8Array {
  const message = PushRequest.fromObject({
    streams: streams.map((stream) => ({
      labels: formatLabels(stream.labels),
      entries: stream.entries.map((entry) => ({
        timestamp: { seconds: entry.seconds, nanos: entry.nanos },
        line: entry.line,
        structuredMetadata: entry.metadata.map(([name, value]) => ({ name, value })),
      })),
    })),
  });
  return PushRequest.encode(message).finish();
}

function encodeBody(streams: TestStream[]): Uint8Array {
  return snappyjs.compress(encodeRequest(streams));
}

/** One stream of one entry whose line field carries `lineBytes` as they are (maybe not UTF-8). */
function requestWithRawLine(lineBytes: Uint8Array, labels = '{app="x"}'): Uint8Array {
  const entry = protobuf.Writer.create();
  entry
    .uint32((1 << 3) | 2)
    .fork()
    .uint32(8)
    .int64(1_700_000_000)
    .uint32(16)
    .int32(5)
    .ldelim();
  entry.uint32((2 << 3) | 2).bytes(lineBytes);
  const stream = protobuf.Writer.create();
  stream.uint32((1 << 3) | 2).string(labels);
  stream.uint32((2 << 3) | 2).bytes(entry.finish());
  const request = protobuf.Writer.create();
  request.uint32((1 << 3) | 2).bytes(stream.finish());
  return request.finish();
}

function rejects(run: () => unknown, reason: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof DecodeError, `expected a DecodeError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    return true;
  });
}

/** Runs `run`; anything thrown must be a DecodeError. */
function onlyDecodeErrors(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
  }
}

describe("decodeLokiPushProto", () => {
  test("decodes the body the real winston-loki client POSTs (protobuf + snappy)", async () => {
    const bodies: { contentType: string | undefined; body: Buffer }[] = [];
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        bodies.push({ contentType: request.headers["content-type"], body: Buffer.concat(chunks) });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const transport = new LokiTransport({
      host: `http://127.0.0.1:${port}`,
      labels: { app: "checkout" },
      batching: true,
      interval: 0.2,
      json: false,
      onConnectionError: (error: unknown) => assert.fail(String(error)),
    });
    const logger = winston.createLogger({ transports: [transport] });
    const before = BigInt(Date.now()) * 1_000_000n;
    logger.info("payment accepted", { labels: { region: "eu" } });
    logger.warn("card declined: ünïcode ✓");
    try {
      while (bodies.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      logger.close();
      transport.close?.();
      server.close();
    }
    const { contentType, body } = bodies[0]!;
    assert.equal(contentType, "application/x-protobuf");
    const streams = decodeLokiPushProto(body, limits);
    const entries = streams.flatMap((stream) =>
      streamEntries(stream).map((entry) => ({ labels: stream.labels, entry })),
    );
    assert.equal(entries.length, 2);
    const info = entries.find(({ entry }) => lineText(entry.line).includes("payment accepted"))!;
    assert.deepEqual(Object.fromEntries(info.labels), { level: "info", app: "checkout", region: "eu" });
    const warn = entries.find(({ entry }) => lineText(entry.line).includes("card declined: ünïcode ✓"))!;
    assert.equal(Object.fromEntries(warn.labels).level, "warn");
    for (const { entry } of entries) {
      assert.ok(entry.timestampNs >= before - 1_000_000n && entry.timestampNs < before + 60_000_000_000n);
    }
  });

  test("round trip: every stream, label, entry, timestamp and metadata pair comes back as sent", () => {
    const text = fc.string({ unit: "binary", maxLength: 40 });
    const name = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,15}$/);
    const stream = fc.record({
      labels: fc.array(fc.tuple(name, text), { maxLength: 5 }),
      entries: fc.array(
        fc.record({
          seconds: fc.integer({ min: 0, max: 2 ** 40 }),
          nanos: fc.integer({ min: 0, max: 999_999_999 }),
          line: fc.string({ unit: "binary", maxLength: 200 }),
          metadata: fc.array(fc.tuple(name, text), { maxLength: 3 }),
        }),
        { maxLength: 8 },
      ),
    });
    fc.assert(
      fc.property(fc.array(stream, { maxLength: 6 }), (streams) => {
        const decoded = decodeLokiPushProto(encodeBody(streams), limits).map((stream) => {
          // Entries come as columns over the body, their lines copied into the records as they are.
          assert.equal(stream.entries.length, 0);
          assert.ok(stream.columns !== undefined);
          return {
            labels: stream.labels,
            entries: streamEntries(stream).map((entry) => ({ ...entry, line: lineText(entry.line) })),
          };
        });
        assert.deepEqual(
          decoded,
          streams.map((sent) => ({
            labels: sent.labels,
            entries: sent.entries.map((entry) => ({
              timestampNs: BigInt(entry.seconds) * 1_000_000_000n + BigInt(entry.nanos),
              line: entry.line,
              metadata: entry.metadata,
            })),
          })),
        );
      }),
      { numRuns: 300 },
    );
  });

  test("every truncation of the PushRequest decodes or is a DecodeError; of the snappy body, a DecodeError", () => {
    const streams: TestStream[] = [
      {
        labels: [
          ["app", "api"],
          ["env", 'pr"od\n'],
        ],
        entries: [
          { seconds: 1_700_000_000, nanos: 123, line: "GET /health 200 ✓", metadata: [["trace_id", "abc"]] },
          { seconds: -5, nanos: 999_999_999, line: "", metadata: [] },
        ],
      },
      { labels: [["app", "db"]], entries: [{ seconds: 1, nanos: 0, line: "x".repeat(300), metadata: [] }] },
    ];
    const request = encodeRequest(streams);
    const body = snappyjs.compress(request);
    for (let length = 0; length < request.length; length++)
      onlyDecodeErrors(() => decodePushRequest(request.subarray(0, length), limits));
    for (let length = 0; length < body.length; length++)
      assert.throws(() => decodeLokiPushProto(body.subarray(0, length), limits), DecodeError);
    assert.equal(decodeLokiPushProto(body, limits).length, 2);
  });

  test("a body that is not a snappy block is invalid_encoding, and the 9 bytes that hang snappyjs stop", () => {
    const request = encodeRequest([
      { labels: [["app", "a"]], entries: [{ seconds: 1, nanos: 0, line: "x", metadata: [] }] },
    ]);
    rejects(() => decodeLokiPushProto(gzipSync(request), limits), rejectReasons.invalidEncoding);
    rejects(() => decodeLokiPushProto(new Uint8Array(0), limits), rejectReasons.invalidEncoding);
    rejects(
      () => decodeLokiPushProto(new Uint8Array([10, 0xfc, 0xf0, 0xff, 0xff, 0xff, 1, 2, 3]), limits),
      rejectReasons.invalidEncoding,
    );
    // A copy from before the start of the output, and elements producing fewer bytes than declared.
    rejects(
      () => decodeLokiPushProto(new Uint8Array([8, 0x01 | (3 << 2), 5]), limits),
      rejectReasons.invalidEncoding,
    );
    rejects(
      () => decodeLokiPushProto(new Uint8Array([8, 0x00, 0x41]), limits),
      rejectReasons.invalidEncoding,
    );
  });

  test("a snappy header claiming 4 GiB is body_too_large before anything is inflated", () => {
    const header = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x41]);
    rejects(() => decodeLokiPushProto(header, limits), rejectReasons.bodyTooLarge);
    const body = encodeBody([
      { labels: [["app", "a"]], entries: [{ seconds: 1, nanos: 0, line: "y".repeat(1000), metadata: [] }] },
    ]);
    rejects(() => decodeLokiPushProto(body, { ...limits, decodedBytesMax: 500 }), rejectReasons.bodyTooLarge);
    assert.equal(decodeLokiPushProto(body, { ...limits, decodedBytesMax: 2000 }).length, 1);
  });

  test("invalid UTF-8 in a line, the labels or structured metadata is invalid_utf8, never U+FFFD", () => {
    const invalid = [
      [0xff],
      [0xc3, 0x28], // a lead byte without its continuation
      [0xc0, 0xaf], // overlong "/"
      [0xed, 0xa0, 0x80], // a UTF-16 surrogate encoded as UTF-8
      [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
      [0x61, 0xe2, 0x82], // truncated at the end
    ];
    for (const bytes of invalid) {
      const line = new Uint8Array([0x6f, 0x6b, ...bytes]);
      rejects(() => decodePushRequest(requestWithRawLine(line), limits), rejectReasons.invalidUtf8);
    }
    const valid = new TextEncoder().encode("héllo ✓ 𝄞");
    assert.equal(
      lineText(streamEntries(decodePushRequest(requestWithRawLine(valid), limits)[0]!)[0]!.line),
      "héllo ✓ 𝄞",
    );
    const labels = Buffer.concat([Buffer.from('{app="'), Buffer.from([0xff]), Buffer.from('"}')]);
    const stream = protobuf.Writer.create().uint32(10).bytes(labels).finish();
    const request = protobuf.Writer.create().uint32(10).bytes(stream).finish();
    rejects(() => decodePushRequest(request, limits), rejectReasons.invalidUtf8);
    const pair = protobuf.Writer.create()
      .uint32(10)
      .string("k")
      .uint32(18)
      .bytes(new Uint8Array([0x80]))
      .finish();
    const entry = protobuf.Writer.create().uint32(18).string("line").uint32(26).bytes(pair).finish();
    const stream2 = protobuf.Writer.create().uint32(10).string('{a="b"}').uint32(18).bytes(entry).finish();
    const request2 = protobuf.Writer.create().uint32(10).bytes(stream2).finish();
    rejects(() => decodePushRequest(request2, limits), rejectReasons.invalidUtf8);
  });

  test("limits: entries over entriesMax, a line over lineBytesMax, nanos outside [0, 1e9)", () => {
    const entries = Array.from({ length: 6 }, (_, index) => ({
      seconds: index,
      nanos: 0,
      line: "l",
      metadata: [],
    }));
    const body = encodeBody([
      { labels: [["a", "1"]], entries: entries.slice(0, 3) },
      { labels: [["a", "2"]], entries: entries.slice(3) },
    ]);
    assert.equal(decodeLokiPushProto(body, { ...limits, entriesMax: 6 }).length, 2);
    rejects(() => decodeLokiPushProto(body, { ...limits, entriesMax: 5 }), rejectReasons.tooManyEntries);
    const long = encodeBody([
      { labels: [["a", "1"]], entries: [{ seconds: 1, nanos: 0, line: "é".repeat(50), metadata: [] }] },
    ]);
    assert.equal(
      lineText(streamEntries(decodeLokiPushProto(long, { ...limits, lineBytesMax: 100 })[0]!)[0]!.line),
      "é".repeat(50),
    );
    rejects(() => decodeLokiPushProto(long, { ...limits, lineBytesMax: 99 }), rejectReasons.lineTooLong);
    const badNanos = encodeBody([
      { labels: [["a", "1"]], entries: [{ seconds: 1, nanos: 1_000_000_000, line: "l", metadata: [] }] },
    ]);
    rejects(() => decodeLokiPushProto(badNanos, limits), rejectReasons.timestampOutOfRange);
    const negativeNanos = encodeBody([
      { labels: [["a", "1"]], entries: [{ seconds: 1, nanos: -1, line: "l", metadata: [] }] },
    ]);
    rejects(() => decodeLokiPushProto(negativeNanos, limits), rejectReasons.timestampOutOfRange);
  });

  test("a wrong wire type for a known field and a stream without labels are refused", () => {
    // streams (field 1) sent as a varint
    rejects(() => decodePushRequest(new Uint8Array([0x08, 0x01]), limits), rejectReasons.invalidProtobuf);
    const stream = protobuf.Writer.create().uint32(18).bytes(new Uint8Array(0)).finish();
    const request = protobuf.Writer.create().uint32(10).bytes(stream).finish();
    rejects(() => decodePushRequest(request, limits), rejectReasons.invalidLabels);
    // Unknown fields (here 7, a varint, and PushRequest.format) are skipped.
    const withUnknown = protobuf.Writer.create().uint32(56).uint32(3).uint32(18).string("loki").finish();
    assert.deepEqual(decodePushRequest(withUnknown, limits), []);
  });

  test("fuzz: random bytes and mutated bodies only ever throw DecodeError", () => {
    const seed = encodeRequest([
      {
        labels: [["app", "api"]],
        entries: [{ seconds: 1_700_000_000, nanos: 5, line: "hello", metadata: [["k", "v"]] }],
      },
    ]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        onlyDecodeErrors(() => decodeLokiPushProto(bytes, limits));
        onlyDecodeErrors(() => decodePushRequest(bytes, limits));
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const mutated = Uint8Array.from(seed);
          for (const [at, value] of edits) mutated[at] = value;
          onlyDecodeErrors(() => decodePushRequest(mutated, limits));
          onlyDecodeErrors(() => decodeLokiPushProto(snappyjs.compress(mutated), limits));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("parseLabelSet", () => {
  test("reads Prometheus label-set syntax with Go's escapes, raw strings and quoted names", () => {
    const cases: [string, [string, string][]][] = [
      ["{}", []],
      [" { } ", []],
      ['{a="b"}', [["a", "b"]]],
      [
        '{a="b", c="d"}',
        [
          ["a", "b"],
          ["c", "d"],
        ],
      ],
      [
        '{a = "b" ,c="d",}',
        [
          ["a", "b"],
          ["c", "d"],
        ],
      ],
      ['{_x9="q\\"uote\\\\ \\n\\t\\r"}', [["_x9", 'q"uote\\ \n\t\r']]],
      ['{a="\\u00e9\\U0001F600\\x41"}', [["a", "é😀A"]]],
      ['{a=`raw \\n "`}', [["a", 'raw \\n "']]],
      ['{"service.name"="x"}', [["service.name", "x"]]],
      ['{a="é ✓"}', [["a", "é ✓"]]],
    ];
    for (const [text, expected] of cases) assert.deepEqual(parseLabelSet(text), expected, text);
  });

  test("refuses what is not a label set, saying where", () => {
    for (const text of [
      "",
      "a=b",
      '{a="b"',
      '{a="b}',
      "{a=b}",
      '{a!="b"}',
      '{9a="b"}',
      '{a="b" c="d"}',
      '{a="b"} x',
      '{a="\\q"}',
      '{a="\\xff"}',
      '{a="\\ud800"}',
      '{a="\\u12"}',
      '{a="line\nbreak"}',
    ]) {
      assert.throws(
        () => parseLabelSet(text),
        (error: unknown) => error instanceof DecodeError && error.reason === rejectReasons.invalidLabels,
        text,
      );
    }
  });
});
