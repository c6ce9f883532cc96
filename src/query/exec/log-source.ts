// The storage side of a query: log entries of one tenant read from the topics/logs partition log,
// for the evaluator (an EntrySource) and for the series/labels/stats/volume listings (series.ts).
//
// A straightforward full scan, correct first:
// - Partitions: a selector with `service="x"` reads only partition fnv1a32(x) % P (ingest routes by
//   service, src/model/hash.ts); any other selector reads them all.
// - Offsets: by default [offsetForTimestamp(start), committed end as the scan starts). The time
//   index guarantees every record before that offset is older than `start` (it returns the first
//   record, in log order, at or after it, and an index entry only stands for records before it).
//   Timestamps are the clients' and not monotonic within a partition, so nothing lets a scan stop
//   at `end`: it reads to the committed end. A token index (built elsewhere) plugs in through the
//   `blocks` option: the candidate offset ranges of a partition for a selection. A range that
//   carries `offsets` (its selected streams are sparse in the block) is read at those offsets only
//   (ReadablePartition.readAt, in steps of at most 512 records), in the scan's direction.
// - Steps: Partition.read with a bounded byte count (executionLimits.readStepBytes), then an
//   `await setImmediate()`, so ingest and other requests run between steps; the signal is checked
//   before each step. Backward reads the newest offsets first (windows stepping back from the end),
//   which only makes a limited query's cutoff tighten sooner: the evaluator sorts what it keeps.
// - Records: other tenants' are skipped on the key prefix (`tenant 0x00`, src/ingest/FORMAT.md)
//   before their value is touched; records outside the time range (or past the cutoff) on the
//   record's timestamp, which is the entry's (FORMAT.md); the rest are decoded by the ingest stage,
//   mapped to a stream (src/model/service-stream.ts) and matched. A record of an unknown format or
//   one that does not decode is skipped and counted (stats), never fatal: a query answers with what
//   this version can read (contrast GET /v1/query, which fails: FORMAT.md's readers table).

import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import {
  decodeLogRecord,
  hasKeyPrefix,
  RecordDecodeError,
  RecordFormatError,
  recordFormats,
  serviceKeyPrefix,
} from "../../ingest/index.ts";
import type { PointReadCache, ReadableLog, ReadablePartition, StoredRecord } from "../../log/index.ts";
import { partitionFor } from "../../model/hash.ts";
import type { LogEntry } from "../../model/stream.ts";
import type { LabelMatcher, LineFilterStage } from "../ast.ts";
import { type CompiledMatchers, compileMatchers } from "../eval/pipeline.ts";
import { executionLimits } from "../limits.ts";
import type { EntrySelection, EntrySource } from "../source.ts";

/** Offsets [fromOffset, toOffset) of one partition. */
export interface OffsetRange {
  readonly fromOffset: number;
  readonly toOffset: number;
  /**
   * When known (a sealed index block): every record of the range has minTsNs ≤ timestamp ≤ maxTsNs,
   * so a limited query whose cutoff lies beyond the range skips it unread.
   */
  readonly minTsNs?: bigint;
  readonly maxTsNs?: bigint;
  /**
   * When known (a block whose selected streams are all sparse in it, src/index/README.md): the only
   * offsets of the range that may hold a match, ascending. They are read alone (point reads).
   */
  readonly offsets?: readonly number[];
}

/**
 * The offset ranges of `partition` that may hold entries of `selection` (a token or time index),
 * ascending and not overlapping. Without it a partition is read from offsetForTimestamp(start) to
 * its committed end.
 */
export type CandidateBlocks = (partition: number, selection: EntrySelection) => Iterable<OffsetRange>;

/** What a scan did; a source's counters add up over every select() it ran. */
export interface ScanStats {
  partitionsRead: number;
  /** Partition.read calls. */
  readSteps: number;
  recordsRead: number;
  recordsOtherTenant: number;
  recordsOutsideTime: number;
  /** Records whose format byte this version does not know (RecordFormatError): skipped. */
  recordsUnknownFormat: number;
  /** Records of a known format that do not decode (RecordDecodeError): skipped. */
  recordsUndecodable: number;
  /** Records skipped undecoded: their service or their bytes rule out a match (recordPrefilter). */
  recordsPrefiltered: number;
  /** Candidate ranges skipped unread: wholly beyond a limited query's cutoff. */
  rangesPastCutoff: number;
  /** Candidate ranges read at their offsets only (sparse streams), not whole. */
  rangesPointRead: number;
  /** Entries that passed the time range and the stream matchers. */
  entriesMatched: number;
}

