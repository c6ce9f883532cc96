// LogSource against a real partition log in a temp dir, its records written by the ingest stage's
// own encoder: tenant isolation, partition pruning, time edges, non-monotonic timestamps, legacy and
// unreadable records, abort, the candidate-ranges hook, and a property test against a naive scan.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, test } from "node:test";
import fc from "fast-check";
import {
  decodeServiceRecord,
  enrichAndRoute,
  type ServiceLogEntry,
  serviceStreamKey,
} from "../../ingest/index.ts";
import { type LogRecord, PartitionLog } from "../../log/index.ts";
import { partitionFor } from "../../model/hash.ts";
import { serviceLogEntry } from "../../model/service-stream.ts";
import { type LabelSet, type LogEntry, labelValue } from "../../model/stream.ts";
import type { LabelMatcher, LineFilterStage } from "../ast.ts";
import type { EntrySelection } from "../source.ts";
import { LogSource } from "./log-source.ts";

const partitionCount = 4;
const enrichment = { receivedAtMs: 1, clientIp: "10.0.0.1", nodeId: "node-a" };
const opened: PartitionLog[] = [];
const directories: string[] = [];
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close();
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function openLog(): PartitionLog {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-exec-test-"));
  directories.push(directory);
  const log = PartitionLog.open({ directory, partitionCount, fsync: "interval", onEvent: () => {} });
  opened.push(log);
  return log;
}

/** Appends entries as POST /v1/logs stores them (one append per call, so one or more batches). */
async function ingest(log: PartitionLog, tenant: string, entries: ServiceLogEntry[]): Promise<void> {
  for (const [partition, columns] of enrichAndRoute(entries, enrichment, tenant, partitionCount))
    await log.append(partition, columns);
}

