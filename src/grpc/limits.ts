// Bounds of the gRPC transport, each with why.

export const grpcLimits = {
  /**
   * HTTP/2 streams one connection may have open: each holds up to --body-bytes-max of request until
   * the handler runs and the ingest queue (admission) takes over. 100 is the value the HTTP/2 spec
   * recommends as the least a server should allow, and far more than an OTel exporter uses (it
   * sends one export at a time per exporter).
   */
  concurrentStreamsMax: 100,
  /**
   * How long close() lets calls in flight finish before it cuts the connections: the same order as
   * an append's fsync under load, well inside a SIGTERM's usual grace (10-30 s).
   */
  shutdownGraceMs: 5000,
  /** The RetryInfo of an UNAVAILABLE while recovering or stopping: a probe interval (as HTTP's Retry-After 1). */
  notServingRetryDelayS: 1,
} as const;
