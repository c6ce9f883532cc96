// The block index against a real PartitionLog in a temporary directory: resume and catch-up, the
// unindexed tail, retention, the stream registry, and the property that candidates never leave out a
// block holding a matching line (compared with a naive scan of the log).

import assert from "node:assert/strict";
import fs from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import fc from "fast-check";
import { labelSet } from "../model/stream.ts";
import { streamId as streamIdOf } from "../model/stream-id.ts";
import type { LineFilterStage } from "../query/ast.ts";
import { BlockIndex } from "./block-index.ts";
import {
  appendEntries,
  naiveLines,
  openLog,
  type TestEntry,
  temporaryDirectory,
  waitForIndexed,
} from "./test-support.ts";

const everything = { startNs: 0n, endNs: 2n ** 62n };
const contains = (value: string): LineFilterStage => ({ kind: "lineFilter", op: "|=", values: [value] });

function entries(count: number, from = 0, service = "auth_service"): TestEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    service,
    level: i % 3 === 0 ? "ERROR" : "INFO",
    message: `login ok for user u${from + i} order ord-${String(10_000_000 + from + i)}`,
    timestampMs: 1_000_000 + (from + i) * 10,
  }));
}

test("the consumer indexes in blocks, resumes at its committed position and catches up", async () => {
  const directory = temporaryDirectory("resume");
  try {
    const log = openLog(`${directory}/log`);
    await appendEntries(log, 0, entries(105));
    let index = await BlockIndex.open(`${directory}/index`, log, {
      blockRecordsMax: 10,
      blockOpenMsMax: null,
    });
    index.start();
    await waitForIndexed(index, [100, 0]);
    await index.close();
    assert.deepEqual(index.status().partitions[0], {
      ...index.status().partitions[0],
      indexedTo: 100,
      blocks: 10,
    });
    await appendEntries(log, 0, entries(50, 105));

    index = await BlockIndex.open(`${directory}/index`, log, { blockRecordsMax: 10, blockOpenMsMax: null });
    assert.equal(index.status().partitions[0].indexedTo, 100, "resumes where the store is");
    assert.equal(index.status().partitions[0].committedEnd, 155);
    // Before catching up: the tail [100, 155) is scanned as it is.
    const needle = index.candidates(0, { ...everything, lineFilters: [contains("ord-10000120")] });
    assert.deepEqual(needle, [{ fromOffset: 100, toOffset: 155 }]);
    index.start();
    await waitForIndexed(index, [150, 0]);
    const after = index.candidates(0, { ...everything, lineFilters: [contains("ord-10000120")] });
    assert.deepEqual(
      after.map((range) => [range.fromOffset, range.toOffset]),
      [
        [120, 130],
        [150, 155],
      ],
    );
    // Time pruning: entries 0..9 have timestamps 1,000,000..1,000,090 ms.
    const early = index.candidates(0, { startNs: 0n, endNs: 1_000_050n * 1_000_000n, lineFilters: [] });
    assert.deepEqual(early[0], {
      fromOffset: 0,
      toOffset: 10,
      minTsNs: 1_000_000_000_000n,
      maxTsNs: 1_000_090_000_000n,
    });
    assert.equal(early.length, 2, "the first block and the tail");
    // Stream pruning: no block holds a DEBUG stream.
    const debugId = streamIdOf(
      "fake",
      labelSet([
        ["service", "auth_service"],
        ["level", "DEBUG"],
      ]),
    );
    const errorId = streamIdOf(
      "fake",
      labelSet([
        ["service", "auth_service"],
        ["level", "ERROR"],
      ]),
    );
    assert.equal(
      index.candidates(0, { ...everything, lineFilters: [], streamIds: new Set([debugId]) }).length,
      1,
    );
    assert.equal(
      index.candidates(0, { ...everything, lineFilters: [], streamIds: new Set([errorId]) }).length,
      16,
    );
    // Negative filters never prune.
    const negative = index.candidates(0, {
      ...everything,
      lineFilters: [{ kind: "lineFilter", op: "!=", values: ["login"] }],
    });
    assert.equal(negative.length, 16);
    await index.close();
    await log.close();
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test("sparse streams: a block records their exact offsets; an older store without them is rebuilt", async () => {
  const directory = temporaryDirectory("sparse");
  try {
    const log = openLog(`${directory}/log`);
    // Blocks of 20: auth_service INFO and ERROR have 6+ records each (dense at 3); "ledger" has
    // 2 per block (offsets 5 and 15 of each), sparse.
    const all = entries(40).map((entry, i) => (i % 10 === 5 ? { ...entry, service: "ledger" } : entry));
    await appendEntries(log, 0, all);
    const shape = { blockRecordsMax: 20, blockOpenMsMax: null, sparseStreamRecordsMax: 3 };
    const ledgerIds = new Set(
      ["ERROR", "INFO"].map((level) =>
        streamIdOf(
          "fake",
          labelSet([
            ["service", "ledger"],
            ["level", level],
          ]),
        ),
      ),
    );
    const errorId = streamIdOf(
      "fake",
      labelSet([
        ["service", "auth_service"],
        ["level", "ERROR"],
      ]),
    );
    const expectSparse = (index: BlockIndex) => {
      const ranges = index.candidates(0, { ...everything, lineFilters: [], streamIds: ledgerIds });
      assert.deepEqual(
        ranges.map((range) => [range.fromOffset, range.toOffset, range.offsets]),
        [
          [0, 20, [5, 15]],
          [20, 40, [25, 35]],
        ],
      );
      // With a stream dense in the block selected too, the block is read whole.
      const mixed = index.candidates(0, {
        ...everything,
        lineFilters: [],
        streamIds: new Set([...ledgerIds, errorId]),
      });
      assert.deepEqual(
        mixed.map((range) => range.offsets),
        [undefined, undefined],
      );
      // Without a stream selection (every stream matches) blocks carry no offsets.
      assert.ok(
        index.candidates(0, { ...everything, lineFilters: [] }).every((r) => r.offsets === undefined),
      );
    };
    let index = await BlockIndex.open(`${directory}/index`, log, shape);
    index.start();
    await waitForIndexed(index, [40, 0]);
    expectSparse(index);
    await index.close();

    index = await BlockIndex.open(`${directory}/index`, log, shape);
    expectSparse(index); // read back from the store
    await index.close();
    // More offsets than sparseReadOffsetsMax: the block is read whole.
    index = await BlockIndex.open(`${directory}/index`, log, { ...shape, sparseReadOffsetsMax: 1 });
    assert.deepEqual(
      index
        .candidates(0, { ...everything, lineFilters: [], streamIds: ledgerIds })
        .map((range) => [range.fromOffset, range.offsets]),
      [
        [0, undefined],
        [20, undefined],
      ],
    );
    await index.close();

    // The store as it was before sparse offsets: no column, no meta entry. It is rebuilt.
    const db = new DatabaseSync(`${directory}/index/blocks.db`);
    db.exec(
      "ALTER TABLE blocks DROP COLUMN sparse_offsets; DELETE FROM meta WHERE name = 'sparse_stream_records_max';",
    );
    db.close();
    index = await BlockIndex.open(`${directory}/index`, log, shape);
    assert.equal(index.status().partitions[0].indexedTo, 0, "emptied, to be rebuilt from the log");
    index.start();
    await waitForIndexed(index, [40, 0]);
    expectSparse(index);
    await index.close();
    await log.close();
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test("the stream registry answers per tenant and time range, open blocks included", async () => {
  const directory = temporaryDirectory("streams");
  try {
    const log = openLog(`${directory}/log`);
    await appendEntries(log, 0, [
      { service: "a", message: "one", timestampMs: 1000 },
      { tenant: "other", service: "b", message: "two", labels: { "user-id": "7" }, timestampMs: 2000 },
      { service: "a", level: "WARN", message: "three", timestampMs: 3000 },
    ]);
    const index = await BlockIndex.open(`${directory}/index`, log, {
      blockRecordsMax: 2,
      blockOpenMsMax: null,
    });
    index.start();
    await waitForIndexed(index, [2, 0]);
    // Wait for the consumer to have read the third record into the open block.
    while (index.streams("fake", 0n, 10n ** 18n).length < 2)
      await new Promise((resolve) => setTimeout(resolve, 2));
    const ms = (value: number) => BigInt(value) * 1_000_000n;
    assert.deepEqual(index.streams("fake", 0n, ms(10_000)), [
      [["service", "a"]],
      [
        ["level", "WARN"],
        ["service", "a"],
      ],
    ]);
    assert.deepEqual(index.streams("fake", ms(2500), ms(10_000)), [
      [
        ["level", "WARN"],
        ["service", "a"],
      ],
    ]);
    assert.deepEqual(index.streams("other", 0n, ms(10_000)), [
      [
        ["service", "b"],
        ["user_id", "7"],
      ],
    ]);
    assert.deepEqual(index.streams("nobody", 0n, ms(10_000)), []);
    await index.close();
    // The committed streams come back after a restart (the open block's are re-read from the log).
    const reopened = await BlockIndex.open(`${directory}/index`, log, {
      blockRecordsMax: 2,
      blockOpenMsMax: null,
    });
    assert.equal(reopened.streams("fake", 0n, ms(10_000)).length, 1);
    assert.equal(reopened.streams("other", 0n, ms(10_000)).length, 1);
    await reopened.close();
    await log.close();
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test("retention: blocks below the log's start are never candidates and are dropped", async () => {
  const directory = temporaryDirectory("retention");
  try {
    const log = openLog(`${directory}/log`, 1, {
      segmentBytesMax: 8 * 1024,
      retentionBytes: 20 * 1024,
      codec: "none",
    });
    await appendEntries(log, 0, entries(400), 20);
    const index = await BlockIndex.open(`${directory}/index`, log, {
      blockRecordsMax: 25,
      blockOpenMsMax: null,
    });
    index.start();
    await waitForIndexed(index, [400]);
    await index.stop();
    const blocksBefore = index.status().partitions[0].blocks;
    await log.maintain();
    const logStartOffset = log.partition(0).logStartOffset;
    assert.ok(logStartOffset > 100, `retention deleted segments (start ${logStartOffset})`);
    for (const range of index.candidates(0, { ...everything, lineFilters: [] }))
      assert.ok(
        range.fromOffset >= logStartOffset,
        `range ${range.fromOffset} below the start ${logStartOffset}`,
      );
    assert.deepEqual(index.candidates(0, { ...everything, lineFilters: [contains("ord-10000003")] }), []);
    // The next sealed block drops the expired summaries, in memory and in the store.
    await appendEntries(log, 0, entries(25, 400));
    index.start();
    await waitForIndexed(index, [425]);
    await index.close();
    const reopened = await BlockIndex.open(`${directory}/index`, log, {
      blockRecordsMax: 25,
      blockOpenMsMax: null,
    });
    const kept = reopened.status().partitions[0].blocks;
    assert.ok(kept < blocksBefore, `${kept} blocks kept of ${blocksBefore + 1}`);
    assert.equal(kept, 17 - Math.floor(logStartOffset / 25));
    await reopened.close();
    await log.close();
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test("a block that stays open too long while caught up is sealed, so the tail stays short", async () => {
  const directory = temporaryDirectory("idle");
  try {
    const log = openLog(`${directory}/log`, 1);
    await appendEntries(log, 0, entries(7));
    const index = await BlockIndex.open(`${directory}/index`, log, {
      blockRecordsMax: 1000,
      blockOpenMsMax: 0,
    });
    index.start();
    await waitForIndexed(index, [7]);
    assert.equal(index.status().partitions[0].blocks, 1);
    await index.close();
    await log.close();
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test("an open block waits out a fractional idle time, then seals (the server's default path)", async () => {
  // performance.now() makes the remaining idle time fractional; AbortSignal.timeout refuses a
  // fraction (ERR_OUT_OF_RANGE), which once crashed `sluice serve` on its first indexed write.
  const directory = temporaryDirectory("idle-wait");
  try {
    const log = openLog(`${directory}/log`, 1);
    const index = await BlockIndex.open(`${directory}/index`, log, {
      blockRecordsMax: 1000,
      blockOpenMsMax: 150,
    });
    index.start();
    await appendEntries(log, 0, entries(3));
    await waitForIndexed(index, [3]);
    assert.equal(index.status().partitions[0].blocks, 1);
    await index.close();
    await log.close();
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

// ---- property: never a false negative ----------------------------------------------------------

const pieces = [
  "ord-",
  "8812",
  "7361",
  "10.0.",
  "3.7",
  "Timeout",
  "TIMEOUT",
  "time",
  "out",
  " ",
  " ",
  "-",
  ".",
  ":",
  "=",
  '"',
  "é",
  "É",
  "ſ",
  "σ",
  "Σ",
  "ς",
  "😀",
  "İ",
  "k",
  "\u212A",
  "x",
  "a",
  "A",
  "_",
  "uuid",
  "4bf9",
  "2f35",
];
const lineArbitrary = fc.array(fc.constantFrom(...pieces), { maxLength: 12 }).map((parts) => parts.join(""));

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function recase(text: string, seed: number): string {
  return [...text]
    .map((char, i) => ((seed >> (i % 16)) & 1 ? char.toUpperCase() : char.toLowerCase()))
    .join("");
}

/** What the evaluator may do for a filter: true when some reading of it matches (superset of RE2 and JS). */
function naiveMatch(filter: LineFilterStage, line: string): boolean {
  return filter.values.some((value) => {
    if (filter.op === "|=") return line.includes(value);
    const insensitive = value.startsWith("(?i)");
    const pattern = insensitive ? value.slice(4) : value;
    const flags = insensitive ? ["i", "iu"] : ["", "u"];
    return flags.some((flag) => new RegExp(pattern, flag).test(line));
  });
}

test("property: candidates never exclude a block holding a matching line (naive scan)", async () => {
  const directory = temporaryDirectory("property");
  const log = openLog(`${directory}/log`, 1);
  try {
    const lines = fc.sample(lineArbitrary, { numRuns: 600, seed: 7 });
    await appendEntries(
      log,
      0,
      lines.map((message, i) => ({ service: "s", message, timestampMs: 1000 + i })),
    );
    const index = await BlockIndex.open(`${directory}/index`, log, {
      blockRecordsMax: 7,
      blockOpenMsMax: null,
    });
    index.start();
    await waitForIndexed(index, [595]);
    await index.stop();
    const stored = naiveLines(log, 0);
    const literalArbitrary = fc.oneof(
      // a substring of a line, as is or re-cased
      fc.tuple(fc.nat(599), fc.nat(), fc.nat(), fc.nat()).map(([which, a, b, seed]) => {
        const line = lines[which];
        const from = line.length === 0 ? 0 : a % line.length;
        const literal = line.slice(from, from + (b % 14));
        return seed % 3 === 0 ? recase(literal, seed) : literal;
      }),
      lineArbitrary.map((text) => text.slice(0, 10)),
      fc.string({ unit: "grapheme", maxLength: 8 }),
    );
    const filterArbitrary = fc
      .tuple(fc.constantFrom("|=", "|~", "|~i", "or"), literalArbitrary, literalArbitrary)
      .map(([kind, a, b]): LineFilterStage => {
        if (kind === "|=") return { kind: "lineFilter", op: "|=", values: [a] };
        if (kind === "or") return { kind: "lineFilter", op: "|=", values: [a, b] };
        if (kind === "|~")
          return { kind: "lineFilter", op: "|~", values: [`${escapeRegex(a)}|${escapeRegex(b)}`] };
        return { kind: "lineFilter", op: "|~", values: [`(?i)${escapeRegex(a)}`] };
      });
    let pruned = 0;
    fc.assert(
      fc.property(fc.array(filterArbitrary, { minLength: 1, maxLength: 2 }), (filters) => {
        const ranges = index.candidates(0, { ...everything, lineFilters: filters });
        const covered = (offset: number) =>
          ranges.some((range) => range.fromOffset <= offset && offset < range.toOffset);
        for (const { offset, line } of stored) {
          if (!filters.every((filter) => naiveMatch(filter, line))) continue;
          assert.ok(
            covered(offset),
            `line ${offset} ${JSON.stringify(line)} matches ${JSON.stringify(filters)} but is not a candidate`,
          );
        }
        if (ranges.length < index.status().partitions[0].blocks) pruned++;
      }),
      { numRuns: 2000, seed: Number(process.env.SLUICE_PROPERTY_SEED ?? 13) },
    );
    assert.ok(pruned > 100, `the index pruned in only ${pruned} of 2000 queries`);
    await index.close();
  } finally {
    await log.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
});
