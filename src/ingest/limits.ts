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

/** Bounds of the Elasticsearch bulk decoder (src/ingest/es-bulk.ts, ES-BULK.md). */
export const esBulkLimits = {
  // Elasticsearch's own bounds, so a request it would refuse is refused here the same way: an _id
  // of at most 512 bytes (IndexRequest.validate) and an index name of at most 255 bytes
  // (MetadataCreateIndexService.validateIndexOrAliasName).
  idBytesMax: 512,
  indexBytesMax: 255,
  // Structured metadata of one line: a Filebeat document carries ~15–25 leaf fields (agent.*, ecs.*,
  // host.*, log.file.path, log.offset, input.type), so 32 keeps them all while a document of
  // thousands of fields cannot turn one line into thousands of metadata pairs. Past it the rest of
  // the document's fields are left out.
  metadataFieldsMax: 32,
  // Objects are walked this deep for leaves (ECS nests 2–4 levels); deeper leaves are left out, and
  // the walk's recursion is bounded whatever the document.
  metadataDepthMax: 8,
  // Distinct field paths of one request whose joined, sanitised names are kept (es-bulk.ts
  // FieldTree): shippers send a few dozen; a hostile body of ever-new keys stops costing memory
  // here (~200 B a node) and only loses the cache.
  fieldNodesMax: 1024,
  // A metadata name is checked like a label name by the pipeline (labelNameCharsMax).
  metadataNameCharsMax: labelNameCharsMax,
} as const;

// The ingest pipeline keeps each (tenant, labels as sent) it has checked, with its sorted label set
// and 64-bit id, so a stream that keeps sending is validated and hashed once, not per request.
// Cleared when it holds this many streams or this many characters of keys and labels (2 B each:
// ~32 MiB), whichever comes first: typical label sets are ~100 characters, so the count is the bound
// that matters, while a flood of label sets near their limits (~90 KiB each) stops at the chars.
// Clearing costs only the checking the cache saves.
export const knownStreamsMax = 65_536;
export const knownStreamsCharsMax = 16 * 1024 * 1024;

// Loki's push sends each stream's labels as one text (`{app="api", env="prod"}`); its decoders keep
// the pairs parsed from each text they have seen, shared by every request that sends the same text
// (and so found by identity in the pipeline's cache above, with no key to build). A quarter of the
// known streams' bounds (~8 MiB): a stream whose text is no longer held is only parsed again.
export const lokiLabelTextsMax = 16_384;
export const lokiLabelTextsCharsMax = 4 * 1024 * 1024;

/** Bounds of the syslog decoder (src/ingest/syslog.ts, SYSLOG.md). */
export const syslogLimits = {
  // Structured metadata pairs one message keeps (procid, msgid, sequence and SD-PARAMs): every pair
  // is stored with its line and printed as a label of each answer, so a message that carries
  // hundreds of SD-PARAMs keeps the first ones. Real senders carry a handful (rsyslog's
  // timeQuality 2–3, systemd-journal's origin 2–4, Windows event forwarders ~20).
  metadataPairsMax: 64,
} as const;