export function emptyScanStats(): ScanStats {
  return {
    partitionsRead: 0,
    readSteps: 0,
    recordsRead: 0,
    recordsOtherTenant: 0,
    recordsOutsideTime: 0,
    recordsUnknownFormat: 0,
    recordsUndecodable: 0,
    recordsPrefiltered: 0,
    rangesPastCutoff: 0,
    rangesPointRead: 0,
    entriesMatched: 0,
  };
}

/** One scan over the log: what series.ts and LogSource both run. */
export interface ScanPlan {
  readonly tenant: string;
  /** An entry is kept when it satisfies every matcher of any one set (one set for a query). */
  readonly matcherSets: readonly (readonly LabelMatcher[])[];
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly direction: "forward" | "backward";
  readonly signal: AbortSignal;
  readonly cutoffNs?: () => bigint | null;
  /** Key+value bytes per read step; 1 makes every step exactly one batch (Partition.read). */
  readonly stepBytes: number;
  /** Candidate offset ranges per partition; default: offsetForTimestamp(start) to the end. */
  readonly ranges?: (partition: number) => Iterable<OffsetRange>;
  /** The selection's line filters (EntrySelection.lineFilters): records that cannot pass are skipped undecoded. */
  readonly lineFilters?: readonly LineFilterStage[];
}

/** The entries one read step found, all from one partition. */
export interface ScanStep {
  readonly partition: number;
  readonly entries: LogEntry[];
}

const nanosecondsPerMillisecond = 1_000_000n;
/** Backward windows: first guess of records per window (small: records may be large), then sized from what was read. */
const backwardWindowRecordsFirst = 64;
const backwardWindowRecordsMin = 64;
const backwardWindowRecordsMax = 1 << 20;

/**
 * Runs `plan` over `log`, one ScanStep per read step (steps without a matching entry are not
 * yielded). Throws the signal's reason when it aborts. Counts into `stats`.
 */
export async function* scanLog(log: ReadableLog, plan: ScanPlan, stats: ScanStats): AsyncGenerator<ScanStep> {
  assert.ok(!plan.tenant.includes("\u0000"), "a tenant cannot contain NUL (ingest refuses it)");
  assert.ok(plan.stepBytes >= 1);
  plan.signal.throwIfAborted();
  const compiled = plan.matcherSets.map((matchers) => compileMatchers(matchers));
  const compiledServices: CompiledMatchers[] = [];
  try {
    const matcher = { matches: (labels: LogEntry["labels"]) => compiled.some((set) => set.matches(labels)) };
    const bounds = timeBounds(plan.startNs, plan.endNs);
    if (bounds === null || plan.matcherSets.length === 0) return;
    const prefix = serviceKeyPrefix(plan.tenant);
    const prefilter = recordPrefilter(plan, prefix.length, compiledServices);
    for (const id of partitionsFor(plan.matcherSets, log.partitionCount)) {
      const partition = log.partition(id);
      stats.partitionsRead++;
      const ranges =
        plan.ranges !== undefined
          ? [...plan.ranges(id)]
          : [{ fromOffset: partition.offsetForTimestamp(bounds.startMs), toOffset: partition.endOffset }];
      for (const records of readRanges(partition, ranges, plan, stats)) {
        const entries = matching(records, plan, bounds, prefix, matcher, prefilter, stats);
        if (entries.length > 0) yield { partition: id, entries };
        await nextTurn(); // let ingest and other requests run between steps
        plan.signal.throwIfAborted();
      }
    }
  } finally {
    for (const set of [...compiled, ...compiledServices]) set.close();
  }
}

/** Verdicts kept per service name of a scan (a service's verdict is one matcher evaluation). */
const serviceVerdictsMax = 65_536;

