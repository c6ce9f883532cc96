// Streams per tenant: how many distinct streams (tenant, label set) a tenant pushed lately, bounded
// by --streams-per-tenant-max. Every stream costs the index and the series listing, so a client
// that puts a request id in a label is refused (too_many_streams) instead of growing them without
// end. Memory is bounded (limits.ts pipelineLimits): per tenant, two generations of stream
// fingerprints, each at most the limit; a generation older than an idle period is dropped, so a
// stream that stopped sending stops counting after one to two periods.

import { pipelineLimits } from "./limits.ts";

interface TenantStreams {
  current: Set<number>;
  previous: Set<number>;
  /** Fingerprints of `current` that are also in `previous`: counted once. */
  overlap: number;
  rotatedAtMs: number;
}

export class StreamLimiter {
  readonly #streamsMax: number;
  readonly #tenants = new Map<string, TenantStreams>();

  /** `streamsMax` 0: unlimited (nothing is tracked). */
  constructor(streamsMax: number) {
    this.#streamsMax = streamsMax;
  }

  get streamsMax(): number {
    return this.#streamsMax;
  }

  /** Active streams of `tenant` as of its last admit. */
  activeStreams(tenant: string): number {
    const held = this.#tenants.get(tenant);
    return held === undefined ? 0 : held.previous.size + held.current.size - held.overlap;
  }

  /**
   * How many of a request's streams (their 64-bit ids) at `nowMs` would take the tenant past its
   * limit: 0 when all fit. Counts nothing: record() does, once the request passed every check.
   */
  overBy(tenant: string, streamIds: readonly bigint[], nowMs: number): number {
    if (this.#streamsMax === 0) return 0;
    const held = this.#held(tenant, nowMs);
    const fresh = new Set<number>();
    for (const id of streamIds) {
      const print = fingerprint(id);
      if (!held.current.has(print) && !held.previous.has(print)) fresh.add(print);
    }
    return Math.max(0, this.activeStreams(tenant) + fresh.size - this.#streamsMax);
  }

  /** Counts a request's streams as active (after overBy returned 0 for them). */
  record(tenant: string, streamIds: readonly bigint[], nowMs: number): void {
    if (this.#streamsMax === 0) return;
    const held = this.#held(tenant, nowMs);
    for (const id of streamIds) {
      const print = fingerprint(id);
      if (held.current.has(print)) continue;
      held.current.add(print);
      if (held.previous.has(print)) held.overlap++;
    }
  }

  /** overBy, then record when it is 0: the two in one step. */
  admit(tenant: string, streamIds: readonly bigint[], nowMs: number): number {
    const over = this.overBy(tenant, streamIds, nowMs);
    if (over === 0) this.record(tenant, streamIds, nowMs);
    return over;
  }

  #held(tenant: string, nowMs: number): TenantStreams {
    let held = this.#tenants.get(tenant);
    if (held === undefined) {
      if (this.#tenants.size >= pipelineLimits.streamTenantsTracked) {
        const oldest = this.#tenants.keys().next().value as string;
        this.#tenants.delete(oldest);
      }
      held = { current: new Set(), previous: new Set(), overlap: 0, rotatedAtMs: nowMs };
    } else this.#tenants.delete(tenant); // re-inserted below: the Map's order is least recent first
    this.#tenants.set(tenant, held);
    this.#rotate(held, nowMs);
    return held;
  }

  #rotate(held: TenantStreams, nowMs: number): void {
    const periodMs = pipelineLimits.streamIdlePeriodMs;
    if (nowMs - held.rotatedAtMs < periodMs) return;
    // Two periods idle: nothing of either generation is active any more.
    held.previous = nowMs - held.rotatedAtMs >= 2 * periodMs ? new Set() : held.current;
    held.current = new Set();
    held.overlap = 0;
    held.rotatedAtMs = nowMs;
  }
}

/** 53 bits of a stream id, a safe integer: a collision among a tenant's few thousand streams is ~1e-9. */
function fingerprint(id: bigint): number {
  return Number(id >> 11n);
}
