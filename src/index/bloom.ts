// A bloom filter over a block's distinct filter keys, sized for that block (bits = keys × bits per
// key, rounded up to whole 32-bit words) with k probes by double hashing (Kirsch–Mitzenmacher).
// Immutable once built; the bytes are what the store keeps (FORMAT.md "bloom").

import assert from "node:assert/strict";
import { type FilterKey, keyHashes } from "./tokens.ts";

export class Bloom {
  readonly words: Uint32Array;
  readonly hashCount: number;
  readonly #bitCount: number;

  constructor(words: Uint32Array, hashCount: number) {
    assert.ok(words.length >= 1 && hashCount >= 1 && hashCount <= 32, "a bloom has bits and probes");
    this.words = words;
    this.hashCount = hashCount;
    this.#bitCount = words.length * 32;
  }

  /** The optimal probe count for `bitsPerKey`, capped at `hashesMax`. */
  static hashCountFor(bitsPerKey: number, hashesMax: number): number {
    return Math.max(1, Math.min(hashesMax, Math.round(bitsPerKey * Math.LN2)));
  }

  static build(keys: Iterable<FilterKey>, keyCount: number, bitsPerKey: number, hashesMax: number): Bloom {
    const wordCount = Math.max(1, Math.ceil((keyCount * bitsPerKey) / 32));
    const bloom = new Bloom(new Uint32Array(wordCount), Bloom.hashCountFor(bitsPerKey, hashesMax));
    for (const key of keys) bloom.#add(key);
    return bloom;
  }

  #add(key: FilterKey): void {
    const [step, base] = keyHashes(key);
    for (let i = 0; i < this.hashCount; i++) {
      const bit = (base + i * step) % this.#bitCount;
      this.words[bit >>> 5] |= 1 << (bit & 31);
    }
  }

  has(key: FilterKey): boolean {
    const [step, base] = keyHashes(key);
    for (let i = 0; i < this.hashCount; i++) {
      const bit = (base + i * step) % this.#bitCount;
      if ((this.words[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  get byteLength(): number {
    return this.words.byteLength;
  }
}
