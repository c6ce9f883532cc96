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
