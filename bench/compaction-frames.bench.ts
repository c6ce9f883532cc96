// The log-format trade-off behind "last 100 lines of a rare service" (issue 13): how big a compacted
// batch (one zstd frame, level compactionLevel) should be. A point read decompresses the whole
// frame that holds its record, so smaller frames make a rare stream's records cheaper to reach and
// cost ratio on disk. For each frame size: reference-A-shaped stored records (the load
// generator's, ~230 B each) are encoded by the log's own payload encoder and compressed as
// compaction does, and one line reports the ratio against the records as NDJSON, the bytes on disk
// per record, and the time to decompress one frame (what each point read into it pays), median of
// --runs. The log uses compactionBatchRawBytesMax (4 MiB) today.
// Usage: node bench/compaction-frames.bench.ts [--records 200000] [--runs 21] [--sizes 65536,262144,1048576,4194304]

import { parseArgs } from "node:util";
import zlib from "node:zlib";
import { ServiceLogGenerator, storedRecordsFor } from "../src/loadgen/generator.ts";
import { codecs, compressPayloadSync, encodePayload } from "../src/log/batch.ts";
import { logLimits } from "../src/log/limits.ts";
import { benchLine, formatCount } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    records: { type: "string", default: "200000" },
    runs: { type: "string", default: "21" },
    sizes: { type: "string", default: "65536,262144,1048576,4194304" },
  },
});
const recordCount = Number(args.records);
const runs = Number(args.runs);
const sizes = args.sizes.split(",").map(Number);
for (const size of sizes)
  if (!Number.isInteger(size) || size < 4096)
    throw new Error(`--sizes: ${size} is not a whole number of at least 4096`);

const records = storedRecordsFor(new ServiceLogGenerator({ seed: 3 }).batch(recordCount));
const ndjsonBytes = records.reduce((sum, record) => sum + record.value.length + 1, 0);

for (const frameBytes of sizes) {
  // Cut the records into frames of at most frameBytes raw, as compaction cuts its batches.
  let onDisk = 0;
  const frames: Buffer[] = [];
  const rawSizes: number[] = [];
  let start = 0;
  while (start < records.length) {
    let end = start;
    let raw = 0;
    while (
      end < records.length &&
      (end === start || raw + records[end]!.value.length + records[end]!.key.length + 12 <= frameBytes)
    ) {
      raw += records[end]!.value.length + records[end]!.key.length + 12;
      end++;
    }
    const encoded = encodePayload(records.slice(start, end));
    const compressed = compressPayloadSync(encoded.raw, codecs.zstd, logLimits.compactionLevel);
    onDisk += compressed.length + 64; // and the batch header
    frames.push(compressed);
    rawSizes.push(encoded.rawBytes);
    start = end;
  }
  // Decompress frames from the middle, one at a time, as point reads do.
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const index = (run * 7919) % frames.length;
    const started = performance.now();
    zlib.zstdDecompressSync(frames[index]!, {
      maxOutputLength: rawSizes[index]!,
      chunkSize: Math.max(64, rawSizes[index]!),
    });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  console.log(
    benchLine(
      `compaction frame ${frameBytes >= 1048576 ? `${frameBytes / 1048576}MiB` : `${frameBytes / 1024}KiB`}`,
      {
        frames: formatCount(frames.length),
        ratio_vs_ndjson: (ndjsonBytes / onDisk).toFixed(2),
        bytes_per_record: (onDisk / records.length).toFixed(1),
        decompress_ms_p50: times[runs >> 1]!.toFixed(3),
        records_per_frame: formatCount(records.length / frames.length),
      },
    ),
  );
}
