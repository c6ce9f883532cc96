// The `data` object of Loki's query and query_range answers, in Loki's exact JSON shapes
// (pkg/util/marshal/query.go): streams carry [ns as a decimal string, line] pairs; matrix and vector
// points carry [seconds as a JSON number, value as a string]; a scalar is one such pair. `stats`
// has the shape of Loki's stats.Result, zero where Sluice does not measure.

/** `{label: value, …}` in label-name order, as Loki encodes a label set. */
export type LokiLabels = Record<string, string>;

export interface LokiStream {
  readonly stream: LokiLabels;
  readonly values: [timestampNs: string, line: string][];
}

export type LokiPoint = [timeSeconds: number, value: string];

export interface LokiSeries {
  readonly metric: LokiLabels;
  readonly values: LokiPoint[];
}

export interface LokiSample {
  readonly metric: LokiLabels;
  readonly value: LokiPoint;
}

export type LokiResultData =
  | { readonly resultType: "streams"; readonly result: LokiStream[]; readonly stats: LokiStats }
  | { readonly resultType: "matrix"; readonly result: LokiSeries[]; readonly stats: LokiStats }
  | { readonly resultType: "vector"; readonly result: LokiSample[]; readonly stats: LokiStats }
  | { readonly resultType: "scalar"; readonly result: LokiPoint; readonly stats: LokiStats };

/** What the evaluator measures; the rest of Loki's stats object is zeros. */
export interface EvalMeasures {
  /** Seconds, as Loki reports execTime. */
  execTimeSeconds: number;
  linesProcessed: number;
  bytesProcessed: number;
  entriesReturned: number;
  postFilterLines: number;
  structuredMetadataBytes: number;
}

export type LokiStats = ReturnType<typeof lokiStats>;

const storeZeros = () => ({
  chunksDownloadTime: 0,
  congestionControlLatency: 0,
  totalChunksRef: 0,
  totalChunksDownloaded: 0,
  chunkRefsFetchTime: 0,
  queryReferencedStructuredMetadata: false,
  queryUsedV2Engine: false,
  pipelineWrapperFilteredLines: 0,
  chunk: {
    compressedBytes: 0,
    decompressedBytes: 0,
    decompressedLines: 0,
    decompressedStructuredMetadataBytes: 0,
    headChunkBytes: 0,
    headChunkLines: 0,
    headChunkStructuredMetadataBytes: 0,
    postFilterLines: 0,
    totalDuplicates: 0,
  },
});

const cacheZeros = () => ({
  entriesFound: 0,
  entriesRequested: 0,
  entriesStored: 0,
  bytesReceived: 0,
  bytesSent: 0,
  requests: 0,
  downloadTime: 0,
  queryLengthServed: 0,
});

/** Loki's stats.Result (pkg/logqlmodel/stats) with the measured figures filled in. */
export function lokiStats(measures: EvalMeasures) {
  const seconds = measures.execTimeSeconds;
  return {
    summary: {
      bytesProcessedPerSecond: seconds > 0 ? Math.trunc(measures.bytesProcessed / seconds) : 0,
      linesProcessedPerSecond: seconds > 0 ? Math.trunc(measures.linesProcessed / seconds) : 0,
      totalBytesProcessed: measures.bytesProcessed,
      totalLinesProcessed: measures.linesProcessed,
      execTime: seconds,
      queueTime: 0,
      subqueries: 0,
      totalEntriesReturned: measures.entriesReturned,
      splits: 0,
      shards: 0,
      totalPostFilterLines: measures.postFilterLines,
      totalStructuredMetadataBytesProcessed: measures.structuredMetadataBytes,
    },
    querier: { querierExecTime: 0, store: storeZeros() },
    ingester: {
      totalReached: 0,
      totalChunksMatched: 0,
      totalBatches: 0,
      totalLinesSent: 0,
      store: storeZeros(),
    },
    cache: {
      chunk: cacheZeros(),
      index: cacheZeros(),
      result: cacheZeros(),
      statsResult: cacheZeros(),
      volumeResult: cacheZeros(),
      seriesResult: cacheZeros(),
      labelResult: cacheZeros(),
      instantMetricResult: cacheZeros(),
    },
    index: {
      totalChunks: 0,
      postFilterChunks: 0,
      shardsDuration: 0,
      usedBloomFilters: false,
      bloomFilterTime: 0,
      chunkRefsLookupTime: 0,
      totalStreams: 0,
    },
  };
}
