// Regular expressions with Go RE2 semantics, as Loki's matchers and line filters have them.
//
// Two engines, one meaning:
// - re2-wasm (Google's RE2 compiled to WebAssembly) is the authority on syntax: every pattern is
//   compiled by RE2 first, so exactly what RE2 rejects is rejected (lookarounds, backreferences,
//   `\Z`, possessive quantifiers, …), with Go's wording.
// - Matching runs on V8's RegExp when the pattern translates into a JS regex with provably the same
//   meaning and no risk of exponential backtracking (see translate below); measured on a 190-byte log
//   line that is 70–120 ns per test against 4–14 µs through re2-wasm (bench/query-regex.bench.ts). Every other
//   pattern is matched by re2-wasm itself, which is linear-time but slow, and whose compiled objects
//   live in a fixed 16 MiB WebAssembly heap that is never garbage-collected: such a regex must be
//   closed by its owner (close()), and the parser closes the ones it compiles only to validate.
//
// Anchoring follows Loki: label matchers (`=~`, `!~`, also in label filters and drop/keep) match the
// whole value as Prometheus compiles them, `^(?s:pattern)$`; line filters (`|~`, `!~`) match any
// substring of the line, `pattern` compiled as is.

import { RE2 } from "re2-wasm";

export const regexAnchorings = { fullValue: "fullValue", substring: "substring" } as const;
export type RegexAnchoring = (typeof regexAnchorings)[keyof typeof regexAnchorings];

export interface CompiledRegex {
  readonly pattern: string;
  readonly anchoring: RegexAnchoring;
  /** Which engine matches: "js" needs no cleanup; "re2-wasm" holds WebAssembly memory until close(). */
  readonly engine: "js" | "re2-wasm";
  test(text: string): boolean;
  /** Frees the engine's memory; test() must not be called afterwards. Idempotent. */
  close(): void;
}

/** A pattern RE2 (and so Loki) rejects. `message` is Go-worded: `error parsing regexp: …`. */
export class RegexSyntaxError extends Error {
  readonly code = "REGEX_SYNTAX";
  readonly pattern: string;
  constructor(pattern: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "RegexSyntaxError";
    this.pattern = pattern;
  }
}

/** Compiles once; throws RegexSyntaxError. The caller owns the result and must close() it. */
export function compileRegex(pattern: string, anchoring: RegexAnchoring): CompiledRegex {
  const source = anchoring === regexAnchorings.fullValue ? `^(?s:${pattern})$` : pattern;
  rejectWhatGoRejects(pattern);
  // RE2 reads the pattern as written first, so its errors quote what the user wrote.
  if (source !== pattern) releaseRe2(compileRe2(pattern, pattern));
  const re2 = compileRe2(pattern, source);
  const translated =
    anchoring === regexAnchorings.fullValue
      ? translate(pattern, true, unboundedRepetitionsMax.fullValue)
      : translate(trimDotStars(pattern), false, unboundedRepetitionsMax.substring);
  if (translated !== null) {
    releaseRe2(re2);
    const js = new RegExp(anchoring === regexAnchorings.fullValue ? `^(?:${translated})$` : translated, "u");
    return {
      pattern,
      anchoring,
      engine: "js",
      test: (text) => js.test(text),
      close: () => {},
    };
  }
  let open = true;
  return {
    pattern,
    anchoring,
    engine: "re2-wasm",
    test: (text) => re2.test(text),
    close: () => {
      if (open) releaseRe2(re2);
      open = false;
    },
  };
}

/** Checks a pattern as compileRegex would, holding no memory afterwards. */
export function validateRegex(pattern: string, anchoring: RegexAnchoring): void {
  compileRegex(pattern, anchoring).close();
}

/**
 * re2-wasm objects open at once, process-wide. They share one fixed 16 MiB WebAssembly heap, and a
 * single counted repetition (`[^x]{1000}\pL`) can take hundreds of KiB of it, so past this many a
 * new one is refused (the query fails with a clear 400) instead of letting the heap run out under
 * every other query. Most patterns run on V8 and never count here.
 */
