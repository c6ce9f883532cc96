// The LogQL log pipeline, evaluated per line: line filters, `| json`, `| logfmt`, label filters,
// `| line_format`, `| drop`, `| keep`, with Loki 3's semantics (pkg/logql/log). Compiled once per
// query into closures over one mutable per-line state, so a line costs no allocation beyond what
// its stages produce: a query of line filters alone hands back the entry itself.
//
// The label model follows Loki's LabelsBuilder: a line sees its stream labels, its structured
// metadata (a name already used by a stream label becomes `name_extracted`) and the labels parsers
// extract (same rule against both). Lookups find extracted, then metadata, then stream labels; a
// stream label with an empty value counts as absent, as in Loki. `__error__` and
// `__error_details__` live beside the labels: parsers overwrite them, label filters set them only
// when unset, and only a string label filter on `__error__` itself (and drop/keep) reads them.
// Within one line the first extraction of a name wins (Loki records extracted names so a second
// parser or a repeated key does not overwrite them); `json name="path"` extractions overwrite.

import type { LabelSet, LogEntry } from "../../model/stream.ts";
import type {
  CompareOp,
  DropKeepStage,
  LabelFilter,
  LabelMatcher,
  LineFilterStage,
  LineFormatStage,
  ParserStage,
  PipelineStage,
} from "../ast.ts";
import { queryErrorCodes } from "../errors.ts";
import { type CompiledRegex, compileRegex, regexAnchorings } from "../regex.ts";
import { checkTemplate } from "../template.ts";
import {
  findJsonPath,
  JsonLineError,
  JsonPathError,
  type JsonPathStep,
  parseJsonPath,
  replaceInvalidUtf8,
  unescapeJson,
  walkJsonObject,
} from "./json.ts";
import { LogfmtDecoder } from "./logfmt.ts";
import { type ParsedValue, parseGoDuration, parseGoFloat, parseHumanBytes } from "./values.ts";

/** An entry after the pipeline: its final labels (stream labels + structured metadata + extracted labels, incl. __error__/__error_details__ when set), and its (possibly reformatted) line. */
export interface ProcessedEntry {
  readonly timestampNs: bigint;
  readonly labels: LabelSet;
  readonly line: string;
}

export interface CompiledPipeline {
  /** null when a stage drops the entry. The result may be the entry itself (nothing changed). */
  process(entry: LogEntry): ProcessedEntry | null;
  /** Frees re2-wasm regexes (compileRegex objects must be closed). Idempotent. */
  close(): void;
}

/** Stream selector matching (used by sources and the evaluator): all matchers must hold; a missing label is "". */
export interface CompiledMatchers {
  matches(labels: LabelSet): boolean;
  close(): void;
}

/** A pipeline Loki would refuse to build (a bad JSON path, a template outside the subset). */
export class PipelineError extends Error {
  readonly code = queryErrorCodes.invalid;
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "PipelineError";
  }
}

export const pipelineErrorLabels = {
  error: "__error__",
  errorDetails: "__error_details__",
  json: "JSONParserErr",
  logfmt: "LogfmtParserErr",
  labelFilter: "LabelFilterErr",
} as const;

const duplicateSuffix = "_extracted";

// ---- the per-line state (Loki's LabelsBuilder) -------------------------------------------------

// Parsed labels past this count also get a Map index; below it a linear scan of the names beats a
// Map that is cleared and refilled per line (a Map-based state measured ~2× slower per JSON line,
// bench/query-pipeline.bench.ts), and above it a line with thousands of keys stays linear.
const parsedScanMax = 16;

/**
 * The labels parsers extracted on the current line, in extraction order. A deleted entry stays as a
 * tombstone, because Loki remembers the name as extracted: later parsers do not extract it again.
 */
class ParsedLabels {
  // Slots are reused from line to line (count resets, the arrays keep their capacity): shrinking
  // three arrays per line showed up as ~5% of a JSON line's profile.
  readonly names: string[] = [];
  readonly values: string[] = [];
  readonly alive: boolean[] = [];
  private index: Map<string, number> | null = null;
  length = 0;
  aliveCount = 0;

