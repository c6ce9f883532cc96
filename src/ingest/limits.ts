// Fixed bounds of reference A's entries (the configurable ones are ServiceLogLimits). Labels,
// service names and levels are identifiers, not payload: these bounds keep keys and label sets small.
// Every length here is counted in UTF-16 code units (JavaScript's string length), as the general path
// sees the parsed entry; the fast path (service-logs-scan.ts) compares the raw bytes between the
// quotes, which are never fewer, and leaves anything over a bound to the general path.

export const serviceCharsMax = 256;
// The log stores timestamps exactly up to ±2^51 ms (src/log/FORMAT.md), about the year 71,000.
export const timestampMsMax = 2 ** 51;
export const levelCharsMax = 64;

// An entry's stream labels are `service`, `level` (when it has one) and each of its `labels`
// (src/model/README.md). Every distinct label set is a stream that the index tracks and that
// /loki/api/v1/series lists, so the set is bounded as Loki bounds a series: its defaults are
// max_label_names_per_series 15, max_label_name_length 1024 and max_label_value_length 2048
// (pkg/validation/limits.go). Grafana and Loki's tooling are built against those numbers. The count
// is of the entry as sent — service, level if present, every label — before names are sanitised
// (which can only merge names), so a client can check it without knowing the mapping.
export const streamLabelsMax = 15;
export const labelNameCharsMax = 1024;
export const labelValueCharsMax = 2048;

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

/** Bounds of the generic ingest pipeline (src/ingest/pipeline.ts) that are not configuration. */
export const pipelineLimits = {
  // Tenants whose active streams are counted at once. Each costs up to 2 × --streams-per-tenant-max
  // numbers (two generations, streams.ts), ~20 B each in a Set: 1000 tenants at the default 5000
  // streams is at most ~200 MB in the worst case, typically a few MB. Past it the least recently
  // pushing tenant is forgotten, which only lets it start counting afresh (its limit then errs toward
  // admitting, never toward refusing a stream that is within it).
  streamTenantsTracked: 1000,
  // A stream counts as active while it received a line within the last one to two of these periods
  // (generations rotate each period), like an ingester that flushes a stream idle for ~30 minutes.
  streamIdlePeriodMs: 30 * 60_000,
} as const;

// OTLP AnyValue nests (arrays, key-value lists): the decoders recurse, so nesting is bounded to keep
// a hostile body from exhausting the stack. Real bodies nest a few levels; OTel's own SDKs stop at
// far less than this.
export const anyValueDepthMax = 32;

/** Bounds of the syslog decoder (src/ingest/syslog.ts, SYSLOG.md). */
export const syslogLimits = {
  // Structured metadata pairs one message keeps (procid, msgid, sequence and SD-PARAMs): every pair
  // is stored with its line and printed as a label of each answer, so a message that carries
  // hundreds of SD-PARAMs keeps the first ones. Real senders carry a handful (rsyslog's
  // timeQuality 2–3, systemd-journal's origin 2–4, Windows event forwarders ~20).
  metadataPairsMax: 64,
} as const;