const re2ObjectsOpenMax = 128;
let re2ObjectsOpen = 0;

function compileRe2(pattern: string, source: string): RE2 {
  if (re2ObjectsOpen >= re2ObjectsOpenMax)
    throw new RegexSyntaxError(
      pattern,
      `too many regular expressions in use at once (${re2ObjectsOpenMax} that V8 cannot run): simplify the regexes or retry later`,
    );
  try {
    const re2 = new RE2(source, "u");
    re2ObjectsOpen++;
    return re2;
  } catch (error) {
    const raw = error instanceof Error ? error.message : String(error);
    // re2-wasm words it `Invalid regular expression: /source/u: <RE2 message>`.
    const detail = raw.slice(raw.indexOf("/u: ") >= 0 ? raw.indexOf("/u: ") + 4 : 0);
    throw new RegexSyntaxError(pattern, `error parsing regexp: ${goWording(detail)}`, error);
  }
}

function releaseRe2(re2: RE2): void {
  // re2-wasm never frees its embind object by itself (no finalizer); its heap is a fixed 16 MiB,
  // so without this about 50,000 compiled patterns abort the process (measured).
  (re2 as unknown as { wrapper: { delete(): void } }).wrapper.delete();
  re2ObjectsOpen--;
}

// C++ RE2's messages as Go's regexp/syntax words them (Loki users see Go's).
const goMessages: readonly [RegExp, string][] = [
  [/^invalid perl operator: (.*)$/s, "invalid or unsupported Perl syntax: `$1`"],
  [/^invalid escape sequence: (.*)$/s, "invalid escape sequence: `$1`"],
  [/^bad repetition operator: (.*)$/s, "invalid nested repetition operator: `$1`"],
  [/^missing argument to repetition operator: (.*)$/s, "missing argument to repetition operator: `$1`"],
  [/^no argument for repetition operator: (.*)$/s, "missing argument to repetition operator: `$1`"],
  [/^bad repetition operator$/s, "invalid nested repetition operator"],
  [/^bad repetition count: (.*)$/s, "invalid repeat count: `$1`"],
  [/^invalid repetition size: (.*)$/s, "invalid repeat count: `$1`"],
  [/^missing \): (.*)$/s, "missing closing ): `$1`"],
  [/^missing \]: (.*)$/s, "missing closing ]: `$1`"],
  [/^unexpected \): (.*)$/s, "unexpected ): `$1`"],
  [/^bad character class range: (.*)$/s, "invalid character class range: `$1`"],
  [/^bad character class: (.*)$/s, "invalid character class: `$1`"],
  [/^invalid character class range: (.*)$/s, "invalid character class range: `$1`"],
  [/^invalid character class: (.*)$/s, "invalid character class: `$1`"],
  [/^invalid named capture group: (.*)$/s, "invalid named capture: `$1`"],
  [/^duplicate capture group name: (.*)$/s, "duplicate capture group name: `$1`"],
];

function goWording(message: string): string {
  for (const [pattern, wording] of goMessages) {
    if (pattern.test(message)) return message.replace(pattern, wording);
  }
  return message;
}

// re2-wasm rewrites a few JavaScript escapes into RE2 ones before compiling (`\u0041` → `\x{0041}`,
// `\cA` → `\x01`), and C++ RE2 accepts `\C` (any byte); Go's regexp rejects all three.
function rejectWhatGoRejects(pattern: string): void {
  let literal = false;
  for (let index = 0; index < pattern.length; index++) {
    if (pattern[index] !== "\\") continue;
    const next = pattern[index + 1] ?? "";
    index++;
    if (literal) {
      if (next === "E") literal = false;
      continue;
    }
    if (next === "Q") literal = true;
    else if (next === "u" || next === "c" || next === "C") {
      throw new RegexSyntaxError(pattern, `error parsing regexp: invalid escape sequence: \`\\${next}\``);
    }
  }
}

