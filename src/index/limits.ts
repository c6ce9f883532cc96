// Every bound of the block index in one place, each with what it protects and where its value comes
// from (bench/index.bench.ts measured the defaults; src/index/README.md has the table).

const MiB = 1024 * 1024;

export const indexLimits = {
  // A block is sealed once it holds this many records… Measured (README "Measurements", 1 M lines):
  // 4 K-record blocks cost 25 % more on disk (4.1 % of the data against 3.3 % at 5 bits/key: each
  // block carries the common grams again) and twice the summaries; 16 K-record blocks are capped by blockValueBytesMax anyway, and a
  // needle then opens twice the data per candidate. 8 K reference A records ≈ 1.7 MiB of values.
  blockRecordsMax: 8192,
  // …or this many bytes of stored values, whichever comes first, so a block of long lines still costs
  // a bounded scan when it is a candidate.
  blockValueBytesMax: 2 * MiB,
  // A block that is not full is sealed anyway once it has been open this long while the consumer is
  // caught up, so a quiet partition's tail (scanned unpruned by every query) stays short.
  blockOpenMsMax: 30_000,
  // Length of the character grams of the token filter. Measured: 3 lets the grams of hex ids and
  // numbers fill the filter (absent needles opened 5 % of blocks against 0.1 % at 4); 5 is no smaller
  // and skips literals of 5–7 characters.
  gramLength: 4,
  // The filter keeps one gram per window of this many consecutive grams (the window's minimizer);
  // runs shorter than one window (fewer than gramLength + windowGrams - 1 characters) are kept whole.
  // A literal run at least that long requires the minimizers of its own windows, which every line
  // holding it has too. Measured: 1 (every gram, design (a)) makes the filter ~4× larger; 4 keeps
  // ~1 key per line of reference A text (a random 6-character id is one key instead of 3).
  windowGrams: 4,
  // Runs of at least longGramLength + windowGrams - 1 characters also get the minimizers of their
  // long grams. 4-grams saturate on ids of few distinct characters: in 8 K lines of which a fifth
  // hold an 8-digit order id, most of the 10,000 digit 4-grams occur, and an order-id needle opened
  // 11 of 28 blocks (bench/search.bench.ts, 200 K lines). 8-grams of digits have 10^8 values.
  longGramLength: 8,
  // A stream with at most this many records in a block is *sparse* there: the block records the
  // exact offsets of its records (FORMAT.md, `sparse_offsets`), and a query whose selector matches
  // only streams sparse in the block reads those records alone instead of the whole block. A rare
  // service spread thinly (0.01 % of lines, ~3 records per block of its partition) is what this is
  // for; a block's offsets cost ~2 bytes per record of a sparse stream and 1 per stream. Above a few
  // dozen records the point reads save little over the whole block (the batch is decompressed
  // either way: bench/search.bench.ts "rare"), so denser streams are not recorded.
  sparseStreamRecordsMax: 32,
  // A candidate block carries the offsets of its selected sparse streams only when they are at most
  // this many; beyond, it is read whole. Bounds a query's candidate list (a selector matching
  // thousands of sparse streams, `{level="error"}`, would otherwise hold every offset of every
  // block: 8 bytes each, ~80 MB at 10 M lines) to ~8 KiB per block; past 1/8 of a block, point
  // reads save little over the whole read (the batches are decompressed either way).
  sparseReadOffsetsMax: 1024,
  // Bloom filter bits per distinct key of a block. A needle has several keys and a block is opened
  // only when all hit, so the per-key false-positive rate can be high: at 6 bits (≈5.6 % per key) an
  // absent order id opened no block of 124; at 4 bits (14.7 %) ~1 %. 6 bits ≈ 3.8 % of the
  // compressed data on disk.
  bloomBitsPerKey: 6,
  // Probes per key, from bits per key × ln 2 (the optimum), capped: each probe is a random memory access.
  bloomHashesMax: 8,
  // One consumer read takes at most this many bytes of records: bounds the step's memory and how long
  // the main thread is busy decoding before it yields.
  stepReadBytesMax: 1 * MiB,
  // After a failed step (SQLite I/O error), wait this long before retrying from the committed position.
  retryDelayMs: 1000,
  // Distinct stream keys the decoder caches (stream identity is computed once per stream, not per
  // record), and the characters their keys and labels may hold (2 B each: ~32 MiB per cache, two
  // caches); cleared when either is reached, so a flood of new or large streams costs hashing
  // again, not memory (src/model/clearing-cache.ts).
  streamCacheEntriesMax: 100_000,
  streamCacheCharsMax: 16 * 1024 * 1024,
  // Selector answers (which streams of a tenant match) kept for the next partition and query: at most
  // this many selectors, holding at most this many stream ids in all (~50 B each in a Set: ~10 MB).
  // Matching a selector against ~50 K streams took ~10 ms per partition (bench/search.bench.ts).
  matchingCacheEntriesMax: 64,
  matchingCacheIdsMax: 200_000,
} as const;

export type IndexLimits = { -readonly [K in keyof typeof indexLimits]: number };
