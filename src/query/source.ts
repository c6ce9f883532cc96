// What the evaluator reads from: a source of log entries for one tenant. The evaluator is pure (it
// runs the same over the partition log, over a test's array, or inside a worker thread); the
// source is where storage, indexes and pruning live. Entries may arrive in any order: the evaluator
// sorts what it keeps (a bounded heap of `limit` entries for log queries, step buckets for metric
// queries), so a source never has to merge partitions by time to be correct, only to be fast.

import type { LogEntry } from "../model/stream.ts";
import type { LabelMatcher, LineFilterStage } from "./ast.ts";

export interface EntrySelection {
  /** The stream selector: an entry's stream labels must satisfy every matcher. */
  readonly matchers: readonly LabelMatcher[];
  /**
   * The query's line filters that come before any parser or line_format stage, in order: a source
   * may use them to skip blocks that cannot contain a match (a token index). The evaluator applies
   * them again to every entry, so a source that ignores them is still correct.
   */
  readonly lineFilters: readonly LineFilterStage[];
  /** Entries with start ≤ timestamp < end (nanoseconds). */
  readonly startNs: bigint;
  readonly endNs: bigint;
  /** The order the evaluator will answer in; a source may use it to read the promising end first. */
  readonly direction: "forward" | "backward";
  /**
   * While a log query runs, the timestamp beyond which no entry can still make the answer (the
   * oldest kept entry for backward, the newest for forward, once `limit` entries are kept), or null.
   * A source may stop reading blocks that lie wholly beyond it.
   */
  readonly cutoffNs: () => bigint | null;
  /** Aborted when the query's time budget runs out or its client goes away; a source stops then. */
  readonly signal: AbortSignal;
}

export interface EntrySource {
  select(selection: EntrySelection): AsyncIterable<LogEntry>;
}