// ---- translation into an equivalent JavaScript RegExp (flag u) ------------------------------------
//
// Only what is certainly the same is translated; anything else returns null and re2-wasm matches.
// Differences handled: `.` excludes only \n in Go (JS also excludes \r, U+2028, U+2029) → `[^\n]`, or
// `[^]` under (?s); `\s` is [\t\n\f\r ] in Go (JS adds Unicode spaces); `^`/`$` are text anchors
// (JS without the m flag, which is never set; (?m) is not translated); Go takes `{` that does not
// open a valid repeat as a literal (JS /u rejects it); Go allows escaping any punctuation (JS /u only
// syntax characters); `[]a]` and `[^]a]` start with a literal `]` in Go; (?i) becomes a JS modifier
// group (Unicode simple case folding in both engines; `\b`/`\B`/`\W` under (?i) are not translated
// because JS folds ſ and K into \w there and Go does not). Not translated: \p classes (Unicode
// table versions differ), \Q…\E, octal and \x escapes, POSIX classes other than the ASCII ones below,
// flags other than i and s, flags after the start of a group, and — to keep V8's backtracking from
// going exponential — any repetition of a group that itself contains a repetition or an alternation,
// and patterns with more than two unbounded repetitions.

const jsSyntaxCharacters = new Set("^$\\.*+?()[]{}|/");
const posixClasses: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  digit: "0-9",
  lower: "a-z",
  upper: "A-Z",
  space: "\\t\\n\\v\\f\\r ",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
  punct: "!-\\/:-@\\[-`{-~",
};
// Unbounded repetitions (`*`, `+`, `{n,}`) a translated pattern may hold. With one, V8's worst case
// on a line of n characters is O(n²) (a repetition retried from each start position); label values are
// short, so full-value matchers may hold two. Loki-style `.*` at either end of a line filter is dropped
// first (it cannot change whether a substring matches), so `.*error.*` still runs on V8.
const unboundedRepetitionsMax = { fullValue: 2, substring: 1 } as const;
// Repetitions of any kind (`?` and `{n,m}` too) a translated pattern may hold: k optional atoms in a
// row give V8 up to 2^k ways to match from each position (`a?a?…a?aa…a` is the textbook case: 100
// of them hung a test for minutes). 2^8 attempts per position stays in microseconds on a log line.
const repetitionsMax = 8;

