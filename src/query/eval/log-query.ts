// Log queries: the newest (backward) or oldest (forward) `limit` entries across all streams, after
// the pipeline, grouped into streams by their final label set, as Loki's readStreams answers.
//
// The source yields entries in any order, so the evaluator keeps a bounded heap of the best `limit`
// entries and tells the source, through cutoffNs, the timestamp beyond which nothing can still enter.
// Ties on equal timestamps are broken by a total order so the answer is deterministic (Loki's own
// order among equal timestamps depends on its iterator heap and is not specified): entries compare
// by (timestamp, stream label text, line); forward keeps the smallest `limit`, backward the largest,
// so a backward answer is exactly the reverse of a forward one over the same entries.

import type { LabelSet } from "../../model/stream.ts";
import type { LineFilterStage, LogQuery, PipelineStage } from "../ast.ts";
import type { EntrySource } from "../source.ts";
import { compareCodePoints, type EvalContext, utf8Bytes } from "./context.ts";
import { BoundedHeap } from "./heap.ts";
import { compileMatchers, compilePipeline, type ProcessedEntry } from "./pipeline.ts";
import type { LokiLabels, LokiStream } from "./result.ts";

/** Work a query does before it yields the event loop (and lets its time budget fire). */
const sliceMs = 20;
/** Entries between looks at the clock (a look costs ~50 ns; a line with a costly regex, milliseconds). */
const entriesPerClockCheck = 16;

export type Direction = "forward" | "backward";

interface KeptEntry {
  readonly timestampNs: bigint;
  readonly key: string;
  readonly labels: LabelSet;
  readonly line: string;
  readonly bytes: number;
}

export interface LogWindow {
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly limit: number;
  readonly direction: Direction;
  /** Loki's `interval`: an entry is answered only if it is at least this far from the last one answered. */
  readonly intervalNs: bigint;
}

/** The total order of entries (see the header): negative when `a` is older. */
export function compareEntries(a: KeptEntry, b: KeptEntry): number {
  if (a.timestampNs !== b.timestampNs) return a.timestampNs < b.timestampNs ? -1 : 1;
  const byKey = compareCodePoints(a.key, b.key);
  if (byKey !== 0) return byKey;
  return compareCodePoints(a.line, b.line);
}

/** The line filters a source may use to skip blocks: those before the first stage that rewrites the line or labels it filters on. */
export function leadingLineFilters(pipeline: readonly PipelineStage[]): LineFilterStage[] {
  const filters: LineFilterStage[] = [];
  for (const stage of pipeline) {
    if (stage.kind === "parser" || stage.kind === "lineFormat") break;
    if (stage.kind === "lineFilter") filters.push(stage);
  }
  return filters;
}

/**
 * Reads `query` from `source` and calls `each` with every entry that passes the stream matchers and
 * the pipeline, with start ≤ timestamp < end. The one loop both log and metric queries share.
 */
export async function scanEntries(
  query: LogQuery,
  source: EntrySource,
  range: { startNs: bigint; endNs: bigint; direction: Direction; cutoffNs: () => bigint | null },
  context: EvalContext,
  each: (entry: ProcessedEntry) => void,
): Promise<void> {
  const matchers = compileMatchers(query.matchers);
  let pipeline: ReturnType<typeof compilePipeline> | null = null;
  try {
    pipeline = compilePipeline(query.pipeline);
    const streamMatches = new WeakMap<LabelSet, boolean>();
    const measures = context.measures;
    const entries = source.select({
      matchers: query.matchers,
      lineFilters: leadingLineFilters(query.pipeline),
      startNs: range.startNs,
      endNs: range.endNs,
      direction: range.direction,
      cutoffNs: range.cutoffNs,
      signal: context.signal,
    });
    let sliceStartMs = performance.now();
    let sinceCheck = 0;
    for await (const entry of entries) {
      // A source's entries arrive in microtasks, and one slow line (a costly regex) can take
      // milliseconds: past sliceMs of work, give the event loop a turn, so ingest, other requests
      // and the time budget's own timer run whatever this query costs per line.
      if (++sinceCheck === entriesPerClockCheck) {
        sinceCheck = 0;
        if (performance.now() - sliceStartMs >= sliceMs) {
          await new Promise((resume) => setImmediate(resume));
          sliceStartMs = performance.now();
        }
      }
      context.checkAborted();
      const timestampNs = entry.timestampNs;
      // The source promises the range and the selector; checked again so a loose source stays correct.
      if (timestampNs < range.startNs || timestampNs >= range.endNs) continue;
      let matches = streamMatches.get(entry.labels);
      if (matches === undefined) {
        matches = matchers.matches(entry.labels);
        streamMatches.set(entry.labels, matches);
      }
      if (!matches) continue;
      measures.linesProcessed++;
      measures.bytesProcessed += utf8Bytes(entry.line);
      const processed = pipeline.process(entry);
      if (processed === null) continue;
      measures.postFilterLines++;
      each(processed);
    }
    context.checkAborted();
  } finally {
    pipeline?.close();
    matchers.close();
  }
}

