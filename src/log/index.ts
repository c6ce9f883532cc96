// Public surface of the partition log. Other stages import from here only.
export {
  type LogRecord,
  type PointReadCache,
  type RecordColumns,
  type RecordSet,
  recordsOf,
  type StoredRecord,
} from "./batch.ts";
export type { ConsumerOffsets } from "./consumer-offsets.ts";
export {
  InvalidRecordError,
  LogClosedError,
  LogConfigError,
  LogError,
  LogLockedError,
  LogOverloadedError,
  LogWriteError,
  logErrorCodes,
  RecordTooLargeError,
} from "./errors.ts";
export {
  type DerivedView,
  type FollowEvent,
  type Follower,
  type FollowOptions,
  type FollowStep,
  followPartitions,
  readStep,
  repairPosition,
} from "./follow.ts";
export { logLimits } from "./limits.ts";
export { type LogOptions, PartitionLog, partitionDirectoryName } from "./log.ts";
export type {
  AppendResult,
  FsyncMode,
  LogEvent,
  Partition,
  PartitionStats,
  ReadResult,
} from "./partition.ts";
export {
  type HeldSnapshot,
  offsetForTimestampInSnapshot,
  type PartitionSnapshot,
  type ReadableLog,
  type ReadablePartition,
  readAtFromSnapshot,
  readFromSnapshot,
  type SegmentSnapshot,
  SnapshotPartition,
} from "./snapshot.ts";
