// A cache of derived stream state (checked label sets, stream ids) bounded by entries AND by the
// characters its keys and values hold, cleared whole when either bound is reached. Label sets are
// bounded (src/ingest/limits.ts) but large ones are ~90 KiB, so a bound on entries alone would let
// a flood of big, distinct label sets (gzip makes them cheap to send) take gigabytes. Clearing
// costs only the recomputation the cache saves; an entry too large for the whole budget's share
// is not kept at all.

export class ClearingCache<V> {
  readonly #map = new Map<string, V>();
  readonly #entriesMax: number;
  readonly #charsMax: number;
  #chars = 0;

  constructor(entriesMax: number, charsMax: number) {
    this.#entriesMax = entriesMax;
    this.#charsMax = charsMax;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  /** Keeps `value` under `key`; `valueChars` is what the value holds in characters (strings in it). */
  set(key: string, value: V, valueChars: number): void {
    const chars = key.length + valueChars;
    if (chars * 64 > this.#charsMax) return; // one entry never takes over 1/64 of the budget
    if (this.#map.size >= this.#entriesMax || this.#chars + chars > this.#charsMax) {
      this.#map.clear();
      this.#chars = 0;
    }
    this.#map.set(key, value);
    this.#chars += chars;
  }
}
