// RE2 semantics of the regex wrapper: what RE2 rejects is rejected, and where V8's RegExp would
// answer differently from Go's regexp the wrapper answers as Go does. Every match case is also
// checked against re2-wasm itself, whichever engine the wrapper picked.

import assert from "node:assert/strict";
import { test } from "node:test";
import { RE2 } from "re2-wasm";
import { compileRegex, RegexSyntaxError, regexAnchorings } from "./index.ts";

const { fullValue, substring } = regexAnchorings;

function re2Says(pattern: string, anchoring: "fullValue" | "substring", text: string): boolean {
  const re2 = new RE2(anchoring === fullValue ? `^(?s:${pattern})$` : pattern, "u");
  try {
    return re2.test(text);
  } finally {
    (re2 as unknown as { wrapper: { delete(): void } }).wrapper.delete();
  }
}

// [pattern, anchoring, text, matches, engine the wrapper should pick]
const cases: readonly (readonly [string, "fullValue" | "substring", string, boolean, "js" | "re2-wasm"])[] = [
  // Anchoring: label matchers match the whole value, line filters any substring.
  ["api", fullValue, "api", true, "js"],
  ["api", fullValue, "api-1", false, "js"],
  ["api", substring, "my api-1", true, "js"],
  ["a|b", fullValue, "ab", false, "js"],
  ["err|warn", substring, "level=warn", true, "js"],
  ["^level", substring, "x level", false, "js"],
  // `.`: Go excludes only \n; JS also excludes \r, U+2028, U+2029. Label matchers are (?s).
  ["a.b", substring, "a\rb", true, "js"],
  ["a.b", substring, "a\u2028b", true, "js"],
  ["a.b", substring, "a\nb", false, "js"],
  ["a.b", fullValue, "a\nb", true, "js"],
  ["(?s)a.b", substring, "a\nb", true, "js"],
  // `\s` is [\t\n\f\r ] in Go; JS adds \v and Unicode spaces.
  ["a\\sb", substring, "a\u00a0b", false, "js"],
  ["a\\sb", substring, "a\u2003b", false, "js"],
  ["a\\sb", substring, "a\tb", true, "js"],
  ["a[\\s]b", substring, "a\u00a0b", false, "js"],
  ["a\\Sb", substring, "a\u00a0b", true, "js"],
  // `\d` and `\w` are ASCII in both.
  ["^\\d+$", substring, "١٢٣", false, "js"],
  ["^\\w+$", substring, "héllo", false, "js"],
  // (?i): Unicode simple case folding in both (K is the Kelvin sign, ſ the long s).
  ["(?i)error", substring, "ERROR: x", true, "js"],
  ["(?i)k", fullValue, "\u212a", true, "js"],
  ["(?i)s", fullValue, "ſ", true, "js"],
  ["(?i:a)b", fullValue, "Ab", true, "js"],
  ["(?i:a)b", fullValue, "AB", false, "js"],
  // \b under (?i): JS folds ſ and K into \w there, Go does not.
  ["(?i)\\bk", substring, "\u212a", false, "re2-wasm"],
  ["\\bfoo\\b", substring, "a foo b", true, "js"],
  // Go reads a `{` that opens no repeat as a literal; JS /u rejects it.
  ["a{", substring, "a{", true, "js"],
  ["a{,2}", substring, "a{,2}", true, "js"],
  ["a{2}", fullValue, "aa", true, "js"],
  // Go lets any punctuation be escaped; JS /u only its syntax characters.
  ["a\\-b\\:c\\#", fullValue, "a-b:c#", true, "js"],
  ["[]a]", fullValue, "]", true, "js"],
  ["[^]a]", fullValue, "b", true, "js"],
  ["[[:alpha:]]+", fullValue, "abcXYZ", true, "js"],
  ["[[:^alpha:]]", fullValue, "1", true, "re2-wasm"],
  ["\\pL+", fullValue, "héllo", true, "re2-wasm"],
  ["\\x41", fullValue, "A", true, "re2-wasm"],
  ["\\Qa.b\\E", fullValue, "a.b", true, "re2-wasm"],
  ["(?P<name>x)y", fullValue, "xy", true, "js"],
  ["(?<name>x)y", fullValue, "xy", true, "js"],
  ["\\Aab\\z", substring, "ab", true, "js"],
  ["(?m)^b", substring, "a\nb", true, "re2-wasm"],
  ["(?U)a+", fullValue, "aa", true, "re2-wasm"],
  // Backtracking safety: repeated groups with repetition or alternation stay on RE2.
  ["(a+)+b", substring, `${"a".repeat(40)}c`, false, "re2-wasm"],
  ["(a|aa)*c", substring, `${"a".repeat(40)}`, false, "re2-wasm"],
  ["(ab)+", fullValue, "abab", true, "js"],
  [".*error.*", substring, "an error here", true, "js"],
  ["a.*b.*c", substring, "abc", true, "re2-wasm"],
  ["a.*b.*c", fullValue, "abc", true, "js"],
  ["", substring, "anything", true, "js"],
  ["", fullValue, "", true, "js"],
  [".*", fullValue, "", true, "js"],
  [".+", fullValue, "", false, "js"],
  ["😀+", fullValue, "😀😀", true, "js"],
  ["[😀-😂]", fullValue, "😁", true, "js"],
];

