// What one running query carries through every evaluation step: its abort signal (the time budget),
// its memory budget (kept bytes, points), the figures Loki's stats report, and a cache of label-set
// keys. One context per query; nothing here is shared between queries.

import { Buffer } from "node:buffer";
import type { LabelSet } from "../../model/stream.ts";
import { formatLabels } from "../../model/stream.ts";
import { QueryExecutionError, queryExecutionErrorCodes } from "../errors.ts";
import type { EvalMeasures } from "./result.ts";

export interface QueryBudget {
  /** The largest `limit` a log query may ask for (Loki's max_entries_limit_per_query); absent: no bound. */
  readonly entriesMax?: number;
  /** Series in a metric query's answer (Loki's max_query_series). */
  readonly seriesMax: number;
  /** Points (series × steps) all accumulators of a metric query may hold at once. */
  readonly pointsMax: number;
  /** Bytes of lines and labels a log query may keep. */
  readonly bytesMax: number;
}

export class EvalContext {
  readonly signal: AbortSignal;
  readonly budget: QueryBudget;
  readonly measures: EvalMeasures = {
    execTimeSeconds: 0,
    linesProcessed: 0,
    bytesProcessed: 0,
    entriesReturned: 0,
    postFilterLines: 0,
    structuredMetadataBytes: 0,
  };
  #pointsHeld = 0;
  #bytesHeld = 0;
  // Pipelines hand back the same LabelSet object for every line of a stream when nothing changes its
  // labels, so keying the formatted text by identity makes the per-line key a map lookup.
  readonly #keys = new WeakMap<LabelSet, string>();

  constructor(signal: AbortSignal, budget: QueryBudget) {
    this.signal = signal;
    this.budget = budget;
  }

  /** Throws QUERY_TIMEOUT once the signal has fired. Cheap: call it per entry. */
  checkAborted(): void {
    if (this.signal.aborted) throw abortedError(this.signal.reason);
  }

  /** `{a="1", b="2"}`: the label set's identity for grouping, and the text Loki sorts streams by. */
  labelKey(labels: LabelSet): string {
    let key = this.#keys.get(labels);
    if (key === undefined) {
      key = formatLabels(labels);
      this.#keys.set(labels, key);
    }
    return key;
  }

  holdPoints(count: number): void {
    this.#pointsHeld += count;
    if (this.#pointsHeld > this.budget.pointsMax) {
      throw new QueryExecutionError(
        queryExecutionErrorCodes.budget,
        `query processing would load too many samples into memory in query execution: more than ${this.budget.pointsMax} points (series × steps); reduce the number of series or increase the step`,
      );
    }
  }

  releasePoints(count: number): void {
    this.#pointsHeld -= count;
  }

  holdBytes(count: number): void {
    this.#bytesHeld += count;
    if (this.#bytesHeld > this.budget.bytesMax) {
      throw new QueryExecutionError(
        queryExecutionErrorCodes.budget,
        `the log lines this query keeps exceed its memory budget of ${this.budget.bytesMax} bytes; lower the limit or narrow the selector`,
      );
    }
  }

  releaseBytes(count: number): void {
    this.#bytesHeld -= count;
  }

  get bytesHeld(): number {
    return this.#bytesHeld;
  }

  get pointsHeld(): number {
    return this.#pointsHeld;
  }
}

/** Loki's LimitError text, so Grafana users see the message they know. */
export function seriesLimitError(seriesMax: number): QueryExecutionError {
  return new QueryExecutionError(
    queryExecutionErrorCodes.budget,
    `maximum number of series (${seriesMax}) reached for a single query; consider reducing query cardinality by adding more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() or topk()`,
  );
}

function abortedError(reason: unknown): QueryExecutionError {
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new QueryExecutionError(
      queryExecutionErrorCodes.timeout,
      "query timed out: its time budget ran out",
      {
        cause: reason,
      },
    );
  }
  const detail = reason instanceof Error ? reason.message : String(reason);
  return new QueryExecutionError(
    queryExecutionErrorCodes.timeout,
    `query aborted before its answer: ${detail}`,
    {
      cause: reason,
    },
  );
}

/** UTF-8 length of a line: what Loki counts as a line's bytes (Go strings are UTF-8). */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** Orders strings by code point, which is the byte order of their UTF-8 forms, as Go compares strings. */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const x = a.charCodeAt(index);
    const y = b.charCodeAt(index);
    if (x === y) continue;
    // A surrogate (a code point above U+FFFF) sorts after every BMP unit in UTF-8, not before U+E000.
    const xHigh = x >= 0xd800 && x <= 0xdfff;
    const yHigh = y >= 0xd800 && y <= 0xdfff;
    if (xHigh !== yHigh) return xHigh ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** Prometheus' labels.Compare: label by label, name then value, then the shorter set first. */
export function compareLabelSets(a: LabelSet, b: LabelSet): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const [nameA, valueA] = a[index] as readonly [string, string];
    const [nameB, valueB] = b[index] as readonly [string, string];
    const byName = compareCodePoints(nameA, nameB);
    if (byName !== 0) return byName;
    const byValue = compareCodePoints(valueA, valueB);
    if (byValue !== 0) return byValue;
  }
  return a.length - b.length;
}
