// Bounds of the gRPC transport, each with why.

export const grpcLimits = {
  /**
   * HTTP/2 streams one connection may have open: each holds up to --body-bytes-max of request that
   * grpc-js reads whole before the handler runs and the ingest queue (admission) takes over, so this
   * bounds what one connection holds unadmitted (8 × 10 MiB at the defaults). An OTel exporter
   * sends one export at a time; a Collector with several queue consumers a few. grpc-js has no
   * bound on connections (docs/operations.md "Memory").
   */
  concurrentStreamsMax: 8,
  /**
   * How long close() lets calls in flight finish before it cuts the connections: the same order as
   * an append's fsync under load, well inside a SIGTERM's usual grace (10-30 s).
   */
  shutdownGraceMs: 5000,
  /** The RetryInfo of an UNAVAILABLE while recovering or stopping: a probe interval (as HTTP's Retry-After 1). */
  notServingRetryDelayS: 1,
} as const;
