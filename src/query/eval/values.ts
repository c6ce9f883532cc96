// Label values as Loki's label filters read them: Go's strconv.ParseFloat for numbers,
// time.ParseDuration for durations and go-humanize's ParseBytes for sizes. A value that does not
// parse is not a non-match: the filter marks the line `__error__=LabelFilterErr` with these Go-worded
// details and lets it through, so the messages follow Go's wording too.

/** A parsed value, or the Go-worded reason it did not parse. */
export type ParsedValue =
  | { readonly ok: true; readonly value: number }
  | { readonly ok: false; readonly error: string };

const decimalFloat = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const hexFloat = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/;
const infinity = /^([+-]?)(?:inf|infinity)$/i;

/** Go's %q for the ASCII text label values usually are (JSON's escaping is the same there). */
export const goQuote = (text: string): string => JSON.stringify(text);

/** strconv.ParseFloat(text, 64): decimal and hex floats, inf/infinity/nan; out of range is an error. */
export function parseGoFloat(text: string): ParsedValue {
  if (decimalFloat.test(text)) {
    const value = Number(text);
    if (Number.isFinite(value)) return { ok: true, value };
    return { ok: false, error: `strconv.ParseFloat: parsing ${goQuote(text)}: value out of range` };
  }
  const special = infinity.exec(text);
  if (special !== null) return { ok: true, value: special[1] === "-" ? -Infinity : Infinity };
  if (/^nan$/i.test(text)) return { ok: true, value: Number.NaN };
  const hex = hexFloat.exec(text);
  if (hex !== null && (hex[2]!.length > 0 || (hex[3] ?? "").length > 0)) {
    const digits = hex[2]! + (hex[3] ?? "");
    const mantissa = digits.length === 0 ? 0 : Number.parseInt(digits, 16);
    const value = mantissa * 2 ** (Number(hex[4]) - 4 * (hex[3] ?? "").length);
    if (Number.isFinite(value)) return { ok: true, value: hex[1] === "-" ? -value : value };
    return { ok: false, error: `strconv.ParseFloat: parsing ${goQuote(text)}: value out of range` };
  }
  return { ok: false, error: `strconv.ParseFloat: parsing ${goQuote(text)}: invalid syntax` };
}

const durationUnitsNs: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};
// Go's time.Duration is an int64 of nanoseconds; a longer duration is an error there.
const durationNsMax = 2 ** 63;

/** time.ParseDuration: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, e.g. `250ms`, `1h2m`, `1.5s`, `0`; in ns. */
export function parseGoDuration(text: string): ParsedValue {
  const invalid = { ok: false, error: `time: invalid duration ${goQuote(text)}` } as const;
  let index = 0;
  let negative = false;
  if (text[0] === "-" || text[0] === "+") {
    negative = text[0] === "-";
    index++;
  }
  if (text.slice(index) === "0") return { ok: true, value: 0 };
  if (index === text.length) return invalid;
  let totalNs = 0;
  while (index < text.length) {
    const char = text[index]!;
    if (char !== "." && (char < "0" || char > "9")) return invalid;
    const start = index;
    while (index < text.length && text[index]! >= "0" && text[index]! <= "9") index++;
    const whole = text.slice(start, index);
    let fraction = "";
    if (text[index] === ".") {
      const fractionStart = ++index;
      while (index < text.length && text[index]! >= "0" && text[index]! <= "9") index++;
      fraction = text.slice(fractionStart, index);
    }
    if (whole === "" && fraction === "") return invalid;
    const unitStart = index;
    while (index < text.length && text[index] !== "." && (text[index]! < "0" || text[index]! > "9")) index++;
    const unit = text.slice(unitStart, index);
    if (unit === "") return { ok: false, error: `time: missing unit in duration ${goQuote(text)}` };
    const unitNs = durationUnitsNs[unit];
    if (unitNs === undefined) {
      return { ok: false, error: `time: unknown unit ${goQuote(unit)} in duration ${goQuote(text)}` };
    }
    // Go truncates the fractional part to whole nanoseconds.
    const wholeNs = Number(whole === "" ? "0" : whole) * unitNs;
    const fractionNs = fraction === "" ? 0 : Math.trunc(Number(`0.${fraction}`) * unitNs);
    totalNs += wholeNs + fractionNs;
    if (totalNs > durationNsMax) return invalid;
  }
  if (!negative && totalNs === durationNsMax) return invalid;
  return { ok: true, value: negative ? -totalNs : totalNs };
}

const bytesUnits: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  ki: 2 ** 10,
  kib: 2 ** 10,
  m: 1e6,
  mb: 1e6,
  mi: 2 ** 20,
  mib: 2 ** 20,
  g: 1e9,
  gb: 1e9,
  gi: 2 ** 30,
  gib: 2 ** 30,
  t: 1e12,
  tb: 1e12,
  ti: 2 ** 40,
  tib: 2 ** 40,
  p: 1e15,
  pb: 1e15,
  pi: 2 ** 50,
  pib: 2 ** 50,
  e: 1e18,
  eb: 1e18,
  ei: 2 ** 60,
  eib: 2 ** 60,
};
const uint64Max = 2 ** 64;
const unicodeDigit = /\p{Nd}/u;

/** go-humanize ParseBytes: `20kB`, `1MiB`, `5 MB`, `1,024`, `42` (bytes); case-insensitive units. */
export function parseHumanBytes(text: string): ParsedValue {
  let end = 0;
  for (const char of text) {
    if (!(char === "." || char === "," || unicodeDigit.test(char))) break;
    end += char.length;
  }
  const number = parseGoFloat(text.slice(0, end).replaceAll(",", ""));
  if (!number.ok) return number;
  const unit = text.slice(end).trim().toLowerCase();
  const multiplier = bytesUnits[unit];
  if (multiplier === undefined) return { ok: false, error: `unhandled size name: ${unit}` };
  const value = number.value * multiplier;
  if (value >= uint64Max) return { ok: false, error: `too large: ${text}` };
  return { ok: true, value: Math.trunc(value) };
}
