// The AST's shape where the canonical form alone would not show it (precedence, `or` chains, the
// comma of label filters), the limits, and a property test: parseQuery(formatQuery(q)) equals q for
// generated trees.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { LabelFilter, LabelMatcher, MetricExpr, PipelineStage, Query } from "./index.ts";
import { formatQuery, parseQuery, QueryLimitError, QueryUnsupportedError, queryLimits } from "./index.ts";

const n = (value: number) => ({ kind: "number", value }) as const;
const bin = (op: string, left: unknown, right: unknown) => ({
  kind: "binary",
  op,
  returnBool: false,
  left,
  right,
});

test("binary operators follow Loki's precedence, not the lezer grammar's", () => {
  assert.deepEqual(parseQuery("1 + 2 * 3"), bin("+", n(1), bin("*", n(2), n(3))));
  assert.deepEqual(parseQuery("1 * 2 + 3"), bin("+", bin("*", n(1), n(2)), n(3)));
  assert.deepEqual(parseQuery("1 - 2 - 3"), bin("-", bin("-", n(1), n(2)), n(3)));
  assert.deepEqual(parseQuery("2 ^ 3 ^ 2"), bin("^", n(2), bin("^", n(3), n(2))));
  assert.deepEqual(parseQuery("1 + 2 > 2 * 1"), bin(">", bin("+", n(1), n(2)), bin("*", n(2), n(1))));
  assert.deepEqual(parseQuery("(1 + 2) * 3"), bin("*", bin("+", n(1), n(2)), n(3)));
});

test("Grafana's health check is a sum of two vector literals", () => {
  assert.deepEqual(
    parseQuery("vector(1)+vector(1)"),
    bin("+", { kind: "vector", value: 1 }, { kind: "vector", value: 1 }),
  );
});

const stringFilter = (name: string, value: string) => ({ kind: "string", matcher: { name, op: "=", value } });
const labelFilterOf = (query: string) => {
  const parsed = parseQuery(query);
  assert.equal(parsed.kind, "log");
  const stage = parsed.pipeline[0]!;
  assert.equal(stage.kind, "labelFilter");
  return stage.filter;
};

test("label filters: and binds tighter than or; a comma makes yacc shift, as in Loki", () => {
  const [a, b, c] = [stringFilter("a", "1"), stringFilter("b", "2"), stringFilter("c", "3")];
  assert.deepEqual(labelFilterOf('{x="y"} | a="1" and b="2" or c="3"'), {
    kind: "or",
    left: { kind: "and", left: a, right: b },
    right: c,
  });
  assert.deepEqual(labelFilterOf('{x="y"} | a="1" or b="2" and c="3"'), {
    kind: "or",
    left: a,
    right: { kind: "and", left: b, right: c },
  });
  assert.deepEqual(labelFilterOf('{x="y"} | a="1", b="2" or c="3"'), {
    kind: "and",
    left: a,
    right: { kind: "or", left: b, right: c },
  });
  assert.deepEqual(labelFilterOf('{x="y"} | a="1" or b="2", c="3"'), {
    kind: "or",
    left: a,
    right: { kind: "and", left: b, right: c },
  });
});

test("line filter or-chains keep their values and operator; pipeline stages keep their order", () => {
  const parsed = parseQuery('{x="y"} != "a" or "b" |= "c" | json | logfmt');
  assert.equal(parsed.kind, "log");
  assert.deepEqual(
    parsed.pipeline.map((stage) => stage.kind),
    ["lineFilter", "lineFilter", "parser", "parser"],
  );
  assert.deepEqual(parsed.pipeline[0], { kind: "lineFilter", op: "!=", values: ["a", "b"] });
});

test("range aggregations carry range and offset in nanoseconds", () => {
  const parsed = parseQuery('rate({x="y"}[5m] offset 1h)');
  assert.equal(parsed.kind, "rangeAggregation");
  assert.equal(parsed.rangeNs, 5 * 60e9);
  assert.equal(parsed.offsetNs, 3600e9);
});

