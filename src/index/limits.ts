// Every bound of the block index in one place, each with what it protects and where its value comes
// from (bench/index.bench.ts measured the defaults; src/index/README.md has the table).

const MiB = 1024 * 1024;

export const indexLimits = {
  // A block is sealed once it holds this many records…  Measured (README "Measurements"): at ~2 K
  // records the blooms are ~2× larger per line (every block carries the common grams again); at
  // 16 K the filter is smaller still but a needle opens 4× more data per candidate block. 8 K records
  // of ~80-byte messages is ~1.6 MiB of stored values, a few ms of scan.
  blockRecordsMax: 8192,
  // …or this many bytes of stored values, whichever comes first, so a block of long lines still costs
  // a bounded scan when it is a candidate.
  blockValueBytesMax: 2 * MiB,
  // A block that is not full is sealed anyway once it has been open this long while the consumer is
  // caught up, so a quiet partition's tail (scanned unpruned by every query) stays short.
  blockOpenMsMax: 30_000,
  // Length of the character grams the token filter holds (k-grams inside tokens). Shorter literals
  // than this prune by time and stream only. 4 measured best between size and needle pruning (3 makes
  // hex ids saturate the filter, 5 makes the filter ~25 % larger and skips 4-character needles).
  gramLength: 4,
  // The filter keeps one gram per window of this many consecutive grams (the window's minimizer):
  // a literal run of gramLength + windowGrams - 1 characters or more requires the minimizers of its
  // own windows, which every line holding it has too. 1 keeps every gram; 4 keeps ~40 % of them and
  // keeps runs shorter than a window whole (one key for a random 6-character id instead of 3).
  windowGrams: 4,
  // Bloom filter bits per distinct key of a block. A needle literal has several grams and a block
  // is opened only when all of them hit, so the per-gram false-positive rate can be high: at 10 bits
  // (≈1 %) a 12-character needle's 9 grams make opening an unrelated block very rare.
  bloomBitsPerKey: 10,
  // Probes per key, from bits per key × ln 2 (the optimum), capped: each probe is a random memory access.
  bloomHashesMax: 8,
  // One consumer read takes at most this many bytes of records: bounds the step's memory and how long
  // the main thread is busy decoding before it yields.
  stepReadBytesMax: 1 * MiB,
  // After a failed step (SQLite I/O error), wait this long before retrying from the committed position.
  retryDelayMs: 1000,
  // Distinct stream keys the decoder caches (stream identity is computed once per stream, not per
  // record); cleared when full, so a flood of new streams costs hashing again, not memory.
  streamCacheEntriesMax: 100_000,
} as const;

export type IndexLimits = { -readonly [K in keyof typeof indexLimits]: number };
