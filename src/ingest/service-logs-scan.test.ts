// The fast path must never change an answer: whatever it accepts, the general path accepts with
// the same records byte for byte; whatever it gives up on, decodeServiceLogs still decodes (or
// rejects) exactly as the general path does. And it must really be taken for the bodies clients send.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ServiceLogGenerator } from "../loadgen/index.ts";
import { type RecordColumns, recordsOf } from "../log/index.ts";
import { fnv1a32 } from "../model/hash.ts";
import { IngestError } from "./errors.ts";
import { decodeServiceLogs, enrichAndRoute, parseServiceLogs } from "./service-logs.ts";
import { scanCanonicalServiceLogs } from "./service-logs-scan.ts";
import { recordFormats } from "./stored-format.ts";

const limits = { entriesMax: 50, labelsMax: 3, lineBytesMax: 300 };
const partitionCount = 4;
const tenant = "tenant-1";
const enrichment = { receivedAtMs: 1_764_605_000_123, clientIp: "10.0.0.1", nodeId: "node-a" };
const suffix = Buffer.from(
  `,"received_at":${enrichment.receivedAtMs},"client_ip":"10.0.0.1","ingested_node_id":"node-a"}`,
);
const keyPrefix = Buffer.from(`${tenant}\u0000`);

function scan(body: Buffer, scanLimits = limits) {
  return scanCanonicalServiceLogs(body, scanLimits, partitionCount, keyPrefix, suffix);
}

/** The general path's answer: records by partition, or the error it throws. */
function general(body: Buffer, scanLimits = limits): Map<number, RecordColumns> | IngestError {
  try {
    return enrichAndRoute(parseServiceLogs(body, scanLimits), enrichment, tenant, partitionCount);
  } catch (error) {
    if (error instanceof IngestError) return error;
    throw error;
  }
}

/** Columns as comparable plain data, partitions in the map's order: [partition, [timestamp, key, value]…]. */
function plain(routed: Map<number, RecordColumns>) {
  return [...routed.entries()].map(([partition, columns]) => [
    partition,
    recordsOf(columns).map((record) => [
      record.timestampMs,
      Buffer.from(record.key).toString("hex"),
      Buffer.from(record.value).toString("hex"),
    ]),
  ]);
}

function assertSameAsGeneral(body: Buffer, scanLimits = limits): boolean {
  const fast = scan(body, scanLimits);
  if (fast === undefined) return false;
  const expected = general(body, scanLimits);
  assert.ok(!(expected instanceof IngestError), `accepted what the general path rejects: ${body}`);
  assert.deepEqual(plain(fast), plain(expected));
  // Equal bytes would hide a format byte that both paths forgot: every value starts with it.
  for (const columns of fast.values())
    for (const record of recordsOf(columns)) assert.equal(record.value[0], recordFormats.serviceEntryV1);
  return true;
}

/** Control characters without a short escape: JSON.stringify writes them as \u00XX. */
function needsUnicodeEscape(char: string): boolean {
  return char.charCodeAt(0) < 0x20 && !"\b\t\n\f\r".includes(char);
}

const decoding = { limits, partitionCount, nodeId: enrichment.nodeId };
const request = { tenant, receivedAtMs: enrichment.receivedAtMs, clientIp: enrichment.clientIp };

test("the load generator's bodies take the fast path, with the general path's records byte for byte", () => {
  const bigLimits = { entriesMax: 10_000, labelsMax: 30, lineBytesMax: 256 * 1024 };
  for (const seed of [1, 2, 3]) {
    const generator = new ServiceLogGenerator({ seed });
    for (const size of [1, 10, 100, 1000]) {
      const body = Buffer.from(JSON.stringify(generator.batch(size)));
      assert.ok(assertSameAsGeneral(body, bigLimits), `seed ${seed}, ${size} entries: gave up`);
    }
  }
});

test("entries written by JSON.stringify take the fast path, whatever their text", () => {
  // Strings without the characters JSON.stringify writes as \u escapes (other control characters,
  // lone surrogates); label names that do not start with a digit (JSON.parse moves array indices).
  // The fast path checks the length bounds on the escaped bytes, not on characters, so a string
  // whose bytes pass a bound (but whose characters would not) is left to the general path: the
  // strings here keep their bytes within the bounds.
  const text = (maxLength: number, minLength: number, bytesMax: number) =>
    fc
      .string({ unit: "grapheme", minLength, maxLength })
      .map((value) => [...value].map((char) => (needsUnicodeEscape(char) ? "_" : char)).join(""))
      .filter((value) => Buffer.byteLength(JSON.stringify(value)) - 2 <= bytesMax);
  const entry = fc.record(
    {
      timestamp: fc.integer({ min: 0, max: 2 ** 51 }),
      service: text(20, 1, 256).map((value) => value.replace(/["\\\b\f\n\r\t]/g, "s")),
      level: text(10, 0, 64),
      message: text(30, 1, limits.lineBytesMax - 30).map((value) => `${value}\n\t"quoted" \\ \b\f\r`),
      labels: fc.dictionary(
        text(8, 1, 1024).filter((name) => !/^\d/.test(name)),
        text(12, 0, 4096),
        { maxKeys: 3 },
      ),
    },
    { requiredKeys: ["timestamp", "service", "message"] },
  );
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 20 }), fc.boolean(), (entries, spaced) => {
      const ordered = entries.map(({ timestamp, service, level, message, labels }) => ({
        timestamp,
        service,
        ...(level === undefined ? {} : { level }),
        message,
        ...(labels === undefined ? {} : { labels }),
      }));
      const json = JSON.stringify(ordered);
      // Whitespace between entries (not inside them) keeps the fast path.
      const body = Buffer.from(
        spaced ? ` \n[ ${json.slice(1, -1).replaceAll("},{", "} ,\r\n\t{")} ]\n` : json,
      );
      assert.ok(assertSameAsGeneral(body), `gave up on ${body}`);
    }),
    { numRuns: 1000 },
  );
});

