// The JSON reading of Loki's `| json` stage, over a JS string. Loki reads lines with a streaming,
// lenient parser (grafana/jsonparser): it walks the top-level object, reports each string, number and
// boolean as it meets it (numbers keep their raw text), skips arrays and null, descends into nested
// objects, and stops at the first malformed token — labels found before it are kept and the error
// is reported. Nothing here recurses: nesting is walked with an explicit stack, so a line of 100,000
// `{` costs memory in proportion to the line (already bounded by the ingest line limit), never
// stack frames. Error texts are jsonparser's, as Loki shows them in `__error_details__`.

export const jsonErrors = {
  malformedJson: "Malformed JSON error",
  malformedString: "Value is string, but can't find closing '\"' symbol",
  malformedArray: "Value is array, but can't find closing ']' symbol",
  malformedObject: "Value looks like object, but can't find closing '}' symbol",
  malformedStringEscape: "Encountered an invalid escape sequence in a string",
  unknownValueType: "Unknown value type",
} as const;

/** A malformed line; `message` is one of jsonErrors. */
export class JsonLineError extends Error {
  readonly code = "JSON_LINE";
  /** The nested object (1 = first level) whose labels must be dropped, or null. */
  readonly abandonedLevel: number | null;
  constructor(message: string, abandonedLevel: number | null = null) {
    super(message);
    this.name = "JsonLineError";
    this.abandonedLevel = abandonedLevel;
  }
}

const isSpace = (code: number) => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;

function nextToken(text: string, index: number): number {
  while (index < text.length && isSpace(text.charCodeAt(index))) index++;
  return index;
}

/** Index just past the closing quote of the string whose opening quote is at `index - 1`; -1 if none. */
function stringEnd(text: string, index: number): number {
  for (; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x22) return index + 1;
    if (code === 0x5c) index++;
  }
  return -1;
}

/** Index past the `{…}`/`[…]` block starting at `index` (brackets matched, strings skipped); -1 if open. */
function blockEnd(text: string, index: number, open: number, close: number): number {
  let depth = 0;
  for (; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x22) {
      index = stringEnd(text, index + 1);
      if (index < 0) return -1;
      index--;
    } else if (code === open) depth++;
    else if (code === close && --depth === 0) return index + 1;
  }
  return -1;
}

/** Index past a number/literal token: up to whitespace, `,`, `}` or `]`. */
function tokenEnd(text: string, index: number): number {
  for (; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (isSpace(code) || code === 0x2c || code === 0x7d || code === 0x5d) return index;
  }
  return index;
}

/** JSON string escapes (the text between the quotes); null on an invalid escape, as jsonparser fails. */
export function unescapeJson(raw: string): string | null {
  const first = raw.indexOf("\\");
  if (first < 0) return raw;
  let out = raw.slice(0, first);
  for (let index = first; index < raw.length; index++) {
    const char = raw[index]!;
    if (char !== "\\") {
      out += char;
      continue;
    }
    const next = raw[++index];
    switch (next) {
      case '"':
      case "\\":
      case "/":
        out += next;
        break;
      case "b":
        out += "\b";
        break;
      case "f":
        out += "\f";
        break;
      case "n":
        out += "\n";
        break;
      case "r":
        out += "\r";
        break;
      case "t":
        out += "\t";
        break;
      case "u": {
        const code = hex4(raw, index + 1);
        if (code < 0) return null;
        index += 4;
        if (code >= 0xd800 && code < 0xdc00 && raw[index + 1] === "\\" && raw[index + 2] === "u") {
          const low = hex4(raw, index + 3);
          if (low >= 0xdc00 && low < 0xe000) {
            out += String.fromCharCode(code, low);
            index += 6;
            break;
          }
        }
        // A lone surrogate cannot be UTF-8: it decodes to the replacement character, as in Go.
        out += code >= 0xd800 && code < 0xe000 ? "\ufffd" : String.fromCharCode(code);
        break;
      }
      default:
        return null;
    }
  }
  return out;
}

