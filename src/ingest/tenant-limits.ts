// Per-tenant ingestion rates: one token bucket for records/s and one for bytes/s per tenant, each
// holding at most one second of burst. Tenants idle for a minute are forgotten, and the table is
// capped, so a flood of made-up tenant ids cannot grow memory.

import { IngestError, rejectReasons } from "./errors.ts";

const idleForgetMs = 60_000;
const tenantsTracked = 100_000;

interface Buckets {
  records: number;
  bytes: number;
  updatedMs: number;
}

export interface TenantRates {
  recordsPerS: number; // 0: unlimited
  bytesPerS: number; // 0: unlimited
}

export class TenantLimiter {
  readonly #rates: TenantRates;
  readonly #tenants = new Map<string, Buckets>();

  constructor(rates: TenantRates) {
    this.#rates = rates;
  }

  get enabled(): boolean {
    return this.#rates.recordsPerS > 0 || this.#rates.bytesPerS > 0;
  }

  /**
   * Takes `records` and `bytes` from the tenant's buckets at time `nowMs` (the caller's clock: the
   * routes pass the request's receive time, tests a fake clock). Returns 0 when allowed, else the seconds
   * to wait before the request could pass (nothing is taken then).
   */
  take(tenant: string, records: number, bytes: number, nowMs: number): number {
    if (!this.enabled) return 0;
    let buckets = this.#tenants.get(tenant);
    if (buckets === undefined) {
      if (this.#tenants.size >= tenantsTracked) this.#forgetIdle(nowMs);
      buckets = { records: this.#rates.recordsPerS, bytes: this.#rates.bytesPerS, updatedMs: nowMs };
      this.#tenants.set(tenant, buckets);
    }
    // The wall clock can step back (NTP): time before the latest seen refills nothing, not twice.
    const elapsedS = Math.max(0, nowMs - buckets.updatedMs) / 1000;
    buckets.updatedMs = Math.max(buckets.updatedMs, nowMs);
    const { recordsPerS, bytesPerS } = this.#rates;
    if (recordsPerS > 0) buckets.records = Math.min(recordsPerS, buckets.records + elapsedS * recordsPerS);
    if (bytesPerS > 0) buckets.bytes = Math.min(bytesPerS, buckets.bytes + elapsedS * bytesPerS);
    // A request larger than one second of rate passes once the bucket is full and leaves it in
    // debt, so big batches are slowed down rather than refused forever.
    const recordsShort =
      recordsPerS > 0 ? Math.max(0, Math.min(records, recordsPerS) - buckets.records) / recordsPerS : 0;
    const bytesShort =
      bytesPerS > 0 ? Math.max(0, Math.min(bytes, bytesPerS) - buckets.bytes) / bytesPerS : 0;
    const waitS = Math.max(recordsShort, bytesShort);
    if (waitS > 0) return Math.max(1, Math.ceil(Math.min(waitS, 60)));
    if (recordsPerS > 0) buckets.records -= records;
    if (bytesPerS > 0) buckets.bytes -= bytes;
    return 0;
  }

  /** take(), answering a refusal with the 429 IngestError the routes send (`who` names the tenant). */
  admit(tenant: string, records: number, bytes: number, nowMs: number, who: string): void {
    const waitS = this.take(tenant, records, bytes, nowMs);
    if (waitS > 0)
      throw new IngestError(
        rejectReasons.tenantRateLimited,
        `${who} ${tenant} is over its ingestion rate limit`,
        { retryAfterS: waitS },
      );
  }

  #forgetIdle(nowMs: number): void {
    for (const [tenant, buckets] of this.#tenants) {
      if (nowMs - buckets.updatedMs > idleForgetMs) this.#tenants.delete(tenant);
    }
    // Still full: drop the oldest entries (Map keeps insertion order), refilling them later is safe.
    for (const tenant of this.#tenants.keys()) {
      if (this.#tenants.size < tenantsTracked) break;
      this.#tenants.delete(tenant);
    }
  }
}
