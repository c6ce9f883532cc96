// Public surface of the analytics stage: the consumer that turns the access log into per-window
// aggregates, the store that keeps them with the consumer offsets, and the window model.
export type { WindowDelta } from "./aggregator.ts";
export { ChunkAggregator } from "./aggregator.ts";
export {
  AnalyticsConsumer,
  type AnalyticsEvent,
  type ConsumerHooks,
  consumeStep,
  type PartitionStatus,
  type StepResult,
} from "./consumer.ts";
export {
  AnalyticsError,
  analyticsErrorCodes,
  StoreConflictError,
  StoreFormatError,
  StoreIoError,
} from "./errors.ts";
export { analyticsLimits, otherKey } from "./limits.ts";
export { firstProductToken, pathKey, userAgentFamily } from "./normalise.ts";
export { type RebuildProgress, type RebuildSummary, rebuildAggregates } from "./rebuild.ts";
export { type AggregateDocument, AggregateStore, type ConsumerPosition } from "./store.ts";
export {
  formatWindowStart,
  isWindowSize,
  type WindowSize,
  windowLengthMs,
  windowSizeList,
  windowSizes,
  windowStartMs,
} from "./windows.ts";
