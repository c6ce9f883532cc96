// The indexed engine against the naive one: for random data and random queries, a QueryEngine whose
// LogSource reads only the block index's candidate ranges answers exactly what a full scan answers
// (same streams, same lines, same order, same metric values). Both run over the same real
// PartitionLog in a temporary directory (several partitions and tenants), with a real BlockIndex of
// small blocks (many of them) caught up over most of the data and an unindexed tail after it. A thin
// service (about one line per block) and a random sparse-stream bound make many candidate blocks
// read at their sparse streams' offsets only, others whole.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { BlockIndex, indexedBlocks } from "../../index/index.ts";
import { enrichAndRoute, type ServiceLogEntry } from "../../ingest/index.ts";
import { PartitionLog } from "../../log/index.ts";
import { QueryEngine } from "./engine.ts";

const partitionCount = 3;
const tenants = ["fake", "acme", "t-3"];
const services = ["auth", "billing", "search", "rare-payments", "Ünï-svc"];
/** 3 lines in 100: about one per block of 16 of a partition and tenant, read at its offsets (sparse streams). */
const thinService = "thin-ledger";
const levels = ["INFO", "ERROR", "debug", undefined];
const regions = ["eu", "us", "ap-south-1", undefined];
/** Words of the lines: ids, dotted and dashed tokens, mixed case, the letters case folding trips on. */
const words = [
  "ord-88127361",
  "x88120",
  "10.0.3.7",
  "c0ffee00-1234-4bcd-9def-00000000beef",
  "login",
  "LOGIN",
  "Failed",
  "timeout",
  "user=u42",
  "ſtraße",
  "KELVIN",
  "σίγμα",
  "ΣΊΓΜΑΣ",
  "İstanbul",
  "🚀launch",
  "path=/api/v1/orders",
];
/** Literals the filters look for: whole words, pieces of them, re-cased ones, absent ones. */
const literals = [
  ...words,
  "8812",
  "ord-8812",
  "0.3",
  "login",
  "Login",
  "fail",
  "STRASSE",
  "straße",
  "kelvin",
  "ς",
  "absent-needle-991",
  "user=u4",
  "/api/v1",
];

const baseMs = 1_700_000_000_000;
const spanMs = 120_000;
const msNs = 1_000_000n;

const entryArbitrary = fc.record({
  tenant: fc.constantFrom(...tenants),
  service: fc.oneof(
    { weight: 97, arbitrary: fc.constantFrom(...services) },
    { weight: 3, arbitrary: fc.constant(thinService) },
  ),
  level: fc.constantFrom(...levels),
  region: fc.constantFrom(...regions),
  // A coarse grid: many entries share a timestamp, so ties at a limit's cutoff are exercised.
  timestamp: fc.integer({ min: 0, max: spanMs / 250 }).map((step) => baseMs + step * 250),
  line: fc
    .array(fc.constantFrom(...words), { minLength: 1, maxLength: 5 })
    .chain((parts) => fc.constantFrom(" ", ", ", "|", " - ").map((separator) => parts.join(separator))),
});
type Entry = typeof entryArbitrary extends fc.Arbitrary<infer T> ? T : never;

const quote = (text: string) => JSON.stringify(text);
const regexEscape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/-]/g, (c) => `\\${c}`);

/** A selector with at least one matcher that does not match the empty value (Loki requires one). */
const selectorArbitrary = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(...services).map((s) => `service=${quote(s)}`),
      fc.constant(`service=${quote(thinService)}`),
      fc.constant('service=~"thin.*|rare.*"'),
      fc.constant('service=~"auth|billing"'),
      fc.constant('service=~"rare.*"'),
      fc.constant('level="ERROR"'),
      fc.constant('region=~"eu|us"'),
      fc.constant('service=~".+"'),
    ),
    fc.array(
      fc.constantFrom(
        'level!="INFO"',
        'service!~"rare.*"',
        'region="eu"',
        'level=~"(?i)error|debug"',
        'region!="us"',
        'level=""',
      ),
      { maxLength: 1 },
    ),
  )
  .map(([first, rest]) => `{${[first, ...rest].join(", ")}}`);

const lineFilterArbitrary = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...words).map((l) => `|= ${quote(l)}`) },
  fc.constantFrom(...literals).map((l) => `|= ${quote(l)}`),
  fc.constantFrom(...literals).map((l) => `!= ${quote(l)}`),
  fc.constantFrom(...literals).map((l) => `|~ ${quote(`(?i)${regexEscape(l)}`)}`),
  fc.constantFrom(...literals).map((l) => `|~ ${quote(regexEscape(l))}`),
  fc.constantFrom(...literals).map((l) => `!~ ${quote(regexEscape(l))}`),
  fc
    .tuple(fc.constantFrom(...literals), fc.constantFrom(...literals))
    .map(([a, b]) => `|= ${quote(a)} or ${quote(b)}`),
  fc
    .tuple(fc.constantFrom(...literals), fc.constantFrom(...literals))
    .map(([a, b]) => `|~ ${quote(`${regexEscape(a)}|${regexEscape(b)}`)}`),
  fc.constant('|~ "ord-\\\\d+"'),
);