test("limits: query length, nesting depth, matchers, stages", () => {
  const tooLong = `{x="${"a".repeat(queryLimits.queryLengthMax)}"}`;
  assert.throws(() => parseQuery(tooLong), QueryLimitError);
  const deep = `${"(".repeat(queryLimits.nestingDepthMax + 1)}1${")".repeat(queryLimits.nestingDepthMax + 1)}`;
  assert.throws(() => parseQuery(deep), QueryLimitError);
  const matchers = Array.from(
    { length: queryLimits.matchersPerSelectorMax + 1 },
    (_, index) => `l${index}="v"`,
  );
  assert.throws(() => parseQuery(`{${matchers.join(",")}}`), QueryLimitError);
  const stages = '|= "x" '.repeat(queryLimits.pipelineStagesMax + 1);
  assert.throws(() => parseQuery(`{x="y"} ${stages}`), QueryLimitError);
  // A long chain of binary operators is bounded too (each level is a recursion of later passes).
  assert.throws(() => parseQuery(Array.from({ length: 200 }, () => "1").join(" + ")), QueryLimitError);
});

test("an unsupported construct names itself", () => {
  assert.throws(
    () => parseQuery('{x="y"} | pattern "<_> <status>"'),
    (error: unknown) => error instanceof QueryUnsupportedError && error.construct === "pattern parser",
  );
});

// ---- property: parse(format(ast)) equals ast ----------------------------------------------------

