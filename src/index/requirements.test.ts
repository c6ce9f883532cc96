// From line filters to requirements: which stages prune (positive literal filters, plain-literal
// regexes, or-chains whose every alternative has keys) and which never do.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { LineFilterStage } from "../query/ast.ts";
import { mayMatch, regexLiterals, requirementsOf } from "./requirements.ts";
import { addLineKeys, type GramShape } from "./tokens.ts";

const shape: GramShape = { gramLength: 4, windowGrams: 4, longGramLength: 8 };
const stage = (op: LineFilterStage["op"], ...values: string[]): LineFilterStage => ({
  kind: "lineFilter",
  op,
  values,
});

test("regexLiterals: plain literals, escapes, (?i), alternations; anything else is not a literal", () => {
  const table: [pattern: string, expected: ReturnType<typeof regexLiterals>][] = [
    ["ord-88127361", { literals: ["ord-88127361"], caseInsensitive: false }],
    ["10\\.0\\.3\\.7", { literals: ["10.0.3.7"], caseInsensitive: false }],
    ["(?i)Timeout", { literals: ["Timeout"], caseInsensitive: true }],
    ["(?s)abc", { literals: ["abc"], caseInsensitive: false }],
    ["timeout|deadline exceeded", { literals: ["timeout", "deadline exceeded"], caseInsensitive: false }],
    ["10.0.3.7", null], // `.` is any character
    ["time.*out", null],
    ["\\d+ms", null],
    ["(timeout)", null],
    ["[a]bc", null],
    ["^abc", null],
    ["abc\\", null],
    ["a(?i)bc", null],
  ];
  for (const [pattern, expected] of table) assert.deepEqual(regexLiterals(pattern), expected, pattern);
});

test("requirementsOf: which stages prune", () => {
  const table: [filters: LineFilterStage[], stages: number][] = [
    [[stage("|=", "ord-88127361")], 1],
    [[stage("!=", "ord-88127361")], 0], // negative filters never prune
    [[stage("!~", "ord-88127361")], 0],
    [[stage("|=", "ord-88127361", "10.0.3.7")], 1], // or: both alternatives have keys
    [[stage("|=", "ord-88127361", "abc")], 0], // or: one alternative requires nothing
    [[stage("|=", "ord-88127361", "")], 0],
    [[stage("|~", "(?i)ORD-88127361")], 1],
    [[stage("|~", "ord-8812.*")], 0],
    [[stage("|~", "ord-88127361|abc")], 0],
    [[stage("|=", "ord-88127361"), stage("|=", "timeout"), stage("!=", "debug")], 2],
    [[stage("|=", "abc")], 0], // shorter than a window
  ];
  for (const [filters, stages] of table)
    assert.equal(requirementsOf(filters, shape).length, stages, JSON.stringify(filters));
});

test("mayMatch: every stage must be met, by any of its alternatives", () => {
  const keys = new Set<number>();
  addLineKeys("payment for ord-88127361 failed: timeout", shape, keys);
  const has = (key: number) => keys.has(key);
  const check = (filters: LineFilterStage[]) => mayMatch(requirementsOf(filters, shape), has);
  assert.equal(check([stage("|=", "ord-88127361")]), true);
  assert.equal(check([stage("|=", "ord-99999999")]), false);
  assert.equal(check([stage("|=", "ord-99999999", "ord-88127361")]), true);
  assert.equal(check([stage("|=", "ord-88127361"), stage("|=", "ord-99999999")]), false);
  assert.equal(check([stage("|~", "(?i)PAYMENT FOR")]), true);
  assert.equal(
    check([stage("|=", "PAYMENT FOR")]),
    true,
    "case-sensitive literals are checked folded: a superset",
  );
  assert.equal(check([stage("!=", "ord-88127361")]), true);
});
