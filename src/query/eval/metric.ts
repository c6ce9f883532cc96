// Metric queries over a grid of steps: range aggregations bucket entries into every step whose
// window holds them, vector aggregations and binary operators combine whole series step by step.
//
// Semantics, as Loki's pkg/logql evaluates them (range_vector.go, evaluator.go, syntax MergeBinOp):
// - steps are start, start+step, … while ≤ end (both ends included); an instant query is one step;
// - the window of the step at t is (t − offset − range, t − offset]: left-open, right-closed;
// - a series has a point at a step only if at least one entry fell in that step's window;
// - rate = count / range seconds, bytes_over_time sums the UTF-8 bytes of the line *after* the
//   pipeline (line_format's output), bytes_rate divides that by range seconds;
// - a range series whose labels carry `__error__` fails the query (Loki's PipelineError) unless
//   `__preserve_error__="true"`;
// - sum/avg/min/max/count group by the listed labels (by) or all others (without); topk/bottomk
//   keep the k best input series per group and step, with their own labels;
// - binary operators match vectors one-to-one on identical label sets and keep the left labels;
//   a comparison without `bool` filters and keeps the vector's value, with `bool` answers 0/1;
//   `x / 0` and `x % 0` are NaN (Loki guards them), scalar ∘ scalar folds to a scalar.
//
// Entries arrive in any order: each adds +1 (and its bytes) at its first step and −1 at one past
// its last in a difference array, so an entry costs O(1) whatever range/step is, and one prefix sum
// per series at the end gives every step's window. Step indexes are computed arithmetically.

import type { LabelSet } from "../../model/stream.ts";
import { labelValue } from "../../model/stream.ts";
import type { BinaryExpr, BinaryOp, MetricExpr, RangeAggregation, VectorAggregation } from "../ast.ts";
import { QueryExecutionError, queryExecutionErrorCodes } from "../errors.ts";
import type { EntrySource } from "../source.ts";
import { type EvalContext, utf8Bytes } from "./context.ts";
import { scanEntries } from "./log-query.ts";

/** Steps at startNs + i·stepNs for i in [0, count). */
export interface StepGrid {
  readonly startNs: bigint;
  readonly stepNs: bigint;
  readonly count: number;
}

/** One series over the grid: `values[i]` counts only where `present[i]` is 1. */
export interface StepSeries {
  readonly labels: LabelSet;
  readonly key: string;
  readonly values: Float64Array;
  readonly present: Uint8Array;
}

export type Evaluated =
  | { readonly kind: "scalar"; readonly value: number }
  | { readonly kind: "vector"; readonly series: readonly StepSeries[] };

const errorLabel = "__error__";
const preserveErrorLabel = "__preserve_error__";

export async function evaluateMetric(
  expr: MetricExpr,
  source: EntrySource,
  grid: StepGrid,
  context: EvalContext,
): Promise<Evaluated> {
  switch (expr.kind) {
    case "number":
      return { kind: "scalar", value: expr.value };
    case "vector":
      return { kind: "vector", series: [constantSeries(expr.value, grid, context)] };
    case "rangeAggregation":
      return { kind: "vector", series: await evaluateRangeAggregation(expr, source, grid, context) };
    case "vectorAggregation": {
      const inner = await evaluateMetric(expr.inner, source, grid, context);
      if (inner.kind === "scalar") throw new Error(`BUG: ${expr.op} over a scalar passed the parser`);
      return { kind: "vector", series: aggregate(expr, inner.series, grid, context) };
    }
    case "binary":
      return evaluateBinary(expr, source, grid, context);
  }
}

/** `vector(n)` and a scalar answered as a range: one label-less series with a point at every step. */
export function constantSeries(value: number, grid: StepGrid, context: EvalContext): StepSeries {
  context.holdPoints(grid.count);
  return {
    labels: [],
    key: "{}",
    values: new Float64Array(grid.count).fill(value),
    present: new Uint8Array(grid.count).fill(1),
  };
}

// ---- range aggregations ------------------------------------------------------------------------