function hex4(text: string, index: number): number {
  const digits = text.slice(index, index + 4);
  return /^[0-9a-fA-F]{4}$/.test(digits) ? Number.parseInt(digits, 16) : -1;
}

/** Loki turns U+FFFD (which invalid UTF-8 became on ingest) into a space: Prometheus rejects it. */
export const replaceInvalidUtf8 = (value: string): string =>
  value.includes("\ufffd") ? value.replaceAll("\ufffd", " ") : value;

/** A string value as Loki's json stage stores it: unescaped ("" when the escapes are invalid). */
export function jsonStringValue(raw: string): string {
  return replaceInvalidUtf8(unescapeJson(raw) ?? "");
}

/**
 * Receives the walk of one line. `enter` is called for a nested object, `leave` when it ends. `value` gets a key of the current object and its value text
 * (strings unescaped, numbers raw, booleans "true"/"false").
 */
export interface JsonVisitor {
  enter(key: string): void;
  leave(): void;
  value(key: string, value: string): void;
}

// At most this many open objects are checked for balance when a line fails inside them (each check
// is a scan of the rest of the line), so a hostile line costs O(32·n), not O(depth·n).
const balanceChecksMax = 32;

/**
 * Walks the top-level object of `text`; throws JsonLineError at the first malformed token. Nested
 * objects are entered as met, without jsonparser's look-ahead for the closing brace (which makes
 * its walk quadratic in the nesting); when the line then fails inside an object that never closes,
 * `abandonedLevel` says which entered object jsonparser would have refused to enter, so the caller
 * drops what was extracted inside it and the outcome is jsonparser's.
 */
export function walkJsonObject(text: string, visitor: JsonVisitor): void {
  const openStarts: number[] = [];
  try {
    walk(text, visitor, openStarts);
  } catch (error) {
    if (!(error instanceof JsonLineError) || openStarts.length === 0) throw error;
    const checks = Math.min(openStarts.length, balanceChecksMax);
    for (let level = 0; level < checks; level++) {
      if (blockEnd(text, openStarts[level]!, 0x7b, 0x7d) < 0) {
        throw new JsonLineError(jsonErrors.malformedObject, level + 1);
      }
    }
    throw error;
  }
}

function walk(text: string, visitor: JsonVisitor, openStarts: number[]): void {
  let index = nextToken(text, 0);
  if (index >= text.length || text.charCodeAt(index) !== 0x7b)
    throw new JsonLineError(jsonErrors.malformedObject);
  index = nextToken(text, index + 1);
  if (index >= text.length) throw new JsonLineError(jsonErrors.malformedJson);
  if (text.charCodeAt(index) === 0x7d) return;
  for (;;) {
    // A key, or the end of the current object.
    const code = text.charCodeAt(index);
    if (code === 0x7d) {
      if (openStarts.length === 0) return;
      openStarts.pop();
      visitor.leave();
      index = afterValue(text, index + 1);
      continue;
    }
    if (code !== 0x22) throw new JsonLineError(jsonErrors.malformedObject);
    const keyEnd = stringEnd(text, index + 1);
    if (keyEnd < 0) throw new JsonLineError(jsonErrors.malformedJson);
    const key = unescapeJson(text.slice(index + 1, keyEnd - 1));
    if (key === null) throw new JsonLineError(jsonErrors.malformedStringEscape);
    index = nextToken(text, keyEnd);
    if (index >= text.length || text.charCodeAt(index) !== 0x3a)
      throw new JsonLineError(jsonErrors.malformedJson);
    index = nextToken(text, index + 1);
    if (index >= text.length) throw new JsonLineError(jsonErrors.malformedJson);
    if (text.charCodeAt(index) === 0x7b) {
      openStarts.push(index);
      visitor.enter(key);
      index = nextToken(text, index + 1);
      if (index >= text.length) throw new JsonLineError(jsonErrors.malformedJson);
      continue;
    }
    const valueEnd = readValue(text, index, key, visitor);
    index = afterValue(text, valueEnd);
  }
}

