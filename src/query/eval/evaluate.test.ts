// The evaluator against Loki's semantics, over an array-backed source that yields entries shuffled
// (test/support/array-source.ts). Each expectation is worked out by hand from Loki's behaviour (the
// comment names which), not from running this code. A property test at the end compares log and
// count_over_time answers with a naive full-sort reference.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { ArraySource, entry } from "../../../test/support/array-source.ts";
import type { LogEntry } from "../../model/stream.ts";
import { queryExecutionErrorCodes } from "../errors.ts";
import { parseQuery } from "../parse.ts";
import {
  checkRangeParams,
  defaultQueryBudget,
  evaluateInstant,
  evaluateRange,
  type QueryParams,
} from "./evaluate.ts";
import { formatSampleValue } from "./format-value.ts";

const second = 1_000_000_000n;
const t0 = 1_700_000_000n * second;
const at = (seconds: number) => t0 + BigInt(Math.round(seconds * 1000)) * 1_000_000n;
const sec = (seconds: number) => 1_700_000_000 + seconds;

function params(overrides: Partial<QueryParams> = {}): QueryParams {
  return {
    startNs: at(0),
    endNs: at(60),
    limit: 100,
    direction: "backward",
    stepNs: 10n * second,
    signal: new AbortController().signal,
    budget: defaultQueryBudget,
    ...overrides,
  };
}

async function range(query: string, entries: readonly LogEntry[], overrides: Partial<QueryParams> = {}) {
  return evaluateRange(
    parseQuery(query),
    new ArraySource(entries, { seed: 7, loose: true }),
    params(overrides),
  );
}

async function instant(query: string, entries: readonly LogEntry[], timeNs: bigint) {
  const source = new ArraySource(entries, { seed: 3, loose: true });
  return evaluateInstant(parseQuery(query), source, {
    timeNs,
    limit: 100,
    direction: "backward",
    signal: new AbortController().signal,
    budget: defaultQueryBudget,
  });
}

function result(data: Awaited<ReturnType<typeof range>>) {
  return data.result;
}

async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp | string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.equal((error as { code?: string }).code, code);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

const a = { app: "a" };
const b = { app: "b" };

