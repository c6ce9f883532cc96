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
   * Admits a request's streams (their 64-bit ids) at `nowMs`: all of them, or none when the new ones
   * would take the tenant past its limit. Returns the count of new streams over the limit (0: admitted).
   */
  admit(tenant: string, streamIds: readonly bigint[], nowMs: number): number {
    if (this.#streamsMax === 0) return 0;
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
    const fresh = new Set<number>();
    for (const id of streamIds) {
      const print = fingerprint(id);
      if (!held.current.has(print) && !held.previous.has(print)) fresh.add(print);
    }
    const over = this.activeStreams(tenant) + fresh.size - this.#streamsMax;
    if (over > 0) return over;
    for (const id of streamIds) {
      const print = fingerprint(id);
      if (held.current.has(print)) continue;
      held.current.add(print);
      if (held.previous.has(print)) held.overlap++;
    }
    return 0;
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