interface RangeAccumulator {
  readonly labels: LabelSet;
  readonly key: string;
  /** Difference arrays over count + 1 slots: entries per window, bytes per window. */
  readonly counts: Float64Array;
  readonly bytes: Float64Array | null;
}

async function evaluateRangeAggregation(
  expr: RangeAggregation,
  source: EntrySource,
  grid: StepGrid,
  context: EvalContext,
): Promise<StepSeries[]> {
  const stepCount = grid.count;
  const rangeNs = BigInt(expr.rangeNs);
  const offsetNs = BigInt(expr.offsetNs);
  const lastStepNs = grid.startNs + BigInt(stepCount - 1) * grid.stepNs;
  // The union of all windows: (first step − offset − range, last step − offset].
  const selectStartNs = grid.startNs - offsetNs - rangeNs + 1n;
  const selectEndNs = lastStepNs - offsetNs + 1n;
  const stepsOf = stepIndexer(grid, rangeNs, offsetNs, selectStartNs, selectEndNs);
  const countsBytes = expr.op === "bytes_over_time" || expr.op === "bytes_rate";
  const accumulators = new Map<string, RangeAccumulator>();
  const scan = {
    startNs: selectStartNs,
    endNs: selectEndNs,
    direction: "forward" as const,
    cutoffNs: () => null,
  };
  await scanEntries(expr.log, source, scan, context, (entry) => {
    const steps = stepsOf(entry.timestampNs);
    if (steps === null) return;
    const key = context.labelKey(entry.labels);
    let accumulator = accumulators.get(key);
    if (accumulator === undefined) {
      rejectErrorLabels(entry.labels, key);
      context.holdPoints(stepCount);
      accumulator = {
        labels: entry.labels,
        key,
        counts: new Float64Array(stepCount + 1),
        bytes: countsBytes ? new Float64Array(stepCount + 1) : null,
      };
      accumulators.set(key, accumulator);
    }
    const first = steps.first;
    const afterLast = steps.last + 1;
    accumulator.counts[first] = (accumulator.counts[first] as number) + 1;
    accumulator.counts[afterLast] = (accumulator.counts[afterLast] as number) - 1;
    if (accumulator.bytes !== null) {
      const lineBytes = utf8Bytes(entry.line);
      accumulator.bytes[first] = (accumulator.bytes[first] as number) + lineBytes;
      accumulator.bytes[afterLast] = (accumulator.bytes[afterLast] as number) - lineBytes;
    }
  });
  const perSecond = expr.op === "rate" || expr.op === "bytes_rate";
  const rangeSeconds = goDurationSeconds(expr.rangeNs);
  const series: StepSeries[] = [];
  for (const accumulator of accumulators.values()) {
    const present = new Uint8Array(stepCount);
    const values = accumulator.bytes ?? accumulator.counts;
    let count = 0;
    let bytes = 0;
    for (let index = 0; index < stepCount; index++) {
      count += accumulator.counts[index] as number;
      if (accumulator.bytes !== null) bytes += accumulator.bytes[index] as number;
      const value = accumulator.bytes !== null ? bytes : count;
      present[index] = count > 0 ? 1 : 0;
      values[index] = perSecond ? value / rangeSeconds : value;
    }
    series.push({
      labels: accumulator.labels,
      key: accumulator.key,
      values: values.subarray(0, stepCount),
      present,
    });
  }
  return series;
}

/** Go's time.Duration.Seconds(): whole seconds plus the remainder, as Loki divides rates. */
function goDurationSeconds(durationNs: number): number {
  const seconds = Math.trunc(durationNs / 1e9);
  return seconds + (durationNs - seconds * 1e9) / 1e9;
}

/**
 * The steps whose window holds an entry at ts: t_i − offset − range < ts ≤ t_i − offset, i.e.
 * ts + offset ≤ t_i < ts + offset + range, so first = ⌈(ts + offset − start) / step⌉ and
 * last = ⌈(ts + offset + range − start) / step⌉ − 1, clamped to the grid. Numbers when every
 * quantity fits 2^52 exactly (queries up to ~52 days wide), bigints otherwise.
 */
