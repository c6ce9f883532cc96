// End-to-end ingest benchmarks (issues 5 and 14): a real `sluice serve` process and the load
// generator in this process, over loopback, acknowledged after fsync. Each prints one summary line:
//   ingest <f> max      each protocol of --formats (default: all the service-log ones, see
//                       src/loadgen/bodies.ts), batches of 100, as fast as acknowledged
//   ingest <f> half     the same at half the rate its max run reached (or --half-rate):
//                       latency percentiles
//   ingest access max   POST /logs, batches of 20 (entries/s)
// 64 senders by default: fewer leave the server waiting on round trips instead of both cores busy
// (16 senders reach about half the rate; docs/benchmarks.md).
// Each run starts a fresh server and first sends --warmup-seconds of the same load, not counted.
// With --compaction it runs only "ingest v1 half" at --half-rate, twice, on servers with small
// segments (--compaction-segment-bytes): once with maintenance every --compaction-interval-ms, so
// sealed segments are compacted all through the run ("compacting"), once with maintenance never due
// within the run ("quiet"): the pair shows what a compaction costs the ingest latency.
// Usage: node bench/ingest.bench.ts [--seconds 8] [--warmup-seconds 2] [--concurrency 64]
//                                   [--formats v1,loki,loki-proto,otlp,otlp-proto,es]
//                                   [--half-rate records/s]
//                                   [--compaction --half-rate records/s
//                                    [--compaction-segment-bytes 1048576] [--compaction-interval-ms 500]]

import fs from "node:fs";
import { parseArgs } from "node:util";
import {
  defaultPaths,
  formatSummary,
  type LoadFormat,
  type LoadOptions,
  loadFormats,
  runLoad,
} from "../src/loadgen/index.ts";
import { npmStartNodeArgs, startServerProcess } from "../test/support/server.ts";

const serviceLogFormats: LoadFormat[] = loadFormats.filter((format) => format !== "access");
const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "8" },
    "warmup-seconds": { type: "string", default: "2" },
    concurrency: { type: "string", default: "64" },
    formats: { type: "string", default: serviceLogFormats.join(",") },
    "half-rate": { type: "string" },
    compaction: { type: "boolean", default: false },
    "compaction-segment-bytes": { type: "string", default: String(1024 * 1024) },
    "compaction-interval-ms": { type: "string", default: "500" },
  },
});
/** A flag's value as a decimal number at least `min` (and whole when `integer`), or a clear error. */
function numberFlag(name: string, text: string, min: number, integer: boolean): number {
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min) || (integer && !Number.isInteger(value)))
    throw new Error(
      `--${name} must be ${integer ? "a whole number" : "a number"} of at least ${min}, got "${text}"`,
    );
  return value;
}
const durationS = numberFlag("seconds", args.seconds, 1, false);
const warmupS = numberFlag("warmup-seconds", args["warmup-seconds"], 0, false);
const concurrency = numberFlag("concurrency", args.concurrency, 1, true);
const halfRate =
  args["half-rate"] === undefined ? null : numberFlag("half-rate", args["half-rate"], 1, false);

async function run(
  name: string,
  options: Partial<LoadOptions> & Pick<LoadOptions, "format" | "batch">,
  serverArgs: string[] = [],
): Promise<number> {
  const server = await startServerProcess({ nodeArgs: npmStartNodeArgs(), args: serverArgs });
  try {
    const load: LoadOptions = {
      url: `${server.url}${defaultPaths[options.format]}`,
      total: 0,
      durationS,
      delayMs: 0,
      concurrency,
      rate: 0,
      tenant: null,
      prebuiltBodies: 256,
      seed: 7,
      ...options,
    };
    // The same load first, not counted: a server just started compiles its hot paths and sizes its
    // heap in the first second, which is not the steady state the figures are about.
    if (warmupS > 0) await runLoad({ ...load, durationS: warmupS, seed: 8 });
    const summary = await runLoad(load);
    console.log(`${name.padEnd(20)} ${formatSummary(summary)}`);
    return summary.recordsAcknowledged / summary.elapsedS;
  } finally {
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
}

if (args.compaction) {
  if (halfRate === null)
    throw new Error("--compaction needs --half-rate: both runs must carry the same load");
  const segmentBytes = numberFlag("compaction-segment-bytes", args["compaction-segment-bytes"], 65536, true);
  const intervalMs = numberFlag("compaction-interval-ms", args["compaction-interval-ms"], 100, true);
  const small = ["--segment-bytes-max", String(segmentBytes)];
  const quietMs = String(Math.ceil((warmupS + durationS) * 1000) + 60_000); // never due within the run
  const load = { format: "v1", batch: 100, rate: halfRate } as const;
  await run("ingest v1 quiet", load, [...small, "--maintenance-interval-ms", quietMs]);
  await run("ingest v1 compacting", load, [...small, "--maintenance-interval-ms", String(intervalMs)]);
  process.exit(0);
}

const formats = args.formats.split(",").map((format) => format.trim()) as LoadFormat[];
for (const format of formats)
  if (!serviceLogFormats.includes(format))
    throw new Error(`--formats: ${format} is not one of ${serviceLogFormats.join(", ")}`);
for (const format of formats) {
  const maxRate = await run(`ingest ${format} max`, { format, batch: 100 });
  await run(`ingest ${format} half`, { format, batch: 100, rate: halfRate ?? Math.floor(maxRate / 2) });
}
await run("ingest access max", { format: "access", batch: 20 });
