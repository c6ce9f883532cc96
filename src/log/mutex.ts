// A FIFO async mutex: structural changes of a partition (flush, roll, truncate, retention, compaction
// swap) run one at a time. Synchronous reads need no lock: they finish within one tick.

export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
