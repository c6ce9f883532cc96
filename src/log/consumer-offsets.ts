// Durable consumer offsets: a named consumer records "processed everything below offset N" per
// partition and resumes there after a restart. One small JSON file per consumer, replaced atomically
// (temp file, fsync, rename, directory fsync); concurrent commits coalesce into one write.

import assert from "node:assert/strict";
import path from "node:path";
import { InvalidRecordError } from "./errors.ts";
import { makeDirectoryDurable, writeFileDurably } from "./segment.ts";
import type { Storage } from "./storage.ts";

const consumerNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class ConsumerOffsets {
  readonly name: string;
  readonly #storage: Storage;
  readonly #filePath: string;
  readonly #directory: string;
  readonly #offsets: Map<number, number>;
  #writing: Promise<void> | null = null;
  #dirty = false;

  private constructor(storage: Storage, directory: string, name: string, offsets: Map<number, number>) {
    this.name = name;
    this.#storage = storage;
    this.#directory = directory;
    this.#filePath = path.join(directory, `${name}.json`);
    this.#offsets = offsets;
  }

  static open(storage: Storage, directory: string, name: string): ConsumerOffsets {
    if (!consumerNamePattern.test(name))
      throw new InvalidRecordError(`consumer name ${JSON.stringify(name)} must match ${consumerNamePattern}`);
    makeDirectoryDurable(storage, directory);
    const offsets = new Map<number, number>();
    const bytes = storage.readFile(path.join(directory, `${name}.json`));
    if (bytes !== null) {
      const stored = JSON.parse(bytes.toString("utf8")) as { partitions: Record<string, number> };
      for (const [partition, offset] of Object.entries(stored.partitions))
        offsets.set(Number(partition), offset);
    }
    return new ConsumerOffsets(storage, directory, name, offsets);
  }

  /** The committed position of a partition: the next offset to process (0 when never committed). */
  get(partition: number): number {
    return this.#offsets.get(partition) ?? 0;
  }

  /** Resolves once `offset` is durable. Offsets only move forward; an older commit is ignored. */
  async commit(partition: number, offset: number): Promise<void> {
    assert.ok(Number.isSafeInteger(offset) && offset >= 0);
    if (offset > this.get(partition)) {
      this.#offsets.set(partition, offset);
      this.#dirty = true;
    }
    while (this.#dirty) {
      if (this.#writing === null) this.#writing = this.#write();
      await this.#writing;
    }
  }

  async #write(): Promise<void> {
    await Promise.resolve();
    this.#dirty = false;
    const partitions = Object.fromEntries([...this.#offsets].sort((a, b) => a[0] - b[0]));
    try {
      writeFileDurably(this.#storage, this.#filePath, Buffer.from(JSON.stringify({ partitions })), true);
      this.#storage.fsyncDirectory(this.#directory);
    } catch (error) {
      this.#dirty = true; // not durable: a retried commit must write again
      throw error;
    } finally {
      this.#writing = null;
    }
  }
}