/**
 * Which records may still hold a matching entry, judged on the raw bytes before any decoding — a
 * necessary condition only (the full match still runs on what passes), so results are those of the
 * naive scan:
 * - Service: a 0x01 record's key is `tenant 0x00 service` and its entry's `service` is that same
 *   service (src/ingest/FORMAT.md; its writers derive the key from the entry), and the stream's
 *   `service` label is the entry's service. So when every matcher set has matchers on `service`, a record
 *   whose service fails each set's `service` matchers cannot match (the verdict is cached per name).
 * - Line: a `|=` stage keeps a line only when it contains one of its literals byte for byte. A 0x01
 *   value is written by JSON.stringify (storedJson, FORMAT.md), which leaves printable ASCII other
 *   than `"` and `\` as it is, so a message containing such a literal has the literal's bytes in
 *   the value (which also holds other fields: hence necessary, not sufficient). Stages with any
 *   other literal, other operators and legacy values are not prefiltered.
 */
function recordPrefilter(
  plan: ScanPlan,
  prefixBytes: number,
  compiledServices: CompiledMatchers[],
): ((record: StoredRecord) => boolean) | null {
  const serviceSets = plan.matcherSets.map((set) => set.filter((matcher) => matcher.name === "service"));
  const byService = serviceSets.every((set) => set.length > 0);
  if (byService) for (const set of serviceSets) compiledServices.push(compileMatchers(set));
  const verdicts = new Map<string, boolean>();
  const serviceMatches = (key: Uint8Array): boolean => {
    const service = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("utf8", prefixBytes);
    let verdict = verdicts.get(service);
    if (verdict === undefined) {
      const labels: LogEntry["labels"] = [["service", service]];
      verdict = compiledServices.some((set) => set.matches(labels));
      if (verdicts.size >= serviceVerdictsMax) verdicts.clear();
      verdicts.set(service, verdict);
    }
    return verdict;
  };
  const literalGroups: Buffer[][] = [];
  for (const stage of plan.lineFilters ?? [])
    if (stage.op === "|=" && stage.values.every(isVerbatimInJson))
      literalGroups.push(stage.values.map((value) => Buffer.from(value, "latin1")));
  const linesMayMatch = (value: Uint8Array): boolean => {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return literalGroups.every((group) => group.some((literal) => bytes.indexOf(literal, 1) >= 0));
  };
  if (!byService && literalGroups.length === 0) return null;
  // Only 0x01 records: for them alone the key's service is the stream's `service` label and the
  // value holds the line verbatim. Any other format (legacy, later ones) goes to the full match.
  return (record) =>
    record.value[0] !== recordFormats.serviceEntryV1 ||
    ((!byService || serviceMatches(record.key)) &&
      (literalGroups.length === 0 || linesMayMatch(record.value)));
}

/** Printable ASCII except `"` and `\`: what JSON.stringify writes unchanged. */
function isVerbatimInJson(literal: string): boolean {
  for (let i = 0; i < literal.length; i++) {
    const code = literal.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x22 || code === 0x5c) return false;
  }
  return true;
}

/** Whole milliseconds m with startNs ≤ m·10^6 < endNs: [startMs, endMs), or null when none. */
function timeBounds(startNs: bigint, endNs: bigint): { startMs: number; endMs: number } | null {
  if (endNs <= startNs) return null;
  const startMs = clampMs(ceilDiv(startNs, nanosecondsPerMillisecond));
  const endMs = clampMs(ceilDiv(endNs, nanosecondsPerMillisecond));
  return startMs < endMs ? { startMs, endMs } : null;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const quotient = a / b; // truncates toward zero
  return quotient * b < a ? quotient + 1n : quotient;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const quotient = a / b;
  return quotient * b > a ? quotient - 1n : quotient;
}

/** Stored timestamps lie within ±2^51 ms (src/log/FORMAT.md); beyond that every bound is alike. */
function clampMs(ms: bigint): number {
  const max = 2n ** 52n;
  return Number(ms > max ? max : ms < -max ? -max : ms);
}

/**
 * The partitions a scan reads: when every matcher set pins `service` with `=`, only those services'
 * partitions (ingest routes by service); otherwise all of them.
 */
export function partitionsFor(
  matcherSets: readonly (readonly LabelMatcher[])[],
  partitionCount: number,
): number[] {
  const chosen = new Set<number>();
  for (const matchers of matcherSets) {
    const service = matchers.find((matcher) => matcher.name === "service" && matcher.op === "=");
    if (service === undefined) return Array.from({ length: partitionCount }, (_, i) => i);
    chosen.add(partitionFor(service.value, partitionCount));
  }
  return [...chosen].sort((a, b) => a - b);
}