export async function evaluateLogQuery(
  query: LogQuery,
  source: EntrySource,
  window: LogWindow,
  context: EvalContext,
): Promise<LokiStream[]> {
  const forward = window.direction === "forward";
  // The heap's root is the worst kept entry: the newest for forward, the oldest for backward.
  const worse = forward
    ? (a: KeptEntry, b: KeptEntry) => compareEntries(a, b) > 0
    : (a: KeptEntry, b: KeptEntry) => compareEntries(a, b) < 0;
  const spaced = window.intervalNs > 0n;
  // With an interval, which entries answer depends on every earlier one in order, so all matching
  // entries are kept (within the bytes budget) and thinned after sorting, as Loki thins while merging.
  const heap = new BoundedHeap<KeptEntry>(spaced ? Number.MAX_SAFE_INTEGER : window.limit, worse);
  const cutoffNs = (): bigint | null => (!spaced && heap.full ? (heap.peek()?.timestampNs ?? null) : null);
  await scanEntries(query, source, { ...window, cutoffNs }, context, (entry) => {
    const root = heap.full ? heap.peek() : undefined;
    if (root !== undefined) {
      // Fast refusal before building a key: strictly worse by timestamp alone.
      if (forward ? entry.timestampNs > root.timestampNs : entry.timestampNs < root.timestampNs) return;
    }
    if (window.limit === 0) return;
    const key = context.labelKey(entry.labels);
    const bytes = utf8Bytes(entry.line) + key.length;
    const kept: KeptEntry = {
      timestampNs: entry.timestampNs,
      key,
      labels: entry.labels,
      line: entry.line,
      bytes,
    };
    const out = heap.offer(kept);
    if (out === kept) return;
    if (out !== null) context.releaseBytes(out.bytes);
    context.holdBytes(bytes);
  });
  const kept = heap.drain();
  kept.sort(forward ? compareEntries : (a, b) => compareEntries(b, a));
  const answered = spaced ? thin(kept, window) : kept;
  for (const entry of kept) context.releaseBytes(entry.bytes);
  context.measures.entriesReturned += answered.length;
  return groupIntoStreams(answered);
}

/** Loki's readStreams with an interval: the first entry, then each one at least `interval` past the last answered. */
function thin(sorted: readonly KeptEntry[], window: LogWindow): KeptEntry[] {
  const answered: KeptEntry[] = [];
  let last: bigint | null = null;
  for (const entry of sorted) {
    if (answered.length >= window.limit) break;
    const far =
      last === null ||
      (window.direction === "forward"
        ? entry.timestampNs >= last + window.intervalNs
        : entry.timestampNs <= last - window.intervalNs);
    if (!far) continue;
    answered.push(entry);
    last = entry.timestampNs;
  }
  return answered;
}

/** Entries already in answer order; streams sorted by their label text, as Loki sorts logqlmodel.Streams. */
function groupIntoStreams(sorted: readonly KeptEntry[]): LokiStream[] {
  const byKey = new Map<string, { key: string; stream: LokiLabels; values: [string, string][] }>();
  for (const entry of sorted) {
    let group = byKey.get(entry.key);
    if (group === undefined) {
      group = { key: entry.key, stream: labelsObject(entry.labels), values: [] };
      byKey.set(entry.key, group);
    }
    group.values.push([entry.timestampNs.toString(), entry.line]);
  }
  return [...byKey.values()]
    .sort((a, b) => compareCodePoints(a.key, b.key))
    .map(({ stream, values }) => ({ stream, values }));
}

export function labelsObject(labels: LabelSet): LokiLabels {
  const object: LokiLabels = {};
  for (const [name, value] of labels) {
    // `__proto__` is a valid label name; a plain assignment would set the prototype instead.
    if (name === "__proto__")
      Object.defineProperty(object, name, { value, enumerable: true, writable: true });
    else object[name] = value;
  }
  return object;
}