describe("log queries", () => {
  const entries = [
    entry(at(1), a, "a1"),
    entry(at(2), b, "b2"),
    entry(at(3), a, "a3"),
    entry(at(4), b, "b4"),
    entry(at(5), a, "a5"),
    entry(at(6), b, "b6"),
  ];

  test("backward: the newest `limit` across streams, streams by label text, entries newest first", async () => {
    // Loki's readStreams: entries in merge order up to limit, grouped per stream, streams sorted by labels string.
    const data = await range('{app=~"a|b"}', entries, { limit: 3 });
    assert.equal(data.resultType, "streams");
    assert.deepEqual(result(data), [
      { stream: a, values: [[at(5).toString(), "a5"]] },
      {
        stream: b,
        values: [
          [at(6).toString(), "b6"],
          [at(4).toString(), "b4"],
        ],
      },
    ]);
  });

  test("forward: the oldest `limit`, entries oldest first", async () => {
    const data = await range('{app=~"a|b"}', entries, { limit: 3, direction: "forward" });
    assert.deepEqual(result(data), [
      {
        stream: a,
        values: [
          [at(1).toString(), "a1"],
          [at(3).toString(), "a3"],
        ],
      },
      { stream: b, values: [[at(2).toString(), "b2"]] },
    ]);
  });

  test("start is included, end excluded, even when the source yields more", async () => {
    // Loki's queries read [start, end): the iterator's `through` is exclusive.
    const edge = [entry(at(0) - 1n, a, "before"), entry(at(0), a, "start"), entry(at(60), a, "end")];
    const data = await range('{app="a"}', edge);
    assert.deepEqual(result(data), [{ stream: a, values: [[at(0).toString(), "start"]] }]);
  });

  test("the selector and line filters are applied, structured metadata joins the stream labels", async () => {
    const mixed = [
      entry(at(1), a, "GET /health 200"),
      entry(at(2), a, "GET /api 500", { trace: "t1" }),
      entry(at(3), b, "GET /api 500"),
      entry(at(4), a, "POST /api 500"),
    ];
    const data = await range('{app="a"} |= "/api" != "POST"', mixed);
    // Without categorize-labels, Loki's stream labels are the series labels: stream + metadata + parsed.
    assert.deepEqual(result(data), [
      { stream: { app: "a", trace: "t1" }, values: [[at(2).toString(), "GET /api 500"]] },
    ]);
    assert.equal(data.stats.summary.totalLinesProcessed, 3);
    assert.equal(data.stats.summary.totalPostFilterLines, 1);
    assert.equal(data.stats.summary.totalEntriesReturned, 1);
    assert.equal(data.stats.summary.totalBytesProcessed, 15 + 12 + 13);
  });

  test("ties on a timestamp: by stream label text, then line; backward is the reverse of forward", async () => {
    // Loki leaves the order among equal timestamps to its iterator heap; Sluice fixes (ts, labels, line).
    const tied = [entry(at(5), b, "x"), entry(at(5), a, "y"), entry(at(5), a, "x"), entry(at(4), a, "old")];
    const forward = await range('{app=~"a|b"}', tied, { limit: 2, direction: "forward" });
    assert.deepEqual(result(forward), [
      {
        stream: a,
        values: [
          [at(4).toString(), "old"],
          [at(5).toString(), "x"],
        ],
      },
    ]);
    const backward = await range('{app=~"a|b"}', tied, { limit: 2 });
    assert.deepEqual(result(backward), [
      { stream: a, values: [[at(5).toString(), "y"]] },
      { stream: b, values: [[at(5).toString(), "x"]] },
    ]);
  });

  test("interval: an entry answers only at least `interval` past the last one answered", async () => {
    const dense = [0, 1, 2, 3, 4, 5, 6].map((s) => entry(at(s), a, `l${s}`));
    const data = await range('{app="a"}', dense, {
      direction: "forward",
      intervalNs: 2n * second + 1n,
      limit: 10,
    });
    // Loki's readStreams: first entry, then the first ≥ last + interval: 0, 3 (≥ 2.000000001), 6.
    assert.deepEqual(result(data), [
      { stream: a, values: [0, 3, 6].map((s) => [at(s).toString(), `l${s}`]) },
    ]);
  });

  test("the source is told the cutoff once `limit` entries are kept", async () => {
    const source = new ArraySource(entries, { seed: 11 });
    await evaluateRange(parseQuery('{app=~"a|b"}'), source, params({ limit: 2 }));
    const selection = source.selections[0];
    assert.ok(selection !== undefined);
    assert.deepEqual(selection.matchers, [{ name: "app", op: "=~", value: "a|b" }]);
    assert.equal(source.cutoffs[0], null); // one entry kept, limit 2
    // After the last entry the heap holds the two newest (5 s, 6 s): the cutoff is the older, 5 s.
    assert.equal(source.cutoffs.at(-1), at(5));
  });

  test("leading line filters are offered to the source", async () => {
    const source = new ArraySource(entries);
    await evaluateRange(parseQuery('{app="a"} |= "x" != "y"'), source, params());
    assert.deepEqual(source.selections[0]?.lineFilters, [
      { kind: "lineFilter", op: "|=", values: ["x"] },
      { kind: "lineFilter", op: "!=", values: ["y"] },
    ]);
  });

  test("a limit over entriesMax is refused with Loki's words, not clamped", async () => {
    await rejectsWith(
      range('{app="a"}', entries, { limit: 5001 }),
      queryExecutionErrorCodes.budget,
      "max entries limit per query exceeded, limit > max_entries_limit_per_query (5001 > 5000)",
    );
  });

  test("an instant log query is refused, as Loki's /query does", async () => {
    await rejectsWith(
      instant('{app="a"}', entries, at(10)),
      queryExecutionErrorCodes.params,
      "log queries are not supported as an instant query type, please change your query to a range query type",
    );
  });
});