function selection(matchers: LabelMatcher[], overrides: Partial<EntrySelection> = {}): EntrySelection {
  return {
    matchers,
    lineFilters: [],
    startNs: 0n,
    endNs: 2n ** 62n,
    direction: "forward",
    cutoffNs: () => null,
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function collect(source: LogSource, chosen: EntrySelection): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  for await (const entry of source.select(chosen)) entries.push(entry);
  return entries;
}

const anyService: LabelMatcher = { name: "service", op: "=~", value: ".+" };
const ms = (timestampMs: number) => BigInt(timestampMs) * 1_000_000n;

test("tenant isolation: another tenant's entries never appear, even a tenant whose name extends this one's", async () => {
  const log = openLog();
  await ingest(log, "a", [{ timestamp: 1, service: "auth_service", message: "a's line" }]);
  await ingest(log, "ab", [{ timestamp: 2, service: "auth_service", message: "ab's line" }]);
  await ingest(log, "b", [{ timestamp: 3, service: "auth_service", message: "b's line" }]);
  for (const [tenant, line] of [
    ["a", "a's line"],
    ["ab", "ab's line"],
    ["b", "b's line"],
  ]) {
    const source = new LogSource({ log, tenant });
    const lines = (await collect(source, selection([anyService]))).map((entry) => entry.line);
    assert.deepEqual(lines, [line], tenant);
    assert.equal(source.stats.recordsOtherTenant, 2, `${tenant}: others' records skipped on the key`);
  }
  assert.deepEqual(await collect(new LogSource({ log, tenant: "c" }), selection([anyService])), []);
});

test("service= reads only that service's partition; other selectors read every partition", async () => {
  const log = openLog();
  const services = ["event_creator", "focus_allocator", "notification_service", "auth_service"];
  assert.deepEqual(
    services.map((service) => partitionFor(service, partitionCount)),
    [0, 1, 2, 3],
  );
  await ingest(
    log,
    "t",
    services.flatMap((service) =>
      Array.from({ length: 5 }, (_, i) => ({ timestamp: i + 1, service, message: `${service} ${i}` })),
    ),
  );
  const pinned = new LogSource({ log, tenant: "t" });
  const entries = await collect(pinned, selection([{ name: "service", op: "=", value: "auth_service" }]));
  assert.equal(entries.length, 5);
  assert.equal(pinned.stats.partitionsRead, 1);
  assert.equal(pinned.stats.recordsRead, 5, "only auth_service's partition was read");

  const all = new LogSource({ log, tenant: "t" });
  const regex = await collect(all, selection([{ name: "service", op: "=~", value: "auth_service" }]));
  assert.equal(regex.length, 5);
  assert.equal(all.stats.partitionsRead, 4);
  assert.equal(all.stats.recordsRead, 20);
});

test("time range: start inclusive, end exclusive, to the nanosecond", async () => {
  const log = openLog();
  await ingest(
    log,
    "t",
    [1000, 1001, 1002, 1003].map((timestamp) => ({ timestamp, service: "s", message: `at ${timestamp}` })),
  );
  const source = new LogSource({ log, tenant: "t" });
  const linesIn = async (startNs: bigint, endNs: bigint) =>
    (await collect(source, selection([anyService], { startNs, endNs }))).map((entry) => entry.line);
  assert.deepEqual(await linesIn(ms(1001), ms(1003)), ["at 1001", "at 1002"]);
  assert.deepEqual(await linesIn(ms(1001) + 1n, ms(1003) + 1n), ["at 1002", "at 1003"]);
  assert.deepEqual(await linesIn(ms(1001) - 1n, ms(1002) - 1n), ["at 1001"]);
  assert.deepEqual(await linesIn(ms(1002), ms(1002)), [], "an empty range");
  assert.deepEqual(await linesIn(ms(1003), ms(1001)), [], "an inverted range");
  const [entry] = await collect(source, selection([anyService], { startNs: ms(1000), endNs: ms(1001) }));
  assert.equal(entry.timestampNs, ms(1000));
  assert.deepEqual(entry.labels, [["service", "s"]]);
});

test("non-monotonic timestamps: entries older than a later one are still found, past the time index's start", async () => {
  const log = openLog();
  // Log order: 1000, 5000, 2000, 9000, 3000 (clients send their own timestamps). One append each, so
  // the time index has several batches to choose a starting point among.
  for (const timestamp of [1000, 5000, 2000, 9000, 3000])
    await ingest(log, "t", [{ timestamp, service: "s", message: `at ${timestamp}` }]);
  const source = new LogSource({ log, tenant: "t" });
  const linesIn = async (startMs: number, endMs: number) =>
    (await collect(source, selection([anyService], { startNs: ms(startMs), endNs: ms(endMs) })))
      .map((entry) => entry.line)
      .sort();
  assert.deepEqual(await linesIn(2500, 3500), ["at 3000"]);
  assert.deepEqual(await linesIn(1500, 10_000), ["at 2000", "at 3000", "at 5000", "at 9000"]);
  assert.deepEqual(await linesIn(4000, 10_000), ["at 5000", "at 9000"]);
  assert.equal(log.partition(partitionFor("s", partitionCount)).offsetForTimestamp(4000), 1);
});

test("legacy values are read; unknown formats and undecodable records are skipped and counted", async () => {
  const log = openLog();
  const partition = partitionFor("s", partitionCount);
  const key = serviceStreamKey("t", "s");
  const records: LogRecord[] = [
    { timestampMs: 10, key, value: Buffer.from('{"timestamp":10,"service":"s","message":"legacy"}') },
    { timestampMs: 11, key, value: Buffer.from('\u0009{"timestamp":11,"service":"s","message":"x"}') },
    { timestampMs: 12, key, value: Buffer.from([]) },
    { timestampMs: 13, key, value: Buffer.from("\u0001{not json") },
    { timestampMs: 14, key, value: Buffer.from('\u0001{"timestamp":14,"service":"s"}') },
    { timestampMs: 15, key, value: Buffer.from('\u0001{"timestamp":15,"service":"s","message":"v1"}') },
  ];
  await log.append(partition, records);
  const source = new LogSource({ log, tenant: "t" });
  const lines = (await collect(source, selection([anyService]))).map((entry) => entry.line);
  assert.deepEqual(lines, ["legacy", "v1"]);
  assert.equal(source.stats.recordsUnknownFormat, 2);
  assert.equal(source.stats.recordsUndecodable, 2);
});

test("labels and levels become stream labels the matchers see", async () => {
  const log = openLog();
  await ingest(log, "t", [
    { timestamp: 1, service: "s", level: "ERROR", message: "e", labels: { "http.method": "GET" } },
    { timestamp: 2, service: "s", level: "INFO", message: "i" },
    { timestamp: 3, service: "s", message: "none" },
  ]);
  const source = new LogSource({ log, tenant: "t" });
  const lines = async (matchers: LabelMatcher[]) =>
    (await collect(source, selection(matchers))).map((e) => e.line);
  assert.deepEqual(await lines([anyService, { name: "level", op: "=", value: "ERROR" }]), ["e"]);
  assert.deepEqual(await lines([anyService, { name: "level", op: "=", value: "" }]), ["none"]);
  assert.deepEqual(await lines([anyService, { name: "http_method", op: "=~", value: "G.T" }]), ["e"]);
  assert.deepEqual(await lines([anyService, { name: "level", op: "!~", value: "ERROR|INFO" }]), ["none"]);
});

test("abort: an aborted signal stops the scan with its reason, before and during it", async () => {
  const log = openLog();
  for (let i = 0; i < 20; i++) await ingest(log, "t", [{ timestamp: i, service: "s", message: `m${i}` }]);
  const before = new AbortController();
  before.abort(new Error("gone"));
  const source = new LogSource({ log, tenant: "t", readStepBytes: 1 });
  await assert.rejects(collect(source, selection([anyService], { signal: before.signal })), /gone/);
  assert.equal(source.stats.readSteps, 0);

  const during = new AbortController();
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const entry of source.select(selection([anyService], { signal: during.signal }))) {
      seen.push(entry.line);
      if (seen.length === 3) during.abort(new Error("budget"));
    }
  }, /budget/);
  assert.equal(seen.length, 3, "no entry after the abort");
});

