// The reference A → stream mapping (README.md): which labels a stream gets, how names are sanitised,
// which label wins a clash, and the stream id's stability (golden values: an index persists them).

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { sanitiseLabelName, serviceEntryLabels, serviceLogEntry } from "./service-stream.ts";
import { labelSet } from "./stream.ts";
import { formatStreamId, streamId } from "./stream-id.ts";

test("sanitised label names: outside [A-Za-z0-9_] becomes _, a leading digit gets a _ prefix", () => {
  const cases: Array<[string, string]> = [
    ["region", "region"],
    ["http.status", "http_status"],
    ["k8s-pod", "k8s_pod"],
    ["2xx", "_2xx"],
    ["9", "_9"],
    ["", "_"],
    ["_ok", "_ok"],
    ["ünï", "_n_"],
    ["a😀b", "a_b"], // one code point, one underscore
    ["with space", "with_space"],
  ];
  for (const [name, expected] of cases) assert.equal(sanitiseLabelName(name), expected, name);
});

test("sanitised names always are Prometheus label names", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (name) => {
      assert.match(sanitiseLabelName(name), /^[A-Za-z_][A-Za-z0-9_]*$/);
    }),
  );
});

test("stream labels: service, level when present, the entry's labels; sorted", () => {
  assert.deepEqual(serviceEntryLabels({ timestamp: 1, service: "auth", message: "m" }), [
    ["service", "auth"],
  ]);
  assert.deepEqual(serviceEntryLabels({ timestamp: 1, service: "auth", level: "INFO", message: "m" }), [
    ["level", "INFO"],
    ["service", "auth"],
  ]);
  assert.deepEqual(
    serviceEntryLabels({
      timestamp: 1,
      service: "auth",
      level: "WARN",
      message: "m",
      labels: { region: "eu", "http.method": "GET", zone: "b" },
    }),
    [
      ["http_method", "GET"],
      ["level", "WARN"],
      ["region", "eu"],
      ["service", "auth"],
      ["zone", "b"],
    ],
  );
});

test("the entry's own service and level win over labels of those names; an empty value is no label", () => {
  const labels = serviceEntryLabels({
    timestamp: 1,
    service: "auth",
    level: "ERROR",
    message: "m",
    labels: { service: "spoofed", level: "debug", "level!": "x", empty: "" },
  });
  assert.deepEqual(labels, [
    ["level", "ERROR"],
    ["level_", "x"], // another name once sanitised: kept
    ["service", "auth"],
  ]);
  // Without a level of its own, an entry's `level` label is its stream's level.
  assert.deepEqual(
    serviceEntryLabels({ timestamp: 1, service: "a", message: "m", labels: { level: "info" } }),
    [
      ["level", "info"],
      ["service", "a"],
    ],
  );
  assert.deepEqual(serviceEntryLabels({ timestamp: 1, service: "a", level: "", message: "m" }), [
    ["service", "a"],
  ]);
});

test("names that sanitise alike: the unchanged name wins, else the first in sort order, whatever the client's order", () => {
  const forward = { "a-b": "dash", a_b: "plain", "a.b": "dot" };
  const backward = { "a.b": "dot", a_b: "plain", "a-b": "dash" };
  for (const labels of [forward, backward]) {
    assert.deepEqual(serviceEntryLabels({ timestamp: 1, service: "s", message: "m", labels }), [
      ["a_b", "plain"],
      ["service", "s"],
    ]);
  }
  const noExact = [
    { "a-b": "dash", "a.b": "dot" },
    { "a.b": "dot", "a-b": "dash" },
  ];
  for (const labels of noExact) {
    assert.deepEqual(serviceEntryLabels({ timestamp: 1, service: "s", message: "m", labels }), [
      ["a_b", "dash"], // "-" (0x2d) sorts before "." (0x2e)
      ["service", "s"],
    ]);
  }
});

test("stream labels are a label set: what labelSet() would build from the same pairs", () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1 }),
      fc.option(fc.string(), { nil: undefined }),
      fc.dictionary(fc.string({ minLength: 1 }), fc.string()),
      (service, level, labels) => {
        const set = serviceEntryLabels({ timestamp: 1, service, level, message: "m", labels });
        assert.deepEqual(set, labelSet(set));
        assert.equal(new Set(set.map(([name]) => name)).size, set.length);
        for (const [, value] of set) assert.notEqual(value, "", "no empty label values");
      },
    ),
  );
});

test("the LogEntry: message as the line, milliseconds × 10^6 as nanoseconds, no metadata", () => {
  const entry = serviceLogEntry({ timestamp: 1_764_605_000_123, service: "auth", message: "login ok" });
  assert.equal(entry.timestampNs, 1_764_605_000_123_000_000n);
  assert.equal(entry.line, "login ok");
  assert.deepEqual(entry.metadata, []);
  assert.equal(
    serviceLogEntry({ timestamp: 2 ** 51, service: "a", message: "m" }).timestampNs,
    2n ** 51n * 1_000_000n,
  );
});

/** FNV-1a 64 with BigInt over the documented byte form: the definition the fast code must equal. */
function referenceStreamId(tenant: string, labels: ReadonlyArray<readonly [string, string]>): bigint {
  const parts: Buffer[] = [];
  for (const text of [tenant, ...labels.flat()]) {
    const bytes = Buffer.from(text, "utf8");
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    parts.push(length, bytes);
  }
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.concat(parts))
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return hash;
}

test("stream ids are FNV-1a 64 of the documented byte form", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "binary" }),
      fc.dictionary(fc.string({ unit: "binary" }), fc.string({ unit: "binary" })),
      (tenant, pairs) => {
        const labels = labelSet(Object.entries(pairs));
        assert.equal(streamId(tenant, labels), referenceStreamId(tenant, labels));
      },
    ),
  );
});

test("stream ids are stable: golden values (an index persists them; never change these)", () => {
  const golden: Array<[string, Array<[string, string]>, string]> = [
    ["fake", [["service", "auth_service"]], "06937079bc3658b8"],
    [
      "fake",
      [
        ["level", "INFO"],
        ["service", "auth_service"],
      ],
      "46eebe299a5cf83f",
    ],
    ["tenant-b", [["service", "auth_service"]], "2853c59595ce80b2"],
    ["", [], "4d25767f9dce13f5"],
    [
      "日本",
      [
        ["region", "eu\u0000x"],
        ["service", "😀"],
      ],
      "973832600d9ef7da",
    ],
  ];
  for (const [tenant, labels, id] of golden) assert.equal(formatStreamId(streamId(tenant, labels)), id);
});

test("stream ids tell tenants and label sets apart where a separator-less form would not", () => {
  const ids = new Set([
    streamId("ab", [["c", "d"]]),
    streamId("a", [["bc", "d"]]),
    streamId("a", [["b", "cd"]]),
    streamId("abcd", []),
    streamId("fake", [["service", "x"]]),
    streamId("other", [["service", "x"]]),
  ]);
  assert.equal(ids.size, 6);
});