describe("range aggregations", () => {
  test("count_over_time: window (t − range, t], steps from start to end inclusive", async () => {
    // Loki's range_vector.go: samples with ts ≤ rangeStart are dropped, ts > rangeEnd wait for later steps.
    const edge = [
      entry(at(5), a, "on the left edge: out of the 10 s step"),
      entry(at(5) + 1n, a, "just inside"),
      entry(at(10), a, "on the right edge: in"),
      entry(at(10) + 1n, a, "next window"),
    ];
    const data = await range('count_over_time({app="a"}[5s])', edge, {
      startNs: at(0),
      endNs: at(20),
      stepNs: 5n * second,
    });
    assert.equal(data.resultType, "matrix");
    // Steps 0, 5, 10, 15, 20 s. (0,5]: the 5 s entry. (5,10]: 2. (10,15]: 1. (15,20]: none: no point.
    assert.deepEqual(result(data), [
      {
        metric: a,
        values: [
          [sec(5), "1"],
          [sec(10), "2"],
          [sec(15), "1"],
        ],
      },
    ]);
  });

  test("overlapping windows: an entry counts in every step whose window holds it", async () => {
    const data = await range('count_over_time({app="a"}[30s])', [entry(at(15), a, "x")], {
      stepNs: 10n * second,
    });
    // Steps at 0..60 by 10: windows (t−30, t] hold 15 for t = 20, 30, 40 (t=15 is no step; t=45 > 40).
    assert.deepEqual(result(data), [
      {
        metric: a,
        values: [
          [sec(20), "1"],
          [sec(30), "1"],
          [sec(40), "1"],
        ],
      },
    ]);
  });

  test("rate and bytes: per range second; bytes are the UTF-8 bytes of the line", async () => {
    const lines = [entry(at(51), a, "héllo"), entry(at(52), a, "ok"), entry(at(53), a, "€")];
    const window = { startNs: at(60), endNs: at(60) };
    assert.deepEqual(result(await range('rate({app="a"}[10s])', lines, window)), [
      { metric: a, values: [[sec(60), "0.3"]] },
    ]);
    // héllo = 6 bytes, ok = 2, € = 3.
    assert.deepEqual(result(await range('bytes_over_time({app="a"}[10s])', lines, window)), [
      { metric: a, values: [[sec(60), "11"]] },
    ]);
    assert.deepEqual(result(await range('bytes_rate({app="a"}[10s])', lines, window)), [
      { metric: a, values: [[sec(60), "1.1"]] },
    ]);
  });

  test("offset shifts every window back: (t − offset − range, t − offset], points still at t", async () => {
    const lines = [entry(at(15), a, "x"), entry(at(25), a, "y")];
    const data = await range('count_over_time({app="a"}[10s] offset 10s)', lines, {
      startNs: at(30),
      endNs: at(30),
    });
    // t = 30: window (10, 20] holds 15 only. Loki reports the point at current + offset = 30.
    assert.deepEqual(result(data), [{ metric: a, values: [[sec(30), "1"]] }]);
    const source = new ArraySource(lines);
    await evaluateRange(
      parseQuery('count_over_time({app="a"}[10s] offset 10s)'),
      source,
      params({ startNs: at(30), endNs: at(30) }),
    );
    // The source is asked for exactly the union of windows: [10 s + 1 ns, 20 s + 1 ns).
    assert.equal(source.selections[0]?.startNs, at(10) + 1n);
    assert.equal(source.selections[0]?.endNs, at(20) + 1n);
  });

  test("steps: both ends included; a step not dividing the range stops at the last step ≤ end", async () => {
    const lines = [0, 10, 20, 30, 40, 50, 60].map((s) => entry(at(s), a, "x"));
    const data = await range('count_over_time({app="a"}[1ms])', lines, {
      startNs: at(0),
      endNs: at(60),
      stepNs: 25n * second,
    });
    // Steps 0, 25, 50 (75 > 60). Windows (t − 1 ms, t] hold the entries at 0 and 50.
    assert.deepEqual(result(data), [
      {
        metric: a,
        values: [
          [sec(0), "1"],
          [sec(50), "1"],
        ],
      },
    ]);
  });

  test("a range wider than 2^52 ns (~52 days) takes the bigint path with the same windows", async () => {
    const day = 86_400;
    const lines = [
      entry(at(1.5 * day), a, "x"),
      entry(at(3 * day), a, "y"),
      entry(at(59 * day) + 1n, a, "z"),
    ];
    const data = await range('count_over_time({app="a"}[1d])', lines, {
      startNs: at(0),
      endNs: at(60 * day),
      stepNs: BigInt(day) * second,
    });
    // (1d, 2d] holds 1.5d; (2d, 3d] holds 3d; (59d, 60d] holds 59d + 1 ns.
    assert.deepEqual(result(data), [
      {
        metric: a,
        values: [
          [sec(2 * day), "1"],
          [sec(3 * day), "1"],
          [sec(60 * day), "1"],
        ],
      },
    ]);
  });

  test("matrix timestamps are seconds with the millisecond fraction, as model.Time prints them", async () => {
    const data = await range('count_over_time({app="a"}[1s])', [entry(at(0.25), a, "x")], {
      startNs: at(0.5),
      endNs: at(0.5),
    });
    assert.deepEqual(result(data), [{ metric: a, values: [[1_700_000_000.5, "1"]] }]);
  });

  test("instant: one step at time, a vector sorted by labels", async () => {
    const lines = [
      entry(at(9), { app: "b" }, "x"),
      entry(at(8), a, "x"),
      entry(at(7), a, "x"),
      entry(at(1), a, "old"),
    ];
    const data = await instant('count_over_time({app=~"a|b"}[5s])', lines, at(10));
    assert.equal(data.resultType, "vector");
    assert.deepEqual(data.result, [
      { metric: a, value: [sec(10), "2"] },
      { metric: b, value: [sec(10), "1"] },
    ]);
  });

  test("a sample carrying __error__ fails the query with Loki's PipelineError text", async () => {
    const lines = [entry(at(5), a, "x", { __error__: "JSONParserErr" })];
    await rejectsWith(
      range('count_over_time({app="a"}[10s])', lines),
      queryExecutionErrorCodes.pipeline,
      `pipeline error: 'JSONParserErr' for series: '{__error__="JSONParserErr", app="a"}'.\n` +
        `Use a label filter to intentionally skip this error. (e.g | __error__!="JSONParserErr").\n` +
        `To skip all potential errors you can match empty errors.(e.g __error__="")\n` +
        `The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__="" )\n`,
    );
    // __preserve_error__="true" keeps the sample (Loki's RangeVectorEvaluator exception).
    const kept = [entry(at(5), a, "x", { __error__: "E", __preserve_error__: "true" })];
    assert.equal(result(await range('count_over_time({app="a"}[10s])', kept)).length, 1);
    // An error label on a log query's entry is just a label.
    assert.equal(result(await range('{app="a"}', lines)).length, 1);
  });
});