function stepIndexer(
  grid: StepGrid,
  rangeNs: bigint,
  offsetNs: bigint,
  selectStartNs: bigint,
  selectEndNs: bigint,
): (timestampNs: bigint) => { first: number; last: number } | null {
  const lastIndex = grid.count - 1;
  const result = { first: 0, last: 0 };
  const spanNs =
    selectEndNs - selectStartNs + 2n * (rangeNs + grid.stepNs) + (offsetNs < 0n ? -offsetNs : offsetNs);
  if (spanNs < 2n ** 52n) {
    const step = Number(grid.stepNs);
    const range = Number(rangeNs);
    // ts + offset − start = (ts − selectStart) + (selectStart + offset − start).
    const shift = Number(selectStartNs + offsetNs - grid.startNs);
    return (timestampNs) => {
      const relative = Number(timestampNs - selectStartNs) + shift;
      const first = Math.max(0, ceilDivide(relative, step));
      const last = Math.min(lastIndex, ceilDivide(relative + range, step) - 1);
      if (first > last) return null;
      result.first = first;
      result.last = last;
      return result;
    };
  }
  return (timestampNs) => {
    const relative = timestampNs + offsetNs - grid.startNs;
    const first = Math.max(0, Number(ceilDivideBig(relative, grid.stepNs)));
    const last = Math.min(lastIndex, Number(ceilDivideBig(relative + rangeNs, grid.stepNs)) - 1);
    if (first > last) return null;
    result.first = first;
    result.last = last;
    return result;
  };
}

/** ⌈a / d⌉ for integers with d > 0, exact while |a| and |a|·… stay below 2^53 (the float quotient is corrected). */
function ceilDivide(a: number, d: number): number {
  let quotient = Math.floor(a / d);
  if (quotient * d > a) quotient--;
  else if ((quotient + 1) * d <= a) quotient++;
  return quotient * d === a ? quotient : quotient + 1;
}

function ceilDivideBig(a: bigint, d: bigint): bigint {
  const quotient = a / d; // truncates toward zero
  return a > 0n && quotient * d !== a ? quotient + 1n : quotient;
}

function rejectErrorLabels(labels: LabelSet, key: string): void {
  const errorType = labelValue(labels, errorLabel);
  if (errorType === "" || labelValue(labels, preserveErrorLabel) === "true") return;
  // Loki's logqlmodel.PipelineError, word for word, so Grafana users recognise the advice.
  throw new QueryExecutionError(
    queryExecutionErrorCodes.pipeline,
    `pipeline error: '${errorType}' for series: '${key}'.\n` +
      `Use a label filter to intentionally skip this error. (e.g | __error__!="${errorType}").\n` +
      `To skip all potential errors you can match empty errors.(e.g __error__="")\n` +
      `The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__="" )\n`,
  );
}

// ---- vector aggregations -----------------------------------------------------------------------

function groupLabels(labels: LabelSet, expr: VectorAggregation): LabelSet {
  const grouping = expr.grouping;
  if (grouping === null) return [];
  if (grouping.mode === "by") return labels.filter(([name]) => grouping.labels.includes(name));
  return labels.filter(([name]) => !grouping.labels.includes(name) && name !== "__name__");
}

function aggregate(
  expr: VectorAggregation,
  inputs: readonly StepSeries[],
  grid: StepGrid,
  context: EvalContext,
): StepSeries[] {
  const groups = new Map<string, { labels: LabelSet; members: StepSeries[] }>();
  // Sorted by key so float sums add in one order whatever order the source yielded entries in.
  const sorted = [...inputs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const series of sorted) {
    const labels = groupLabels(series.labels, expr);
    const key = context.labelKey(labels);
    let group = groups.get(key);
    if (group === undefined) {
      group = { labels, members: [] };
      groups.set(key, group);
    }
    group.members.push(series);
  }
  const output: StepSeries[] = [];
  for (const [key, group] of groups) {
    if (expr.op === "topk" || expr.op === "bottomk") {
      output.push(...selectK(expr.op, expr.parameter ?? 0, group.members, grid, context));
    } else {
      output.push(combine(expr.op, key, group.labels, group.members, grid, context));
    }
  }
  return output;
}