/** `.*x.*` finds a substring exactly when `x` does; the ends are dropped only when plainly `.*`. */
function trimDotStars(pattern: string): string {
  let trimmed = pattern;
  if (/^\.\*(?![*+?{])/.test(trimmed)) trimmed = trimmed.slice(2);
  const trailing = /(\\*)\.\*$/.exec(trimmed);
  if (trailing !== null && trailing[1]!.length % 2 === 0 && !trimmed.includes("["))
    trimmed = trimmed.slice(0, -2);
  return trimmed;
}

function translate(pattern: string, dotAllInitially: boolean, unboundedMax: number): string | null {
  let out = "";
  let index = 0;
  let dotAll = dotAllInitially;
  let caseInsensitive = false;
  let unboundedRepetitions = 0;
  let repetitions = 0;
  // Per open group: whether it contains a repetition or `|` (to refuse repeating it), and the flags
  // to restore at its end.
  const groups: { risky: boolean; dotAll: boolean; caseInsensitive: boolean; closeExtra: string }[] = [];
  let top = { risky: false, dotAll, caseInsensitive, closeExtra: "" };
  let lastAtomWasGroup: { risky: boolean } | null = null;
  let atGroupStart = true;

  const literal = (char: string) => (jsSyntaxCharacters.has(char) ? `\\${char}` : char);

  while (index < pattern.length) {
    const char = pattern[index]!;
    const startedAtGroupStart = atGroupStart;
    atGroupStart = false;
    if (char === "(") {
      if (pattern.startsWith("(?", index)) {
        const flags = /^\(\?([imsU-]*)(:|\))/.exec(pattern.slice(index));
        const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(pattern.slice(index));
        if (flags !== null) {
          const parsed = parseFlags(flags[1]!, dotAll, caseInsensitive);
          if (parsed === null) return null;
          if (flags[2] === ")") {
            // `(?i)` applies to the rest of the enclosing group: translatable only at its start.
            if (!startedAtGroupStart) return null;
            if (parsed.caseInsensitive !== caseInsensitive) {
              out += parsed.caseInsensitive ? "(?i:" : "(?-i:";
              top.closeExtra += ")";
            }
            dotAll = parsed.dotAll;
            caseInsensitive = parsed.caseInsensitive;
            index += flags[0].length;
            atGroupStart = true;
            continue;
          }
          groups.push(top);
          top = { risky: false, dotAll, caseInsensitive, closeExtra: "" };
          out +=
            parsed.caseInsensitive === caseInsensitive ? "(?:" : parsed.caseInsensitive ? "(?i:" : "(?-i:";
          dotAll = parsed.dotAll;
          caseInsensitive = parsed.caseInsensitive;
          index += flags[0].length;
          atGroupStart = true;
          lastAtomWasGroup = null;
          continue;
        }
        if (named === null) return null;
        out += `(?<${named[1]}>`;
        index += named[0].length;
      } else {
        out += "(";
        index++;
      }
      groups.push(top);
      top = { risky: false, dotAll, caseInsensitive, closeExtra: "" };
      atGroupStart = true;
      lastAtomWasGroup = null;
      continue;
    }
    if (char === ")") {
      const closed = top;
      out += `${closed.closeExtra})`;
      top = groups.pop() ?? top;
      top.risky ||= closed.risky;
      dotAll = closed.dotAll;
      caseInsensitive = closed.caseInsensitive;
      index++;
      lastAtomWasGroup = { risky: closed.risky };
      continue;
    }
    if (char === "|") {
      top.risky = true;
      out += "|";
      index++;
      atGroupStart = false;
      lastAtomWasGroup = null;
      continue;
    }
    const repetition = /^(?:[*+?]|\{(\d+)(,(\d*))?\})(\??)/.exec(pattern.slice(index));
    if (repetition !== null) {
      if (lastAtomWasGroup?.risky) return null;
      const unbounded =
        repetition[0][0] === "*" ||
        repetition[0][0] === "+" ||
        (repetition[2] !== undefined && repetition[3] === "");
      if (unbounded && ++unboundedRepetitions > unboundedMax) return null;
      if (++repetitions > repetitionsMax) return null;
      top.risky = true;
      out += repetition[0];
      index += repetition[0].length;
      lastAtomWasGroup = null;
      continue;
    }
    lastAtomWasGroup = null;
    if (char === "{") {
      out += "\\{"; // not a valid repeat, so a literal in Go
      index++;
      continue;
    }
    if (char === ".") {
      out += dotAll ? "[^]" : "[^\\n]";
      index++;
      continue;
    }
    if (char === "^" || char === "$") {
      out += char;
      index++;
      continue;
    }
    if (char === "[") {
      const parsed = translateClass(pattern, index, caseInsensitive);
      if (parsed === null) return null;
      out += parsed.out;
      index = parsed.end;
      continue;
    }
    if (char === "\\") {
      const escaped = translateEscape(pattern, index, caseInsensitive, false);
      if (escaped === null) return null;
      out += escaped.out;
      index = escaped.end;
      continue;
    }
    const codePoint = String.fromCodePoint(pattern.codePointAt(index)!);
    out += literal(codePoint);
    index += codePoint.length;
  }
  if (groups.length > 0) return null; // RE2 would have rejected it; be safe
  return out + top.closeExtra;
}

function parseFlags(
  text: string,
  dotAll: boolean,
  caseInsensitive: boolean,
): { dotAll: boolean; caseInsensitive: boolean } | null {
  let negate = false;
  for (const flag of text) {
    if (flag === "-") negate = true;
    else if (flag === "i") caseInsensitive = !negate;
    else if (flag === "s") dotAll = !negate;
    else return null; // m and U change ^ $ and greediness: not translated
  }
  return { dotAll, caseInsensitive };
}

const goSpace = "\\t\\n\\f\\r ";

function translateEscape(
  pattern: string,
  index: number,
  caseInsensitive: boolean,
  inClass: boolean,
): { out: string; end: number } | null {
  const next = pattern[index + 1];
  if (next === undefined) return null;
  const end = index + 2;
  switch (next) {
    case "d":
    case "D":
    case "w":
      return { out: `\\${next}`, end };
    case "W":
    case "b":
    case "B":
      if (caseInsensitive || (inClass && next !== "W")) return null;
      return { out: `\\${next}`, end };
    case "s":
      return { out: inClass ? goSpace : `[${goSpace}]`, end };
    case "S":
      return inClass ? null : { out: `[^${goSpace}]`, end };
    case "A":
      return inClass ? null : { out: "^", end };
    case "z":
      return inClass ? null : { out: "$", end };
    case "t":
    case "n":
    case "r":
    case "f":
    case "v":
      return { out: `\\${next}`, end };
    case "a":
      return { out: "\\x07", end };
  }
  if (/[A-Za-z0-9]/.test(next)) return null; // \p, \Q, \x, octal, …: not translated
  const codePoint = String.fromCodePoint(pattern.codePointAt(index + 1)!);
  const out = inClass
    ? `\\u{${codePoint.codePointAt(0)!.toString(16)}}`
    : jsSyntaxCharacters.has(codePoint)
      ? `\\${codePoint}`
      : codePoint;
  return { out, end: index + 1 + codePoint.length };
}

/** `[...]` in Go syntax → a JS class; every literal member written as \u{…} so nothing is special. */
function translateClass(
  pattern: string,
  start: number,
  caseInsensitive: boolean,
): { out: string; end: number } | null {
  let index = start + 1;
  let out = "[";
  if (pattern[index] === "^") {
    out += "^";
    index++;
  }
  let first = true;
  while (index < pattern.length) {
    const char = pattern[index]!;
    if (char === "]" && !first) return { out: `${out}]`, end: index + 1 };
    first = false;
    if (pattern.startsWith("[:", index)) {
      const posix = /^\[:([a-z]+):\]/.exec(pattern.slice(index));
      const members = posix === null ? undefined : posixClasses[posix[1]!];
      if (posix === null || members === undefined) return null;
      out += members;
      index += posix[0].length;
      continue;
    }
    const member = classMember(pattern, index, caseInsensitive);
    if (member === null) return null;
    index = member.end;
    if (pattern[index] === "-" && pattern[index + 1] !== "]" && member.single) {
      const upper = classMember(pattern, index + 1, caseInsensitive);
      if (upper === null || !upper.single) return null;
      out += `${member.out}-${upper.out}`;
      index = upper.end;
      continue;
    }
    out += member.out;
  }
  return null;
}

function classMember(
  pattern: string,
  index: number,
  caseInsensitive: boolean,
): { out: string; end: number; single: boolean } | null {
  const char = pattern[index];
  if (char === undefined) return null;
  if (char === "\\") {
    const escaped = translateEscape(pattern, index, caseInsensitive, true);
    if (escaped === null) return null;
    const single = escaped.out.startsWith("\\u{") || /^\\[tnrfv]$|^\\x07$/.test(escaped.out);
    return { out: escaped.out, end: escaped.end, single };
  }
  const codePoint = String.fromCodePoint(pattern.codePointAt(index)!);
  return {
    out: `\\u{${codePoint.codePointAt(0)!.toString(16)}}`,
    end: index + codePoint.length,
    single: true,
  };
}
