// Every bound of the query front end in one place, each with what it protects. The parser checks
// them before or while walking the tree, so a hostile query costs at most O(queryLengthMax) work.

export const queryLimits = {
  // Loki refuses queries of 128 KiB or more (pkg/logql/syntax: maxInputSize = 131072, raised from
  // 5 KiB for dashboards with long expanded variables). The same bound keeps Grafana's queries working
  // and the parse, which is linear in the text, well under a millisecond per KiB.
  queryLengthMax: 131_072,
  // Nesting of parentheses, aggregations and binary operators. The walk from the lezer tree and
  // every later pass over the AST recurse; 64 levels is far beyond any dashboard query and far below
  // Node's stack (~10k frames), so no query can crash a worker with a RangeError.
  nestingDepthMax: 64,
  // Label matchers in one selector. Each is a posting-list lookup in the index; Grafana's query
  // builder writes a handful. 64 bounds the index work per selector.
  matchersPerSelectorMax: 64,
  // Pipeline stages of one log query (each line filter counts once, each `or` value too). Every stage
  // runs per log line, so this bounds the per-line cost; 128 leaves room for generated filter chains.
  pipelineStagesMax: 128,
  // Log selectors in one metric query (each range aggregation has one). Each is a separate index
  // lookup and scan; 32 covers binary expressions over many series groups.
  selectorsPerQueryMax: 32,
} as const;

// Bounds of query evaluation (src/query/eval). The HTTP layer passes a budget per query; these are
// the defaults it starts from and the fixed bounds Loki applies to every query.
export const queryEvalLimits = {
  // Loki's max_query_series default: a metric query answering more series than this fails
  // ("maximum number of series (500) reached for a single query"). Checked on the answer, as Loki
  // does, so `sum(count_over_time({app=~".+"}[1m]))` over 10,000 streams still answers one series.
  seriesMax: 500,
  // Loki's max_entries_limit_per_query default: a log query's `limit` above it is refused, not clamped.
  entriesMax: 5_000,
  // Points (series × steps) held by all accumulators of one metric query at once: each costs a
  // Float64 value, a Float64 count and a presence byte (~17 B), so 4 M points is ~68 MiB, the
  // memory a query may take on a 1 GiB heap beside ingest. 500 series × 11,000 steps fits half of it.
  pointsMax: 4_000_000,
  // Bytes of log lines and labels a log query keeps (its `limit` heap, or all matching entries when
  // `interval` is set). 5,000 lines of 8 KiB each is 40 MiB; 64 MiB leaves room for labels.
  bytesMax: 64 * 1024 * 1024,
  // Loki rejects query_range when (end − start) / step > 11,000 (pkg/loghttp/query.go): Prometheus'
  // bound, which keeps one series' answer below ~250 KiB of JSON.
  stepsPerSeriesMax: 11_000,
} as const;
// Bounds of running a query over the partition log (src/query/exec). The engine takes overrides
// (QueryEngine options), as an operator would set them.
export const executionLimits = {
  // The time budget of one query, series, labels, stats or volume request: Loki's default
  // query_timeout is 1 minute. Past it the scan stops at its next step and the request fails with
  // QueryTimeoutError, instead of holding a reader and its memory for as long as the range is wide.
  queryTimeoutMs: 60_000,
  // Key+value bytes one read step takes from a partition (Partition.read's bytesMax, itself capped by
  // the log's readBytesMax). Between steps the scan yields to the event loop, so this bounds how long
  // ingest waits behind a query: 1 MiB is about one batch, a few milliseconds to decode.
  readStepBytes: 1024 * 1024,
  // Distinct streams one series, labels or stats request may collect: a label set is ~100–300 bytes,
  // so 100,000 keep a request under ~30 MB. Past it the request fails (QuerySeriesLimitError) rather
  // than answering with a silently cut list.
  seriesMax: 100_000,
  // /index/volume: Loki's default number of series returned (`limit`, seriesvolume.DefaultLimit) and
  // its volume_max_series (1000): the most aggregated series one request may build before failing.
  volumeLimitDefault: 100,
  volumeSeriesMax: 1000,
} as const;

export type ExecutionLimits = { -readonly [K in keyof typeof executionLimits]: number };

// Bounds of the query pool (src/query/exec/pool.ts): worker threads that run whole queries.
export const queryPoolLimits = {
  // Worker threads by default: this machine has two cores, one of which the main thread (HTTP,
  // ingest) and the log thread share; two query threads let a heavy query use the idle core
  // while a second one still gets a thread.
  threads: 2,
  // Tasks waiting for a thread. Each holds its request (and, once running, read fds of the
  // segments it scans), so a burst beyond this is refused (QUERY_POOL_FULL, 429) instead of
  // queueing work the clients will have given up on by the time it runs.
  queueMax: 32,
  // After an abort a worker stops at its next read step (one step is ~1 MiB, milliseconds).
  // One still busy after this is stuck in evaluation and is terminated and replaced, so an
  // aborted task can never hold a thread for good.
  abortGraceMs: 5_000,
} as const;
