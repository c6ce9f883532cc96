// Parses a stream's label set as Loki's push carries it: the text of a Prometheus/LogQL selector
// with equality matchers only, `{app="api", env="prod"}`. Grammar accepted:
//
//   labels  = "{" [ pair { "," pair } [ "," ] ] "}"        whitespace allowed between tokens
//   pair    = name "=" value
//   name    = [a-zA-Z_][a-zA-Z0-9_]*   or a double-quoted string (Prometheus 3's UTF-8 names)
//   value   = double-quoted string with escapes \" \\ \n \t \r \a \b \f \v \' \xHH (ASCII only)
//             \uHHHH \UHHHHHHHH (Go's, which Loki's parser uses), or a back-quoted raw string
//
// Anything else is DecodeError(invalid_labels) naming the position. Names are returned as written:
// sanitising and the count and length bounds are the pipeline's (the same for every protocol).

import { ClearingCache } from "../model/clearing-cache.ts";
import { DecodeError } from "./batch.ts";
import { rejectReasons } from "./errors.ts";
import { lokiLabelTextsCharsMax, lokiLabelTextsMax } from "./limits.ts";

function invalidLabels(text: string, at: number, message: string): DecodeError {
  const shown = text.length > 120 ? `${text.slice(0, 120)}…` : text;
  return new DecodeError(
    rejectReasons.invalidLabels,
    `invalid labels ${JSON.stringify(shown)} at ${at}: ${message}`,
  );
}

function isNameStart(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || code === 0x5f;
}

function isNamePart(code: number): boolean {
  return isNameStart(code) || (code >= 0x30 && code <= 0x39);
}

function skipSpaces(text: string, at: number): number {
  while (at < text.length) {
    const code = text.charCodeAt(at);
    if (code !== 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) break;
    at++;
  }
  return at;
}

const simpleEscapes: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "'": "'",
  n: "\n",
  t: "\t",
  r: "\r",
  a: "\x07",
  b: "\b",
  f: "\f",
  v: "\v",
};

function hexDigits(text: string, at: number, count: number): number {
  const digits = text.slice(at, at + count);
  if (digits.length !== count || !/^[0-9a-fA-F]+$/.test(digits))
    throw invalidLabels(text, at, "bad escape digits");
  return Number.parseInt(digits, 16);
}

/** A quoted string starting at `at` (its opening quote): its value and the index after it. */
function quoted(text: string, at: number): { value: string; next: number } {
  const quote = text[at];
  if (quote === "`") {
    const close = text.indexOf("`", at + 1);
    if (close < 0) throw invalidLabels(text, at, "unterminated raw string");
    return { value: text.slice(at + 1, close), next: close + 1 };
  }
  let value = "";
  let runStart = at + 1;
  for (let index = at + 1; index < text.length; index++) {
    const char = text[index];
    if (char === '"') return { value: value + text.slice(runStart, index), next: index + 1 };
    if (char === "\n") throw invalidLabels(text, index, "newline in a quoted string");
    if (char !== "\\") continue;
    value += text.slice(runStart, index);
    const escapeChar = text[index + 1];
    if (escapeChar === undefined) break;
    const simple = simpleEscapes[escapeChar];
    if (simple !== undefined) {
      value += simple;
      index += 1;
    } else if (escapeChar === "x") {
      const code = hexDigits(text, index + 2, 2);
      // \xHH is a byte in Go; a byte over 0x7f alone would not be UTF-8.
      if (code > 0x7f) throw invalidLabels(text, index, "\\x escape of a non-ASCII byte");
      value += String.fromCharCode(code);
      index += 3;
    } else if (escapeChar === "u" || escapeChar === "U") {
      const count = escapeChar === "u" ? 4 : 8;
      const code = hexDigits(text, index + 2, count);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
        throw invalidLabels(text, index, "escape of an invalid code point");
      value += String.fromCodePoint(code);
      index += 1 + count;
    } else {
      throw invalidLabels(text, index, `unknown escape \\${escapeChar}`);
    }
    runStart = index + 1;
  }
  throw invalidLabels(text, at, "unterminated string");
}

/** Parses `{name="value", …}` into pairs in the order written. */
export function parseLabelSet(text: string): [name: string, value: string][] {
  const pairs: [string, string][] = [];
  let at = skipSpaces(text, 0);
  if (text.charCodeAt(at) !== 0x7b) throw invalidLabels(text, at, "expected {");
  at = skipSpaces(text, at + 1);
  while (text.charCodeAt(at) !== 0x7d) {
    let name: string;
    if (text[at] === '"') {
      const parsed = quoted(text, at);
      name = parsed.value;
      at = parsed.next;
    } else {
      const start = at;
      if (!isNameStart(text.charCodeAt(at))) throw invalidLabels(text, at, "expected a label name");
      while (isNamePart(text.charCodeAt(at))) at++;
      name = text.slice(start, at);
    }
    at = skipSpaces(text, at);
    if (text[at] !== "=") throw invalidLabels(text, at, "expected =");
    at = skipSpaces(text, at + 1);
    if (text[at] !== '"' && text[at] !== "`") throw invalidLabels(text, at, "expected a quoted value");
    const parsed = quoted(text, at);
    pairs.push([name, parsed.value]);
    at = skipSpaces(text, parsed.next);
    if (text[at] === ",") at = skipSpaces(text, at + 1);
    else if (text.charCodeAt(at) !== 0x7d) throw invalidLabels(text, at, "expected , or }");
  }
  if (skipSpaces(text, at + 1) !== text.length) throw invalidLabels(text, at + 1, "text after }");
  return pairs;
}

const parsedTexts = new ClearingCache<readonly (readonly [string, string])[]>(
  lokiLabelTextsMax,
  lokiLabelTextsCharsMax,
);

/**
 * parseLabelSet through a cache of the texts already parsed: the same text gives the same frozen
 * array, which the pipeline recognises by identity (a stream pushed again is neither parsed nor
 * keyed again). A text that does not parse is never kept: it throws each time.
 */
export function parsedLabelSet(text: string): readonly (readonly [string, string])[] {
  let pairs = parsedTexts.get(text);
  if (pairs === undefined) {
    pairs = Object.freeze(parseLabelSet(text).map((pair) => Object.freeze(pair)));
    let chars = 0;
    for (const [name, value] of pairs) chars += name.length + value.length;
    parsedTexts.set(text, pairs, chars);
  }
  return pairs;
}
