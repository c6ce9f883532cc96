// Loki's logfmt decoder (pkg/logql/log/logfmt, itself go-logfmt's) over a JS string: the same
// state machine, so the same lines split into the same pairs and fail at the same places. Keys end
// at whitespace or `=`; a value is bare (up to whitespace; `=` or `"` inside is an error) or quoted
// with JSON-like escapes (plus `\'`); a bare key with no `=` is a pair with an empty value. On an
// error the decoder skips to the next whitespace and remembers the first error's message, which
// `--strict` reports in `__error_details__`.

import { Buffer } from "node:buffer";

export class LogfmtDecoder {
  private line = "";
  private position = 0;
  /** The most recent pair; valid until the next scan. */
  key = "";
  value = "";
  /** The first syntax error of the line (Go's wording), or null. */
  error: string | null = null;

  reset(line: string): void {
    this.line = line;
    this.position = 0;
    this.error = null;
  }

  atEnd(): boolean {
    return this.position >= this.line.length;
  }

  /** Reads the next pair; false at the end of the line or on an error (then scan again if !atEnd()). */
  scan(): boolean {
    const line = this.line;
    this.key = "";
    this.value = "";
    let index = this.position;
    while (index < line.length && line.charCodeAt(index) <= 0x20) index++;
    if (index >= line.length) {
      this.position = line.length;
      return false;
    }
    // key
    const keyStart = index;
    for (; index < line.length; index++) {
      const code = line.charCodeAt(index);
      if (code === 0x3d) break; // =
      if (code === 0x22) {
        this.position = index;
        this.syntaxError(`unexpected '"'`);
        return this.skipValue();
      }
      if (code <= 0x20) {
        this.position = index;
        this.key = line.slice(keyStart, index);
        return this.checkKey(true);
      }
    }
    this.position = index;
    if (index >= line.length) {
      this.key = line.slice(keyStart);
      return this.checkKey(true);
    }
    if (index === keyStart) {
      this.syntaxError(`unexpected '='`);
      return this.skipValue();
    }
    this.key = line.slice(keyStart, index);
    if (!this.checkKey(true)) return this.skipValue();
    // after `=`
    index++;
    this.position = index;
    if (index >= line.length) return true;
    const first = line.charCodeAt(index);
    if (first <= 0x20) return true;
    if (first === 0x22) return this.quotedValue();
    const valueStart = index;
    for (; index < line.length; index++) {
      const code = line.charCodeAt(index);
      if (code === 0x3d || code === 0x22) {
        this.position = index;
        this.syntaxError(`unexpected ${code === 0x3d ? "'='" : `'"'`}`);
        return this.skipValue();
      }
      if (code <= 0x20) break;
    }
    this.position = index;
    this.value = line.slice(valueStart, index);
    return true;
  }

  /** A key holding U+FFFD (invalid UTF-8 on ingest) is invalid, as in Go. */
  private checkKey(result: boolean): boolean {
    if (!this.key.includes("\ufffd")) return result;
    this.syntaxError("invalid key");
    return false;
  }

  private skipValue(): false {
    const line = this.line;
    let index = this.position;
    while (index < line.length && line.charCodeAt(index) > 0x20) index++;
    this.position = index;
    return false;
  }

  private quotedValue(): boolean {
    const line = this.line;
    const start = this.position; // the opening quote
    let escaped = false;
    let hasEscape = false;
    for (let index = start + 1; index < line.length; index++) {
      const code = line.charCodeAt(index);
      if (escaped) escaped = false;
      else if (code === 0x5c) {
        escaped = true;
        hasEscape = true;
      } else if (code === 0x22) {
        this.position = index + 1;
        if (!hasEscape) {
          this.value = line.slice(start + 1, index);
          return true;
        }
        const value = unquote(line.slice(start + 1, index));
        if (value === null) {
          this.syntaxError("invalid quoted value");
          return false;
        }
        this.value = value;
        return true;
      }
    }
    this.position = line.length;
    this.syntaxError("unterminated quoted value");
    return false;
  }

  private syntaxError(message: string): void {
    // Go counts bytes; the position is 1-based.
    const bytePosition = Buffer.byteLength(this.line.slice(0, this.position)) + 1;
    this.error = `logfmt syntax error at pos ${bytePosition} : ${message}`;
  }
}

/** Go's JSON-style unquoting as the logfmt decoder has it (also `\'`); null when invalid. */
function unquote(raw: string): string | null {
  let out = "";
  for (let index = 0; index < raw.length; index++) {
    const char = raw[index]!;
    if (char === '"') return null;
    if (char !== "\\") {
      out += char;
      continue;
    }
    const next = raw[++index];
    switch (next) {
      case '"':
      case "\\":
      case "/":
      case "'":
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
        if (code >= 0xd800 && code < 0xe000) {
          const low = raw[index + 1] === "\\" ? hex4(raw, index + 3) : -1;
          if (code < 0xdc00 && low >= 0xdc00 && low < 0xe000) {
            out += String.fromCharCode(code, low);
            index += 6;
          } else out += "\ufffd";
        } else out += String.fromCharCode(code);
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
