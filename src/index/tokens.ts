// What the token filter holds for a line, and what a line-filter literal requires of it. Both sides
// go through the same two steps, which is what makes the filter exact (never a false negative):
//
// 1. Runs. A line is cut into runs of token characters at delimiters (ASCII whitespace, controls and
//    `"'`,;()[]{}<>=|\`). Every other character, `.` `-` `:` `/` `_` and all of non-ASCII included,
//    is a token character, so `10.0.3.7`, `ord-88127361` and a UUID are one run each.
// 2. Folding. Each code point is folded on its own (ASCII A–Z to a–z, ſ to s, K (Kelvin) to k,
//    other non-ASCII through toLowerCase of that code point alone, never of its context).
//
// The filter holds, per run, every k-gram (k = gramLength code units of the folded run) and, for
// runs shorter than k, the whole run ("short token"). A literal that occurs in a line occurs there
// code point for code point, so each of its runs of token characters lies inside one run of the
// line, folded the same way: every k-gram of a literal run is a k-gram of a line run. A literal run
// with a delimiter of the literal on both sides is a whole run of the line: if shorter than k it is
// one of the line's short tokens. Edge runs shorter than k require nothing. That is the whole
// argument; README.md "Exactness" walks through the cases (case-insensitive, unicode, regex).

/** Keys are 53-bit numbers (two 32-bit hashes, 32 + 21 bits), usable in a Set and as bloom probes. */
export type FilterKey = number;

const keyKinds = { gram: 0x3a1e, shortToken: 0x51c7, longGram: 0x6b29 } as const;

// ASCII delimiters: a table so the per-character test is one load.
const isDelimiter = new Uint8Array(128);
for (let code = 0; code <= 0x20; code++) isDelimiter[code] = 1;
isDelimiter[0x7f] = 1;
for (const char of "\"'`,;()[]{}<>=|\\") isDelimiter[char.charCodeAt(0)] = 1;

const nonAsciiFolds = new Map<number, string>([
  [0x017f, "s"], // ſ LATIN SMALL LETTER LONG S: RE2's (?i) matches it with s and S
  [0x212a, "k"], // K KELVIN SIGN: RE2's (?i) matches it with k and K
]);

function foldCodePoint(codePoint: number): string {
  let folded = nonAsciiFolds.get(codePoint);
  if (folded === undefined) {
    folded = String.fromCodePoint(codePoint).toLowerCase();
    // Bound the cache: folding is deterministic, so forgetting only costs time.
    if (nonAsciiFolds.size < 65_536) nonAsciiFolds.set(codePoint, folded);
  }
  return folded;
}