test("whatever the fast path accepts of arbitrary or damaged bodies, the general path accepts alike", () => {
  const seedBody = JSON.stringify(new ServiceLogGenerator({ seed: 9 }).batch(4));
  const damaged = fc
    .tuple(
      fc.nat({ max: seedBody.length }),
      fc.nat({ max: 3 }),
      fc.constantFrom(...'"\\{}[],:0123456789 \n-.eE\u00e9\u20ac\u{1f600}abu/'.split("")),
    )
    .map(([at, removed, inserted]) =>
      Buffer.from(seedBody.slice(0, at) + inserted + seedBody.slice(at + removed)),
    );
  const arbitrary = fc
    .array(
      fc.record({
        timestamp: fc.oneof(
          fc.integer({ min: -5, max: 2 ** 52 }),
          fc.double(),
          fc.string(),
          fc.constant(null),
        ),
        service: fc.oneof(fc.string({ maxLength: 300 }), fc.constant("")),
        level: fc.oneof(fc.string({ maxLength: 70 }), fc.constant(null), fc.integer()),
        message: fc.oneof(fc.string({ unit: "binary", maxLength: 320 }), fc.constant(""), fc.constant(null)),
        labels: fc.oneof(
          fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.string(), fc.integer()), { maxKeys: 5 }),
          fc.constant(null),
        ),
        extra: fc.string(),
      }),
      { maxLength: 60 },
    )
    .chain((entries) =>
      fc
        .shuffledSubarray(["timestamp", "service", "level", "message", "labels", "extra"])
        .map((keys) =>
          Buffer.from(
            JSON.stringify(
              entries.map((entry) =>
                Object.fromEntries(keys.map((key) => [key, entry[key as keyof typeof entry]])),
              ),
            ),
          ),
        ),
    );
  let accepted = 0;
  fc.assert(
    fc.property(fc.oneof(damaged, arbitrary), (body) => {
      if (assertSameAsGeneral(body)) accepted++;
    }),
    { numRuns: 3000 },
  );
  assert.ok(
    accepted > 100,
    `only ${accepted} of 3000 bodies took the fast path: the property tests too little`,
  );
});