function combine(
  op: "sum" | "avg" | "min" | "max" | "count",
  key: string,
  labels: LabelSet,
  members: readonly StepSeries[],
  grid: StepGrid,
  context: EvalContext,
): StepSeries {
  context.holdPoints(grid.count);
  const values = new Float64Array(grid.count);
  const present = new Uint8Array(grid.count);
  for (let index = 0; index < grid.count; index++) {
    let seen = 0;
    let value = 0;
    for (const member of members) {
      if (member.present[index] === 0) continue;
      const sample = member.values[index] as number;
      seen++;
      if (seen === 1) {
        value = sample;
        continue;
      }
      switch (op) {
        case "sum":
          value += sample;
          break;
        case "avg":
          value = nextMean(value, sample, seen);
          break;
        case "max":
          if (value < sample || Number.isNaN(value)) value = sample;
          break;
        case "min":
          if (value > sample || Number.isNaN(value)) value = sample;
          break;
        case "count":
          break;
      }
    }
    if (seen === 0) continue;
    present[index] = 1;
    values[index] = op === "count" ? seen : value;
  }
  return { labels, key, values, present };
}

/** Loki's running mean, with its care that a same-signed infinity or a finite sample leaves an infinite mean alone. */
function nextMean(mean: number, sample: number, count: number): number {
  if (mean === Number.POSITIVE_INFINITY || mean === Number.NEGATIVE_INFINITY) {
    const sampleInfinite = sample === Number.POSITIVE_INFINITY || sample === Number.NEGATIVE_INFINITY;
    if (sampleInfinite && mean > 0 === sample > 0) return mean;
    if (!sampleInfinite && !Number.isNaN(sample)) return mean;
  }
  return mean + (sample - mean) / count;
}

/**
 * topk/bottomk per step: the k best members by value, NaN always last (Loki's heaps treat NaN as
 * the first to evict). Equal values are broken by label text so the choice is deterministic (Loki's
 * depends on its map order).
 */
function selectK(
  op: "topk" | "bottomk",
  k: number,
  members: readonly StepSeries[],
  grid: StepGrid,
  context: EvalContext,
): StepSeries[] {
  const chosen = new Map<StepSeries, StepSeries>();
  const candidates: StepSeries[] = [];
  for (let index = 0; index < grid.count; index++) {
    candidates.length = 0;
    for (const member of members) if (member.present[index] === 1) candidates.push(member);
    if (candidates.length === 0) continue;
    candidates.sort((a, b) => {
      const x = a.values[index] as number;
      const y = b.values[index] as number;
      const xNaN = Number.isNaN(x);
      const yNaN = Number.isNaN(y);
      if (xNaN !== yNaN) return xNaN ? 1 : -1;
      if (!xNaN && x !== y) return op === "topk" ? y - x : x - y;
      return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
    });
    for (const member of candidates.slice(0, k)) {
      let out = chosen.get(member);
      if (out === undefined) {
        context.holdPoints(grid.count);
        out = {
          labels: member.labels,
          key: member.key,
          values: new Float64Array(grid.count),
          present: new Uint8Array(grid.count),
        };
        chosen.set(member, out);
      }
      out.present[index] = 1;
      out.values[index] = member.values[index] as number;
    }
  }
  return [...chosen.values()];
}

// ---- binary operators --------------------------------------------------------------------------

const comparisons: ReadonlySet<BinaryOp> = new Set(["==", "!=", ">", ">=", "<", "<="]);

