// The evaluator alone (no storage): entries per second through a log query with limit 100, and
// through `sum by (level) (count_over_time(…[1m]))` over 60 one-minute steps, each over 1 M
// in-memory entries. Prints one summary line, with the rate of a bare `for await` over the same
// source beside them: the source seam (AsyncIterable<LogEntry>) costs that much per entry anyway.
// Usage: node bench/query-eval.bench.ts [--entries 1000000]

import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import { type LogEntry, labelSet } from "../src/model/stream.ts";
import { defaultQueryBudget, evaluateRange, parseQuery } from "../src/query/index.ts";
import type { EntrySource } from "../src/query/source.ts";
import { benchLine, formatCount } from "./stats.ts";

const { values: args } = parseArgs({ options: { entries: { type: "string", default: "1000000" } } });
const entryCount = Number(args.entries);
const second = 1_000_000_000n;
const startNs = 1_700_000_000n * second;
const hourNs = 3600n * second;

const levels = ["debug", "info", "warn", "error"];
const streams = Array.from({ length: 200 }, (_, index) =>
  labelSet([
    ["service", `service_${index % 50}`],
    ["level", levels[index % levels.length] as string],
  ]),
);
const words = ["login succeeded", "cache miss", "upstream timeout", "request served"];
const entries: LogEntry[] = [];
let seed = 12345;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) >>> 0;
  return seed / 2 ** 32;
};
for (let index = 0; index < entryCount; index++) {
  entries.push({
    timestampNs: startNs + BigInt(Math.floor(random() * Number(hourNs))),
    labels: streams[index % streams.length] as LogEntry["labels"],
    // Decoded from bytes, as a storage source's lines are: flat strings, not the ropes a template
    // literal builds (Buffer.byteLength on a rope flattens it first, which doubled the cost measured).
    line: Buffer.from(
      `level=info ts=2026-12-03T14:45:12.345Z caller=handler.go:112 method=POST path=/v1/login status=200 duration_ms=12.7 user_id=${index} msg="${words[index % words.length]}"`,
    ).toString("utf8"),
    metadata: [],
  });
}
const source: EntrySource = {
  async *select() {
    yield* entries;
  },
};

async function bareScanPerSecond(): Promise<number> {
  let best = 0;
  for (let run = 0; run < 3; run++) {
    const started = performance.now();
    let count = 0;
    for await (const _ of source.select({} as never)) count++;
    best = Math.max(best, count / ((performance.now() - started) / 1000));
  }
  return best;
}

async function entriesPerSecond(query: string, endNs: bigint): Promise<{ rate: number; returned: number }> {
  const runs = 3;
  let best = 0;
  let returned = 0;
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    const data = await evaluateRange(parseQuery(query), source, {
      startNs,
      endNs,
      limit: 100,
      direction: "backward",
      stepNs: 60n * second,
      signal: new AbortController().signal,
      budget: defaultQueryBudget,
    });
    const seconds = (performance.now() - started) / 1000;
    best = Math.max(best, entryCount / seconds);
    returned = data.stats.summary.totalEntriesReturned;
  }
  return { rate: best, returned };
}

const bare = await bareScanPerSecond();
const logs = await entriesPerSecond('{service=~".+"} |= "timeout"', startNs + hourNs);
// Steps at 0, 1, …, 59 minutes: 60 steps.
const metric = await entriesPerSecond(
  'sum by (level) (count_over_time({service=~".+"}[1m]))',
  startNs + hourNs - 60n * second,
);
if (logs.returned !== 100) throw new Error(`log query returned ${logs.returned} entries`);
console.log(
  benchLine("query eval (in memory)", {
    entries: formatCount(entryCount),
    bare_for_await_entries_per_s: formatCount(bare),
    log_limit100_entries_per_s: formatCount(logs.rate),
    count_by_level_60_steps_entries_per_s: formatCount(metric.rate),
    metric_points: metric.returned,
  }),
);
