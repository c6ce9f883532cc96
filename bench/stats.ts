// Small helpers shared by the benchmarks: percentiles and one-line summaries.

export function percentile(sortedValues: readonly number[], fraction: number): number {
  if (sortedValues.length === 0) return Number.NaN;
  const index = Math.min(sortedValues.length - 1, Math.max(0, Math.ceil(fraction * sortedValues.length) - 1));
  return sortedValues[index];
}

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