  find(name: string): number {
    if (this.index !== null) return this.index.get(name) ?? -1;
    const names = this.names;
    for (let position = 0; position < this.length; position++) if (names[position] === name) return position;
    return -1;
  }

  get(name: string): string | undefined {
    const position = this.find(name);
    return position >= 0 && this.alive[position] ? this.values[position] : undefined;
  }

  has(name: string): boolean {
    const position = this.find(name);
    return position >= 0 && this.alive[position]!;
  }

  set(name: string, value: string): void {
    const position = this.find(name);
    if (position >= 0) {
      this.values[position] = value;
      if (!this.alive[position]) this.aliveCount++;
      this.alive[position] = true;
      return;
    }
    const at = this.length++;
    this.names[at] = name;
    this.values[at] = value;
    this.alive[at] = true;
    this.aliveCount++;
    if (this.index !== null) this.index.set(name, at);
    else if (this.length > parsedScanMax) {
      this.index = new Map();
      for (let each = 0; each < this.length; each++) this.index.set(this.names[each]!, each);
    }
  }

  delete(name: string): void {
    const position = this.find(name);
    if (position >= 0 && this.alive[position]) {
      this.alive[position] = false;
      this.aliveCount--;
    }
  }

  /** Forgets every entry after the first `count`, as if never extracted. */
  truncate(count: number): void {
    for (let position = count; position < this.length; position++) {
      if (this.alive[position]) this.aliveCount--;
      this.index?.delete(this.names[position]!);
    }
    this.length = count;
  }

  clear(): void {
    this.length = 0;
    this.aliveCount = 0;
    this.index = null;
    // Slots past `length` still hold last line's strings; a line with more keys than any before it
    // keeps its strings alive until the next such line. Bounded by the largest line.
  }
}

const byName = (left: readonly [string, string], right: readonly [string, string]) =>
  left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : 0;

class LineState {
  timestampNs = 0n;
  line = "";
  stream: LabelSet = [];
  /** Structured metadata, already renamed where it clashes with a stream label. */
  readonly metadata = new Map<string, string>();
  readonly parsed = new ParsedLabels();
  /** Names deleted by drop/keep: hide the stream label of that name. */
  readonly deleted = new Set<string>();
  error = "";
  errorDetails = "";

  reset(entry: LogEntry): void {
    this.timestampNs = entry.timestampNs;
    this.line = entry.line;
    this.stream = entry.labels;
    if (this.metadata.size > 0) this.metadata.clear();
    this.parsed.clear();
    if (this.deleted.size > 0) this.deleted.clear();
    this.error = "";
    this.errorDetails = "";
    for (const [name, value] of entry.metadata) {
      const renamed = this.streamHas(name) ? name + duplicateSuffix : name;
      if (renamed === pipelineErrorLabels.error) this.error = value;
      else if (renamed === pipelineErrorLabels.errorDetails) this.errorDetails = value;
      else this.metadata.set(renamed, value);
    }
  }

  /** Loki's BaseHas: the stream has the label, deleted or not. */
  streamHas(name: string): boolean {
    for (const label of this.stream) if (label[0] === name) return true;
    return false;
  }

  /** Whether a parser must rename `name` to `name_extracted`. */
  clashes(name: string): boolean {
    return this.streamHas(name) || (this.metadata.size > 0 && this.metadata.has(name));
  }

  /** Whether a parser already extracted `name` on this line (deleted since or not). */
  extracted(name: string): boolean {
    return this.parsed.find(name) >= 0;
  }

  /** The label's value, undefined when absent (an empty stream label is absent, as in Loki). */
  get(name: string): string | undefined {
    if (this.parsed.aliveCount > 0) {
      const parsed = this.parsed.get(name);
      if (parsed !== undefined) return parsed;
    }
    if (this.metadata.size > 0) {
      const metadata = this.metadata.get(name);
      if (metadata !== undefined) return metadata;
    }
    if (this.deleted.size > 0 && this.deleted.has(name)) return undefined;
    for (const label of this.stream) if (label[0] === name) return label[1] === "" ? undefined : label[1];
    return undefined;
  }

  setParsed(name: string, value: string): void {
    if (this.metadata.size > 0) this.metadata.delete(name);
    this.parsed.set(name, value);
  }