test("the fast path gives up on every body that is not in the stored form, and decoding still answers", () => {
  const entry = '{"timestamp":1,"service":"auth_service","message":"m"}';
  const cases: Record<string, string> = {
    "whitespace inside an entry": '[{"timestamp": 1,"service":"auth_service","message":"m"}]',
    "another key order": '[{"service":"auth_service","timestamp":1,"message":"m"}]',
    "an unknown field": '[{"timestamp":1,"service":"auth_service","message":"m","x":1}]',
    "a \\u escape": '[{"timestamp":1,"service":"auth_service","message":"\\u0041"}]',
    "an escaped slash": '[{"timestamp":1,"service":"auth_service","message":"a\\/b"}]',
    "an escape in the service": '[{"timestamp":1,"service":"auth\\tservice","message":"m"}]',
    "a null level": '[{"timestamp":1,"service":"auth_service","level":null,"message":"m"}]',
    "null labels": '[{"timestamp":1,"service":"auth_service","message":"m","labels":null}]',
    "a label name starting with a digit":
      '[{"timestamp":1,"service":"a","message":"m","labels":{"b":"1","2":"x"}}]',
    "a repeated label name": '[{"timestamp":1,"service":"a","message":"m","labels":{"k":"1","k":"2"}}]',
    "a label name repeated after others":
      '[{"timestamp":1,"service":"a","message":"m","labels":{"k":"1","j":"","i":"","k":"2"}}]',
    "a repeat in a later entry":
      '[{"timestamp":1,"service":"a","message":"m","labels":{"x":"","y":""}},{"timestamp":1,"service":"a","message":"m","labels":{"y":"","z":"","y":""}}]',
    "two label names of one length and one FNV-1a hash":
      '[{"timestamp":1,"service":"a","message":"m","labels":{"n0055zx":"1","n00gpcd":"2"}}]',
    "a label value that is not a string": '[{"timestamp":1,"service":"a","message":"m","labels":{"k":1}}]',
    "more labels than the limit":
      '[{"timestamp":1,"service":"a","message":"m","labels":{"a":"","b":"","c":"","d":""}}]',
    "a fractional timestamp": '[{"timestamp":1.5,"service":"auth_service","message":"m"}]',
    "an exponent timestamp": '[{"timestamp":1e3,"service":"auth_service","message":"m"}]',
    "a negative timestamp": '[{"timestamp":-1,"service":"auth_service","message":"m"}]',
    "a leading zero": '[{"timestamp":01,"service":"auth_service","message":"m"}]',
    "a timestamp above 2^51": `[{"timestamp":${2 ** 51 + 1},"service":"auth_service","message":"m"}]`,
    "a string timestamp": '[{"timestamp":"1","service":"auth_service","message":"m"}]',
    "an empty service": '[{"timestamp":1,"service":"","message":"m"}]',
    "an empty message": '[{"timestamp":1,"service":"auth_service","message":""}]',
    "a message over the line limit": `[{"timestamp":1,"service":"a","message":"${"x".repeat(301)}"}]`,
    "a raw control character": '[{"timestamp":1,"service":"auth_service","message":"a\u0001b"}]',
    "more entries than the limit": `[${Array(51).fill(entry).join(",")}]`,
    "an empty array": "[]",
    "not an array": entry,
    "trailing bytes": `[${entry}]x`,
    "a missing bracket": `[${entry}`,
    "a trailing comma": `[${entry},]`,
    "a byte order mark": `\ufeff[${entry}]`,
    "two services with one FNV-1a hash":
      '[{"timestamp":1,"service":"costarring","message":"m"},{"timestamp":2,"service":"liquid","message":"m"}]',
    "an empty body": "",
  };
  assert.equal(fnv1a32("costarring"), fnv1a32("liquid"));
  assert.equal(fnv1a32("n0055zx"), fnv1a32("n00gpcd"));
  for (const [name, text] of Object.entries(cases)) {
    const body = Buffer.from(text);
    assert.equal(scan(body), undefined, name);
    const expected = general(body);
    if (expected instanceof IngestError) {
      assert.throws(
        () => decodeServiceLogs(body, request, decoding),
        (error: unknown) =>
          error instanceof IngestError &&
          error.reason === expected.reason &&
          error.message === expected.message,
        name,
      );
    } else {
      assert.deepEqual(plain(decodeServiceLogs(body, request, decoding).routed), plain(expected), name);
    }
  }
  const manyLabels = (count: number) =>
    Buffer.from(
      JSON.stringify([
        {
          timestamp: 1,
          service: "a",
          message: "m",
          labels: Object.fromEntries(Array.from({ length: count }, (_, i) => [`l${i}`, "v"])),
        },
      ]),
    );
  const roomyLimits = { ...limits, labelsMax: 100 };
  // A stream has at most 15 labels (limits.ts), service included: 14 of the entry's own.
  assert.ok(assertSameAsGeneral(manyLabels(14), roomyLimits), "14 labels are scanned");
  assert.equal(scan(manyLabels(15), roomyLimits), undefined, "15 labels are left to the general path");
  const rejected = general(manyLabels(15), roomyLimits);
  assert.ok(rejected instanceof IngestError && /too many labels \(16 > 15/.test(rejected.message));
  assert.throws(
    () => decodeServiceLogs(manyLabels(15), request, { ...decoding, limits: roomyLimits }),
    (error) => error instanceof IngestError && error.message === rejected.message,
  );
  // The same names in different entries are no repeat: each entry's names are checked afresh.
  assert.ok(
    assertSameAsGeneral(
      Buffer.from(
        '[{"timestamp":1,"service":"a","message":"m","labels":{"x":"","y":""}},{"timestamp":1,"service":"a","message":"m","labels":{"y":"","x":""}}]',
      ),
    ),
    "names of an earlier entry",
  );
  assert.ok(scan(Buffer.from(`[${entry}]`)) !== undefined, "the plain entry itself is in the stored form");
  assert.ok(
    scan(Buffer.from(`[${Array(50).fill(entry).join(",")}]`)) !== undefined,
    "entries up to the limit",
  );
});

test("invalid UTF-8 is left to the general path, which rejects it", () => {
  const body = Buffer.concat([
    Buffer.from('[{"timestamp":1,"service":"auth_service","message":"'),
    Buffer.from([0xc3, 0x28]),
    Buffer.from('"}]'),
  ]);
  assert.equal(scan(body), undefined);
  assert.throws(() => decodeServiceLogs(body, request, decoding), /not valid UTF-8/);
});

test("decodeServiceLogs counts the entries of a fast-path body", () => {
  const body = Buffer.from(JSON.stringify(new ServiceLogGenerator({ seed: 4 }).batch(37)));
  assert.ok(scan(body) !== undefined);
  const decoded = decodeServiceLogs(body, request, decoding);
  assert.equal(decoded.entryCount, 37);
  assert.deepEqual(plain(decoded.routed), plain(general(body) as Map<number, RecordColumns>));
});