describe("vector aggregations", () => {
  const lines = [
    entry(at(1), { app: "a", level: "info", pod: "1" }, "x"),
    entry(at(2), { app: "a", level: "info", pod: "1" }, "x"),
    entry(at(3), { app: "a", level: "info", pod: "2" }, "x"),
    entry(at(4), { app: "a", level: "error", pod: "1" }, "x"),
    entry(at(5), { app: "a", level: "warn", pod: "3" }, "x"),
    entry(at(6), { app: "a", level: "warn", pod: "3" }, "x"),
    entry(at(7), { app: "a", level: "warn", pod: "3" }, "x"),
  ];
  const inner = 'count_over_time({app="a"}[10s])';
  const at10 = async (query: string) => (await instant(query, lines, at(10))).result;
  // Inner vector at 10 s: {info,1}=2, {info,2}=1, {error,1}=1, {warn,3}=3.

  test("sum, avg, min, max, count by level", async () => {
    assert.deepEqual(await at10(`sum by (level) (${inner})`), [
      { metric: { level: "error" }, value: [sec(10), "1"] },
      { metric: { level: "info" }, value: [sec(10), "3"] },
      { metric: { level: "warn" }, value: [sec(10), "3"] },
    ]);
    assert.deepEqual(await at10(`avg by (level) (${inner})`), [
      { metric: { level: "error" }, value: [sec(10), "1"] },
      { metric: { level: "info" }, value: [sec(10), "1.5"] },
      { metric: { level: "warn" }, value: [sec(10), "3"] },
    ]);
    assert.deepEqual(await at10(`min(${inner})`), [{ metric: {}, value: [sec(10), "1"] }]);
    assert.deepEqual(await at10(`max(${inner})`), [{ metric: {}, value: [sec(10), "3"] }]);
    assert.deepEqual(await at10(`count(${inner})`), [{ metric: {}, value: [sec(10), "4"] }]);
    // by a label nobody has: one group with no labels (Loki keeps only present labels).
    assert.deepEqual(await at10(`sum by (nope) (${inner})`), [{ metric: {}, value: [sec(10), "7"] }]);
  });

  test("without removes the listed labels and keeps all others", async () => {
    assert.deepEqual(await at10(`sum without (pod) (${inner})`), [
      { metric: { app: "a", level: "error" }, value: [sec(10), "1"] },
      { metric: { app: "a", level: "info" }, value: [sec(10), "3"] },
      { metric: { app: "a", level: "warn" }, value: [sec(10), "3"] },
    ]);
  });

  test("topk and bottomk keep whole input series, k per group", async () => {
    assert.deepEqual(await at10(`topk(1, ${inner})`), [
      { metric: { app: "a", level: "warn", pod: "3" }, value: [sec(10), "3"] },
    ]);
    // Per level, the best of each; the answer is then sorted by labels like any instant vector.
    assert.deepEqual(await at10(`topk by (level) (1, ${inner})`), [
      { metric: { app: "a", level: "error", pod: "1" }, value: [sec(10), "1"] },
      { metric: { app: "a", level: "info", pod: "1" }, value: [sec(10), "2"] },
      { metric: { app: "a", level: "warn", pod: "3" }, value: [sec(10), "3"] },
    ]);
    // Tie at 1 between {error,1} and {info,2}: label text decides ({…level="error"…} first).
    assert.deepEqual(await at10(`bottomk(1, ${inner})`), [
      { metric: { app: "a", level: "error", pod: "1" }, value: [sec(10), "1"] },
    ]);
  });

  test("topk over a range picks per step", async () => {
    const data = await range(`topk(1, ${inner})`, lines, {
      startNs: at(5),
      endNs: at(15),
      stepNs: 5n * second,
    });
    // Windows of 10 s. t=5: (−5,5] {info,1}=2 is best; t=10: {warn,3}=3; t=15: (5,15] holds only {warn,3} (6 s, 7 s) = 2.
    assert.deepEqual(result(data), [
      { metric: { app: "a", level: "info", pod: "1" }, values: [[sec(5), "2"]] },
      {
        metric: { app: "a", level: "warn", pod: "3" },
        values: [
          [sec(10), "3"],
          [sec(15), "2"],
        ],
      },
    ]);
  });
});

