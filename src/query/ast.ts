// Sluice's own LogQL syntax tree: what the parser hands the planner. Every node is a plain object
// with a `kind` from an `as const` table, so a switch over `kind` is exhaustive and the tree can be
// compared with deepStrictEqual, cloned with structuredClone and sent to a worker thread as is.
// The tree holds no source positions: every check that needs one runs in the parser.

export const matchOps = ["=", "!=", "=~", "!~"] as const;
export type MatchOp = (typeof matchOps)[number];

/** A label matcher as in a stream selector `{app="api"}` or a string label filter `| level="error"`. */
export interface LabelMatcher {
  readonly name: string;
  readonly op: MatchOp;
  /** The unquoted value; for `=~`/`!~` an RE2 pattern that must match the whole label value. */
  readonly value: string;
}

// ---- log queries -------------------------------------------------------------------------------

export const lineFilterOps = ["|=", "!=", "|~", "!~"] as const;
export type LineFilterOp = (typeof lineFilterOps)[number];

/**
 * `|= "a"`, or an `or` chain `|= "a" or "b"`: the line passes a positive filter (`|=`, `|~`) when it
 * contains/matches any value, and a negative one (`!=`, `!~`) when it contains/matches none of them.
 * Regex values are unanchored (a line matches when any substring does).
 */
export interface LineFilterStage {
  readonly kind: "lineFilter";
  readonly op: LineFilterOp;
  readonly values: readonly string[];
}

export const parserFlags = ["--strict", "--keep-empty"] as const;
export type ParserFlag = (typeof parserFlags)[number];

/** `name` alone extracts that key; `name="expr"` extracts the JSON path / logfmt key `expr` as `name`. */
export interface Extraction {
  readonly label: string;
  readonly expression: string | null;
}

/** `| json`, `| json a="b.c", d`, `| logfmt`, `| logfmt --strict a, b="c"`. */
export interface ParserStage {
  readonly kind: "parser";
  readonly parser: "json" | "logfmt";
  /** Empty: extract every key. */
  readonly extractions: readonly Extraction[];
  /** logfmt only; in source order. */
  readonly flags: readonly ParserFlag[];
}

export const compareOps = ["==", "!=", ">", ">=", "<", "<="] as const;
export type CompareOp = (typeof compareOps)[number];

export type LabelFilter =
  | { readonly kind: "and"; readonly left: LabelFilter; readonly right: LabelFilter }
  | { readonly kind: "or"; readonly left: LabelFilter; readonly right: LabelFilter }
  | { readonly kind: "string"; readonly matcher: LabelMatcher }
  /** `status >= 500`; Loki's `=` is stored as `==` (both mean equality). */
  | { readonly kind: "number"; readonly name: string; readonly op: CompareOp; readonly value: number }
  /** `latency > 250ms`: the label value is parsed as a duration and compared in nanoseconds. */
  | { readonly kind: "duration"; readonly name: string; readonly op: CompareOp; readonly valueNs: number }
  /** `size > 20kB`: the label value is parsed as a byte size and compared in bytes. */
  | { readonly kind: "bytes"; readonly name: string; readonly op: CompareOp; readonly valueBytes: number };

export interface LabelFilterStage {
  readonly kind: "labelFilter";
  readonly filter: LabelFilter;
}

/** `| line_format "{{.level}} {{.msg}}"`: the template text, unquoted, as a Go text/template. */
export interface LineFormatStage {
  readonly kind: "lineFormat";
  readonly template: string;
}

/** One item of `drop`/`keep`: a bare label name, or a matcher that selects by value too. */
export type LabelSelection = { readonly name: string; readonly matcher: LabelMatcher | null };

/** `| drop __error__, level="debug"` removes labels; `| keep app, level` removes all others. */
export interface DropKeepStage {
  readonly kind: "drop" | "keep";
  readonly labels: readonly LabelSelection[];
}

export type PipelineStage =
  | LineFilterStage
  | ParserStage
  | LabelFilterStage
  | LineFormatStage
  | DropKeepStage;

/** `{app="api"} |= "error" | json | status >= 500`. */
export interface LogQuery {
  readonly kind: "log";
  readonly matchers: readonly LabelMatcher[];
  /** In source order. */
  readonly pipeline: readonly PipelineStage[];
}

// ---- metric queries ----------------------------------------------------------------------------

export const rangeOps = ["count_over_time", "rate", "bytes_over_time", "bytes_rate"] as const;
export type RangeOp = (typeof rangeOps)[number];

/** `rate({app="api"} |= "error" [5m] offset 1h)`. */
export interface RangeAggregation {
  readonly kind: "rangeAggregation";
  readonly op: RangeOp;
  readonly log: LogQuery;
  readonly rangeNs: number;
  /** 0 when absent; negative offsets look forward, as in Loki. */
  readonly offsetNs: number;
}

export const vectorOps = ["sum", "avg", "min", "max", "count", "topk", "bottomk"] as const;
export type VectorOp = (typeof vectorOps)[number];

export interface Grouping {
  readonly mode: "by" | "without";
  /** As written; `by ()` is an empty list (one group). */
  readonly labels: readonly string[];
}

/** `sum by (level) (…)`, `topk(5, …)`. */
export interface VectorAggregation {
  readonly kind: "vectorAggregation";
  readonly op: VectorOp;
  /** null when no `by`/`without` was written (aggregate everything into one series). */
  readonly grouping: Grouping | null;
  /** k of topk/bottomk (a positive integer); null for the others. */
  readonly parameter: number | null;
  readonly inner: MetricExpr;
}

export const arithmeticOps = ["+", "-", "*", "/", "%", "^"] as const;
export const comparisonOps = ["==", "!=", ">", ">=", "<", "<="] as const;
export type BinaryOp = (typeof arithmeticOps)[number] | (typeof comparisonOps)[number];

/** `a + b`, `a > bool 1`. Precedence is already resolved: the tree is the evaluation order. */
export interface BinaryExpr {
  readonly kind: "binary";
  readonly op: BinaryOp;
  /** `bool` modifier of a comparison: answer 0/1 instead of filtering. */
  readonly returnBool: boolean;
  readonly left: MetricExpr;
  readonly right: MetricExpr;
}

/** A number literal: a scalar. */
export interface NumberLiteral {
  readonly kind: "number";
  readonly value: number;
}

/** `vector(1)`: a one-sample vector without labels (Grafana's health check adds two of them). */
export interface VectorLiteral {
  readonly kind: "vector";
  readonly value: number;
}

export type MetricExpr = RangeAggregation | VectorAggregation | BinaryExpr | NumberLiteral | VectorLiteral;

/** What `parseQuery` returns. */
export type Query = LogQuery | MetricExpr;

export const isLogQuery = (query: Query): query is LogQuery => query.kind === "log";