test("backward reads newest offsets first and returns the same entries; the cutoff skips what cannot make it", async () => {
  const log = openLog();
  for (let i = 0; i < 50; i++)
    await ingest(log, "t", [{ timestamp: 100 + i, service: "s", message: `m${i}` }]);
  const forward = await collect(
    new LogSource({ log, tenant: "t", readStepBytes: 300 }),
    selection([anyService]),
  );
  const backwardSource = new LogSource({ log, tenant: "t", readStepBytes: 300 });
  const backward = await collect(backwardSource, selection([anyService], { direction: "backward" }));
  assert.equal(backward[0].line, "m49", "the newest offset comes first");
  assert.deepEqual(backward.map((entry) => entry.line).sort(), forward.map((entry) => entry.line).sort());
  // A limited backward query that already holds entries down to 140 ms needs nothing older.
  const cut = await collect(
    new LogSource({ log, tenant: "t" }),
    selection([anyService], { direction: "backward", cutoffNs: () => ms(140) }),
  );
  assert.deepEqual(
    cut.map((entry) => entry.line).sort(),
    Array.from({ length: 10 }, (_, i) => `m${40 + i}`).sort(),
  );
});

test("the candidate-ranges hook limits what is read to its offset ranges", async () => {
  const log = openLog();
  for (let i = 0; i < 10; i++) await ingest(log, "t", [{ timestamp: i, service: "s", message: `m${i}` }]);
  const asked: number[] = [];
  const source = new LogSource({
    log,
    tenant: "t",
    blocks: (partition) => {
      asked.push(partition);
      return [
        { fromOffset: 2, toOffset: 4 },
        { fromOffset: 7, toOffset: 8 },
      ];
    },
  });
  const lines = (await collect(source, selection([{ name: "service", op: "=", value: "s" }]))).map(
    (e) => e.line,
  );
  assert.deepEqual(lines, ["m2", "m3", "m7"]);
  assert.deepEqual(asked, [partitionFor("s", partitionCount)]);
  assert.equal(source.stats.recordsRead, 3);
});

// ---- the property: LogSource = decode everything, then filter --------------------------------

const tenants = ["a", "b"];
const services = ["auth_service", "event_creator", "billing", "search"];

