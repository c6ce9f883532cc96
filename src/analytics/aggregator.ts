// One consumer step's aggregation in memory: each access-log entry adds one to its path key and its
// user-agent family in its minute, hour and day window. The store then applies the step's windows
// in one transaction. Windows and keys keep their order of first appearance, which is the log's
// order, so which keys a full window folds into `other` does not depend on how the log was chunked.

import { pathKey, userAgentFamily } from "./normalise.ts";
import { type WindowSize, windowSizeList, windowStartMs } from "./windows.ts";

export interface WindowDelta {
  customerId: string;
  size: WindowSize;
  startMs: number;
  entryCount: number;
  /** path key → count, in order of first appearance. */
  paths: Map<string, number>;
  /** user-agent family → count, in order of first appearance. */
  agents: Map<string, number>;
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

export class ChunkAggregator {
  readonly #windows = new Map<string, WindowDelta>();
  // Consecutive entries nearly always share their windows: remember the last one per size.
  readonly #last: Array<WindowDelta | null> = windowSizeList.map(() => null);
  #entryCount = 0;

  /** Entries added so far (each counted once, not once per window size). */
  get entryCount(): number {
    return this.#entryCount;
  }

  add(customerId: string, receivedAtMs: number, method: string, path: string, userAgent: string): void {
    const key = pathKey(method, path);
    const family = userAgentFamily(userAgent);
    for (let index = 0; index < windowSizeList.length; index++) {
      const size = windowSizeList[index];
      const startMs = windowStartMs(size, receivedAtMs);
      let window = this.#last[index];
      if (window === null || window.startMs !== startMs || window.customerId !== customerId) {
        window = this.#window(customerId, size, startMs);
        this.#last[index] = window;
      }
      window.entryCount++;
      increment(window.paths, key);
      increment(window.agents, family);
    }
    this.#entryCount++;
  }

  #window(customerId: string, size: WindowSize, startMs: number): WindowDelta {
    const id = `${customerId}\u0000${size}\u0000${startMs}`;
    let window = this.#windows.get(id);
    if (window === undefined) {
      window = { customerId, size, startMs, entryCount: 0, paths: new Map(), agents: new Map() };
      this.#windows.set(id, window);
    }
    return window;
  }

  /** The windows touched, in order of first appearance. */
  windows(): IterableIterator<WindowDelta> {
    return this.#windows.values();
  }
}