describe("binary operators", () => {
  const lines = [entry(at(1), a, "x"), entry(at(2), a, "x"), entry(at(3), b, "x")];
  const count = 'count_over_time({app=~"a|b"}[10s])';
  const at10 = async (query: string) => (await instant(query, lines, at(10))).result;

  test("vector and scalar, either side; comparisons filter and keep the vector's value", async () => {
    assert.deepEqual(await at10(`${count} * 2`), [
      { metric: a, value: [sec(10), "4"] },
      { metric: b, value: [sec(10), "2"] },
    ]);
    assert.deepEqual(await at10(`10 - ${count}`), [
      { metric: a, value: [sec(10), "8"] },
      { metric: b, value: [sec(10), "9"] },
    ]);
    // Loki's MergeBinOp: a filtering comparison returns the vector side's sample, on either side.
    assert.deepEqual(await at10(`${count} > 1`), [{ metric: a, value: [sec(10), "2"] }]);
    assert.deepEqual(await at10(`1 < ${count}`), [{ metric: a, value: [sec(10), "2"] }]);
    assert.deepEqual(await at10(`${count} > bool 1`), [
      { metric: a, value: [sec(10), "1"] },
      { metric: b, value: [sec(10), "0"] },
    ]);
    // Loki guards division by zero: NaN, not Inf.
    assert.deepEqual(await at10(`${count} / 0`), [
      { metric: a, value: [sec(10), "NaN"] },
      { metric: b, value: [sec(10), "NaN"] },
    ]);
  });

  test("vector and vector match one-to-one on identical label sets", async () => {
    assert.deepEqual(await at10(`${count} / ${count}`), [
      { metric: a, value: [sec(10), "1"] },
      { metric: b, value: [sec(10), "1"] },
    ]);
    // Only {app="a"} exists on the right: {app="b"} has no match and drops out.
    assert.deepEqual(await at10(`${count} + count_over_time({app="a"}[10s])`), [
      { metric: a, value: [sec(10), "4"] },
    ]);
    // Different label sets never match (sum has none): empty.
    assert.deepEqual(await at10(`${count} + sum(${count})`), []);
    assert.deepEqual(await at10(`sum(${count}) + vector(1)`), [{ metric: {}, value: [sec(10), "4"] }]);
  });

  test("Grafana's health check vector(1)+vector(1): a vector for query, a matrix for query_range", async () => {
    // Loki: a binop of two VectorExprs runs through the step evaluator → Vector (instant) / Matrix (range).
    const one = await instant("vector(1)+vector(1)", [], at(10));
    assert.deepEqual(one.result, [{ metric: {}, value: [sec(10), "2"] }]);
    assert.equal(one.resultType, "vector");
    const many = await range("vector(1)+vector(1)", [], {
      startNs: at(0),
      endNs: at(20),
      stepNs: 10n * second,
    });
    assert.equal(many.resultType, "matrix");
    assert.deepEqual(many.result, [
      {
        metric: {},
        values: [
          [sec(0), "2"],
          [sec(10), "2"],
          [sec(20), "2"],
        ],
      },
    ]);
  });

  test("scalars: folded; a scalar for query, a label-less series for query_range", async () => {
    // Loki reduces literal ∘ literal at parse time and evalLiteral answers a Scalar or PopulateMatrixFromScalar.
    const one = await instant("1 + 2 * 3", [], at(10));
    assert.deepEqual(one, { ...one, resultType: "scalar", result: [sec(10), "7"] });
    assert.deepEqual((await instant("2 > 1", [], at(10))).result, [sec(10), "1"]);
    const many = await range("2 ^ 0.5", [], { startNs: at(0), endNs: at(10), stepNs: 10n * second });
    assert.deepEqual(many.result, [
      {
        metric: {},
        values: [
          [sec(0), "1.4142135623730951"],
          [sec(10), "1.4142135623730951"],
        ],
      },
    ]);
  });
});