const entryArbitrary = fc.record({
  tenant: fc.constantFrom(...tenants),
  entry: fc.record(
    {
      timestamp: fc.integer({ min: 0, max: 60 }),
      service: fc.constantFrom(...services),
      level: fc.constantFrom("INFO", "ERROR", ""),
      message: fc.oneof(
        { arbitrary: fc.string({ minLength: 1, maxLength: 8 }), weight: 1 },
        {
          weight: 2,
          arbitrary: fc.constantFrom('say "hi"', "C:\\temp", "café au lait", "tab\there", "ab", "xaby"),
        },
      ),
      labels: fc.dictionary(
        fc.constantFrom("region", "zone", "http.status"),
        fc.constantFrom("", "eu", "us", "200"),
      ),
    },
    { requiredKeys: ["timestamp", "service", "message"] },
  ),
});

const matcherArbitrary: fc.Arbitrary<LabelMatcher> = fc.oneof(
  fc.record({
    name: fc.constantFrom("service", "level", "region", "http_status", "missing"),
    op: fc.constantFrom("=" as const, "!=" as const),
    value: fc.constantFrom("", ...services, "INFO", "ERROR", "eu", "200"),
  }),
  fc.record({
    name: fc.constantFrom("service", "level", "region"),
    op: fc.constantFrom("=~" as const, "!~" as const),
    value: fc.constantFrom(".+", ".*", "auth.*|billing", "E.*", "eu|us", "", "[a-e].*"),
  }),
);

// Line filters the source may use to skip records undecoded (recordPrefilter): `|=` with literals
// JSON writes verbatim and ones it escapes (`"`, `\`, non-ASCII, controls), `or` chains, `!=`.
const literalArbitrary = fc.oneof(
  { arbitrary: fc.string({ maxLength: 3 }), weight: 1 },
  {
    arbitrary: fc.constantFrom('"hi"', "\\", "café", "\t", ":\\t", "ab", "au"),
    weight: 4,
  },
  fc.constantFrom("a", '"', "INFO", "auth", "10.0.0.1", "node"),
);
const lineFilterArbitrary: fc.Arbitrary<LineFilterStage> = fc.record({
  kind: fc.constant("lineFilter" as const),
  op: fc.constantFrom("|=" as const, "!=" as const),
  values: fc.array(literalArbitrary, { minLength: 1, maxLength: 2 }),
});

/** What the evaluator does with `|=` and `!=` stages: kept when the line has one / none of the literals. */
function passesLineFilters(entry: LogEntry, stages: readonly LineFilterStage[]): boolean {
  return stages.every((stage) => {
    const found = stage.values.some((value) => entry.line.includes(value));
    return stage.op === "|=" ? found : !found;
  });
}

/** The naive definition: every record decoded, then the tenant, the time range and each matcher. */
function naive(records: readonly LogRecord[], tenant: string, chosen: EntrySelection): LogEntry[] {
  const matches = (labels: LabelSet, { name, op, value }: LabelMatcher) => {
    const actual = labelValue(labels, name);
    if (op === "=") return actual === value;
    if (op === "!=") return actual !== value;
    const found = new RegExp(`^(?:${value})$`, "s").test(actual);
    return op === "=~" ? found : !found;
  };
  return records
    .map((record) => decodeServiceRecord(record.key, record.value))
    .filter((decoded) => decoded.tenant === tenant)
    .map((decoded) => serviceLogEntry(decoded.entry))
    .filter((entry) => entry.timestampNs >= chosen.startNs && entry.timestampNs < chosen.endNs)
    .filter((entry) => chosen.matchers.every((matcher) => matches(entry.labels, matcher)));
}

const comparable = (entries: readonly LogEntry[]) =>
  entries.map((entry) => JSON.stringify([String(entry.timestampNs), entry.labels, entry.line])).sort();

