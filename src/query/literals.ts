// LogQL's literals as Loki's lexer reads them: Go string literals, Prometheus and Go durations, byte
// sizes (go-humanize), floats. Each reader returns the value or a Loki-worded error message; the
// parser adds the position. Each writer prints a form its reader reads back to the same value.

const goEscapes: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

/**
 * Unquotes a double-quoted or backtick LogQL string (Go's strconv.Unquote rules, which Loki uses).
 * Returns the error text Loki gives (`invalid syntax`) with a hint, or the value.
 */
export function unquoteString(text: string): { value: string } | { error: string } {
  if (text.startsWith("`")) return { value: text.slice(1, -1) };
  let value = "";
  for (let index = 1; index < text.length - 1; index++) {
    const char = text[index]!;
    if (char !== "\\") {
      value += char;
      continue;
    }
    const escapeChar = text[++index]!;
    if (escapeChar in goEscapes) value += goEscapes[escapeChar];
    else if (escapeChar === "\\" || escapeChar === '"') value += escapeChar;
    else if (escapeChar === "x" || escapeChar === "u" || escapeChar === "U") {
      const digitCount = escapeChar === "x" ? 2 : escapeChar === "u" ? 4 : 8;
      const hex = text.slice(index + 1, index + 1 + digitCount);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== digitCount) return invalidEscape(`\\${escapeChar}`);
      const code = Number.parseInt(hex, 16);
      if (escapeChar !== "x" && (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))) {
        return invalidEscape(`\\${escapeChar}${hex}`);
      }
      // Go's \xHH is one byte; a byte >= 0x80 alone is not valid UTF-8, and Loki rejects those.
      if (escapeChar === "x" && code >= 0x80) return invalidEscape(`\\x${hex}`);
      value += String.fromCodePoint(code);
      index += digitCount;
    } else if (escapeChar >= "0" && escapeChar <= "7") {
      const octal = text.slice(index, index + 3);
      if (!/^[0-7]{3}$/.test(octal) || Number.parseInt(octal, 8) >= 0x80) return invalidEscape(`\\${octal}`);
      value += String.fromCharCode(Number.parseInt(octal, 8));
      index += 2;
    } else return invalidEscape(`\\${escapeChar}`);
  }
  return { value };
}

const invalidEscape = (escapeText: string) => ({
  error: `invalid syntax: invalid escape ${escapeText} in a double-quoted string (write \\${escapeText} or use a \`backtick\` string)`,
});

/** Quotes a string so unquoteString reads it back unchanged: always double quotes, Go escapes. */
export function quoteString(value: string): string {
  let out = '"';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (char === '"' || char === "\\") out += `\\${char}`;
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (char === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += char;
  }
  return `${out}"`;
}

const nsPer = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
  d: 86_400e9,
  w: 7 * 86_400e9,
  y: 365 * 86_400e9,
} as const;

// Prometheus' model.ParseDuration: integer parts in this fixed order, each unit at most once.
const prometheusDuration = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const prometheusUnits = ["y", "w", "d", "h", "m", "s", "ms"] as const;

/** A `[range]`: Prometheus durations only (what Loki's lexer accepts between brackets). */
export function parseRangeDuration(text: string): { ns: number } | { error: string } {
  if (text === "0") return { ns: 0 };
  const match = text === "" ? null : prometheusDuration.exec(text);
  if (match === null) {
    const unit = /^[0-9.]+([^0-9.]+)/.exec(text)?.[1];
    if (unit !== undefined && !(unit in nsPer))
      return { error: `unknown unit "${unit}" in duration "${text}"` };
    return { error: `not a valid duration string: "${text}"` };
  }
  let ns = 0;
  for (let index = 0; index < prometheusUnits.length; index++) {
    const part = match[index + 1];
    if (part !== undefined) ns += Number(part) * nsPer[prometheusUnits[index]!];
  }
  return { ns };
}

/**
 * A duration token after `offset` or in a label filter: Prometheus style first, then Go's
 * time.ParseDuration (signed, fractional, units ns us µs ms s m h), as Loki's lexer does.
 */
export function parseDuration(text: string): { ns: number } | { error: string } {
  const prometheus = parseRangeDuration(text);
  if ("ns" in prometheus) return prometheus;
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return { ns: 0 };
  if (rest === "") return { error: `time: invalid duration "${text}"` };
  let ns = 0;
  const part = /^(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== "") {
    const match = part.exec(rest);
    if (match === null || match[1] === "" || match[1] === ".") {
      const unit = /^[0-9.]+([^0-9.]+)/.exec(rest)?.[1];
      if (unit !== undefined) return { error: `time: unknown unit "${unit}" in duration "${text}"` };
      return { error: `time: invalid duration "${text}"` };
    }
    ns += Number(match[1]) * nsPer[match[2] as keyof typeof nsPer];
    rest = rest.slice(match[0].length);
  }
  return { ns: sign * Math.round(ns) };
}

/**
 * Prints nanoseconds so parseDuration (and, for whole non-negative milliseconds, parseRangeDuration)
 * reads them back: `1h30m`, `5m`, `250ms`, `1d`, `-5m`, `1s500us`.
 */
export function formatDuration(ns: number): string {
  if (ns === 0) return "0s";
  const sign = ns < 0 ? "-" : "";
  let rest = Math.abs(ns);
  // Days are Prometheus-only, and Prometheus has no sign and no sub-millisecond units.
  const units: readonly (keyof typeof nsPer)[] =
    sign === "" && rest % 1e6 === 0 ? ["d", "h", "m", "s", "ms"] : ["h", "m", "s", "ms", "us", "ns"];
  let out = sign;
  for (const unit of units) {
    const count = Math.floor(rest / nsPer[unit]);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * nsPer[unit];
    }
  }
  return out;
}

const bytesPer: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  pib: 1024 ** 5,
};

/** A byte size as go-humanize's ParseBytes reads it (`20kB` = 20,000; `1KiB` = 1,024). */
export function parseBytes(text: string): { bytes: number } | { error: string } {
  const match = /^(\d+(?:\.\d+)?)([A-Za-z]+)$/.exec(text);
  const per = match === null ? undefined : bytesPer[match[2]!.toLowerCase()];
  if (match === null || per === undefined) return { error: `invalid byte size "${text}"` };
  return { bytes: Math.floor(Number(match[1]) * per) };
}

export function formatBytes(bytes: number): string {
  return `${bytes}B`;
}

/** A number literal as Go's strconv.ParseFloat reads it (which refuses the grammar's 0x forms). */
export function parseNumber(text: string): { value: number } | { error: string } {
  if (/^0[xX]/.test(text)) {
    return {
      error: `unable to parse literal as a float: strconv.ParseFloat: parsing "${text}": invalid syntax`,
    };
  }
  return { value: Number(text) };
}

/** Prints a number so parseNumber reads it back exactly (shortest round-trip form). */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}
