// The tail websocket's message shape, as Loki's EncodeTailResult writes it.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { labelSet } from "../model/stream.ts";
import { formatTailMessage } from "./loki-tail.ts";

describe("tail message", () => {
  test("entries grouped by stream, timestamps as strings, dropped entries only when any", () => {
    const api = labelSet([["service", "api"]]);
    const db = labelSet([
      ["service", "db"],
      ["level", "error"],
    ]);
    const entries = [
      { timestampNs: 1n, labels: api, line: "a" },
      { timestampNs: 2n, labels: db, line: "b" },
      { timestampNs: 3n, labels: api, line: "c" },
    ];
    assert.equal(
      formatTailMessage(entries),
      '{"streams":[{"stream":{"service":"api"},"values":[["1","a"],["3","c"]]},' +
        '{"stream":{"level":"error","service":"db"},"values":[["2","b"]]}]}',
    );
    assert.equal(
      formatTailMessage([], [{ timestampNs: 1700000000000000000n, labels: api }]),
      '{"streams":[],"dropped_entries":[{"timestamp":"1700000000000000000","labels":{"service":"api"}}]}',
    );
  });
});