  /** Removes the labels parsed after the first `count` (json's undo of an abandoned object). */
  undoParsed(count: number): void {
    this.parsed.truncate(count);
  }

  delete(name: string): void {
    this.parsed.delete(name);
    this.metadata.delete(name);
    this.deleted.add(name);
  }

  /** Parsers overwrite the error; label filters call this only when no error is set yet. */
  setError(error: string, details: string | null): void {
    this.error = error;
    if (details !== null) this.errorDetails = details;
  }

  /**
   * A stream label still visible: not deleted. (Metadata and parsed labels never share a stream
   * label's name: both are renamed `_extracted` on a clash, so they cannot hide one.)
   */
  private streamVisible(name: string): boolean {
    return this.deleted.size === 0 || !this.deleted.has(name);
  }

  /** Every visible label (error labels excluded), as Loki's keep stage walks them. */
  visibleNames(): string[] {
    const names: string[] = [];
    for (const [name] of this.stream) if (this.streamVisible(name)) names.push(name);
    for (const name of this.metadata.keys()) names.push(name);
    const parsed = this.parsed;
    for (let position = 0; position < parsed.length; position++) {
      if (parsed.alive[position]) names.push(parsed.names[position]!);
    }
    return names;
  }

  unchanged(): boolean {
    return (
      this.metadata.size === 0 &&
      this.parsed.aliveCount === 0 &&
      this.deleted.size === 0 &&
      this.error === "" &&
      this.errorDetails === ""
    );
  }

  labels(): LabelSet {
    if (this.unchanged()) return this.stream;
    const out: (readonly [string, string])[] = [];
    for (const label of this.stream) if (this.streamVisible(label[0])) out.push(label);
    for (const pair of this.metadata) out.push(pair);
    const parsed = this.parsed;
    for (let position = 0; position < parsed.length; position++) {
      if (!parsed.alive[position]) continue;
      const name = parsed.names[position]!;
      // A JSON key `__error__` loses to the error itself (Loki would print both).
      if (name === pipelineErrorLabels.error && this.error !== "") continue;
      if (name === pipelineErrorLabels.errorDetails && this.errorDetails !== "") continue;
      out.push([name, parsed.values[position]!]);
    }
    if (this.error !== "") out.push([pipelineErrorLabels.error, this.error]);
    if (this.errorDetails !== "") out.push([pipelineErrorLabels.errorDetails, this.errorDetails]);
    return out.sort(byName);
  }
}

/** One compiled stage: false drops the line. */
type Step = (state: LineState) => boolean;

interface Resources {
  readonly regexes: CompiledRegex[];
}

// ---- public entry points ------------------------------------------------------------------------

export function compilePipeline(stages: readonly PipelineStage[]): CompiledPipeline {
  const resources: Resources = { regexes: [] };
  const steps: Step[] = [];
  try {
    for (const stage of stages) steps.push(compileStage(stage, resources));
  } catch (error) {
    closeAll(resources);
    throw error;
  }
  const state = new LineState();
  return {
    process(entry) {
      state.reset(entry);
      for (const step of steps) if (!step(state)) return null;
      // Fast path: nothing changed the labels or the line, so the entry itself is the answer.
      if (state.line === entry.line && state.unchanged()) return entry;
      return { timestampNs: state.timestampNs, labels: state.labels(), line: state.line };
    },
    close: () => closeAll(resources),
  };
}

export function compileMatchers(matchers: readonly LabelMatcher[]): CompiledMatchers {
  const resources: Resources = { regexes: [] };
  const compiled: { name: string; test: (value: string) => boolean }[] = [];
  try {
    for (const matcher of matchers)
      compiled.push({ name: matcher.name, test: compileMatcher(matcher, resources) });
  } catch (error) {
    closeAll(resources);
    throw error;
  }
  return {
    matches(labels) {
      for (const { name, test } of compiled) {
        let value = "";
        for (const label of labels) {
          if (label[0] === name) {
            value = label[1];
            break;
          }
        }
        if (!test(value)) return false;
      }
      return true;
    },
    close: () => closeAll(resources),
  };
}

