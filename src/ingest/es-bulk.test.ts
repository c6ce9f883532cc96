import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { DecodeError } from "./batch.ts";
import { rejectReasons } from "./errors.ts";
import { decodeEsBulk, type EsBulkRequest, esBulkMapping, timestampOf } from "./es-bulk.ts";
import { esBulkLimits } from "./limits.ts";

const receivedAtMs = 1_750_000_000_000;
const receivedAtNs = BigInt(receivedAtMs) * 1_000_000n;
const mapping = esBulkMapping("message", "@timestamp", "service.name,service,host.name,level,log.level");
const limits = { entriesMax: 100, lineBytesMax: 1024, decodedBytesMax: 1 << 20 };

function request(overrides: Partial<EsBulkRequest> = {}): EsBulkRequest {
  return { urlIndex: null, mapping, limits, receivedAtMs, ...overrides };
}

function ndjson(...lines: unknown[]): Buffer {
  return Buffer.from(
    `${lines.map((line) => (typeof line === "string" ? line : JSON.stringify(line))).join("\n")}\n`,
  );
}

function decodeError(body: Buffer, overrides: Partial<EsBulkRequest> = {}): DecodeError {
  try {
    decodeEsBulk(body, request(overrides));
  } catch (error) {
    assert.ok(error instanceof DecodeError, String(error));
    return error;
  }
  assert.fail("expected a DecodeError");
}

