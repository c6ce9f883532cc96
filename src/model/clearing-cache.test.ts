// The clearing cache stays within both of its bounds and never keeps an entry too large for it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ClearingCache } from "./clearing-cache.ts";

test("clears whole at the entry bound and at the character bound; refuses an oversized entry", () => {
  const byCount = new ClearingCache<number>(3, 1_000_000);
  for (const key of ["a", "b", "c"]) byCount.set(key, 1, 0);
  assert.equal(byCount.size, 3);
  byCount.set("d", 1, 0);
  assert.equal(byCount.size, 1, "cleared, then the new entry kept");
  assert.equal(byCount.get("d"), 1);
  assert.equal(byCount.get("a"), undefined);

  const byChars = new ClearingCache<number>(1000, 6400);
  for (let index = 0; index < 70; index++) byChars.set(`k${index}`.padEnd(100, "."), index, 0); // 100 chars each
  assert.equal(byChars.size, 6, "64 entries of 100 chars fill a 6,400 budget; the 65th cleared it");
  const before = byChars.size;
  byChars.set("big", 0, 200); // 203 chars: more than 1/64 of the budget
  assert.equal(byChars.get("big"), undefined);
  assert.equal(byChars.size, before, "an oversized entry clears nothing either");
});
