// The ingest pipeline over a real partition log in a temp dir: what a valid batch stores (0x03
// records, sorted labels with service_name, routed by service), each validation refusal and its
// reason (nothing stored then), the tenant limits (rates, active streams) and admission tickets.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, test } from "node:test";
import { PartitionLog, type StoredRecord } from "../log/index.ts";
import { partitionFor } from "../model/hash.ts";
import { Admission } from "./admission.ts";
import { logAppender } from "./appender.ts";
import type { IngestBatch, IngestStream } from "./batch.ts";
import { IngestError, type RejectReason, rejectReasons } from "./errors.ts";
import { IngestPipeline } from "./pipeline.ts";
import { decodeStreamEntryValue } from "./stream-entry.ts";
import { StreamLimiter } from "./streams.ts";
import { TenantLimiter } from "./tenant-limits.ts";

const partitionCount = 4;
const opened: PartitionLog[] = [];
const directories: string[] = [];
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close();
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function setUp(options: { streamsMax?: number; recordsPerS?: number; requestsMax?: number } = {}) {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-pipeline-test-"));
  directories.push(directory);
  const log = PartitionLog.open({ directory, partitionCount, fsync: "always", onEvent: () => {} });
  opened.push(log);
  const pipeline = new IngestPipeline({
    partitionCount,
    nodeId: "node-a",
    limits: { entriesMax: 100, lineBytesMax: 64, decodedBytesMax: 1 << 20 },
    admission: new Admission({ requestsMax: options.requestsMax ?? 10, bytesMax: 1 << 20 }),
    tenantLimiter: new TenantLimiter({ recordsPerS: options.recordsPerS ?? 0, bytesPerS: 0 }),
    streams: new StreamLimiter(options.streamsMax ?? 0),
    appender: logAppender(log),
  });
  return { log, pipeline };
}

function batch(streams: IngestStream[], tenant = "t1"): IngestBatch {
  return { tenant, streams, receivedBytes: 100, receivedAtMs: 1_000, clientIp: "10.0.0.9" };
}

function stream(labels: [string, string][], ...lines: string[]): IngestStream {
  return {
    labels,
    entries: lines.map((line, i) => ({
      timestampNs: 1_700_000_000_123_456_789n + BigInt(i),
      line,
      metadata: [],
    })),
  };
}

/** A stream whose entries are columns over one buffer of their lines, as Loki protobuf's decoder gives. */
function columnStream(
  labels: [string, string][],
  entries: { seconds?: number; nanos?: number; line?: string; metadata?: [string, string][] }[],
): IngestStream {
  const lines = entries.map((entry) => Buffer.from(entry.line ?? "x"));
  const starts: number[] = [];
  let at = 0;
  for (const line of lines) {
    starts.push(at);
    at += line.length;
  }
  return {
    labels,
    entries: [],
    columns: {
      count: entries.length,
      bytes: Buffer.concat(lines),
      seconds: entries.map((entry) => entry.seconds ?? 1_700_000_000),
      nanos: entries.map((entry) => entry.nanos ?? 0),
      lineStarts: starts,
      lineEnds: lines.map((line, i) => starts[i]! + line.length),
      metadata: entries.map((entry) => entry.metadata),
    },
  };
}

function allRecords(log: PartitionLog): { partition: number; record: StoredRecord }[] {
  const found: { partition: number; record: StoredRecord }[] = [];
  for (let partition = 0; partition < partitionCount; partition++)
    for (const record of log.read(partition, 0).records) found.push({ partition, record });
  return found;
}

function refusedWith(reason: RejectReason) {
  return (error: unknown) => error instanceof IngestError && error.reason === reason;
}