/** After a value: skips `,` (then to the next key) or stops at `}`; returns the index of the next token. */
function afterValue(text: string, index: number): number {
  index = nextToken(text, index);
  if (index >= text.length) throw new JsonLineError(jsonErrors.malformedArray); // jsonparser's wording
  const code = text.charCodeAt(index);
  if (code === 0x7d) return index;
  if (code !== 0x2c) throw new JsonLineError(jsonErrors.malformedObject);
  index = nextToken(text, index + 1);
  if (index >= text.length) throw new JsonLineError(jsonErrors.malformedJson);
  return index;
}

/** A non-object value at `index`: reported (string/number/boolean) or skipped (array/null); returns its end. */
function readValue(text: string, index: number, key: string, visitor: JsonVisitor): number {
  const first = text.charCodeAt(index);
  if (first === 0x22) {
    const end = stringEnd(text, index + 1);
    if (end < 0) throw new JsonLineError(jsonErrors.malformedString);
    visitor.value(key, jsonStringValue(text.slice(index + 1, end - 1)));
    return end;
  }
  if (first === 0x5b) {
    const end = blockEnd(text, index, 0x5b, 0x5d);
    if (end < 0) throw new JsonLineError(jsonErrors.malformedArray);
    return end;
  }
  const end = tokenEnd(text, index);
  const token = text.slice(index, end);
  if (first === 0x2d || (first >= 0x30 && first <= 0x39)) visitor.value(key, token);
  else if (token === "true" || token === "false") visitor.value(key, token);
  else if (token !== "null") throw new JsonLineError(jsonErrors.unknownValueType);
  return end;
}

// ---- `| json label="path"` ---------------------------------------------------------------------

/** One step of a JSON path: an object key or an array index. */
export type JsonPathStep = string | number;

/** A JSON path expression Loki's jsonexpr grammar rejects. */
export class JsonPathError extends Error {
  readonly code = "JSON_PATH";
  constructor(expression: string, reason: string) {
    super(`cannot parse expression [${expression}]: ${reason}`);
    this.name = "JsonPathError";
  }
}

/**
 * Loki's JSON path syntax: a field, `["key"]` or `[index]` first, then `.field`, `["key"]` or
 * `[index]`: `a.b`, `a[0].c`, `["key with space"]`. Whitespace between tokens is ignored.
 */