/** The records of `ranges`, one read step at a time, in the plan's direction. */
function* readRanges(
  partition: ReadablePartition,
  ranges: readonly OffsetRange[],
  plan: ScanPlan,
  stats: ScanStats,
): Generator<StoredRecord[]> {
  // Point reads of consecutive blocks often fall in one compacted batch: it is decompressed once.
  const cache: PointReadCache = { batches: [] };
  if (plan.direction === "forward") {
    for (const range of ranges) {
      if (pastCutoff(range, plan)) {
        stats.rangesPastCutoff++;
        continue;
      }
      if (range.offsets !== undefined) yield* readPoints(partition, range, cache, "forward", stats);
      else yield* readForward(partition, range.fromOffset, range.toOffset, plan, stats);
    }
    return;
  }
  let windowRecords = backwardWindowRecordsFirst;
  for (let r = ranges.length - 1; r >= 0; r--) {
    if (pastCutoff(ranges[r], plan)) {
      stats.rangesPastCutoff++;
      continue;
    }
    if (ranges[r].offsets !== undefined) {
      yield* readPoints(partition, ranges[r], cache, "backward", stats);
      continue;
    }
    const { fromOffset, toOffset } = ranges[r];
    for (let windowEnd = toOffset; windowEnd > fromOffset; ) {
      const windowStart = Math.max(fromOffset, windowEnd - windowRecords);
      // A window is sized to about one step (below), so holding its steps to reverse them is bounded.
      const steps: StoredRecord[][] = [];
      let bytes = 0;
      let records = 0;
      for (const step of readForward(partition, windowStart, windowEnd, plan, stats)) {
        for (const record of step) bytes += record.key.length + record.value.length;
        records += step.length;
        steps.push(step);
      }
      for (let i = steps.length - 1; i >= 0; i--) yield steps[i].reverse();
      windowEnd = windowStart;
      if (records > 0) {
        const perRecord = Math.max(1, bytes / records);
        windowRecords = Math.min(
          backwardWindowRecordsMax,
          Math.max(backwardWindowRecordsMin, Math.floor(plan.stepBytes / perRecord)),
        );
      }
    }
  }
}

/** Offsets per point-read step: a step holds at most this many records (a block's are bounded anyway). */
const pointReadOffsetsMax = 512;

/**
 * The records at `range.offsets` (within the range), in steps of at most pointReadOffsetsMax, in
 * `direction` (backward: newest step first, each step newest first).
 */
function* readPoints(
  partition: ReadablePartition,
  range: OffsetRange,
  cache: PointReadCache,
  direction: "forward" | "backward",
  stats: ScanStats,
): Generator<StoredRecord[]> {
  const offsets = (range.offsets ?? []).filter(
    (offset) => offset >= range.fromOffset && offset < range.toOffset,
  );
  stats.rangesPointRead++;
  const steps = Math.ceil(offsets.length / pointReadOffsetsMax);
  for (let k = 0; k < steps; k++) {
    const step = direction === "forward" ? k : steps - 1 - k;
    const records = partition.readAt(
      offsets.slice(step * pointReadOffsetsMax, (step + 1) * pointReadOffsetsMax),
      cache,
    );
    stats.readSteps++;
    stats.recordsRead += records.length;
    if (records.length > 0) yield direction === "forward" ? records : records.reverse();
  }
}

/**
 * Whether every record of `range` lies strictly beyond the cutoff (older for backward, newer for
 * forward): none can make the answer. An entry at the cutoff still may (ties), so equality reads.
 */
function pastCutoff(range: OffsetRange, plan: ScanPlan): boolean {
  if (range.minTsNs === undefined || range.maxTsNs === undefined) return false;
  const cutoffNs = plan.cutoffNs?.() ?? null;
  if (cutoffNs === null) return false;
  return plan.direction === "backward" ? range.maxTsNs < cutoffNs : range.minTsNs > cutoffNs;
}