test("a valid batch is stored as 0x03 records: sorted labels, service_name, ns timestamp, routed by service", async () => {
  const { log, pipeline } = setUp();
  const metadata = [["trace_id", "abc"]] as const;
  const result = await pipeline.push(
    batch([
      {
        labels: [
          ["service", "api"],
          ["env", "prod"],
        ],
        entries: [{ timestampNs: 1_700_000_000_123_456_789n, line: "héllo", metadata }],
      },
      stream([["app", "web"]], "one", "two"),
    ]),
  );
  assert.deepEqual(result, { entries: 3, streams: 2 });
  const records = allRecords(log);
  assert.equal(records.length, 3);
  const api = records.find(({ record }) => record.key.toString() === "t1\u0000api");
  assert.ok(api !== undefined, "keyed tenant 0x00 service");
  assert.equal(api.partition, partitionFor("api", partitionCount));
  assert.equal(api.record.value[0], 0x03);
  assert.equal(api.record.timestampMs, 1_700_000_000_123, "the record's ms timestamp is the ns floored");
  const entry = decodeStreamEntryValue(api.record.value);
  assert.deepEqual(entry.labels, [
    ["env", "prod"],
    ["service", "api"],
    ["service_name", "api"],
  ]);
  assert.equal(entry.timestampNs, 1_700_000_000_123_456_789n);
  assert.equal(entry.line, "héllo");
  assert.deepEqual(entry.metadata, [["trace_id", "abc"]]);
  assert.deepEqual([entry.clientIp, entry.nodeId, entry.receivedAtMs], ["10.0.0.9", "node-a", 1_000]);
  const web = records.filter(({ record }) => record.key.toString() === "t1\u0000web");
  assert.equal(web.length, 2, "service_name discovered from app");
  assert.deepEqual(decodeStreamEntryValue(web[0].record.value).labels, [
    ["app", "web"],
    ["service_name", "web"],
  ]);
});

test("a stream without any service label is unknown_service", async () => {
  const { log, pipeline } = setUp();
  await pipeline.push(batch([stream([["host", "h1"]], "x")]));
  const [only] = allRecords(log);
  assert.equal(only.record.key.toString(), "t1\u0000unknown_service");
});

test("streams seen before are the same streams: known labels never leak into a look-alike", async () => {
  // The pipeline remembers checked streams by tenant and labels as sent; labels that would join
  // to the same text without lengths, the same labels in another order, another tenant, and a bad
  // stream sent twice must each come out as if seen for the first time.
  const { log, pipeline } = setUp({ streamsMax: 10 });
  const lookAlikes: [string, string][][] = [
    [["app", "x\u0000b\u0001y"]],
    [
      ["app", "x"],
      ["b", "y"],
    ],
  ];
  for (let round = 0; round < 2; round++)
    for (const labels of lookAlikes) await pipeline.push(batch([stream(labels, `round ${round}`)]));
  await pipeline.push(
    batch([
      stream(
        [
          ["b", "y"],
          ["app", "x"],
        ],
        "reordered",
      ),
    ]),
  );
  await pipeline.push(
    batch(
      [
        stream(
          [
            ["app", "x"],
            ["b", "y"],
          ],
          "other tenant",
        ),
      ],
      "t2",
    ),
  );
  const stored = allRecords(log).map(({ record }) => decodeStreamEntryValue(record.value));
  const labelsOf = (line: string) =>
    stored.filter((entry) => entry.line === line).map((entry) => entry.labels);
  assert.deepEqual(labelsOf("round 1"), labelsOf("round 0"));
  assert.deepEqual(
    labelsOf("round 0")
      .map((labels) => labels.find(([name]) => name === "app")?.[1])
      .sort(),
    ["x", "x\u0000b\u0001y"],
  );
  assert.deepEqual(labelsOf("reordered"), [labelsOf("round 0").find((labels) => labels.length === 3)]);
  assert.equal(labelsOf("other tenant").length, 1);
  for (let round = 0; round < 2; round++)
    assert.throws(
      () => pipeline.push(batch([stream([["bad-name", "v"]], "never")])),
      refusedWith(rejectReasons.invalidLabels),
    );
});