export function parseJsonPath(expression: string): JsonPathStep[] {
  const steps: JsonPathStep[] = [];
  let index = 0;
  const fail = (reason: string): never => {
    throw new JsonPathError(expression, reason);
  };
  const skipSpace = () => {
    while (index < expression.length && /\s/.test(expression[index]!)) index++;
  };
  const field = () => {
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(expression.slice(index));
    if (match === null)
      fail(`syntax error: unexpected ${JSON.stringify(expression.slice(index, index + 1))}`);
    index += match![0].length;
    steps.push(match![0]);
  };
  const bracket = () => {
    index++; // [
    skipSpace();
    if (expression[index] === '"') {
      // Loki's scanner ends a key at `"` or `]`.
      const end = expression.slice(index + 1).search(/["\]]/);
      const keyEnd = end < 0 ? expression.length : index + 1 + end;
      steps.push(expression.slice(index + 1, keyEnd));
      index = keyEnd + (expression[keyEnd] === '"' ? 1 : 0);
    } else {
      const match = /^\d+/.exec(expression.slice(index));
      if (match === null) fail("syntax error: expected a quoted key or an index in [ ]");
      index += match![0].length;
      if (expression[index] === ".") fail("cannot use float as array index");
      steps.push(Number(match![0]));
    }
    skipSpace();
    if (expression[index] !== "]") fail("syntax error: missing ]");
    index++;
  };
  skipSpace();
  if (expression[index] === "[") bracket();
  else field();
  for (;;) {
    skipSpace();
    if (index >= expression.length) return steps;
    if (expression[index] === "[") bracket();
    else if (expression[index] === ".") {
      index++;
      skipSpace();
      field();
    } else fail(`syntax error: unexpected ${JSON.stringify(expression[index])}`);
  }
}

/** What a path points at; `raw` is the value's text (a string's without its quotes). */
export type JsonPathValue = {
  readonly type: "string" | "number" | "boolean" | "null" | "object" | "array";
  readonly raw: string;
};

/** The value at `path` in `text`, or null when the path does not exist; throws JsonLineError. */
export function findJsonPath(text: string, path: readonly JsonPathStep[]): JsonPathValue | null {
  let index = nextToken(text, 0);
  for (const step of path) {
    if (index >= text.length) return null;
    const code = text.charCodeAt(index);
    if (typeof step === "string") {
      if (code !== 0x7b) return null;
      const found = findKey(text, index, step);
      if (found < 0) return null;
      index = found;
    } else {
      if (code !== 0x5b) return null;
      const found = findIndex(text, index, step);
      if (found < 0) return null;
      index = found;
    }
  }
  return valueAt(text, index);
}

function valueAt(text: string, index: number): JsonPathValue {
  const first = text.charCodeAt(index);
  if (first === 0x22) {
    const end = stringEnd(text, index + 1);
    if (end < 0) throw new JsonLineError(jsonErrors.malformedString);
    return { type: "string", raw: text.slice(index + 1, end - 1) };
  }
  if (first === 0x7b || first === 0x5b) {
    const end = blockEnd(text, index, first, first + 2);
    if (end < 0)
      throw new JsonLineError(first === 0x7b ? jsonErrors.malformedObject : jsonErrors.malformedArray);
    return { type: first === 0x7b ? "object" : "array", raw: text.slice(index, end) };
  }
  const raw = text.slice(index, tokenEnd(text, index));
  if (first === 0x2d || (first >= 0x30 && first <= 0x39)) return { type: "number", raw };
  if (raw === "true" || raw === "false") return { type: "boolean", raw };
  if (raw === "null") return { type: "null", raw };
  throw new JsonLineError(jsonErrors.unknownValueType);
}

/** End index of the value starting at `index`. */
function skipValue(text: string, index: number): number {
  const first = text.charCodeAt(index);
  if (first === 0x22) {
    const end = stringEnd(text, index + 1);
    if (end < 0) throw new JsonLineError(jsonErrors.malformedString);
    return end;
  }
  if (first === 0x7b || first === 0x5b) {
    const end = blockEnd(text, index, first, first + 2);
    if (end < 0)
      throw new JsonLineError(first === 0x7b ? jsonErrors.malformedObject : jsonErrors.malformedArray);
    return end;
  }
  return tokenEnd(text, index);
}

/** In the object at `index`, the start of the first value under `key`; -1 when absent. */
function findKey(text: string, index: number, key: string): number {
  index = nextToken(text, index + 1);
  while (index < text.length && text.charCodeAt(index) !== 0x7d) {
    if (text.charCodeAt(index) !== 0x22) throw new JsonLineError(jsonErrors.malformedObject);
    const keyEnd = stringEnd(text, index + 1);
    if (keyEnd < 0) throw new JsonLineError(jsonErrors.malformedJson);
    const name = unescapeJson(text.slice(index + 1, keyEnd - 1));
    index = nextToken(text, keyEnd);
    if (text.charCodeAt(index) !== 0x3a) throw new JsonLineError(jsonErrors.malformedJson);
    index = nextToken(text, index + 1);
    if (index >= text.length) throw new JsonLineError(jsonErrors.malformedJson);
    if (name === key) return index;
    index = nextToken(text, skipValue(text, index));
    if (text.charCodeAt(index) === 0x2c) index = nextToken(text, index + 1);
  }
  return -1;
}

/** In the array at `index`, the start of element `wanted`; -1 when the array is shorter. */
function findIndex(text: string, index: number, wanted: number): number {
  index = nextToken(text, index + 1);
  for (let element = 0; index < text.length && text.charCodeAt(index) !== 0x5d; element++) {
    if (element === wanted) return index;
    index = nextToken(text, skipValue(text, index));
    if (text.charCodeAt(index) === 0x2c) index = nextToken(text, index + 1);
    else if (text.charCodeAt(index) !== 0x5d) throw new JsonLineError(jsonErrors.malformedArray);
  }
  return -1;
}
