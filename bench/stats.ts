// Small helpers shared by the benchmarks: one-line summaries (percentiles as the load generator
// computes them).

import { percentile } from "../src/loadgen/index.ts";

export function latencySummary(latenciesMs: number[]): string {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const format = (value: number) => value.toFixed(2);
  return `p50=${format(percentile(sorted, 0.5))}ms p90=${format(percentile(sorted, 0.9))}ms p99=${format(percentile(sorted, 0.99))}ms max=${format(sorted.at(-1) ?? Number.NaN)}ms`;
}

export function formatCount(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

export function benchLine(name: string, fields: Record<string, string | number>): string {
  return `${name.padEnd(28)} ${Object.entries(fields)
    .map(([key, value]) => `${key}=${value}`)
    .join(" ")}`;
}