test("a shared frozen label array (Loki's parsed texts) is each tenant's own stream, and stays checked", async () => {
  // The pipeline finds such arrays by identity: the tenant must still be part of what it finds,
  // lines given as bytes are stored as the same text, and a bad frozen array is refused every time.
  const { log, pipeline } = setUp();
  const shared = Object.freeze([Object.freeze(["app", "api"] as [string, string])]);
  const bytesStream = (line: string): IngestStream => ({
    labels: shared,
    entries: [{ timestampNs: 1_700_000_000_000_000_000n, line: Buffer.from(line), metadata: [] }],
  });
  await pipeline.push(batch([bytesStream('a "1" ✓')], "t1"));
  await pipeline.push(batch([bytesStream("b\n2")], "t2"));
  await pipeline.push(batch([bytesStream("c3")], "t1"));
  const stored = allRecords(log).map(({ record }) => ({
    key: record.key.toString(),
    line: decodeStreamEntryValue(record.value).line,
  }));
  assert.deepEqual(
    stored.sort((a, b) => (a.line < b.line ? -1 : 1)),
    [
      { key: "t1\u0000api", line: 'a "1" ✓' },
      { key: "t2\u0000api", line: "b\n2" },
      { key: "t1\u0000api", line: "c3" },
    ],
  );
  const bad = Object.freeze([Object.freeze(["bad-name", "v"] as [string, string])]);
  for (let round = 0; round < 2; round++)
    assert.throws(
      () => pipeline.push(batch([{ labels: bad, entries: [{ timestampNs: 1n, line: "x", metadata: [] }] }])),
      refusedWith(rejectReasons.invalidLabels),
    );
});

test("entries as columns are stored as the same entries as objects would be; a stream sent twice merges", async () => {
  const { log, pipeline } = setUp();
  const labels: [string, string][] = [["service", "api"]];
  await pipeline.push(
    batch([
      columnStream(labels, [
        { seconds: 1_700_000_000, nanos: 5, line: 'first "é"', metadata: [["trace_id", "t1"]] },
        { seconds: 1_700_000_000, nanos: 999_999_999, line: "same second" },
        { seconds: 2_251_799_813_685, nanos: 247_999_999, line: "last ms" },
        { seconds: 0, nanos: 7, line: "epoch" },
      ]),
      stream(labels, "objects"),
      columnStream(labels, [{ seconds: 1, nanos: 0, line: "again" }]),
    ]),
  );
  const stored = allRecords(log).map(({ record }) => ({
    timestampMs: record.timestampMs,
    entry: decodeStreamEntryValue(record.value),
  }));
  assert.deepEqual(
    stored.map(({ timestampMs, entry }) => [
      entry.line,
      String(entry.timestampNs),
      timestampMs,
      entry.metadata,
    ]),
    [
      ['first "é"', "1700000000000000005", 1_700_000_000_000, [["trace_id", "t1"]]],
      ["same second", "1700000000999999999", 1_700_000_000_999, []],
      ["last ms", "2251799813685247999999", 2 ** 51 - 1, []],
      ["epoch", "7", 0, []],
      ["objects", "1700000000123456789", 1_700_000_000_123, []],
      ["again", "1000000000", 1000, []],
    ],
  );
});

