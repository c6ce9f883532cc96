// The index and the query executor agree on the stream of a 0x03 record: EntryDecoder (what the
// block index records) and decodeLogRecord + streamId (what the executor matches and the pipeline
// counted) give the same id for any label set, and different label sets different ids.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeLogRecord, streamEntryValue } from "../ingest/index.ts";
import type { LabelSet } from "../model/stream.ts";
import { streamId } from "../model/stream-id.ts";
import { EntryDecoder } from "./decode.ts";
import { addLineKeys, type FilterKey, type GramShape } from "./tokens.ts";

const name = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,6}$/);
const labelSetArbitrary = fc
  .uniqueArray(fc.tuple(name, fc.string({ minLength: 1, maxLength: 6 })), {
    selector: (pair) => pair[0],
    minLength: 1,
    maxLength: 5,
  })
  .map((pairs): LabelSet => [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));

function record(tenant: string, labels: LabelSet, line: string) {
  const value = streamEntryValue({
    labels,
    line,
    timestampNs: 5_000_000n,
    metadata: [],
    receivedAtMs: 1,
    clientIp: "10.0.0.1",
    nodeId: "n",
  });
  return { timestampMs: 5, key: Buffer.from(`${tenant}\u0000svc`), value, offset: 0 };
}

test("index and executor compute the same stream id for 0x03 records (property)", () => {
  const decoder = new EntryDecoder(); // one decoder throughout: its stream cache is exercised too
  fc.assert(
    fc.property(
      fc.constantFrom("t1", "t2"),
      labelSetArbitrary,
      labelSetArbitrary,
      fc.string(),
      (tenant, labels, other, line) => {
        const stored = record(tenant, labels, line);
        const indexed = decoder.decode(stored);
        const executed = decodeLogRecord(stored.key, stored.value);
        assert.equal(indexed.line, line);
        assert.equal(indexed.stream.tenant, executed.tenant);
        assert.deepEqual(indexed.stream.labels, executed.entry.labels);
        assert.equal(indexed.stream.id, streamId(executed.tenant, executed.entry.labels));
        const otherIndexed = decoder.decode(record(tenant, other, line));
        assert.equal(
          otherIndexed.stream.id === indexed.stream.id,
          JSON.stringify(other) === JSON.stringify(labels),
        );
      },
    ),
    { numRuns: 300 },
  );
});

test("0x03 fast path over runs of records: a record of the last record's stream, or not, gets its own (property)", () => {
  // The decoder answers a record with the same tenant and label bytes as the one before with that
  // stream: runs of one stream, another tenant with the same labels, and labels that differ by one
  // byte must each come out as decoding them says.
  const shape: GramShape = { gramLength: 4, windowGrams: 4, longGramLength: 8 };
  const pool: LabelSet[] = [
    [["app", "a"]],
    [["app", "b"]],
    [
      ["app", "a"],
      ["env", "x"],
    ],
    [["app", "aa"]],
  ];
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom("t1", "t2", "t11"), fc.nat(pool.length - 1)), {
        minLength: 1,
        maxLength: 30,
      }),
      (sequence) => {
        const decoder = new EntryDecoder();
        for (const [tenant, which] of sequence) {
          const stored = record(tenant, pool[which]!, "a line");
          assert.deepEqual(
            decoder.decodeKeys(stored, shape, new Set()),
            new EntryDecoder().decode(stored).stream,
          );
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("0x03 fast path: the same stream and filter keys as decoding the record (property)", () => {
  const shape: GramShape = { gramLength: 4, windowGrams: 4, longGramLength: 8 };
  const decoder = new EntryDecoder();
  // Values and lines with the characters a naive cache key or a JSON scanner could trip on.
  const tricky = fc.string({
    unit: fc.constantFrom("a", "Z", "0", " ", '"', "\\", "\u0000", "\u0001", "é", "😀", "\n"),
  });
  const labels = fc
    .uniqueArray(fc.tuple(name, fc.oneof(tricky, fc.string())), {
      selector: (pair) => pair[0],
      minLength: 1,
      maxLength: 4,
    })
    .filter((pairs) => pairs.every(([, value]) => value !== ""))
    .map((pairs): LabelSet => [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  fc.assert(
    fc.property(
      fc.constantFrom("t1", "t2"),
      labels,
      fc.oneof(tricky, fc.string({ unit: "grapheme" })),
      (tenant, set, line) => {
        const stored = record(tenant, set, line);
        const fastKeys = new Set<FilterKey>();
        const fast = decoder.decodeKeys(stored, shape, fastKeys);
        const slow = new EntryDecoder().decode(stored);
        const slowKeys = new Set<FilterKey>();
        addLineKeys(slow.line, shape, slowKeys);
        assert.deepEqual(fast, slow.stream);
        assert.deepEqual([...fastKeys].sort(), [...slowKeys].sort());
      },
    ),
    { numRuns: 500 },
  );
  // Label sets that join alike without lengths are different streams on both paths.
  const joined: LabelSet = [["app", "x\u0000b\u0000y"]];
  const split: LabelSet = [
    ["app", "x"],
    ["b", "y"],
  ];
  for (const path of ["decode", "decodeKeys"] as const) {
    const fresh = new EntryDecoder();
    const idOf = (set: LabelSet) =>
      path === "decode"
        ? fresh.decode(record("t1", set, "l")).stream.id
        : fresh.decodeKeys(record("t1", set, "l"), shape, new Set()).id;
    const first = idOf(joined);
    assert.notEqual(idOf(split), first, path);
    assert.equal(idOf(joined), first, path);
  }
});
