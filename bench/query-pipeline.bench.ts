// Log pipeline throughput per CPU core: lines per second through a compiled pipeline for a line
// filter, `| json | status >= 500` and `| logfmt`, over realistic ~200-byte lines (one in ten a 5xx).
// Prints one summary line. Usage: node bench/query-pipeline.bench.ts [--lines 300000]

import { parseArgs } from "node:util";
import type { LogEntry } from "../src/model/stream.ts";
import { compilePipeline, type LogQuery, parseQuery } from "../src/query/index.ts";
import { benchLine, formatCount } from "./stats.ts";

const { values: args } = parseArgs({ options: { lines: { type: "string", default: "300000" } } });
const lineCount = Number(args.lines);
const labels = [
  ["app", "api"],
  ["env", "prod"],
] as const;

function entries(make: (index: number) => string): LogEntry[] {
  return Array.from({ length: 1000 }, (_, index) => ({
    timestampNs: BigInt(index),
    labels,
    line: make(index),
    metadata: [],
  }));
}

const status = (index: number) => (index % 10 === 0 ? 503 : 200);
const jsonLines = entries(
  (index) =>
    `{"ts":"2026-12-03T14:45:12.345Z","level":"info","service":"auth_service","method":"POST","path":"/v1/login","status":${status(index)},"duration_ms":12.7,"user":{"id":${index},"tier":"pro"},"msg":"login succeeded"}`,
);
const logfmtLines = entries(
  (index) =>
    `level=info ts=2026-12-03T14:45:12.345Z caller=handler.go:112 service=auth_service method=POST path=/v1/login status=${status(index)} duration_ms=12.7 user_id=${index} msg="login succeeded for user"`,
);

function linesPerSecond(query: string, input: LogEntry[]): string {
  const pipeline = compilePipeline((parseQuery(query) as LogQuery).pipeline);
  let kept = 0;
  const run = (count: number) => {
    for (let index = 0; index < count; index++)
      if (pipeline.process(input[index % input.length]!) !== null) kept++;
  };
  run(Math.min(lineCount, 50_000)); // warm-up: let V8 optimise before timing
  kept = 0;
  const started = process.hrtime.bigint();
  run(lineCount);
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  pipeline.close();
  if (kept === 0) throw new Error(`BUG: ${query} kept no line`);
  return `${formatCount(lineCount / elapsedS)}/s`;
}

console.log(
  benchLine("query-pipeline lines", {
    line_filter: linesPerSecond('{app="api"} |= "status=503"', logfmtLines),
    json_status_ge_500: linesPerSecond('{app="api"} | json | status >= 500', jsonLines),
    logfmt: linesPerSecond('{app="api"} | logfmt', logfmtLines),
  }),
);