test("each invalid batch is refused with its reason and stores nothing", async () => {
  const cases: [string, IngestStream[], RejectReason][] = [
    ["label name with a dot", [stream([["http.status", "200"]], "x")], rejectReasons.invalidLabels],
    ["label name starting with a digit", [stream([["2xx", "a"]], "x")], rejectReasons.invalidLabels],
    [
      "duplicate label name",
      [
        stream(
          [
            ["a", "1"],
            ["a", "2"],
          ],
          "x",
        ),
      ],
      rejectReasons.invalidLabels,
    ],
    ["no labels", [stream([], "x")], rejectReasons.invalidLabels],
    ["only empty labels", [stream([["a", ""]], "x")], rejectReasons.invalidLabels],
    [
      "16 labels",
      [
        stream(
          Array.from({ length: 16 }, (_, i): [string, string] => [`l${i}`, "v"]),
          "x",
        ),
      ],
      rejectReasons.invalidLabels,
    ],
    ["label name over 1024", [stream([["a".repeat(1025), "v"]], "x")], rejectReasons.invalidLabels],
    ["label value over 2048", [stream([["a", "v".repeat(2049)]], "x")], rejectReasons.invalidLabels],
    ["line over 64 bytes", [stream([["a", "1"]], "é".repeat(33))], rejectReasons.lineTooLong],
    [
      "negative timestamp",
      [{ labels: [["a", "1"]], entries: [{ timestampNs: -1n, line: "x", metadata: [] }] }],
      rejectReasons.timestampOutOfRange,
    ],
    [
      "timestamp past 2^51 ms",
      [{ labels: [["a", "1"]], entries: [{ timestampNs: 2n ** 51n * 1_000_000n, line: "x", metadata: [] }] }],
      rejectReasons.timestampOutOfRange,
    ],
    [
      "bad metadata name",
      [{ labels: [["a", "1"]], entries: [{ timestampNs: 1n, line: "x", metadata: [["k-8", "v"]] }] }],
      rejectReasons.invalidLabels,
    ],
    [
      "101 entries",
      [stream([["a", "1"]], ...Array.from({ length: 101 }, () => "x"))],
      rejectReasons.tooManyEntries,
    ],
    // The same checks on entries given as columns (Loki protobuf's form).
    [
      "columns: line over 64 bytes",
      [columnStream([["a", "1"]], [{ line: "é".repeat(33) }])],
      rejectReasons.lineTooLong,
    ],
    [
      "columns: negative seconds",
      [columnStream([["a", "1"]], [{ seconds: -1 }])],
      rejectReasons.timestampOutOfRange,
    ],
    [
      "columns: 2^51 ms",
      [columnStream([["a", "1"]], [{ seconds: 2_251_799_813_685, nanos: 248_000_000 }])],
      rejectReasons.timestampOutOfRange,
    ],
    [
      "columns: seconds past 2^53",
      [columnStream([["a", "1"]], [{ seconds: 2 ** 60 }])],
      rejectReasons.timestampOutOfRange,
    ],
    [
      "columns: bad metadata name",
      [columnStream([["a", "1"]], [{ metadata: [["k-8", "v"]] }])],
      rejectReasons.invalidLabels,
    ],
    [
      "columns: 101 entries",
      [
        columnStream(
          [["a", "1"]],
          Array.from({ length: 101 }, () => ({})),
        ),
      ],
      rejectReasons.tooManyEntries,
    ],
  ];
  const { log, pipeline } = setUp();
  for (const [name, streams, reason] of cases) {
    // A valid stream first: one bad stream refuses the whole batch.
    assert.throws(
      () => pipeline.push(batch([stream([["ok", "1"]], "fine"), ...streams])),
      refusedWith(reason),
      name,
    );
  }
  assert.equal(allRecords(log).length, 0);
});

test("the streams-per-tenant limit refuses new streams past it, not known ones, per tenant", async () => {
  const { log, pipeline } = setUp({ streamsMax: 2 });
  await pipeline.push(batch([stream([["a", "1"]], "x"), stream([["a", "2"]], "x")]));
  assert.throws(
    () => pipeline.push(batch([stream([["a", "3"]], "x")])),
    refusedWith(rejectReasons.tooManyStreams),
  );
  // Same labels in another order are the same stream.
  await pipeline.push(batch([stream([["a", "2"]], "y"), { labels: [["a", "1"]], entries: [] }]));
  await pipeline.push(batch([stream([["a", "3"]], "x")], "t2"));
  assert.equal(allRecords(log).length, 4);
});

test("a batch refused for its rate does not count its streams, nor one refused for streams its rate", async () => {
  const { pipeline } = setUp({ streamsMax: 1, recordsPerS: 2 });
  await pipeline.push(batch([stream([["a", "1"]], "x")]));
  assert.throws(
    () => pipeline.push(batch([stream([["a", "2"]], "y")])),
    refusedWith(rejectReasons.tooManyStreams),
  );
  // The refused stream took no rate: one record of the two per second is still there.
  await pipeline.push(batch([stream([["a", "1"]], "z")]));
});

test("the tenant rate limit refuses with a retry time", async () => {
  const { pipeline } = setUp({ recordsPerS: 2 });
  await pipeline.push(batch([stream([["a", "1"]], "x", "y")]));
  assert.throws(
    () => pipeline.push(batch([stream([["a", "1"]], "z")])),
    (error: unknown) =>
      refusedWith(rejectReasons.tenantRateLimited)(error) && (error as IngestError).retryAfterS === 1,
  );
});

test("admission tickets bound requests in flight and release once", () => {
  const { pipeline } = setUp({ requestsMax: 1 });
  const ticket = pipeline.tryAdmit(10);
  assert.ok(ticket !== null);
  assert.equal(pipeline.tryAdmit(10), null, "the second request waits for the first");
  ticket.release();
  ticket.release();
  const next = pipeline.tryAdmit(10);
  assert.ok(next !== null);
  assert.equal(pipeline.tryAdmit(10), null, "a double release freed one place, not two");
});
