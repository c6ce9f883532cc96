// The per-tenant token buckets against a fake clock: every outcome is a function of the times
// given, never of how fast this machine runs the test.

import assert from "node:assert/strict";
import { test } from "node:test";
import { IngestError, rejectReasons } from "./errors.ts";
import { TenantLimiter } from "./tenant-limits.ts";

/** A clock the test moves by hand. */
function fakeClock(startMs = 1_764_605_000_000) {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

test("a bucket holds one second of rate: the burst passes, the next request waits for the refill", () => {
  const clock = fakeClock();
  const limiter = new TenantLimiter({ recordsPerS: 10, bytesPerS: 0 });
  assert.equal(limiter.take("t", 10, 1, clock.now()), 0);
  assert.equal(limiter.take("t", 1, 1, clock.now()), 1, "empty: one second to wait (rounded up)");
  clock.advance(99);
  assert.equal(limiter.take("t", 1, 1, clock.now()), 1, "0.99 records refilled: still short");
  clock.advance(1);
  assert.equal(limiter.take("t", 1, 1, clock.now()), 0, "100 ms refill 1 record at 10/s");
  assert.equal(limiter.take("t", 1, 1, clock.now()), 1);
  clock.advance(60_000);
  assert.equal(limiter.take("t", 10, 1, clock.now()), 0, "refilled to one second of rate, no more");
  assert.equal(limiter.take("t", 1, 1, clock.now()), 1);
});

test("a refused request takes nothing; Retry-After is the whole seconds until it would pass, at most 60", () => {
  const clock = fakeClock();
  const limiter = new TenantLimiter({ recordsPerS: 10, bytesPerS: 0 });
  assert.equal(limiter.take("t", 10, 0, clock.now()), 0);
  clock.advance(500);
  for (let i = 0; i < 3; i++) assert.equal(limiter.take("t", 8, 0, clock.now()), 1, "5 of 8: 0.3 s short");
  assert.equal(limiter.take("t", 5, 0, clock.now()), 0, "the refusals took nothing");
  // A request larger than the bucket passes once it is full and leaves it in debt.
  clock.advance(1000);
  assert.equal(limiter.take("t", 1000, 0, clock.now()), 0);
  assert.equal(limiter.take("t", 10, 0, clock.now()), 60, "99.9 s of debt: capped at 60");
  clock.advance(99_000);
  assert.equal(limiter.take("t", 10, 0, clock.now()), 1);
  clock.advance(1_000);
  assert.equal(limiter.take("t", 10, 0, clock.now()), 0);
});

test("bytes/s alone, and the stricter of the two when both are set", () => {
  const clock = fakeClock();
  const bytes = new TenantLimiter({ recordsPerS: 0, bytesPerS: 1000 });
  assert.equal(bytes.take("t", 1_000_000, 600, clock.now()), 0, "records are unlimited");
  assert.equal(bytes.take("t", 1, 600, clock.now()), 1);
  const both = new TenantLimiter({ recordsPerS: 100, bytesPerS: 1000 });
  assert.equal(both.take("t", 1, 1000, clock.now()), 0);
  assert.equal(both.take("t", 1, 1, clock.now()), 1, "the bytes bucket is empty, the records one is not");
  clock.advance(1000);
  assert.equal(both.take("t", 100, 1, clock.now()), 0);
  assert.equal(both.take("t", 1, 1, clock.now()), 1, "now the records bucket is empty");
});

test("tenants are independent; a clock going backwards refills nothing; disabled limits allow all", () => {
  const clock = fakeClock();
  const limiter = new TenantLimiter({ recordsPerS: 5, bytesPerS: 0 });
  assert.equal(limiter.take("noisy", 5, 0, clock.now()), 0);
  assert.equal(limiter.take("noisy", 5, 0, clock.now()), 1);
  assert.equal(limiter.take("quiet", 5, 0, clock.now()), 0);
  clock.advance(-10_000);
  assert.equal(limiter.take("noisy", 5, 0, clock.now()), 1, "no refill from a step back");
  clock.advance(10_000);
  assert.equal(limiter.take("noisy", 5, 0, clock.now()), 1, "nor from returning to the same time");
  clock.advance(1_000);
  assert.equal(limiter.take("noisy", 5, 0, clock.now()), 0);
  const unlimited = new TenantLimiter({ recordsPerS: 0, bytesPerS: 0 });
  assert.equal(unlimited.enabled, false);
  assert.equal(unlimited.take("t", 1e9, 1e12, clock.now()), 0);
});

test("admit throws the 429 the routes send, naming the tenant, with the seconds to wait", () => {
  const clock = fakeClock();
  const limiter = new TenantLimiter({ recordsPerS: 2, bytesPerS: 0 });
  limiter.admit("cus-a", 2, 0, clock.now(), "customer");
  assert.throws(
    () => limiter.admit("cus-a", 2, 0, clock.now(), "customer"),
    (error: unknown) =>
      error instanceof IngestError &&
      error.reason === rejectReasons.tenantRateLimited &&
      error.retryAfterS === 1 &&
      error.message === "customer cus-a is over its ingestion rate limit",
  );
  clock.advance(1_000);
  limiter.admit("cus-a", 2, 0, clock.now(), "customer");
});
