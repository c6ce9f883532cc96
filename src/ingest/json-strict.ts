// A second JSON parser, for the bodies V8's JSON.parse decodes wrongly.
//
// V8 (Node 24's 13.6, and Node 26's 14.6) can decode an object key that contains an escape
// through a hidden-class transition made by an earlier, different key: after one body has a label
// named `\` (`"\\"`), a later body's label named "\n" comes back as `\` — in every later request
// of the process (nodejs/node#63785, open; Chromium 521080746). Keys without escapes are not
// affected. So parseJsonBody keeps JSON.parse (fast, and the source of the "invalid json: …"
// messages) and parses again with this parser only when some key holds an escape, which
// hasEscapedKey finds with one memchr for the common body without any backslash.

const code = {
  tab: 0x09,
  newline: 0x0a,
  carriageReturn: 0x0d,
  space: 0x20,
  quote: 0x22,
  comma: 0x2c,
  colon: 0x3a,
  openBracket: 0x5b,
  backslash: 0x5c,
  closeBracket: 0x5d,
  openBrace: 0x7b,
  closeBrace: 0x7d,
} as const;

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
    while (isWhitespace(body[position])) position++;
    if (body[position] === code.colon) return true;
  }
  return false;
}

/**
 * Parses JSON text like JSON.parse (no reviver), building objects key by key so no key goes
 * through V8's transition lookup. Throws SyntaxError for invalid text, RangeError when nesting
 * exhausts the stack (as JSON.parse does).
 */
export function parseJsonStrict(text: string): unknown {
  const parser = { text, position: 0 };
  const value = parseValue(parser);
  skipWhitespace(parser);
  if (parser.position !== text.length) throw syntaxError(parser, "unexpected text after the value");
  return value;
}

interface Parser {
  text: string;
  position: number;
}

function parseValue(parser: Parser): unknown {
  skipWhitespace(parser);
  const next = parser.text.charCodeAt(parser.position);
  if (next === code.openBrace) return parseObject(parser);
  if (next === code.openBracket) return parseArray(parser);
  if (next === code.quote) return parseString(parser);
  for (const [literal, value] of literals) {
    if (parser.text.startsWith(literal, parser.position)) {
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

function parseObject(parser: Parser): Record<string, unknown> {
  parser.position++; // {
  const object: Record<string, unknown> = {};
  skipWhitespace(parser);
  if (parser.text.charCodeAt(parser.position) === code.closeBrace) {
    parser.position++;
    return object;
  }
  for (;;) {
    skipWhitespace(parser);
    if (parser.text.charCodeAt(parser.position) !== code.quote) throw syntaxError(parser, "expected a key");
    const key = parseString(parser);
    skipWhitespace(parser);
    if (parser.text.charCodeAt(parser.position) !== code.colon) throw syntaxError(parser, "expected ':'");
    parser.position++;
    const value = parseValue(parser);
    // JSON.parse makes "__proto__" an own property; assigning it would set the prototype instead.
    if (key === "__proto__")
      Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
    else object[key] = value;
    skipWhitespace(parser);
    const next = parser.text.charCodeAt(parser.position++);
    if (next === code.closeBrace) return object;
    if (next !== code.comma) throw syntaxError(parser, "expected ',' or '}'");
  }
}

function parseArray(parser: Parser): unknown[] {
  parser.position++; // [
  const array: unknown[] = [];
  skipWhitespace(parser);
  if (parser.text.charCodeAt(parser.position) === code.closeBracket) {
    parser.position++;
    return array;
  }
  for (;;) {
    array.push(parseValue(parser));
    skipWhitespace(parser);
    const next = parser.text.charCodeAt(parser.position++);
    if (next === code.closeBracket) return array;
    if (next !== code.comma) throw syntaxError(parser, "expected ',' or ']'");
  }
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
  while (isWhitespace(parser.text.charCodeAt(parser.position))) parser.position++;
}

function isWhitespace(char: number | undefined): boolean {
  return char === code.space || char === code.newline || char === code.carriageReturn || char === code.tab;
}

function syntaxError(parser: Parser, problem: string): SyntaxError {
  return new SyntaxError(`${problem} at position ${parser.position}`);
}
