// A bounded binary heap: the evaluator keeps the best `limit` entries of a log query in it while the
// source yields entries in any order, so memory stays O(limit) however many lines the query reads.

/**
 * A min-heap under `less`: the root is the "worst" kept element, the first to go when a better one
 * arrives. `capacityMax` bounds it; `offer` answers whether the element was kept.
 */
export class BoundedHeap<T> {
  readonly #items: T[] = [];
  readonly #less: (a: T, b: T) => boolean;
  readonly #capacityMax: number;

  constructor(capacityMax: number, less: (a: T, b: T) => boolean) {
    if (!(Number.isInteger(capacityMax) && capacityMax >= 0))
      throw new Error(`BUG: heap capacity ${capacityMax}`);
    this.#capacityMax = capacityMax;
    this.#less = less;
  }

  get size(): number {
    return this.#items.length;
  }

  get full(): boolean {
    return this.#items.length >= this.#capacityMax;
  }

  /** The worst kept element (the next to be evicted), or undefined when empty. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Keeps `item` if there is room or it beats the root; returns the evicted root, `item` itself when refused, or null. */
  offer(item: T): T | null {
    const items = this.#items;
    if (items.length < this.#capacityMax) {
      items.push(item);
      this.#up(items.length - 1);
      return null;
    }
    if (items.length === 0 || !this.#less(items[0] as T, item)) return item;
    const evicted = items[0] as T;
    items[0] = item;
    this.#down(0);
    return evicted;
  }

  /** Every kept element, in no particular order; the heap is empty afterwards. */
  drain(): T[] {
    return this.#items.splice(0, this.#items.length);
  }

  #up(index: number): void {
    const items = this.#items;
    const item = items[index] as T;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#less(item, items[parent] as T)) break;
      items[index] = items[parent] as T;
      index = parent;
    }
    items[index] = item;
  }

  #down(index: number): void {
    const items = this.#items;
    const length = items.length;
    const item = items[index] as T;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && this.#less(items[right] as T, items[left] as T) ? right : left;
      if (!this.#less(items[child] as T, item)) break;
      items[index] = items[child] as T;
      index = child;
    }
    items[index] = item;
  }
}