/** Line filters alone (a source's index may pre-check them): true when the line passes every stage. */
export function compileLineFilters(stages: readonly LineFilterStage[]): {
  matches(line: string): boolean;
  close(): void;
} {
  const resources: Resources = { regexes: [] };
  const tests: ((line: string) => boolean)[] = [];
  try {
    for (const stage of stages) tests.push(compileLineFilter(stage, resources));
  } catch (error) {
    closeAll(resources);
    throw error;
  }
  return {
    matches(line) {
      for (const test of tests) if (!test(line)) return false;
      return true;
    },
    close: () => closeAll(resources),
  };
}

function closeAll(resources: Resources): void {
  for (const regex of resources.regexes) regex.close();
  resources.regexes.length = 0;
}

function compileStage(stage: PipelineStage, resources: Resources): Step {
  switch (stage.kind) {
    case "lineFilter": {
      const test = compileLineFilter(stage, resources);
      return (state) => test(state.line);
    }
    case "parser":
      return stage.parser === "json" ? compileJson(stage) : compileLogfmt(stage);
    case "labelFilter": {
      const filter = compileLabelFilter(stage.filter, resources);
      return filter;
    }
    case "lineFormat":
      return compileLineFormat(stage);
    case "drop":
    case "keep":
      return compileDropKeep(stage, resources);
  }
}

// ---- line filters -------------------------------------------------------------------------------

function compileLineFilter(stage: LineFilterStage, resources: Resources): (line: string) => boolean {
  const positive = stage.op === "|=" || stage.op === "|~";
  let tests: ((line: string) => boolean)[];
  if (stage.op === "|=" || stage.op === "!=") {
    // `|= ""` matches every line (Loki: TrueFilter), so `!= ""` drops every line.
    if (stage.values.includes("")) return () => positive;
    if (stage.values.length === 1) {
      const value = stage.values[0]!;
      return positive ? (line) => line.includes(value) : (line) => !line.includes(value);
    }
    const values = stage.values;
    tests = values.map((value) => (line: string) => line.includes(value));
  } else {
    tests = stage.values.map((pattern) => {
      const regex = compileRegex(pattern, regexAnchorings.substring);
      resources.regexes.push(regex);
      return (line: string) => regex.test(line);
    });
    if (tests.length === 1) {
      const test = tests[0]!;
      return positive ? test : (line) => !test(line);
    }
  }
  const any = (line: string) => {
    for (const test of tests) if (test(line)) return true;
    return false;
  };
  return positive ? any : (line) => !any(line);
}

// ---- matchers (selectors, string label filters, drop/keep items) --------------------------------

function compileMatcher(matcher: LabelMatcher, resources: Resources): (value: string) => boolean {
  const expected = matcher.value;
  switch (matcher.op) {
    case "=":
      return (value) => value === expected;
    case "!=":
      return (value) => value !== expected;
    case "=~":
    case "!~": {
      // Prometheus anchoring `^(?s:…)$`. Loki's label filters anchor `^(?:…)$` without `s`, so `.`
      // there does not match a newline inside a label value; Sluice matches it (documented).
      const regex = compileRegex(expected, regexAnchorings.fullValue);
      resources.regexes.push(regex);
      return matcher.op === "=~" ? (value) => regex.test(value) : (value) => !regex.test(value);
    }
  }
}

// ---- label filters ------------------------------------------------------------------------------

function compileLabelFilter(filter: LabelFilter, resources: Resources): Step {
  switch (filter.kind) {
    case "and": {
      const left = compileLabelFilter(filter.left, resources);
      const right = compileLabelFilter(filter.right, resources);
      // Loki evaluates the right side even when the left failed (it may set __error__).
      return (state) => {
        const leftPassed = left(state);
        const rightPassed = right(state);
        return leftPassed && rightPassed;
      };
    }
    case "or": {
      const left = compileLabelFilter(filter.left, resources);
      const right = compileLabelFilter(filter.right, resources);
      return (state) => left(state) || right(state);
    }
    case "string": {
      const name = filter.matcher.name;
      const test = compileMatcher(filter.matcher, resources);
      // Only `__error__` is read from the error slot; `__error_details__` is looked up as a label
      // and so is always "" here, as in Loki.
      if (name === pipelineErrorLabels.error) return (state) => test(state.error);
      return (state) => test(state.get(name) ?? "");
    }
    case "number":
      return comparison(filter.name, filter.op, filter.value, parseGoFloat);
    case "duration":
      return comparison(filter.name, filter.op, filter.valueNs, parseGoDuration);
    case "bytes":
      return comparison(filter.name, filter.op, filter.valueBytes, parseHumanBytes);
  }
}

