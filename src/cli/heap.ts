// The start-up heap check of `sluice serve`: what the configuration may hold in the V8 heap at most,
// against the heap limit of this process (node --max-old-space-size). A configuration whose bounds
// do not fit is refused at start, with what to change, instead of crashing under load with an
// out-of-memory abort.

import { idempotencyLimits } from "../ingest/index.ts";

// Memory model (docs/operations.md): request bodies in flight are bounded by --queue-bytes-max, and
// each body byte costs about this many heap bytes while parsed, enriched and encoded (measured with
// test/server-overload.test.ts). The V8 heap limit bounds the garbage on top; it must leave room for
// the queue, or a full queue would crash the process instead of being answered with 429.
const heapBytesPerQueueByte = 6;
const heapBytesBase = 64 * 1024 * 1024;

export interface HeapNeeds {
  queueBytesMax: number;
  idempotencyKeysMax: number;
  /** What the syslog TCP connections may buffer at once (src/syslog syslogBufferBytesMax); 0 when off. */
  syslogBufferBytesMax?: number;
}

/**
 * Heap bytes the configuration may need: the base, the ingest queue, a full idempotency table, and
 * the syslog connections' frames and batches (their bytes are read before admission takes them).
 */
export function heapBytesNeeded(needs: HeapNeeds): number {
  return (
    heapBytesBase +
    heapBytesPerQueueByte * needs.queueBytesMax +
    idempotencyLimits.heapBytesPerKey * needs.idempotencyKeysMax +
    (needs.syslogBufferBytesMax ?? 0)
  );
}

/** null when the configuration fits in `heapLimitBytes`, else the one-line reason and the fix. */
export function heapProblem(needs: HeapNeeds, heapLimitBytes: number): string | null {
  const needed = heapBytesNeeded(needs);
  if (heapLimitBytes >= needed) return null;
  const mib = (bytes: number) => Math.ceil(bytes / 2 ** 20);
  const queueMib = mib(heapBytesPerQueueByte * needs.queueBytesMax);
  const keysMib = mib(idempotencyLimits.heapBytesPerKey * needs.idempotencyKeysMax);
  const syslogBytes = needs.syslogBufferBytesMax ?? 0;
  const syslog = syslogBytes > 0 ? `; the syslog connections: ~${mib(syslogBytes)} MiB` : "";
  return (
    `this configuration needs a V8 heap of at least ${mib(needed)} MiB (--queue-bytes-max ` +
    `${needs.queueBytesMax}: ~${queueMib} MiB; --idempotency-keys-max ${needs.idempotencyKeysMax}: ` +
    `~${keysMib} MiB at ${idempotencyLimits.heapBytesPerKey} B a key${syslog}), this process has ` +
    `${mib(heapLimitBytes)} MiB: lower --queue-bytes-max or --idempotency-keys-max` +
    `${syslogBytes > 0 ? " or --syslog-connections-max" : ""}, or start node with --max-old-space-size=${mib(needed)}`
  );
}