test("matches as Go's RE2 does, on the expected engine", () => {
  for (const [pattern, anchoring, text, matches, engine] of cases) {
    const label = `${pattern} (${anchoring}) on ${JSON.stringify(text)}`;
    assert.equal(re2Says(pattern, anchoring, text), matches, `re2-wasm itself: ${label}`);
    const regex = compileRegex(pattern, anchoring);
    try {
      assert.equal(regex.engine, engine, `engine: ${label}`);
      assert.equal(regex.test(text), matches, label);
      assert.equal(regex.test(text), matches, `again: ${label}`); // no lastIndex state
    } finally {
      regex.close();
    }
  }
});

// [pattern, Go-worded message]
const rejected: readonly (readonly [string, string])[] = [
  ["a(?=b)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"],
  ["a(?!b)", "error parsing regexp: invalid or unsupported Perl syntax: `(?!`"],
  ["(?<=a)b", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"],
  ["(a)\\1", "error parsing regexp: invalid escape sequence: `\\1`"],
  ["a\\Z", "error parsing regexp: invalid escape sequence: `\\Z`"],
  ["a++", "error parsing regexp: invalid nested repetition operator: `++`"],
  ["a*+", "error parsing regexp: invalid nested repetition operator: `*+`"],
  ["(", "error parsing regexp: missing closing ): `(`"],
  ["a)", "error parsing regexp: unexpected ): `a)`"],
  ["[a", "error parsing regexp: missing closing ]: `[a`"],
  ["[z-a]", "error parsing regexp: invalid character class range: `z-a`"],
  ["*a", "error parsing regexp: missing argument to repetition operator: `*`"],
  ["a{1001}", "error parsing regexp: invalid repeat count: `{1001}`"],
  ["\\u0041", "error parsing regexp: invalid escape sequence: `\\u`"],
  ["\\cA", "error parsing regexp: invalid escape sequence: `\\c`"],
  ["\\C", "error parsing regexp: invalid escape sequence: `\\C`"],
];

test("rejects what RE2 rejects, in Go's words", () => {
  for (const [pattern, message] of rejected) {
    for (const anchoring of [fullValue, substring] as const) {
      assert.throws(
        () => compileRegex(pattern, anchoring),
        (error: unknown) => {
          assert.ok(error instanceof RegexSyntaxError, `${pattern}: ${error}`);
          assert.equal(error.message, message, pattern);
          assert.equal(error.pattern, pattern);
          return true;
        },
      );
    }
  }
});

test("closing an re2-wasm regex frees its memory: 60,000 compile/close cycles (without close() fewer abort the process) stay within the 16 MiB heap", () => {
  for (let index = 0; index < 60_000; index++) {
    const regex = compileRegex(`(x|y)+${index}`, substring);
    assert.equal(regex.engine, "re2-wasm");
    regex.close();
    regex.close(); // idempotent
  }
});

test("many optional atoms never run on V8 (2^k backtracking): `a?`×100 `a`×100 answers at once", () => {
  // On V8 this pattern against 50 a's backtracks 2^100 ways (it hung for minutes before the bound).
  const regex = compileRegex(`${"a?".repeat(100)}${"a".repeat(100)}`, regexAnchorings.substring);
  try {
    assert.equal(regex.engine, "re2-wasm");
    assert.equal(regex.test("a".repeat(50)), false);
    assert.equal(regex.test("a".repeat(150)), true);
  } finally {
    regex.close();
  }
  // A few optional atoms still translate.
  assert.equal(compileRegex("ab?c?d?", regexAnchorings.substring).engine, "js");
});

test("re2-wasm objects open at once are bounded: past the bound a compile is refused, closing frees a place", () => {
  const held = [];
  try {
    for (;;) {
      try {
        held.push(compileRegex("(?:x+)+y", regexAnchorings.substring));
      } catch (error) {
        assert.ok(error instanceof RegexSyntaxError);
        assert.match(error.message, /too many regular expressions in use at once \(128/);
        break;
      }
      assert.ok(held.length <= 128, "the bound holds");
      assert.equal(held.at(-1)!.engine, "re2-wasm");
    }
    assert.equal(held.length, 128);
    held.pop()!.close();
    held.push(compileRegex("(?:x+)+y", regexAnchorings.substring));
  } finally {
    for (const regex of held) regex.close();
  }
});
