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