describe("budgets and parameters", () => {
  const lines = [entry(at(1), a, "x"), entry(at(2), b, "x"), entry(at(3), { app: "c" }, "x")];
  const count = 'count_over_time({app=~"a|b|c"}[10s])';

  test("series: more than seriesMax in the answer fails with Loki's words; aggregating first does not", async () => {
    const budget = { ...defaultQueryBudget, seriesMax: 2 };
    await rejectsWith(
      range(count, lines, { budget }),
      queryExecutionErrorCodes.budget,
      /^maximum number of series \(2\) reached for a single query; consider reducing query cardinality/,
    );
    assert.equal(result(await range(`sum(${count})`, lines, { budget })).length, 1);
  });

  test("points: accumulators beyond pointsMax fail the query", async () => {
    // 3 series × 7 steps = 21 points.
    const budget = { ...defaultQueryBudget, pointsMax: 20 };
    await rejectsWith(range(count, lines, { budget }), queryExecutionErrorCodes.budget, /too many samples/);
    assert.equal(result(await range(count, lines, { budget: { ...budget, pointsMax: 21 } })).length, 3);
  });

  test("bytes: a log query keeping more than bytesMax fails", async () => {
    const big = [entry(at(1), a, "x".repeat(1000)), entry(at(2), a, "y".repeat(1000))];
    const budget = { ...defaultQueryBudget, bytesMax: 1500 };
    await rejectsWith(
      range('{app="a"}', big, { budget }),
      queryExecutionErrorCodes.budget,
      /memory budget of 1500 bytes/,
    );
    // limit 1 keeps one line at a time: within the budget.
    assert.equal(result(await range('{app="a"}', big, { budget, limit: 1 })).length, 1);
  });

  test("an aborted signal fails with QUERY_TIMEOUT, before or during the scan", async () => {
    const before = new AbortController();
    before.abort(new DOMException("time budget", "TimeoutError"));
    await rejectsWith(
      range('{app="a"}', lines, { signal: before.signal }),
      queryExecutionErrorCodes.timeout,
      "query timed out: its time budget ran out",
    );
    const during = new AbortController();
    const source = new ArraySource(lines, {
      afterEach: (index) => index === 0 && during.abort(new Error("client gone")),
    });
    await rejectsWith(
      evaluateRange(parseQuery(count), source, params({ signal: during.signal })),
      queryExecutionErrorCodes.timeout,
      "query aborted before its answer: client gone",
    );
  });

  test("query_range parameters: Loki's step checks", () => {
    assert.doesNotThrow(() => checkRangeParams(0n, 11_000n * second, second));
    assert.throws(
      () => checkRangeParams(0n, 11_001n * second, second),
      /^QueryExecutionError: exceeded maximum resolution of 11,000 points per time series/,
    );
    assert.throws(() => checkRangeParams(0n, second, 0n), /zero or negative query resolution step/);
    assert.throws(() => checkRangeParams(second, 0n, second), /end timestamp must not be before/);
  });
});

