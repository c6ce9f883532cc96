// The bounded ingest queue: a request is admitted only while the requests and body bytes in flight
// (admitted, not yet answered) stay under their bounds. Past them the client gets 429 + Retry-After
// before its body is read, so memory is bounded by configuration, not by load.

import assert from "node:assert/strict";

export interface AdmissionLimits {
  requestsMax: number;
  bytesMax: number;
}

export class Admission {
  readonly #limits: AdmissionLimits;
  #requests = 0;
  #bytes = 0;

  constructor(limits: AdmissionLimits) {
    assert.ok(limits.requestsMax > 0 && limits.bytesMax > 0);
    this.#limits = limits;
  }

  /** Reserves room for a request of up to `bytes` body bytes; false when the queue is full. */
  tryAdmit(bytes: number): boolean {
    if (this.#requests + 1 > this.#limits.requestsMax) return false;
    if (this.#requests > 0 && this.#bytes + bytes > this.#limits.bytesMax) return false;
    this.#requests++;
    this.#bytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#requests--;
    this.#bytes -= bytes;
    assert.ok(this.#requests >= 0 && this.#bytes >= 0, "released more than admitted");
  }

  get requestsInFlight(): number {
    return this.#requests;
  }

  get bytesInFlight(): number {
    return this.#bytes;
  }
}