const labelName = fc.stringMatching(/^[a-z_][a-z0-9_]{0,6}$/).filter((name) => !reserved.has(name));
const reserved = new Set([
  "by",
  "without",
  "and",
  "or",
  "unless",
  "bool",
  "on",
  "ignoring",
  "offset",
  "ip",
  "unwrap",
]);
const text = fc.string({
  maxLength: 8,
  unit: fc.constantFrom("a", "b", " ", '"', "\\", "\n", "é", "😀", "{", "`"),
});
const literalValue = fc.stringMatching(/^[a-z0-9]{0,6}$/);
const regexValue = fc.constantFrom("a.+", "x|y", "[0-9]+", "(?i)err", ".*", "a\\.b");
const selectorMatcher: fc.Arbitrary<LabelMatcher> = fc.oneof(
  fc.record({ name: labelName, op: fc.constantFrom("=", "!=" as const), value: text }),
  fc.record({ name: labelName, op: fc.constantFrom("=~", "!~" as const), value: regexValue }),
) as fc.Arbitrary<LabelMatcher>;
const narrowing: fc.Arbitrary<LabelMatcher> = fc.record({
  name: labelName,
  op: fc.constant("=" as const),
  value: literalValue.filter((value) => value !== ""),
});
const compareOp = fc.constantFrom("==", "!=", ">", ">=", "<", "<=" as const);
const labelFilter: fc.Arbitrary<LabelFilter> = fc.letrec<{ filter: LabelFilter }>((tie) => ({
  filter: fc.oneof(
    { depthSize: "small" },
    fc.record({ kind: fc.constant("string" as const), matcher: selectorMatcher }),
    fc.record({
      kind: fc.constant("number" as const),
      name: labelName,
      op: compareOp,
      value: fc.integer({ min: -1000, max: 1000 }),
    }),
    fc.record({
      kind: fc.constant("duration" as const),
      name: labelName,
      op: compareOp,
      valueNs: fc.integer({ min: 1, max: 10_000 }).map((ms) => ms * 1e6),
    }),
    fc.record({
      kind: fc.constant("bytes" as const),
      name: labelName,
      op: compareOp,
      valueBytes: fc.integer({ min: 0, max: 1e9 }),
    }),
    fc.record({ kind: fc.constantFrom("and", "or" as const), left: tie("filter"), right: tie("filter") }),
  ),
})).filter;
const stage: fc.Arbitrary<PipelineStage> = fc.oneof(
  fc.record({
    kind: fc.constant("lineFilter" as const),
    op: fc.constantFrom("|=", "!=" as const),
    values: fc.array(text, { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant("lineFilter" as const),
    op: fc.constantFrom("|~", "!~" as const),
    values: fc.array(regexValue, { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant("parser" as const),
    parser: fc.constant("json" as const),
    extractions: fc.array(
      fc.record({ label: labelName, expression: fc.option(literalValue, { nil: null }) }),
      { maxLength: 3 },
    ),
    flags: fc.constant([]),
  }),
  fc.record({
    kind: fc.constant("parser" as const),
    parser: fc.constant("logfmt" as const),
    extractions: fc.array(
      fc.record({ label: labelName, expression: fc.option(literalValue, { nil: null }) }),
      { maxLength: 3 },
    ),
    flags: fc.array(fc.constantFrom("--strict", "--keep-empty" as const), { maxLength: 2 }),
  }),
  fc.record({ kind: fc.constant("labelFilter" as const), filter: labelFilter }),
  fc.record({
    kind: fc.constant("lineFormat" as const),
    template: fc.constantFrom("x", "{{.a}} {{ .b }}", "{{__line__}}", 'a"b'),
  }),
  fc.record({
    kind: fc.constantFrom("drop", "keep" as const),
    labels: fc.array(
      fc.oneof(
        labelName.map((name) => ({ name, matcher: null })),
        selectorMatcher.map((matcher) => ({ name: matcher.name, matcher })),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  }),
) as fc.Arbitrary<PipelineStage>;
const logQuery = fc.record({
  kind: fc.constant("log" as const),
  matchers: fc
    .tuple(narrowing, fc.array(selectorMatcher, { maxLength: 3 }))
    .map(([first, rest]) => [first, ...rest]),
  pipeline: fc.array(stage, { maxLength: 4 }).filter(hasNoDropAmbiguity),
});

// `| drop a != "x"` reads as the matcher a!="x" in Loki's grammar as in lezer's, so parseQuery never
// returns a bare drop/keep label followed by a `!=`/`!~` line filter; such trees are not generated.
function hasNoDropAmbiguity(pipeline: readonly PipelineStage[]): boolean {
  return pipeline.every((current, index) => {
    const next = pipeline[index + 1];
    if ((current.kind !== "drop" && current.kind !== "keep") || next?.kind !== "lineFilter") return true;
    return (
      current.labels[current.labels.length - 1]!.matcher !== null || (next.op !== "!=" && next.op !== "!~")
    );
  });
}
const durationNs = fc.integer({ min: 1, max: 100_000 }).map((ms) => ms * 1e6);
const metric: fc.Arbitrary<MetricExpr> = fc.letrec<{ metric: MetricExpr }>((tie) => ({
  metric: fc.oneof(
    { depthSize: "small" },
    fc.record({
      kind: fc.constant("rangeAggregation" as const),
      op: fc.constantFrom("count_over_time", "rate", "bytes_over_time", "bytes_rate" as const),
      log: logQuery,
      rangeNs: durationNs,
      offsetNs: fc.oneof(
        fc.constant(0),
        durationNs,
        durationNs.map((ns) => -ns),
      ),
    }),
    fc.record({
      kind: fc.constant("number" as const),
      value: fc
        .double({ noNaN: true, noDefaultInfinity: true })
        .map((value) => (Object.is(value, -0) ? 0 : value)),
    }),
    fc.record({
      kind: fc.constant("vector" as const),
      value: fc
        .double({ min: 0, noNaN: true, noDefaultInfinity: true })
        .map((value) => (Object.is(value, -0) ? 0 : value)),
    }),
    fc.record({
      kind: fc.constant("vectorAggregation" as const),
      op: fc.constantFrom("sum", "avg", "min", "max", "count" as const),
      grouping: fc.option(
        fc.record({
          mode: fc.constantFrom("by", "without" as const),
          labels: fc.array(labelName, { maxLength: 3 }),
        }),
        { nil: null },
      ),
      parameter: fc.constant(null),
      inner: tie("metric"),
    }),
    fc.record({
      kind: fc.constant("vectorAggregation" as const),
      op: fc.constantFrom("topk", "bottomk" as const),
      grouping: fc.option(
        fc.record({
          mode: fc.constantFrom("by", "without" as const),
          labels: fc.array(labelName, { maxLength: 3 }),
        }),
        { nil: null },
      ),
      parameter: fc.integer({ min: 1, max: 100 }),
      inner: tie("metric"),
    }),
    fc
      .record({
        kind: fc.constant("binary" as const),
        op: fc.constantFrom("+", "-", "*", "/", "%", "^", "==", "!=", ">", ">=", "<", "<=" as const),
        returnBool: fc.boolean(),
        left: tie("metric"),
        right: tie("metric"),
      })
      .map((expr) => ({
        ...expr,
        returnBool: expr.returnBool && ["==", "!=", ">", ">=", "<", "<="].includes(expr.op),
      })),
  ),
})).metric;

test("property: parseQuery(formatQuery(q)) equals q", () => {
  fc.assert(
    fc.property(fc.oneof(logQuery, metric) as fc.Arbitrary<Query>, (query) => {
      // fast-check builds records without a prototype; a structured clone gives them the usual one.
      assert.deepEqual(parseQuery(formatQuery(query)), structuredClone(query), formatQuery(query));
    }),
    { numRuns: 500 },
  );
});