async function evaluateBinary(
  expr: BinaryExpr,
  source: EntrySource,
  grid: StepGrid,
  context: EvalContext,
): Promise<Evaluated> {
  const left = await evaluateMetric(expr.left, source, grid, context);
  const right = await evaluateMetric(expr.right, source, grid, context);
  const comparison = comparisons.has(expr.op);
  if (left.kind === "scalar" && right.kind === "scalar") {
    // Loki folds literal ∘ literal at parse time (reduceBinOp): comparisons answer 0/1 there.
    return { kind: "scalar", value: applyOperator(expr.op, left.value, right.value) };
  }
  const filter = comparison && !expr.returnBool;
  if (left.kind === "scalar" || right.kind === "scalar") {
    const vector = (left.kind === "vector" ? left : right) as Extract<Evaluated, { kind: "vector" }>;
    const scalar = (left.kind === "scalar" ? left.value : (right as { value: number }).value) as number;
    const scalarOnLeft = left.kind === "scalar";
    const series = vector.series.map((input) =>
      mapSeries(input, input.labels, input.key, grid, context, (index) => {
        const sample = input.values[index] as number;
        const result = scalarOnLeft
          ? applyOperator(expr.op, scalar, sample)
          : applyOperator(expr.op, sample, scalar);
        // A comparison without bool keeps the vector's own value (Loki's MergeBinOp swap rule).
        if (filter) return result === 1 ? sample : null;
        return result;
      }),
    );
    return { kind: "vector", series };
  }
  const rightByKey = new Map<string, StepSeries>();
  for (const series of (right as Extract<Evaluated, { kind: "vector" }>).series)
    rightByKey.set(series.key, series);
  const series: StepSeries[] = [];
  for (const leftSeries of left.series) {
    const rightSeries = rightByKey.get(leftSeries.key);
    if (rightSeries === undefined) continue;
    series.push(
      mapSeries(leftSeries, leftSeries.labels, leftSeries.key, grid, context, (index) => {
        if (rightSeries.present[index] === 0) return null;
        const sample = leftSeries.values[index] as number;
        const result = applyOperator(expr.op, sample, rightSeries.values[index] as number);
        if (filter) return result === 1 ? sample : null;
        return result;
      }),
    );
  }
  return { kind: "vector", series };
}

/** A new series over the steps where `input` is present and `valueAt` answers a number. */
function mapSeries(
  input: StepSeries,
  labels: LabelSet,
  key: string,
  grid: StepGrid,
  context: EvalContext,
  valueAt: (index: number) => number | null,
): StepSeries {
  context.holdPoints(grid.count);
  const values = new Float64Array(grid.count);
  const present = new Uint8Array(grid.count);
  for (let index = 0; index < grid.count; index++) {
    if (input.present[index] === 0) continue;
    const value = valueAt(index);
    if (value === null) continue;
    present[index] = 1;
    values[index] = value;
  }
  return { labels, key, values, present };
}

/** Loki's MergeBinOp on two numbers; comparisons answer 1 or 0. */
export function applyOperator(op: BinaryOp, left: number, right: number): number {
  switch (op) {
    case "+":
      return left + right;
    case "-":
      return left - right;
    case "*":
      return left * right;
    case "/":
      return right === 0 ? Number.NaN : left / right;
    case "%":
      return right === 0 ? Number.NaN : left % right; // Go's math.Mod: the sign of the dividend, as JS %
    case "^":
      return goPow(left, right);
    case "==":
      return left === right ? 1 : 0;
    case "!=":
      return left !== right ? 1 : 0;
    case ">":
      return left > right ? 1 : 0;
    case ">=":
      return left >= right ? 1 : 0;
    case "<":
      return left < right ? 1 : 0;
    case "<=":
      return left <= right ? 1 : 0;
  }
}

/** Go's math.Pow where it differs from JavaScript's **: Pow(1, y) = 1 and Pow(−1, ±Inf) = 1 for any y, NaN included. */
function goPow(base: number, exponent: number): number {
  if (base === 1) return 1;
  if (base === -1 && (exponent === Number.POSITIVE_INFINITY || exponent === Number.NEGATIVE_INFINITY))
    return 1;
  return base ** exponent;
}
