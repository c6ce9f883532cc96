// A bounded LRU of read-only file descriptors for sealed segments. Reads are synchronous and finish
// within one call, so a descriptor is never in use when it is evicted and closed.

import assert from "node:assert/strict";
import { openModes, type Storage } from "./storage.ts";

export class FdCache {
  readonly #storage: Storage;
  readonly #openFilesMax: number;
  readonly #fds = new Map<string, number>();

  constructor(storage: Storage, openFilesMax: number) {
    assert.ok(openFilesMax >= 1);
    this.#storage = storage;
    this.#openFilesMax = openFilesMax;
  }

  get(path: string): number {
    const cached = this.#fds.get(path);
    if (cached !== undefined) {
      this.#fds.delete(path);
      this.#fds.set(path, cached); // most recently used goes last
      return cached;
    }
    while (this.#fds.size >= this.#openFilesMax) {
      const [oldestPath, oldestFd] = this.#fds.entries().next().value!;
      this.#fds.delete(oldestPath);
      this.#storage.close(oldestFd);
    }
    const fd = this.#storage.open(path, openModes.read);
    this.#fds.set(path, fd);
    return fd;
  }

  /** Closes the descriptor of a file about to be deleted or replaced. */
  forget(path: string): void {
    const fd = this.#fds.get(path);
    if (fd === undefined) return;
    this.#fds.delete(path);
    this.#storage.close(fd);
  }

  get openCount(): number {
    return this.#fds.size;
  }

  closeAll(): void {
    for (const fd of this.#fds.values()) this.#storage.close(fd);
    this.#fds.clear();
  }
}