const logQueryArbitrary = fc
  .tuple(selectorArbitrary, fc.array(lineFilterArbitrary, { maxLength: 3 }))
  .map(([selector, filters]) => [selector, ...filters].join(" "));

const queryArbitrary = fc.record({
  tenant: fc.constantFrom(...tenants),
  text: fc.oneof(
    { weight: 3, arbitrary: logQueryArbitrary },
    {
      weight: 1,
      arbitrary: fc
        .tuple(logQueryArbitrary, fc.constantFrom("10s", "1m"))
        .map(([log, range]) => `sum by (level) (count_over_time(${log} [${range}]))`),
    },
  ),
  fromMs: fc.integer({ min: -5_000, max: spanMs / 2 }),
  widthMs: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 1, max: spanMs + 10_000 })),
  limit: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 400 })),
  direction: fc.constantFrom("forward", "backward") as fc.Arbitrary<"forward" | "backward">,
});

async function ingest(log: PartitionLog, entries: readonly Entry[]): Promise<void> {
  const enrichment = { receivedAtMs: 7, clientIp: "10.0.0.1", nodeId: "node-a" };
  // A few entries per append, one tenant each: many small batches, tenants interleaved.
  for (let i = 0; i < entries.length; i += 9)
    for (const tenant of tenants) {
      const group: ServiceLogEntry[] = entries
        .slice(i, i + 9)
        .filter((entry) => entry.tenant === tenant)
        .map((entry) => ({
          timestamp: entry.timestamp,
          service: entry.service,
          ...(entry.level === undefined ? {} : { level: entry.level }),
          ...(entry.region === undefined ? {} : { labels: { region: entry.region } }),
          message: entry.line,
        }));
      if (group.length === 0) continue;
      for (const [partition, columns] of enrichAndRoute(group, enrichment, tenant, partitionCount))
        await log.append(partition, columns);
    }
}

async function caughtUp(index: BlockIndex): Promise<void> {
  for (;;) {
    if (index.status().partitions.every((p) => p.indexedTo >= p.committedEnd)) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The answer without its stats (timings differ), or the error's name and message. */
async function answerOf(engine: QueryEngine, query: Query) {
  try {
    const data = await engine.query(query.tenant, query.text, {
      startNs: BigInt(baseMs + query.fromMs) * msNs,
      endNs: BigInt(baseMs + query.fromMs + query.widthMs) * msNs,
      limit: query.limit,
      direction: query.direction,
      stepNs: 5_000n * msNs,
    });
    return { resultType: data.resultType, result: data.result };
  } catch (error) {
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  }
}
type Query = typeof queryArbitrary extends fc.Arbitrary<infer T> ? T : never;

test("the indexed engine answers exactly what a full scan answers", async () => {
  let answered = 0;
  let nonEmpty = 0;
  let asked = 0;
  let pointRanges = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(entryArbitrary, { minLength: 150, maxLength: 500 }),
      fc.array(entryArbitrary, { maxLength: 40 }),
      fc.array(queryArbitrary, { minLength: 1, maxLength: 25 }),
      // In blocks of 16 records, 1 or 2 make common streams dense and thin ones sparse (a block is
      // then read whole or at its offsets, by selector); 32 makes every stream sparse.
      fc.constantFrom(1, 2, 32),
      async (indexedPart, tailPart, queries, sparseStreamRecordsMax) => {
        const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-indexed-property-"));
        const log = PartitionLog.open({
          directory: path.join(directory, "log"),
          partitionCount,
          fsync: "interval",
          onEvent: () => {},
        });
        const index = await BlockIndex.open(path.join(directory, "index"), log, {
          blockRecordsMax: 16,
          blockOpenMsMax: 0,
          sparseStreamRecordsMax,
        });
        try {
          await ingest(log, indexedPart);
          index.start();
          await caughtUp(index);
          await index.stop();
          await ingest(log, tailPart); // not indexed: the tail every query also reads
          const naive = new QueryEngine({ log });
          const indexed = new QueryEngine({
            log,
            blocks: (tenant) => {
              const hook = indexedBlocks(index, tenant);
              return (partition, selection) => {
                const ranges = [...hook(partition, selection)];
                pointRanges += ranges.filter((range) => range.offsets !== undefined).length;
                return ranges;
              };
            },
          });
          for (const query of queries) {
            const expected = await answerOf(naive, query);
            const actual = await answerOf(indexed, query);
            assert.deepEqual(actual, expected, JSON.stringify(query));
            asked++;
            if (!("error" in expected)) answered++;
            if ("result" in expected && Array.isArray(expected.result) && expected.result.length > 0)
              nonEmpty++;
          }
        } finally {
          await index.close();
          await log.close();
          fs.rmSync(directory, { recursive: true, force: true });
        }
      },
    ),
    // No shrinking: every run builds a log and an index, so a shrink would take minutes.
    { numRuns: 20, endOnFailure: true },
  );
  // The generator must mostly produce valid queries with something in the answer, or the
  // comparison above proves little.
  assert.ok(answered >= asked * 0.9, `${answered} of ${asked} queries answered`);
  assert.ok(nonEmpty >= asked * 0.2, `${nonEmpty} of ${asked} answers non-empty`);
  assert.ok(pointRanges > 100, `${pointRanges} candidate blocks read at their offsets`);
});