test("property: the same entries (as a multiset) as decoding everything and filtering, line filters applied to both", async () => {
  const log = openLog();
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(entryArbitrary, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }),
      fc.constantFrom(...tenants),
      fc.array(matcherArbitrary, { minLength: 1, maxLength: 3 }),
      fc.integer({ min: -5, max: 65 }),
      fc.integer({ min: 0, max: 70 }),
      fc.constantFrom("forward" as const, "backward" as const),
      fc.constantFrom(1, 200, 1 << 20),
      fc.constantFrom(0n, 1n, 999_999n),
      fc.array(lineFilterArbitrary, { maxLength: 2 }),
      async (
        appends,
        tenantIndex,
        matchers,
        startMs,
        lengthMs,
        direction,
        readStepBytes,
        offsetNs,
        lineFilters,
      ) => {
        // One log for every run (opening one costs more than a run): each run has tenants of its own,
        // so the earlier runs' records are other tenants' records, as a busy log has.
        run++;
        const owners = tenants.map((name) => `${run}-${name}`);
        const tenant = `${run}-${tenantIndex}`;
        for (const batch of appends) {
          for (let t = 0; t < tenants.length; t++) {
            const entries = batch.filter((item) => item.tenant === tenants[t]).map((item) => item.entry);
            if (entries.length > 0) await ingest(log, owners[t], entries);
          }
        }
        const written: LogRecord[] = [];
        for (let p = 0; p < partitionCount; p++) written.push(...log.read(p, 0).records);
        const chosen = selection(matchers, {
          startNs: ms(startMs) + offsetNs,
          endNs: ms(startMs + lengthMs) + offsetNs,
          direction,
          lineFilters,
        });
        const source = new LogSource({ log, tenant, readStepBytes });
        const found = await collect(source, chosen);
        const expected = naive(written, tenant, chosen);
        // The source may skip entries the line filters reject (never one they keep), and yields
        // nothing the naive scan does not have.
        assert.deepEqual(
          comparable(found.filter((entry) => passesLineFilters(entry, lineFilters))),
          comparable(expected.filter((entry) => passesLineFilters(entry, lineFilters))),
        );
        const expectedKeys = new Set(comparable(expected));
        for (const key of comparable(found))
          assert.ok(expectedKeys.has(key), `not in the naive scan: ${key}`);
      },
    ),
    { numRuns: 100 },
  );
});

test("the record prefilter skips undecoded only what cannot match: escaped literals still found, absent ones skipped", async () => {
  const log = openLog();
  const messages = ['say "hi"', "C:\\temp", "café au lait", "tab\there", "plain words here"];
  await ingest(
    log,
    "a",
    messages.map((message, i) => ({
      timestamp: i + 1,
      service: i % 2 === 0 ? "auth_service" : "billing",
      message,
    })),
  );
  const lineFilter = (...values: string[]): LineFilterStage => ({ kind: "lineFilter", op: "|=", values });
  const search = async (matchers: LabelMatcher[], lineFilters: LineFilterStage[]) => {
    const source = new LogSource({ log, tenant: "a" });
    const lines = (await collect(source, selection(matchers, { lineFilters }))).map((entry) => entry.line);
    return { lines, prefiltered: source.stats.recordsPrefiltered };
  };
  // Literals JSON escapes in the stored value (quote, backslash, control) or writes as UTF-8 bytes.
  for (const [literal, line] of [
    ['"hi"', 'say "hi"'],
    ["\\temp", "C:\\temp"],
    ["café", "café au lait"],
    ["\there", "tab\there"],
  ])
    assert.ok((await search([anyService], [lineFilter(literal)])).lines.includes(line), literal);
  // A verbatim literal no record holds: every record is skipped undecoded.
  const absent = await search([anyService], [lineFilter("zebra")]);
  assert.deepEqual(absent, { lines: [], prefiltered: messages.length });
  // An `or` chain keeps a record holding either literal.
  assert.deepEqual((await search([anyService], [lineFilter("zebra", "plain")])).lines, ["plain words here"]);
  // By service, on the key alone: billing's records are skipped, auth_service's kept.
  const byService = await search([{ name: "service", op: "=", value: "auth_service" }], []);
  assert.deepEqual(byService.lines.sort(), ["café au lait", "plain words here", 'say "hi"']);
});
