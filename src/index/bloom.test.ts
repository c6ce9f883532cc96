// The bloom filter: no false negatives, and the false-positive rate its configuration promises.

import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "../loadgen/index.ts";
import { Bloom } from "./bloom.ts";
import { addLineKeys } from "./tokens.ts";

/** Keys as the filter makes them (distinct lines' minimizers), so the hashes are the real ones. */
function realKeys(count: number, seed: number): number[] {
  const random = seededRandom(seed);
  const keys = new Set<number>();
  while (keys.size < count)
    addLineKeys(
      `id-${Math.floor(random() * 2 ** 48).toString(36)}`,
      { gramLength: 4, windowGrams: 4, longGramLength: 0 },
      keys,
    );
  return [...keys].slice(0, count);
}

test("a bloom holds every key and its false-positive rate is what bits per key promise", () => {
  const members = realKeys(20_000, 1);
  const memberSet = new Set(members);
  const others = realKeys(120_000, 2)
    .filter((key) => !memberSet.has(key))
    .slice(0, 100_000);
  for (const bitsPerKey of [4, 5, 6, 10]) {
    const bloom = Bloom.build(members, members.length, bitsPerKey, 8);
    for (const key of members) assert.ok(bloom.has(key), "no false negatives");
    const hashes = bloom.hashCount;
    const expected = (1 - Math.exp(-hashes / bitsPerKey)) ** hashes;
    const measured = others.filter((key) => bloom.has(key)).length / others.length;
    assert.ok(
      measured > expected * 0.7 && measured < expected * 1.4,
      `${bitsPerKey} bits/key, ${hashes} probes: measured ${measured.toFixed(4)}, expected ${expected.toFixed(4)}`,
    );
    assert.equal(bloom.byteLength, Math.ceil((members.length * bitsPerKey) / 32) * 4);
  }
});
