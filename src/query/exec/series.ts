// The listings over the same scan as queries (log-source.ts): the streams a set of selectors
// matches, their label names and values, Loki's /index/stats counts and /index/volume. Loki answers
// these from its index; without one here they read the entries in range, so they cost a query's
// scan (bounded by the same time budget) and are exact where Loki's are estimates.

import type { PartitionLog } from "../../log/index.ts";
import { type LabelSet, labelValue } from "../../model/stream.ts";
import type { LabelMatcher } from "../ast.ts";
import { QuerySeriesLimitError } from "./errors.ts";
import { emptyScanStats, type ScanPlan, type ScanStats, scanLog } from "./log-source.ts";

/** What every listing takes: the tenant, the time range and the signal that ends it. */
export interface ListingRange {
  readonly tenant: string;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly signal: AbortSignal;
  readonly stepBytes: number;
  /** Distinct streams one listing may collect (executionLimits.seriesMax). */
  readonly seriesMax: number;
}

function planOf(
  range: ListingRange,
  matcherSets: readonly (readonly LabelMatcher[])[],
  stepBytes = range.stepBytes,
): ScanPlan {
  return {
    tenant: range.tenant,
    matcherSets,
    startNs: range.startNs,
    endNs: range.endNs,
    direction: "forward",
    signal: range.signal,
    stepBytes,
  };
}

/** The key a label set is told apart by in maps: its names and values, unambiguous. */
function streamKey(labels: LabelSet): string {
  return JSON.stringify(labels);
}

/**
 * The distinct label sets of the streams with an entry in range that match any of `matcherSets`
 * (Loki's /series with several match[]), sorted by their printed form. An empty list of sets
 * matches every stream (as /labels without a query).
 */
export async function listSeries(
  log: PartitionLog,
  range: ListingRange,
  matcherSets: readonly (readonly LabelMatcher[])[],
  stats: ScanStats = emptyScanStats(),
): Promise<LabelSet[]> {
  const sets = matcherSets.length === 0 ? [[]] : matcherSets;
  const streams = new Map<string, LabelSet>();
  for await (const step of scanLog(log, planOf(range, sets), stats)) {
    for (const entry of step.entries) {
      const key = streamKey(entry.labels);
      if (streams.has(key)) continue;
      if (streams.size === range.seriesMax) throw new QuerySeriesLimitError(range.seriesMax);
      streams.set(key, entry.labels);
    }
  }
  return [...streams.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([, labels]) => labels);
}

/** The label names of the matching streams, sorted (Loki's /labels). */
export async function labelNames(
  log: PartitionLog,
  range: ListingRange,
  matchers: readonly LabelMatcher[],
): Promise<string[]> {
  const names = new Set<string>();
  for (const labels of await listSeries(log, range, [matchers])) for (const [name] of labels) names.add(name);
  return [...names].sort();
}

/** The values `name` takes in the matching streams, sorted; streams without it add none (/label/<name>/values). */
export async function labelValues(
  log: PartitionLog,
  range: ListingRange,
  name: string,
  matchers: readonly LabelMatcher[],
): Promise<string[]> {
  const values = new Set<string>();
  for (const labels of await listSeries(log, range, [matchers])) {
    const value = labelValue(labels, name);
    if (value !== "") values.add(value);
  }
  return [...values].sort();
}

/** Loki's /index/stats answer. */
export interface IndexStats {
  streams: number;
  /**
   * Loki counts the chunks (blocks of one stream's entries) a query would open. Here: the log's
   * batches holding a matching entry, once per matching stream in each, as one Loki chunk holds one
   * stream's entries.
   */
  chunks: number;
  entries: number;
  /** UTF-8 bytes of the matching lines (Loki: the chunks' uncompressed bytes). */
  bytes: number;
}

/**
 * Counts for /index/stats. Reads one batch per step (stepBytes 1: Partition.read returns exactly
 * one batch then) so batches can be counted; that reads about twice the bytes of a query's scan.
 */
export async function indexStats(
  log: PartitionLog,
  range: ListingRange,
  matchers: readonly LabelMatcher[],
): Promise<IndexStats> {
  const streams = new Set<string>();
  const result: IndexStats = { streams: 0, chunks: 0, entries: 0, bytes: 0 };
  for await (const step of scanLog(log, planOf(range, [matchers], 1), emptyScanStats())) {
    const inBatch = new Set<string>();
    for (const entry of step.entries) {
      const key = streamKey(entry.labels);
      inBatch.add(key);
      if (!streams.has(key)) {
        if (streams.size === range.seriesMax) throw new QuerySeriesLimitError(range.seriesMax);
        streams.add(key);
      }
      result.entries++;
      result.bytes += Buffer.byteLength(entry.line, "utf8");
    }
    result.chunks += inBatch.size;
  }
  result.streams = streams.size;
  return result;
}

export interface VolumeOptions {
  /** Aggregate into these labels instead of the matchers' names (Loki's `targetLabels`). */
  readonly targetLabels?: readonly string[];
  /** "series" (default): by label-value pairs; "labels": one series per label name, value "". */
  readonly aggregateBy?: "series" | "labels";
  /** Series returned, largest first (Loki's default 100). */
  readonly limit: number;
  /** Aggregated series one request may build before failing (Loki's volume_max_series). */
  readonly seriesMax: number;
}

/** One sample of /index/volume's vector: `{metric, value: [seconds, "<bytes>"]}`. */
export interface VolumeSample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * /index/volume: the bytes of the matching lines, aggregated as Loki aggregates them — by default
 * into the label names the matchers mention (with each stream's values, a stream lacking one
 * simply has fewer labels), or into `targetLabels`; with aggregateBy "labels" into one series per
 * label name. Largest first, ties by the printed label set, at most `limit`; every sample at the
 * range's end, in seconds.
 */
export async function volume(
  log: PartitionLog,
  range: ListingRange,
  matchers: readonly LabelMatcher[],
  options: VolumeOptions,
): Promise<VolumeSample[]> {
  const target = new Set(options.targetLabels?.length ? options.targetLabels : matchers.map((m) => m.name));
  const byLabels = options.aggregateBy === "labels";
  const volumes = new Map<string, { metric: Record<string, string>; bytes: number }>();
  for await (const step of scanLog(log, planOf(range, [matchers]), emptyScanStats())) {
    for (const entry of step.entries) {
      const bytes = Buffer.byteLength(entry.line, "utf8");
      const groups: Array<Array<readonly [string, string]>> = byLabels
        ? entry.labels.filter(([name]) => target.has(name)).map(([name]) => [[name, ""]])
        : [entry.labels.filter(([name]) => target.has(name))];
      for (const pairs of groups) {
        const key = JSON.stringify(pairs);
        let held = volumes.get(key);
        if (held === undefined) {
          if (volumes.size === options.seriesMax) throw new QuerySeriesLimitError(options.seriesMax);
          held = { metric: Object.fromEntries(pairs), bytes: 0 };
          volumes.set(key, held);
        }
        held.bytes += bytes;
      }
    }
  }
  const atSeconds = Number(range.endNs) / 1e9;
  const printed = (metric: Record<string, string>) =>
    `{${Object.entries(metric)
      .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
      .join(", ")}}`;
  return [...volumes.values()]
    .map((held) => ({ ...held, name: printed(held.metric) }))
    .sort((a, b) =>
      a.bytes !== b.bytes ? b.bytes - a.bytes : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )
    .slice(0, options.limit)
    .map((held) => ({ metric: held.metric, value: [atSeconds, String(held.bytes)] }));
}