function fmix32(hash: number): number {
  let h = hash ^ (hash >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hashUnits(units: Uint16Array, start: number, end: number, kind: number): FilterKey {
  let a = 0x811c9dc5 ^ kind;
  let b = 0x2f6b9a3d ^ kind;
  for (let i = start; i < end; i++) {
    a = Math.imul(a ^ units[i], 0x01000193);
    b = Math.imul(b ^ units[i], 0x5bd1e995);
  }
  return fmix32(a) * 0x200000 + (fmix32(b ^ (end - start)) >>> 11);
}

/** The two 32-bit halves a bloom probes with (double hashing). */
export function keyHashes(key: FilterKey): [number, number] {
  return [(key % 0x200000) | 0x1, Math.floor(key / 0x200000)];
}

/** One run being folded: its code units, and for each whether it came from a non-ASCII code point. */
class RunBuffer {
  units = new Uint16Array(256);
  fromNonAscii = new Uint8Array(256);
  length = 0;

  push(unit: number, nonAscii: number): void {
    if (this.length === this.units.length) {
      const units = new Uint16Array(this.length * 2);
      units.set(this.units);
      this.units = units;
      const flags = new Uint8Array(this.length * 2);
      flags.set(this.fromNonAscii);
      this.fromNonAscii = flags;
    }
    this.units[this.length] = unit;
    this.fromNonAscii[this.length++] = nonAscii;
  }
}

interface Run {
  /** The run starts at the start of the text (not after a delimiter). */
  atStart: boolean;
  /** The run ends at the end of the text. */
  atEnd: boolean;
}

/** A text as UTF-16 code units (what both a JS string and a decoded JSON string are). */
class UnitText {
  units = new Uint16Array(1024);
  length = 0;

  reserve(length: number): void {
    if (this.units.length < length) this.units = new Uint16Array(Math.max(length, this.units.length * 2));
  }

  setString(text: string): void {
    this.reserve(text.length);
    for (let i = 0; i < text.length; i++) this.units[i] = text.charCodeAt(i);
    this.length = text.length;
  }
}

const hexValue = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) hexValue[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  hexValue[0x41 + i] = 10 + i;
  hexValue[0x61 + i] = 10 + i;
}

const simpleEscapes = new Int32Array(128).fill(-1);
for (const [escapeChar, unit] of [
  ['"', 0x22],
  ["\\", 0x5c],
  ["/", 0x2f],
  ["b", 0x08],
  ["f", 0x0c],
  ["n", 0x0a],
  ["r", 0x0d],
  ["t", 0x09],
] as const)
  simpleEscapes[escapeChar.charCodeAt(0)] = unit;

/**
 * Decodes the JSON string whose content starts at `bytes[start]` (just after its opening quote) into
 * `out` as UTF-16 code units, exactly the string JSON.parse would give: escapes (`\uXXXX` included,
 * a lone surrogate kept as it is) and UTF-8 sequences. Returns the offset just past the closing quote,
 * or -1 when the bytes are not such a string (a caller then decodes the record the slow way).
 */
export function decodeJsonString(bytes: Uint8Array, start: number, out: UnitText): number {
  out.reserve(bytes.length - start);
  const units = out.units;
  let length = 0;
  let i = start;
  while (i < bytes.length) {
    const byte = bytes[i];
    if (byte === 0x22) {
      out.length = length;
      return i + 1;
    }
    if (byte < 0x80) {
      if (byte < 0x20) return -1; // a raw control character is not JSON
      if (byte !== 0x5c) {
        units[length++] = byte;
        i++;
        continue;
      }
      const escaped = bytes[i + 1];
      if (escaped === undefined || escaped >= 0x80) return -1;
      if (escaped !== 0x75) {
        const unit = simpleEscapes[escaped];
        if (unit < 0) return -1;
        units[length++] = unit;
        i += 2;
        continue;
      }
      let unit = 0;
      for (let j = 2; j < 6; j++) {
        const digit = bytes[i + j] ?? 0x80;
        const value = digit < 0x80 ? hexValue[digit] : -1;
        if (value < 0) return -1;
        unit = (unit << 4) | value;
      }
      units[length++] = unit;
      i += 6;
      continue;
    }
    // UTF-8: 2, 3 or 4 bytes. The log stores what ingest encoded, so only well-formed sequences are
    // taken; anything else is left to the slow path (which decodes with replacement, as reads do).
    let codePoint: number;
    let size: number;
    if (byte >= 0xc2 && byte <= 0xdf) {
      size = 2;
      codePoint = byte & 0x1f;
    } else if (byte >= 0xe0 && byte <= 0xef) {
      size = 3;
      codePoint = byte & 0x0f;
    } else if (byte >= 0xf0 && byte <= 0xf4) {
      size = 4;
      codePoint = byte & 0x07;
    } else return -1;
    for (let j = 1; j < size; j++) {
      const next = bytes[i + j];
      if (next === undefined || (next & 0xc0) !== 0x80) return -1;
      codePoint = (codePoint << 6) | (next & 0x3f);
    }
    if (
      (size === 3 && (codePoint < 0x800 || (codePoint >= 0xd800 && codePoint <= 0xdfff))) ||
      (size === 4 && (codePoint < 0x10000 || codePoint > 0x10ffff))
    )
      return -1;
    if (codePoint >= 0x10000) {
      codePoint -= 0x10000;
      units[length++] = 0xd800 + (codePoint >> 10);
      units[length++] = 0xdc00 + (codePoint & 0x3ff);
    } else units[length++] = codePoint;
    i += size;
  }
  return -1;
}

/**
 * Calls `onRun` for each run of token characters of the text in `text`, with `buffer` holding its
 * folded units. Returns false (and stops) when the text holds a lone surrogate and
 * `stopOnLoneSurrogate`: such a literal could match half of a pair, so it gets no requirements
 * (lines with one are indexed as they fold, which is consistent).
 */
function forEachRun(
  text: UnitText,
  buffer: RunBuffer,
  onRun: (run: Run) => void,
  stopOnLoneSurrogate: boolean,
): boolean {
  const { units, length } = text;
  buffer.length = 0;
  let runStart = -1;
  const flush = (end: number) => {
    if (buffer.length > 0) onRun({ atStart: runStart === 0, atEnd: end === length });
    buffer.length = 0;
    runStart = -1;
  };
  for (let i = 0; i < length; i++) {
    const code = units[i];
    if (code < 0x80) {
      if (isDelimiter[code] === 1) {
        flush(i);
        continue;
      }
      if (runStart < 0) runStart = i;
      buffer.push(code >= 0x41 && code <= 0x5a ? code + 0x20 : code, 0);
      continue;
    }
    let codePoint = code;
    const start = i;
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < length) {
      const low = units[i + 1];
      if (low >= 0xdc00 && low <= 0xdfff) {
        codePoint = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (codePoint === code && code >= 0xd800 && code <= 0xdfff && stopOnLoneSurrogate) return false;
    if (runStart < 0) runStart = start;
    const folded = foldCodePoint(codePoint);
    for (let j = 0; j < folded.length; j++) buffer.push(folded.charCodeAt(j), 1);
  }
  flush(length);
  return true;
}

const lineBuffer = new RunBuffer();
let gramKeys = new Float64Array(256);

/**
 * The filter's shape: grams of `gramLength` code units, one kept per window of `windowGrams` grams;
 * and, for runs long enough, also grams of `longGramLength` units, one per window of as many grams
 * (0: none). Short grams saturate on high-cardinality tokens made of few characters (8-digit order
 * ids: 10,000 possible 4-grams, most of them in every block of such lines); long grams do not.
 */
export interface GramShape {
  gramLength: number;
  windowGrams: number;
  longGramLength: number;
}

/** Runs with fewer grams than a window are kept whole (as a short token) instead. */
const isShortRun = (length: number, shape: GramShape) => length - shape.gramLength + 1 < shape.windowGrams;

/** Runs with at least a window of long grams get long-gram keys too (the same rule, with longer grams). */
const hasLongGrams = (length: number, shape: GramShape) =>
  shape.longGramLength > 0 && length - shape.longGramLength + 1 >= shape.windowGrams;

/**
 * Calls `onKey` with the minimizer of every window of `windowGrams` consecutive grams of units[0, length):
 * the window's gram with the smallest key, the leftmost of equal ones, so it depends only on the
 * window's content. `certain` (optional) says which grams may be used; a window with any other is skipped.
 */
function forEachMinimizer(
  units: Uint16Array,
  length: number,
  gramLength: number,
  windowGrams: number,
  kind: number,
  onKey: (key: FilterKey) => void,
  certain?: (gram: number) => boolean,
): void {
  const gramCount = length - gramLength + 1;
  if (gramKeys.length < gramCount) gramKeys = new Float64Array(gramCount * 2);
  for (let i = 0; i < gramCount; i++) gramKeys[i] = hashUnits(units, i, i + gramLength, kind);
  let previous = -1;
  for (let start = 0; start + windowGrams <= gramCount; start++) {
    let best = start;
    let usable = certain === undefined || certain(start);
    for (let i = start + 1; i < start + windowGrams; i++) {
      if (gramKeys[i] < gramKeys[best]) best = i;
      if (certain !== undefined && !certain(i)) usable = false;
    }
    if (usable && best !== previous) onKey(gramKeys[best]);
    previous = best;
  }
}

/**
 * Adds the filter keys of `line` to `keys`: for each run, the minimizer of every window of grams, or
 * the whole run when it is shorter than one window.
 */
export function addLineKeys(line: string, shape: GramShape, keys: Set<FilterKey>): void {
  lineText.setString(line);
  addTextKeys(lineText, shape, keys);
}

/**
 * addLineKeys for a line still in its JSON form: the string whose content starts at `bytes[start]`
 * (after its opening quote) is decoded into code units and keyed exactly as addLineKeys keys the
 * string JSON.parse would return. Returns the offset past the closing quote, or -1 (nothing added)
 * when the bytes are not a well-formed JSON string.
 */
export function addJsonLineKeys(
  bytes: Uint8Array,
  start: number,
  shape: GramShape,
  keys: Set<FilterKey>,
): number {
  const end = decodeJsonLine(bytes, start);
  if (end >= 0) addDecodedLineKeys(shape, keys);
  return end;
}

/**
 * addJsonLineKeys in two steps, for a caller that checks what follows the string before keying it:
 * decodes the JSON string whose content starts at `bytes[start]` (returns the offset past its
 * closing quote, or -1), then addDecodedLineKeys keys the string last decoded.
 */
export function decodeJsonLine(bytes: Uint8Array, start: number): number {
  return decodeJsonString(bytes, start, lineText);
}

export function addDecodedLineKeys(shape: GramShape, keys: Set<FilterKey>): void {
  addTextKeys(lineText, shape, keys);
}

const lineText = new UnitText();

function addTextKeys(text: UnitText, shape: GramShape, keys: Set<FilterKey>): void {
  const add = (key: FilterKey) => keys.add(key);
  forEachRun(
    text,
    lineBuffer,
    () => {
      const { units, length } = lineBuffer;
      const { gramLength, windowGrams, longGramLength } = shape;
      if (isShortRun(length, shape)) keys.add(hashUnits(units, 0, length, keyKinds.shortToken));
      else forEachMinimizer(units, length, gramLength, windowGrams, keyKinds.gram, add);
      if (hasLongGrams(length, shape))
        forEachMinimizer(units, length, longGramLength, windowGrams, keyKinds.longGram, add);
    },
    false,
  );
}

const literalBuffer = new RunBuffer();
const literalText = new UnitText();

/**
 * The keys every line containing `literal` has in its filter (substring match; with
 * `caseInsensitive`, as RE2's `(?i)` or a case-insensitive JS match). Empty when the literal requires
 * nothing the filter can check (short, empty, or a lone surrogate): such a literal never prunes.
 */
export function literalKeys(literal: string, caseInsensitive: boolean, shape: GramShape): FilterKey[] {
  const keys: FilterKey[] = [];
  const add = (key: FilterKey) => keys.push(key);
  literalText.setString(literal);
  const complete = forEachRun(
    literalText,
    literalBuffer,
    (run) => {
      const { units, fromNonAscii, length } = literalBuffer;
      // Case-insensitively, a non-ASCII character may match characters that fold differently one
      // code point at a time (σ, ς, Σ): only keys made of ASCII-derived units are certain.
      const certainUnits = (start: number, end: number) => {
        if (!caseInsensitive) return true;
        for (let i = start; i < end; i++) if (fromNonAscii[i] === 1) return false;
        return true;
      };
      if (isShortRun(length, shape)) {
        // Only a run with a delimiter of the literal on both sides is a whole run of the line.
        if (!run.atStart && !run.atEnd && certainUnits(0, length))
          keys.push(hashUnits(units, 0, length, keyKinds.shortToken));
        return;
      }
      const { gramLength, windowGrams, longGramLength } = shape;
      forEachMinimizer(
        units,
        length,
        gramLength,
        windowGrams,
        keyKinds.gram,
        add,
        caseInsensitive ? (gram) => certainUnits(gram, gram + gramLength) : undefined,
      );
      if (hasLongGrams(length, shape))
        forEachMinimizer(
          units,
          length,
          longGramLength,
          windowGrams,
          keyKinds.longGram,
          add,
          caseInsensitive ? (gram) => certainUnits(gram, gram + longGramLength) : undefined,
        );
    },
    true,
  );
  return complete ? [...new Set(keys)] : [];
}
