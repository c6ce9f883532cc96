import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseJsonBody } from "./json-body.ts";
import { hasEscapedKey, parseJsonStrict } from "./json-strict.ts";
import { parseServiceLogs } from "./service-logs.ts";

test("a key written with an escape keeps its text after another body poisoned V8's key lookup", () => {
  // nodejs/node#63785: after `{"k":…,"\\":…}`, JSON.parse on Node 24 reads the key "\n" of an
  // object with the same earlier keys back as "\". The bodies go through parseJsonBody, as requests do.
  const poison = Buffer.from('[{"timestamp":1,"service":"a","message":"m","labels":{"k":"","\\\\":""}}]');
  const victim = Buffer.from('[{"timestamp":1,"service":"a","message":"m","labels":{"k":"","\\n":""}}]');
  const limits = { entriesMax: 10, labelsMax: 10, lineBytesMax: 100 };
  assert.deepEqual(Object.keys(parseServiceLogs(poison, limits)[0].labels!), ["k", "\\"]);
  assert.deepEqual(Object.keys(parseServiceLogs(victim, limits)[0].labels!), ["k", "\n"]);
  for (const escaped of ['\\"', "\\t", "\\r", "\\f", "\\b", "\\u0001", "\\/"]) {
    const body = Buffer.from(`{"k":1,"${escaped}":2}`);
    assert.deepEqual(
      Object.keys((parseJsonBody(body) as { value: object }).value),
      ["k", JSON.parse(`"${escaped}"`)],
      escaped,
    );
  }
});

test("the strict parser reads back what JSON.stringify wrote, compact or indented", () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.boolean(), (value, indented) => {
      const compact = JSON.stringify(value);
      const text = indented ? JSON.stringify(value, null, 2) : compact;
      assert.equal(JSON.stringify(parseJsonStrict(text)), compact);
    }),
    { numRuns: 2000 },
  );
  // Keys JSON.parse treats specially: "__proto__" is an own property, integer-like keys come first.
  const parsed = parseJsonStrict('{"b":1,"__proto__":{"x":1},"2":3,"1":4}') as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
  assert.deepEqual(Object.keys(parsed), ["1", "2", "b", "__proto__"]);
  assert.deepEqual(Object.getOwnPropertyDescriptor(parsed, "__proto__")?.value, { x: 1 });
  assert.equal(parseJsonStrict('"\\ud83d\\ude00 \\u00e9"'), "😀 é");
  assert.equal(parseJsonStrict("-0.5e+2"), -50);
});

test("the strict parser refuses what JSON.parse refuses", () => {
  for (const text of [
    "",
    "{",
    '{"a"}',
    '{"a":1,}',
    "[1,]",
    "01",
    "1.",
    "+1",
    '"\\x"',
    '"a\nb"',
    "tru",
    "[1]x",
    "'a'",
  ]) {
    assert.throws(() => JSON.parse(text), SyntaxError, `JSON.parse accepted ${text}`);
    assert.throws(() => parseJsonStrict(text), SyntaxError, text);
  }
});

test("only keys with escapes send a body to the strict parser", () => {
  const cases: Array<[string, boolean]> = [
    ['{"a":"b"}', false],
    ['{"a":"b\\n"}', false],
    ['["\\\\", ":"]', false],
    ['{"a\\n":1}', true],
    ['{"a\\\\" \n : 1}', true],
    ['[{"m":"x\\"y","k":{"\\"":1}}]', true],
    ['{"m":"\\\\"}', false],
  ];
  for (const [text, expected] of cases) assert.equal(hasEscapedKey(Buffer.from(text)), expected, text);
});

test("invalid bodies keep JSON.parse's error text, keys with escapes or not", () => {
  const body = Buffer.from('{"a\\n":1,}');
  const parsed = parseJsonBody(body);
  assert.ok("problem" in parsed && parsed.problem === "syntax");
  let expected = "";
  try {
    JSON.parse(body.toString());
  } catch (error) {
    expected = (error as Error).message;
  }
  assert.equal(parsed.detail, expected);
});

test("deep nesting under an escaped key parses as JSON.parse parses it, without the call stack", () => {
  const depth = 200_000; // far deeper than a recursive parser's stack allows
  const body = Buffer.from(`{"a\\n":${"[".repeat(depth)}${"]".repeat(depth)},"b":1}`);
  const parsed = parseJsonBody(body);
  assert.ok("value" in parsed, "JSON.parse takes this depth, so the strict parse must too");
  const value = parsed.value as Record<string, unknown>;
  assert.deepEqual(Object.keys(value), ["a\n", "b"]);
  let level = 0;
  for (let inner = value["a\n"]; Array.isArray(inner) && inner.length > 0; inner = inner[0]) level++;
  assert.equal(level, depth - 1);
});