const compare: Record<CompareOp, (left: number, right: number) => boolean> = {
  "==": (left, right) => left === right,
  "!=": (left, right) => left !== right,
  ">": (left, right) => left > right,
  ">=": (left, right) => left >= right,
  "<": (left, right) => left < right,
  "<=": (left, right) => left <= right,
};

/**
 * Loki's numeric filters: a line without the label is dropped; a value that does not parse keeps the
 * line and marks it LabelFilterErr (unless an earlier stage already set an error) so users see why.
 */
function comparison(
  name: string,
  op: CompareOp,
  expected: number,
  parse: (text: string) => ParsedValue,
): Step {
  const holds = compare[op];
  return (state) => {
    const text = state.get(name);
    if (text === undefined) return false;
    const parsed = parse(text);
    if (!parsed.ok) {
      if (state.error === "") state.setError(pipelineErrorLabels.labelFilter, parsed.error);
      return true;
    }
    return holds(parsed.value, expected);
  };
}

// ---- | json ----------------------------------------------------------------------------------------

/** [A-Za-z0-9_] */
const isNameCode = (code: number) =>
  (code >= 0x61 && code <= 0x7a) ||
  (code >= 0x41 && code <= 0x5a) ||
  (code >= 0x30 && code <= 0x39) ||
  code === 0x5f;

/** A valid label name as is: non-empty, [A-Za-z0-9_] only, not starting with a digit. */
function isCleanName(key: string): boolean {
  if (key.length === 0) return false;
  const first = key.charCodeAt(0);
  if (first >= 0x30 && first <= 0x39) return false;
  for (let index = 0; index < key.length; index++) if (!isNameCode(key.charCodeAt(index))) return false;
  return true;
}

/**
 * Appends one key to a sanitised name as Loki builds JSON label names: the key is trimmed (empty
 * keys vanish), every character outside [A-Za-z0-9_] becomes `_`, parts are joined with `_`, and a
 * name starting with a digit gets a leading `_`.
 */
function appendSanitized(prefix: string, key: string): string {
  if (isCleanName(key)) return prefix === "" ? key : `${prefix}_${key}`; // the common case
  const trimmed = key.trim();
  if (trimmed === "") return prefix;
  const first = trimmed.charCodeAt(0);
  let out = prefix === "" ? (first >= 0x30 && first <= 0x39 ? "_" : "") : `${prefix}_`;
  for (const char of trimmed) out += char.length === 1 && isNameCode(char.charCodeAt(0)) ? char : "_";
  return out;
}

function compileJson(stage: ParserStage): Step {
  if (stage.extractions.length > 0) return compileJsonExtractions(stage);
  const prefixes: string[] = [];
  // parsed.length when each open nested object was entered, to undo it (see abandonedLevel).
  const marks: number[] = [];
  let state: LineState;
  const visitor = {
    enter(key: string): void {
      prefixes.push(appendSanitized(prefixes.at(-1) ?? "", key));
      marks.push(state.parsed.length);
    },
    leave(): void {
      prefixes.pop();
      marks.pop();
    },
    value(key: string, value: string): void {
      const prefix = prefixes.length === 0 ? "" : prefixes[prefixes.length - 1]!;
      let name = appendSanitized(prefix, key);
      // Loki would make a label with an empty name here (`{" ": {" ": "v"}}`); Prometheus label
      // names cannot be empty and the API could not print it, so Sluice skips it.
      if (name === "") return;
      if (state.clashes(name)) name += duplicateSuffix;
      if (state.extracted(name)) return;
      state.setParsed(name, value);
    },
  };
  return (current) => {
    state = current;
    prefixes.length = 0;
    marks.length = 0;
    try {
      walkJsonObject(current.line, visitor);
    } catch (error) {
      if (!(error instanceof JsonLineError)) throw error;
      if (error.abandonedLevel !== null) current.undoParsed(marks[error.abandonedLevel - 1]!);
      current.setError(pipelineErrorLabels.json, error.message);
    }
    return true;
  };
}

