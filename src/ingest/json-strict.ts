// A second JSON parser, for the bodies V8's JSON.parse decodes wrongly.
//
// V8 (Node 24's 13.6, and Node 26's 14.6) can decode an object key that contains an escape
// through a hidden-class transition made by an earlier, different key: after one body has a label
// named `\` (`"\\"`), a later body's label named "\n" comes back as `\` — in every later request
// of the process (nodejs/node#63785, open; Chromium 521080746). Keys without escapes are not
// affected. So parseJsonBody keeps JSON.parse (fast, and the source of the "invalid json: …"
// messages) and parses again with this parser only when some key holds an escape, which
// hasEscapedKey finds with one memchr for the common body without any backslash. Such a body
// costs about three times as much to decode: a 13.5 kB, 100-entry body takes ~60 µs in
// JSON.parse and ~130 µs here (microbenchmark).

import { jsonCode as code, isJsonWhitespace } from "./json-bytes.ts";

/** Whether any object key in the (valid JSON) body holds an escape: a string with a backslash, then `:`. */
export function hasEscapedKey(body: Uint8Array): boolean {
  let position = body.indexOf(code.backslash);
  if (position < 0) return false;
  position = 0;
  while (position < body.length) {
    if (body[position] !== code.quote) {
      position++;
      continue;
    }
    let escaped = false;
    position++;
    while (position < body.length && body[position] !== code.quote) {
      if (body[position] === code.backslash) {
        escaped = true;
        position++;
      }
      position++;
    }
    position++; // past the closing quote
    if (!escaped) continue;
    while (isJsonWhitespace(body[position])) position++;
    if (body[position] === code.colon) return true;
  }
  return false;
}

/**
 * Parses JSON text like JSON.parse (no reviver), building objects key by key so no key goes
 * through V8's transition lookup. Throws SyntaxError for invalid text. Iterative, with its own
 * stack of open containers: nesting is bounded by the text's length, as for JSON.parse, not by
 * the call stack.
 */
export function parseJsonStrict(text: string): unknown {
  const parser: Parser = { text, position: 0 };
  const open: Container[] = [];
  for (;;) {
    let value = startValue(parser, open);
    if (value === opened) continue; // a non-empty container: its first member comes next
    // A value is complete: put it in its container, closing every container it completes.
    for (;;) {
      const container = open.at(-1);
      if (container === undefined) {
        skipWhitespace(parser);
        if (parser.position !== text.length) throw syntaxError(parser, "unexpected text after the value");
        return value;
      }
      if (Array.isArray(container.value)) container.value.push(value);
      else setMember(container.value, container.key, value);
      skipWhitespace(parser);
      const next = text.charCodeAt(parser.position++);
      if (next === code.comma) {
        if (!Array.isArray(container.value)) container.key = readKey(parser);
        break;
      }
      if (next !== (Array.isArray(container.value) ? code.closeBracket : code.closeBrace))
        throw syntaxError(parser, "expected ',' or the end of the container");
      open.pop();
      value = container.value;
    }
  }
}

interface Parser {
  text: string;
  position: number;
}

/** An object or array being filled; for an object, the key its next value goes under. */
interface Container {
  value: Record<string, unknown> | unknown[];
  key: string;
}

/** startValue's answer when it opened a non-empty container instead of reading a whole value. */
const opened = Symbol("opened");

/** Reads a scalar or an empty container, or opens a non-empty container on `open`. */
function startValue(parser: Parser, open: Container[]): unknown {
  skipWhitespace(parser);
  const { text } = parser;
  const next = text.charCodeAt(parser.position);
  if (next === code.openBrace || next === code.openBracket) {
    const isObject = next === code.openBrace;
    parser.position++;
    skipWhitespace(parser);
    if (text.charCodeAt(parser.position) === (isObject ? code.closeBrace : code.closeBracket)) {
      parser.position++;
      return isObject ? {} : [];
    }
    open.push(isObject ? { value: {}, key: readKey(parser) } : { value: [], key: "" });
    return opened;
  }
  if (next === code.quote) return parseString(parser);
  for (const [literal, value] of literals) {
    if (text.startsWith(literal, parser.position)) {
      parser.position += literal.length;
      return value;
    }
  }
  return parseNumber(parser);
}

const literals: ReadonlyArray<readonly [string, unknown]> = [
  ["true", true],
  ["false", false],
  ["null", null],
];

/** An object's key and the colon after it. */
function readKey(parser: Parser): string {
  skipWhitespace(parser);
  if (parser.text.charCodeAt(parser.position) !== code.quote) throw syntaxError(parser, "expected a key");
  const key = parseString(parser);
  skipWhitespace(parser);
  if (parser.text.charCodeAt(parser.position) !== code.colon) throw syntaxError(parser, "expected ':'");
  parser.position++;
  return key;
}

function setMember(object: Record<string, unknown>, key: string, value: unknown): void {
  // JSON.parse makes "__proto__" an own property; assigning it would set the prototype instead.
  if (key === "__proto__")
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  else object[key] = value;
}

const shortEscapes: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

function parseString(parser: Parser): string {
  const { text } = parser;
  let position = parser.position + 1; // past the opening quote
  let result = "";
  let runStart = position;
  for (;;) {
    if (position >= text.length) throw syntaxError(parser, "unterminated string");
    const char = text.charCodeAt(position);
    if (char === code.quote) break;
    if (char < code.space) throw syntaxError(parser, "control character in a string");
    if (char !== code.backslash) {
      position++;
      continue;
    }
    result += text.slice(runStart, position);
    const escapeLetter = text[position + 1];
    if (escapeLetter === "u") {
      const hex = text.slice(position + 2, position + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw syntaxError(parser, "bad \\u escape");
      result += String.fromCharCode(Number.parseInt(hex, 16));
      position += 6;
    } else {
      const decoded = shortEscapes[escapeLetter];
      if (decoded === undefined) throw syntaxError(parser, "bad escape");
      result += decoded;
      position += 2;
    }
    runStart = position;
  }
  result += text.slice(runStart, position);
  parser.position = position + 1;
  return result;
}

const numberPattern = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

function parseNumber(parser: Parser): number {
  numberPattern.lastIndex = parser.position;
  const match = numberPattern.exec(parser.text);
  if (match === null) throw syntaxError(parser, "unexpected character");
  parser.position += match[0].length;
  return Number(match[0]);
}

function skipWhitespace(parser: Parser): void {
  while (isJsonWhitespace(parser.text.charCodeAt(parser.position))) parser.position++;
}

function syntaxError(parser: Parser, problem: string): SyntaxError {
  return new SyntaxError(`${problem} at position ${parser.position}`);
}