test("sample values print like Go's FormatFloat(v, 'f', -1, 64)", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "-0"],
    [1, "1"],
    [0.1 + 0.2, "0.30000000000000004"],
    [1e21, "1000000000000000000000"],
    [1.5e22, "15000000000000000000000"],
    [1e-7, "0.0000001"],
    [-1.25e-8, "-0.0000000125"],
    [123456.789, "123456.789"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "+Inf"],
    [Number.NEGATIVE_INFINITY, "-Inf"],
  ];
  for (const [value, text] of cases) assert.equal(formatSampleValue(value), text, String(value));
});

// ---- property: the heap and the difference arrays against a naive full sort ----------------------

const streams = [{ app: "a" }, { app: "b", level: "x" }, { app: "c" }];
const arbitraryEntries = fc.array(
  fc.record({
    offsetMs: fc.integer({ min: -5_000, max: 65_000 }),
    stream: fc.integer({ min: 0, max: streams.length - 1 }),
    word: fc.constantFrom("alpha", "beta", "gamma"),
  }),
  { maxLength: 80 },
);

const toEntries = (raw: { offsetMs: number; stream: number; word: string }[]) =>
  raw.map((one) =>
    entry(at(0) + BigInt(one.offsetMs) * 1_000_000n, streams[one.stream] as Record<string, string>, one.word),
  );