function compileJsonExtractions(stage: ParserStage): Step {
  const extractions = stage.extractions.map((extraction) => {
    const expression = extraction.expression ?? extraction.label;
    let path: JsonPathStep[];
    try {
      path = parseJsonPath(expression);
    } catch (error) {
      if (error instanceof JsonPathError) throw new PipelineError(error.message, error);
      throw error;
    }
    return { label: extraction.label, path };
  });
  return (state) => {
    const line = state.line;
    if (line === "") return true;
    const first = line.charCodeAt(0);
    if (first !== 0x22 && first !== 0x7b && first !== 0x5b) {
      state.setError(pipelineErrorLabels.json, null);
      return true;
    }
    for (const { label, path } of extractions) {
      let found: ReturnType<typeof findJsonPath>;
      try {
        found = findJsonPath(line, path);
      } catch (error) {
        if (!(error instanceof JsonLineError)) throw error;
        state.setError(pipelineErrorLabels.json, error.message);
        continue;
      }
      if (found === null) {
        if (state.get(label) === undefined) state.setParsed(label, "");
        continue;
      }
      const name = state.clashes(label) ? label + duplicateSuffix : label;
      // Loki: null → "", an object → its JSON text, anything else through the string unescaping.
      const value =
        found.type === "null"
          ? ""
          : found.type === "object"
            ? found.raw
            : replaceInvalidUtf8(unescapeJson(found.raw) ?? "");
      state.setParsed(name, value);
    }
    return true;
  };
}

// ---- | logfmt --------------------------------------------------------------------------------------

function compileLogfmt(stage: ParserStage): Step {
  const strict = stage.flags.includes("--strict");
  const keepEmpty = stage.flags.includes("--keep-empty");
  const decoder = new LogfmtDecoder();
  if (stage.extractions.length > 0) return compileLogfmtExtractions(stage, strict, decoder);
  return (state) => {
    decoder.reset(state.line);
    while (!decoder.atEnd()) {
      if (!decoder.scan()) {
        if (strict) break;
        continue;
      }
      let name = appendSanitized("", decoder.key);
      if (name === "") continue;
      if (state.clashes(name)) name += duplicateSuffix;
      if (state.extracted(name)) continue;
      const value = replaceInvalidUtf8(decoder.value);
      if (!keepEmpty && value === "") continue;
      state.setParsed(name, value);
    }
    if (strict && decoder.error !== null) state.setError(pipelineErrorLabels.logfmt, decoder.error);
    return true;
  };
}

const logfmtKey = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `| logfmt a, b="c"`: only the named keys, `c` stored as `b`. As in Loki every named label is first
 * set to "" (unless a stream or metadata label has the name), a key equal to a label's name is taken
 * as is, a later occurrence overwrites an earlier one, empty values are kept, a value holding U+FFFD
 * becomes "", and a key an earlier parser extracted is not read again (`| logfmt | logfmt c="b"`
 * leaves c empty).
 */
function compileLogfmtExtractions(stage: ParserStage, strict: boolean, decoder: LogfmtDecoder): Step {
  const labels = new Set<string>();
  const labelByKey = new Map<string, string>();
  for (const extraction of stage.extractions) {
    const key = extraction.expression ?? extraction.label;
    if (!logfmtKey.test(key)) throw new PipelineError(`cannot parse expression [${key}]: syntax error`);
    labels.add(extraction.label);
    if (!labelByKey.has(key)) labelByKey.set(key, extraction.label);
  }
  return (state) => {
    for (const label of labels) if (!state.clashes(label)) state.setParsed(label, "");
    decoder.reset(state.line);
    while (!decoder.atEnd()) {
      if (!decoder.scan()) {
        if (strict) break;
        continue;
      }
      const key = appendSanitized("", decoder.key);
      if (key === "") continue;
      // A key an earlier parser already extracted is skipped, unless it is one of the labels named.
      if (!labels.has(key) && state.extracted(key)) continue;
      let name = labelByKey.get(key) ?? (labels.has(key) ? key : undefined);
      if (name === undefined) continue;
      if (state.clashes(name)) {
        name += duplicateSuffix;
        if (state.extracted(name)) break;
      }
      state.setParsed(name, decoder.value.includes("\ufffd") ? "" : decoder.value);
    }
    if (strict && decoder.error !== null) state.setError(pipelineErrorLabels.logfmt, decoder.error);
    return true;
  };
}