describe("decodeEsBulk", () => {
  test("index and create pairs: index label, label fields (literal and nested), message line, ns time", () => {
    const { streams, items } = decodeEsBulk(
      ndjson(
        { index: { _index: "app", _id: "a1" } },
        {
          message: "hello",
          "@timestamp": "2025-06-15T10:00:00.123456789Z",
          service: { name: "checkout" },
          level: "info",
        },
        { create: {} },
        { message: "second", "@timestamp": 1750000000123, "service.name": "checkout", level: "info" },
      ),
      request({ urlIndex: "from-url" }),
    );
    assert.deepEqual(
      items.map((item) => [item.action, item.index, item.id, item.error]),
      [
        ["index", "app", "a1", null],
        ["create", "from-url", null, null],
      ],
    );
    assert.equal(streams.length, 2);
    assert.deepEqual(streams[0]!.labels, [
      ["index", "app"],
      ["service_name", "checkout"],
      ["level", "info"],
    ]);
    assert.deepEqual(streams[0]!.entries, [
      {
        timestampNs: BigInt(Date.UTC(2025, 5, 15, 10)) * 1_000_000n + 123_456_789n,
        line: "hello",
        metadata: [],
      },
    ]);
    assert.deepEqual(streams[1]!.labels, [
      ["index", "from-url"],
      ["service_name", "checkout"],
      ["level", "info"],
    ]);
    assert.equal(streams[1]!.entries[0]!.timestampNs, 1_750_000_000_123_000_000n);
  });

  test("the parameters shippers add are accepted and ignored: Fluent Bit's _type, Vector's pipeline", () => {
    const { items } = decodeEsBulk(
      ndjson(
        { create: { _index: "fluent-bit", _type: "_doc" } },
        { message: "from fluent bit" },
        { index: { _index: "vector", pipeline: "p", require_alias: false, _id: 42 } },
        { message: "from vector" },
      ),
      request(),
    );
    assert.deepEqual(
      items.map((item) => [item.index, item.id, item.error]),
      [
        ["fluent-bit", null, null],
        ["vector", "42", null],
      ],
    );
  });

  test("no message field: the whole document is the line; no timestamp: the receive time", () => {
    const { streams } = decodeEsBulk(ndjson({ index: { _index: "raw" } }, '{"a": 1, "b": "x"}'), request());
    assert.deepEqual(streams[0]!.entries, [
      { timestampNs: receivedAtNs, line: '{"a": 1, "b": "x"}', metadata: [] },
    ]);
    assert.deepEqual(streams[0]!.labels, [["index", "raw"]]);
  });

  test("other leaves become structured metadata, names sanitised, bounded in count", () => {
    const document: Record<string, unknown> = {
      message: "m",
      log: { file: { path: "/var/log/a.log" }, offset: 42 },
      tags: ["a", "b"],
      ok: true,
      nothing: null,
    };
    for (let i = 0; i < 40; i++) document[`f${i}`] = `v${i}`;
    const { streams } = decodeEsBulk(ndjson({ index: { _index: "m" } }, document), request());
    const metadata = streams[0]!.entries[0]!.metadata;
    assert.equal(metadata.length, esBulkLimits.metadataFieldsMax);
    assert.deepEqual(metadata.slice(0, 5), [
      ["log_file_path", "/var/log/a.log"],
      ["log_offset", "42"],
      ["tags", '["a","b"]'],
      ["ok", "true"],
      ["f0", "v0"],
    ]);
  });

  test("refused per item, the other items kept: update, delete, bad JSON, non-object, bad UTF-8, bad time, bad index", () => {
    const body = Buffer.concat([
      ndjson(
        { update: { _index: "a", _id: "1" } },
        { doc: { x: 1 } },
        { delete: { _index: "a", _id: "2" } },
        { index: { _index: "a" } },
        "{not json",
        { index: { _index: "a" } },
        "[1,2]",
        { index: { _index: "a" } },
        "",
        { index: { _index: "a" } },
        { message: "bad time", "@timestamp": "yesterday" },
        { index: { _index: "Upper" } },
        { message: "x" },
        { index: { _index: "a" } },
      ),
      Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x0a]), // {"\xff":1}
      ndjson({ index: { _index: "a" } }, { message: "kept" }),
    ]);
    const { streams, items } = decodeEsBulk(body, request());
    assert.deepEqual(
      items.map((item) => [item.action, item.error?.status ?? 201, item.error?.type ?? null]),
      [
        ["update", 400, "illegal_argument_exception"],
        ["delete", 400, "illegal_argument_exception"],
        ["index", 400, "document_parsing_exception"],
        ["index", 400, "document_parsing_exception"],
        ["index", 400, "document_parsing_exception"],
        ["index", 400, "document_parsing_exception"],
        ["index", 400, "invalid_index_name_exception"],
        ["index", 400, "document_parsing_exception"],
        ["index", 201, null],
      ],
    );
    assert.match(items[4]!.error!.reason, /document is empty/);
    assert.deepEqual(
      streams.flatMap((stream) => stream.entries.map((entry) => entry.line)),
      ["kept"],
    );
  });

  test("a line over the limit and an oversized label value are item errors", () => {
    const { items, streams } = decodeEsBulk(
      ndjson(
        { index: { _index: "a" } },
        { message: "x".repeat(2000) },
        { index: { _index: "a" } },
        { message: "m", level: "y".repeat(3000) },
        { index: { _index: "a" } },
        { message: "ok" },
      ),
      request(),
    );
    assert.deepEqual(
      items.map((item) => item.error?.status ?? 201),
      [400, 400, 201],
    );
    assert.match(items[0]!.error!.reason, /over the limit of 1024 bytes/);
    assert.equal(streams.length, 1);
  });

  test("whole-request refusals, as Elasticsearch refuses them", () => {
    const cases: [string, Buffer, string, RegExp][] = [
      [
        "no final newline",
        Buffer.from('{"index":{"_index":"a"}}\n{"m":1}'),
        rejectReasons.invalidJson,
        /terminated by a newline/,
      ],
      [
        "action not JSON",
        ndjson("{index", { m: 1 }),
        rejectReasons.invalidJson,
        /Malformed action\/metadata line \[1\]/,
      ],
      [
        "action a string",
        ndjson('"index"', { m: 1 }),
        rejectReasons.invalidJson,
        /expected START_OBJECT but found \[VALUE_STRING\]/,
      ],
      ["unknown action", ndjson({ upsert: {} }, { m: 1 }), rejectReasons.invalidJson, /but found \[upsert\]/],
      [
        "two actions in one line",
        ndjson({ index: {}, create: {} }, { m: 1 }),
        rejectReasons.invalidJson,
        /found 2/,
      ],
      [
        "unknown parameter",
        ndjson({ index: { _index: "a", colour: "red" } }, { m: 1 }),
        rejectReasons.invalidJson,
        /unknown parameter \[colour\]/,
      ],
      [
        "action params not an object",
        ndjson({ index: 5 }, { m: 1 }),
        rejectReasons.invalidJson,
        /VALUE_NUMBER/,
      ],
      ["no index anywhere", ndjson({ index: {} }, { m: 1 }), rejectReasons.invalidEntry, /index is missing/],
      [
        "document line missing at the end",
        ndjson({ index: { _index: "a" } }),
        rejectReasons.invalidJson,
        /document line .* is missing/,
      ],
      [
        "invalid UTF-8 in an action",
        Buffer.from([0x7b, 0xff, 0x7d, 0x0a]),
        rejectReasons.invalidUtf8,
        /Malformed/,
      ],
      ["empty body", Buffer.alloc(0), rejectReasons.emptyBody, /no requests added/],
      ["only blank lines", Buffer.from("\n \n"), rejectReasons.emptyBody, /no requests added/],
    ];
    for (const [name, body, reason, message] of cases) {
      const error = decodeError(body);
      assert.equal(error.reason, reason, name);
      assert.match(error.message, message, name);
    }
  });

  test("entries and decoded bytes are bounded", () => {
    const many = ndjson(
      ...Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? { index: { _index: "a" } } : { m: i })),
    );
    assert.equal(
      decodeError(many, { limits: { ...limits, entriesMax: 2 } }).reason,
      rejectReasons.tooManyEntries,
    );
    assert.equal(
      decodeError(many, { limits: { ...limits, decodedBytesMax: 10 } }).reason,
      rejectReasons.bodyTooLarge,
    );
  });

  test("timestamps: RFC 3339 with offsets, date only, epoch ms as number or string; out of range refused", () => {
    const cases: [unknown, bigint | null][] = [
      ["2025-01-02T03:04:05Z", BigInt(Date.UTC(2025, 0, 2, 3, 4, 5)) * 1_000_000n],
      ["2025-01-02T03:04:05.5+01:00", BigInt(Date.UTC(2025, 0, 2, 2, 4, 5)) * 1_000_000n + 500_000_000n],
      ["2025-01-02T03:04:05-0130", BigInt(Date.UTC(2025, 0, 2, 4, 34, 5)) * 1_000_000n],
      ["2025-01-02", BigInt(Date.UTC(2025, 0, 2)) * 1_000_000n],
      ["2025-02-30T00:00:00Z", null],
      ["2024-13-01T00:00:00Z", null],
      ["2024-00-15T00:00:00Z", null],
      ["2024-06-01T00:00:00+99:99", null],
      ["2024-06-01T24:00:00Z", null],
      [1700000000000.5, 1_700_000_000_000_500_000n],
      ["1700000000000", 1_700_000_000_000_000_000n],
      [-1, null],
      [2 ** 60, null],
      [true, null],
      [undefined, receivedAtNs],
      [null, receivedAtNs],
    ];
    for (const [value, expected] of cases)
      assert.equal(timestampOf(value, receivedAtNs), expected, String(value));
  });

  test("esBulkMapping bounds the label fields", () => {
    assert.deepEqual(esBulkMapping("m", "t", " a, b ,,c").labelFields, ["a", "b", "c"]);
    assert.throws(
      () => esBulkMapping("m", "t", Array.from({ length: 14 }, (_, i) => `f${i}`).join(",")),
      /limit is 13/,
    );
  });

  test("property: any bytes decode or throw a DecodeError; every stored entry is within the limits", () => {
    const line = fc.oneof(
      fc.constantFrom(
        '{"index":{"_index":"a"}}',
        '{"create":{}}',
        '{"delete":{"_index":"a","_id":"1"}}',
        '{"update":{"_index":"a","_id":"1"}}',
      ),
      fc.json().map((text) => text.replaceAll("\n", " ")),
      fc
        .uint8Array({ maxLength: 40 })
        .map((bytes) => Buffer.from(bytes).toString("latin1").replaceAll("\n", " ")),
    );
    const small = { entriesMax: 8, lineBytesMax: 64, decodedBytesMax: 4096 };
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), fc.boolean(), (lines, urlIndex) => {
        const body = Buffer.from(`${lines.join("\n")}\n`, "latin1");
        try {
          const { streams, items } = decodeEsBulk(
            body,
            request({ urlIndex: urlIndex ? "u" : null, limits: small }),
          );
          const stored = items.filter((item) => item.error === null).length;
          assert.equal(
            streams.reduce((n, stream) => n + stream.entries.length, 0),
            stored,
          );
          assert.ok(items.length <= small.entriesMax);
          for (const stream of streams)
            for (const entry of stream.entries)
              assert.ok(Buffer.byteLength(entry.line) <= small.lineBytesMax);
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
        }
      }),
      { numRuns: 500 },
    );
  });
});