test("property: log queries equal a naive filter, full sort, limit and group", async () => {
  await fc.assert(
    fc.asyncProperty(
      arbitraryEntries,
      fc.integer({ min: 0, max: 30 }),
      fc.constantFrom("forward", "backward"),
      fc.constantFrom("", ' |= "a"', ' != "beta"'),
      fc.integer({ min: 1, max: 1000 }),
      async (raw, limit, direction, filter, seed) => {
        const entries = toEntries(raw);
        const query = `{app=~"a|b"}${filter}`;
        const source = new ArraySource(entries, { seed, loose: true });
        const data = await evaluateRange(parseQuery(query), source, params({ limit, direction }));
        const key = (e: LogEntry) => `{${e.labels.map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(", ")}}`;
        const passes = (e: LogEntry) =>
          (filter === ' |= "a"'
            ? e.line.includes("a")
            : filter === ' != "beta"'
              ? !e.line.includes("beta")
              : true) && e.labels.some(([n, v]) => n === "app" && (v === "a" || v === "b"));
        const order = (x: LogEntry, y: LogEntry) =>
          x.timestampNs !== y.timestampNs
            ? x.timestampNs < y.timestampNs
              ? -1
              : 1
            : key(x) < key(y)
              ? -1
              : key(x) > key(y)
                ? 1
                : x.line < y.line
                  ? -1
                  : x.line > y.line
                    ? 1
                    : 0;
        const all = entries
          .filter((e) => e.timestampNs >= at(0) && e.timestampNs < at(60) && passes(e))
          .sort(order);
        if (direction === "backward") all.reverse();
        const kept = all.slice(0, limit);
        const groups = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
        for (const e of kept) {
          const group = groups.get(key(e)) ?? { stream: Object.fromEntries(e.labels), values: [] };
          group.values.push([e.timestampNs.toString(), e.line]);
          groups.set(key(e), group);
        }
        const expected = [...groups.entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([, group]) => group);
        assert.deepEqual(data.result, expected);
      },
    ),
    { numRuns: 300 },
  );
});

test("property: count_over_time equals counting each step's window by scanning", async () => {
  await fc.assert(
    fc.asyncProperty(
      arbitraryEntries,
      fc.integer({ min: 1, max: 30 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: -10, max: 10 }),
      async (raw, stepS, rangeS, offsetS) => {
        const entries = toEntries(raw);
        // Negative offsets look forward, as Loki allows.
        const offset = offsetS === 0 ? "" : ` offset ${offsetS}s`;
        const offsetNs = BigInt(offsetS) * second;
        const query = `sum by (app) (count_over_time({app=~".+"}[${rangeS}s]${offset}))`;
        const data = await range(query, entries, { stepNs: BigInt(stepS) * second });
        const expected: { metric: Record<string, string>; values: [number, string][] }[] = [];
        for (const app of ["a", "b", "c"]) {
          const values: [number, string][] = [];
          for (let t = at(0); t <= at(60); t += BigInt(stepS) * second) {
            const high = t - offsetNs;
            const low = high - BigInt(rangeS) * second;
            const n = entries.filter(
              (e) =>
                e.labels.some(([k, v]) => k === "app" && v === app) &&
                e.timestampNs > low &&
                e.timestampNs <= high,
            ).length;
            if (n > 0) values.push([Number(t / 1_000_000n) / 1000, String(n)]);
          }
          if (values.length > 0) expected.push({ metric: { app }, values });
        }
        assert.deepEqual(data.result, expected);
      },
    ),
    { numRuns: 300 },
  );
});
