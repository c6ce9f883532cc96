// Every bound of the partition log in one place. Each is a default an operator may override through
// LogOptions; the why-comment says what the number protects.

const KiB = 1024;
const MiB = 1024 * KiB;

export const logLimits = {
  // Segments roll at this size so retention can delete whole files and recovery only ever rescans
  // one bounded active segment. Index positions are u32, so this must stay below 4 GiB.
  segmentBytesMax: 256 * MiB,
  // Segments also roll by age so time-based retention can free space on quiet partitions.
  segmentAgeMaxMs: 60 * 60 * 1000,
  // One index entry per this many bytes of log: a lookup reads at most this much extra, and the
  // in-memory index stays near 0.03% of the data it covers.
  indexIntervalBytes: 64 * KiB,
  // Group commit merges concurrent appends into one batch up to this raw (uncompressed) size. Larger
  // blocks compress better (design.md: zstd-3 on 100 vs 1,000 records: 4.9x vs 6.9x) but a reader must
  // decompress a whole batch to see one record, so this also bounds per-read memory.
  batchRawBytesMax: 1 * MiB,
  // A single record (key + value) above this is refused: it would have to be a batch of its own and
  // would dominate read memory.
  recordBytesMax: 1 * MiB,
  // One append call above this many raw bytes is refused; callers split larger inputs.
  appendBytesMax: 16 * MiB,
  // Appends waiting for the next group commit, per partition. Past this the log answers
  // LogOverloadedError instead of growing memory; the HTTP layer turns it into 429 + Retry-After.
  pendingBytesMax: 64 * MiB,
  // zstd level for new batches: level 3 keeps the append path near 200 MB/s per core.
  compressionLevel: 3,
  // Compaction rewrites closed segments into large blocks at a higher level; it runs off the ack path,
  // so it may spend more CPU per byte to reach the on-disk size target (>= 8x smaller than NDJSON).
  compactionLevel: 9,
  compactionBatchRawBytesMax: 4 * MiB,
  // Read file descriptors kept open across all partitions (LRU). Active segments hold one more each.
  openFilesMax: 128,
  // A read returns once it has this many key+value bytes (at least one batch), so memory per read
  // is bounded whatever the caller asks for.
  readBytesMax: 16 * MiB,
  // Reads fetch the file in chunks of this size and parse batches out of them.
  readChunkBytes: 256 * KiB,
  // fsync mode "interval": dirty partitions are synced this often.
  fsyncIntervalMs: 200,
} as const;

export type LogLimits = { -readonly [K in keyof typeof logLimits]: number };
