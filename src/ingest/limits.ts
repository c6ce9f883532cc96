// Fixed bounds of reference A's entries (the configurable ones are ServiceLogLimits). Labels,
// service names and levels are identifiers, not payload: these bounds keep keys and label sets small.

export const serviceCharsMax = 256;
// The log stores timestamps exactly up to ±2^51 ms (src/log/FORMAT.md), about the year 71,000.
export const timestampMsMax = 2 ** 51;
export const levelCharsMax = 64;
export const labelNameCharsMax = 1024;
export const labelValueCharsMax = 4096;

/** Bounds and costs of the idempotency table (src/ingest/idempotency.ts). */
export const idempotencyLimits = {
  // Slots per chunk of the expiry queue: the queue grows and shrinks a chunk (16 K pairs, 128 KiB
  // of time stamps) at a time instead of doubling one array, so a table near its max never needs a
  // transient second copy of its queue.
  queueChunkSlots: 16_384,
  // The rebuild logs its progress this often, so a long start-up shows it is working.
  rebuildProgressIntervalMs: 2000,
  // Heap bytes one held key may cost. Measured (bench/idempotency-memory.bench.ts, 2026-12-03):
  // 94 B a key at 1 M keys, 103 B at 3 M, of the shape `cus-xxxxxx \n <26-char ULID>` (the flat key
  // string ~56 B, its Map entry and the Map's power-of-two table, a queue slot of 16 B). Reserved:
  // 128 B, for up to as many stale queue slots again (16 B each) and the rebuild's per-partition
  // runs (~16 B a key, freed after it). The start-up heap check (src/cli/heap.ts) counts this per
  // --idempotency-keys-max; longer keys cost one byte per character more.
  heapBytesPerKey: 128,
} as const;
