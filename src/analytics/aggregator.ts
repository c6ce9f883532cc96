// One consumer step's aggregation in memory: each access-log entry adds one to its path key and its
// user-agent family in its minute window; the step's hour and day windows are then rolled up from
// its minutes. Windows and keys keep their order of first appearance in the log, so which keys a
// full window folds into `other` does not depend on how the log was cut into steps.

import { pathKey, userAgentFamily } from "./normalise.ts";
import { type WindowSize, windowSizes, windowStartMs } from "./windows.ts";

export interface WindowDelta {
  customerId: string;
  size: WindowSize;
  startMs: number;
  entryCount: number;
  /** path key → count, in order of first appearance in the log. */
  paths: Map<string, number>;
  /** user-agent family → count, in order of first appearance in the log. */
  agents: Map<string, number>;
}

/** A key's count in one minute, and the step-wide sequence number of the entry that first had it. */
interface Tally {
  count: number;
  firstSequence: number;
}

interface MinuteTallies {
  customerId: string;
  startMs: number;
  entryCount: number;
  paths: Map<string, Tally>;
  agents: Map<string, Tally>;
}

function tally(tallies: Map<string, Tally>, key: string, sequence: number): void {
  const found = tallies.get(key);
  if (found === undefined) tallies.set(key, { count: 1, firstSequence: sequence });
  else found.count++;
}

/** Rolls tallies of several minutes into one window's counts, keys ordered by first appearance. */
function rollUp(parts: ReadonlyArray<Map<string, Tally>>): Map<string, number> {
  if (parts.length === 1) {
    const counts = new Map<string, number>();
    for (const [key, { count }] of parts[0]) counts.set(key, count);
    return counts;
  }
  const merged = new Map<string, Tally>();
  for (const part of parts) {
    for (const [key, { count, firstSequence }] of part) {
      const found = merged.get(key);
      if (found === undefined) merged.set(key, { count, firstSequence });
      else {
        found.count += count;
        found.firstSequence = Math.min(found.firstSequence, firstSequence);
      }
    }
  }
  const ordered = [...merged].sort((a, b) => a[1].firstSequence - b[1].firstSequence);
  return new Map(ordered.map(([key, { count }]) => [key, count]));
}

export class ChunkAggregator {
  readonly #minutes = new Map<string, MinuteTallies>();
  // Consecutive entries nearly always share their minute: remember the last one.
  #last: MinuteTallies | null = null;
  #entryCount = 0;

  /** Entries added so far (each counted once, not once per window size). */
  get entryCount(): number {
    return this.#entryCount;
  }

  add(customerId: string, receivedAtMs: number, method: string, path: string, userAgent: string): void {
    const startMs = windowStartMs(windowSizes.minute, receivedAtMs);
    let minute = this.#last;
    if (minute === null || minute.startMs !== startMs || minute.customerId !== customerId) {
      const id = `${customerId}\u0000${startMs}`;
      minute = this.#minutes.get(id) ?? null;
      if (minute === null) {
        minute = { customerId, startMs, entryCount: 0, paths: new Map(), agents: new Map() };
        this.#minutes.set(id, minute);
      }
      this.#last = minute;
    }
    const sequence = this.#entryCount++;
    minute.entryCount++;
    tally(minute.paths, pathKey(method, path), sequence);
    tally(minute.agents, userAgentFamily(userAgent), sequence);
  }

  /** The minute, hour and day windows touched: minutes in order of first appearance, then rollups. */
  *windows(): Generator<WindowDelta> {
    const rollups = new Map<
      string,
      { size: WindowSize; customerId: string; startMs: number; minutes: MinuteTallies[] }
    >();
    for (const minute of this.#minutes.values()) {
      yield {
        customerId: minute.customerId,
        size: windowSizes.minute,
        startMs: minute.startMs,
        entryCount: minute.entryCount,
        paths: rollUp([minute.paths]),
        agents: rollUp([minute.agents]),
      };
      for (const size of [windowSizes.hour, windowSizes.day]) {
        const startMs = windowStartMs(size, minute.startMs);
        const id = `${minute.customerId}\u0000${size}\u0000${startMs}`;
        let rollup = rollups.get(id);
        if (rollup === undefined) {
          rollup = { size, customerId: minute.customerId, startMs, minutes: [] };
          rollups.set(id, rollup);
        }
        rollup.minutes.push(minute);
      }
    }
    for (const { size, customerId, startMs, minutes } of rollups.values()) {
      yield {
        customerId,
        size,
        startMs,
        entryCount: minutes.reduce((sum, minute) => sum + minute.entryCount, 0),
        paths: rollUp(minutes.map((minute) => minute.paths)),
        agents: rollUp(minutes.map((minute) => minute.agents)),
      };
    }
  }
}