// ---- | line_format ---------------------------------------------------------------------------------

type TemplatePart = { readonly text: string } | { readonly label: string } | { readonly line: true };

/** Splits the supported subset (checkTemplate) into text and actions, applying `{{-`/`-}}` trimming. */
export function parseLineTemplate(template: string): TemplatePart[] {
  const problem = checkTemplate(template);
  if (problem !== null) {
    throw new PipelineError(
      problem.unsupported ? `line_format ${problem.action} is not supported` : problem.message,
    );
  }
  const parts: TemplatePart[] = [];
  let index = 0;
  let trimNextText = false;
  for (;;) {
    const open = template.indexOf("{{", index);
    let text = template.slice(index, open < 0 ? template.length : open);
    if (trimNextText) text = text.replace(/^[ \t\r\n]+/, "");
    if (open < 0) {
      if (text !== "") parts.push({ text });
      return parts;
    }
    const close = template.indexOf("}}", open + 2);
    const inner = template.slice(open + 2, close);
    if (/^-\s/.test(inner)) text = text.replace(/[ \t\r\n]+$/, "");
    if (text !== "") parts.push({ text });
    trimNextText = /\s-$/.test(inner);
    const action = inner.replace(/^-\s/, "").replace(/\s-$/, "").trim();
    parts.push(action === "__line__" ? { line: true } : { label: action.slice(1) });
    index = close + 2;
  }
}

function compileLineFormat(stage: LineFormatStage): Step {
  const parts = parseLineTemplate(stage.template);
  const only = parts.length === 1 ? parts[0]! : null;
  if (parts.length === 0) {
    return (state) => {
      state.line = "";
      return true;
    };
  }
  if (only !== null && "text" in only) {
    const text = only.text;
    return (state) => {
      state.line = text;
      return true;
    };
  }
  // Loki's fast path for a template that is one `{{.name}}`: a plain lookup, which does not see the
  // error labels (the general path renders from a map that holds them).
  if (only !== null && "label" in only) {
    const name = only.label;
    return (state) => {
      state.line = state.get(name) ?? "";
      return true;
    };
  }
  return (state) => {
    let out = "";
    for (const part of parts) {
      if ("text" in part) out += part.text;
      else if ("line" in part) out += state.line;
      else if (part.label === pipelineErrorLabels.error) out += state.error;
      else if (part.label === pipelineErrorLabels.errorDetails) out += state.errorDetails;
      else out += state.get(part.label) ?? "";
    }
    state.line = out;
    return true;
  };
}

// ---- | drop, | keep ----------------------------------------------------------------------------------

const isErrorLabel = (name: string) =>
  name === pipelineErrorLabels.error ||
  name === pipelineErrorLabels.errorDetails ||
  name === "__preserve_error__";

function compileDropKeep(stage: DropKeepStage, resources: Resources): Step {
  const items = stage.labels.map((item) => ({
    name: item.matcher?.name ?? item.name,
    test: item.matcher === null ? null : compileMatcher(item.matcher, resources),
  }));
  if (stage.kind === "drop") {
    return (state) => {
      for (const { name, test } of items) {
        if (name === pipelineErrorLabels.error) {
          if (test === null || test(state.error)) state.error = "";
        } else if (name === pipelineErrorLabels.errorDetails) {
          if (test === null || test(state.errorDetails)) state.errorDetails = "";
        } else {
          const value = state.get(name);
          if (test === null ? value !== undefined : test(value ?? "")) state.delete(name);
        }
      }
      return true;
    };
  }
  if (items.length === 0) return () => true;
  return (state) => {
    for (const name of state.visibleNames()) {
      if (isErrorLabel(name)) continue;
      let keep = false;
      for (const item of items) {
        if (item.name !== name) continue;
        if (item.test === null || item.test(state.get(name) ?? "")) {
          keep = true;
          break;
        }
      }
      if (!keep) state.delete(name);
    }
    return true;
  };
}
