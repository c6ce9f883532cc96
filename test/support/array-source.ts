// A test double of the query stage's source seam (src/query/source.ts): an array of entries yielded
// in a shuffled order (seeded, so a failure replays), as a real source may yield them. It applies
// nothing but, optionally, the time range: the evaluator must re-check ranges and selectors itself.
// It records every selection it was asked for, and the cutoffs it saw, for tests of the contract.

import type { LabelSet, LogEntry } from "../../src/model/stream.ts";
import { labelSet } from "../../src/model/stream.ts";
import type { EntrySelection, EntrySource } from "../../src/query/source.ts";

export interface ArraySourceOptions {
  /** Seed of the shuffle; the same seed yields the same order. */
  readonly seed?: number;
  /** Also yield entries outside the selection's time range (a loose source). Default false. */
  readonly loose?: boolean;
  /** Called after each yielded entry, e.g. to abort mid-scan. */
  readonly afterEach?: (index: number) => void;
}

export class ArraySource implements EntrySource {
  readonly entries: readonly LogEntry[];
  readonly selections: EntrySelection[] = [];
  /** cutoffNs() as read after each yielded entry. */
  readonly cutoffs: (bigint | null)[] = [];
  readonly #options: ArraySourceOptions;

  constructor(entries: readonly LogEntry[], options: ArraySourceOptions = {}) {
    this.entries = entries;
    this.#options = options;
  }

  async *select(selection: EntrySelection): AsyncIterable<LogEntry> {
    this.selections.push(selection);
    const order = shuffled(this.entries, this.#options.seed ?? 1);
    let index = 0;
    for (const entry of order) {
      if (selection.signal.aborted) return;
      const inRange = entry.timestampNs >= selection.startNs && entry.timestampNs < selection.endNs;
      if (!inRange && this.#options.loose !== true) continue;
      yield entry;
      this.cutoffs.push(selection.cutoffNs());
      this.#options.afterEach?.(index++);
    }
  }
}

const streamCache = new Map<string, LabelSet>();

/** An entry whose stream label set is shared with every other entry of the same stream, as real sources share it. */
export function entry(
  timestampNs: bigint | number,
  labels: Record<string, string>,
  line: string,
  metadata: Record<string, string> = {},
): LogEntry {
  const key = JSON.stringify(Object.entries(labels).sort());
  let set = streamCache.get(key);
  if (set === undefined) {
    set = labelSet(Object.entries(labels));
    streamCache.set(key, set);
  }
  return {
    timestampNs: BigInt(timestampNs),
    labels: set,
    line,
    metadata: labelSet(Object.entries(metadata)),
  };
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let state = seed >>> 0 || 1;
  for (let index = copy.length - 1; index > 0; index--) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const other = state % (index + 1);
    [copy[index], copy[other]] = [copy[other] as T, copy[index] as T];
  }
  return copy;
}