function* readForward(
  partition: ReadablePartition,
  fromOffset: number,
  toOffset: number,
  plan: ScanPlan,
  stats: ScanStats,
): Generator<StoredRecord[]> {
  let next = fromOffset;
  while (next < toOffset) {
    const result = partition.read(next, { bytesMax: plan.stepBytes, endOffset: toOffset });
    stats.readSteps++;
    stats.recordsRead += result.records.length;
    if (result.records.length > 0) yield result.records;
    // No progress: nothing readable is left before toOffset (retention, damage, a cut-back log).
    if (result.nextOffset <= next) return;
    next = result.nextOffset;
  }
}

/** The entries of one step's records that are the tenant's, in range and matched. */
function matching(
  records: readonly StoredRecord[],
  plan: ScanPlan,
  bounds: { startMs: number; endMs: number },
  prefix: Uint8Array,
  matcher: { matches: CompiledMatchers["matches"] },
  prefilter: ((record: StoredRecord) => boolean) | null,
  stats: ScanStats,
): LogEntry[] {
  // The cutoff only moves toward the answer's end while a step runs elsewhere: read once per step.
  const cutoffNs = plan.cutoffNs?.() ?? null;
  let startMs = bounds.startMs;
  let endMs = bounds.endMs;
  if (cutoffNs !== null) {
    // Entries beyond the cutoff cannot make the answer; one at the cutoff still may (ties).
    if (plan.direction === "backward")
      startMs = Math.max(startMs, clampMs(ceilDiv(cutoffNs, nanosecondsPerMillisecond)));
    else endMs = Math.min(endMs, clampMs(floorDiv(cutoffNs, nanosecondsPerMillisecond) + 1n));
  }
  const entries: LogEntry[] = [];
  for (const record of records) {
    if (!hasKeyPrefix(record.key, prefix)) {
      stats.recordsOtherTenant++;
      continue;
    }
    if (record.timestampMs < startMs || record.timestampMs >= endMs) {
      stats.recordsOutsideTime++;
      continue;
    }
    if (prefilter !== null && !prefilter(record)) {
      stats.recordsPrefiltered++;
      continue;
    }
    let entry: LogEntry;
    try {
      entry = decodeLogRecord(record.key, record.value).entry; // 0x01, legacy and 0x03
    } catch (error) {
      if (error instanceof RecordFormatError) stats.recordsUnknownFormat++;
      else if (error instanceof RecordDecodeError) stats.recordsUndecodable++;
      else throw error;
      continue;
    }
    // The stored entry's own timestamp decides (it equals the record's in every format written).
    if (entry.timestampNs < plan.startNs || entry.timestampNs >= plan.endNs) {
      stats.recordsOutsideTime++;
      continue;
    }
    if (!matcher.matches(entry.labels)) continue;
    stats.entriesMatched++;
    entries.push(entry);
  }
  return entries;
}

export interface LogSourceOptions {
  /** The topics/logs partition log, or a worker's snapshot-backed view of it (src/query/exec/pool.ts). */
  readonly log: ReadableLog;
  readonly tenant: string;
  /** Key+value bytes per read step (default executionLimits.readStepBytes). */
  readonly readStepBytes?: number;
  /** Candidate offset ranges per partition (a token index); default: the whole time-indexed range. */
  readonly blocks?: CandidateBlocks;
}

/** One tenant's entries in the partition log, for the evaluator. One per query. */
export class LogSource implements EntrySource {
  readonly #options: LogSourceOptions;
  readonly stats: ScanStats = emptyScanStats();

  constructor(options: LogSourceOptions) {
    this.#options = options;
  }

  async *select(selection: EntrySelection): AsyncIterable<LogEntry> {
    const { log, tenant, blocks } = this.#options;
    const plan: ScanPlan = {
      tenant,
      matcherSets: [selection.matchers],
      startNs: selection.startNs,
      endNs: selection.endNs,
      direction: selection.direction,
      signal: selection.signal,
      cutoffNs: selection.cutoffNs,
      stepBytes: this.#options.readStepBytes ?? executionLimits.readStepBytes,
      ranges: blocks === undefined ? undefined : (partition) => blocks(partition, selection),
      lineFilters: selection.lineFilters,
    };
    for await (const step of scanLog(log, plan, this.stats)) {
      yield* step.entries; // backward: readRanges has reversed each step already
    }
  }
}
