// The query engine the HTTP layer calls: one object per server over the topics/logs partition log.
// Each method takes a tenant and already-parsed parameters (times as bigint nanoseconds), runs under
// a time budget (executionLimits.queryTimeoutMs, combined with the caller's signal, e.g. the client
// going away) and answers in the shapes the Loki API's `data` field holds. Errors: QueryError
// subclasses for the query text (src/query/errors.ts), ExecutionError subclasses for running it
// (./errors.ts), every one a rejection of the returned promise; an abort by the caller's signal
// rejects with that signal's reason.

import { serviceStreamKey } from "../../ingest/index.ts";
import type { PartitionLog, StoredRecord } from "../../log/index.ts";
import { partitionFor } from "../../model/hash.ts";
import type { LabelSet } from "../../model/stream.ts";
import type { LabelMatcher, Query } from "../ast.ts";
import { defaultQueryBudget, evaluateInstant, evaluateRange, type QueryBudget } from "../eval/evaluate.ts";
import type { LokiSeries as LokiMatrixSeries, LokiResultData } from "../eval/result.ts";
import { type ExecutionLimits, executionLimits } from "../limits.ts";
import { parseQuery } from "../parse.ts";
import { QueryParameterError, QueryPoolError, QueryTimeoutError, queryPoolErrorCodes } from "./errors.ts";
import { emptyLastRecordsStats, type LastRecordsStats, readLastInRanges } from "./last-entries.ts";
import { type CandidateBlocks, LogSource, type OffsetRange } from "./log-source.ts";
import type { PoolTask, QueryPool } from "./pool.ts";
import {
  type IndexStats,
  indexStats,
  type ListingRange,
  labelNames,
  labelValues,
  listSeries,
  type VolumeSample,
  volume,
} from "./series.ts";

export interface QueryEngineOptions {
  /** The topics/logs partition log. The engine only reads it; its owner closes it. */
  readonly log: PartitionLog;
  readonly limits?: Partial<ExecutionLimits>;
  /**
   * Candidate offset ranges per partition for one tenant's queries (a token index, which may also
   * prune by the tenant's streams); default: full scans.
   */
  readonly blocks?: (tenant: string) => CandidateBlocks;
  /** The memory budget of each query (src/query/limits.ts queryEvalLimits by default). */
  readonly budget?: Partial<QueryBudget>;
  /**
   * Worker threads for query and instantQuery (and volumeRange, which is a metric query): the scan
   * and the evaluation run there over read snapshots, the main thread only prepares them. Listings
   * (series, labels, stats, volume) stay on the main thread. The pool's owner closes it.
   */
  readonly pool?: QueryPool;
}

export interface RangeQueryParams {
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly limit: number;
  readonly direction: "forward" | "backward";
  readonly stepNs: bigint;
  /** Log queries: Loki's `interval`, at most one entry per interval. */
  readonly intervalNs?: bigint;
  readonly signal?: AbortSignal;
}

export interface InstantQueryParams {
  readonly timeNs: bigint;
  readonly limit: number;
  readonly direction: "forward" | "backward";
  readonly signal?: AbortSignal;
}

export interface ListingParams {
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly signal?: AbortSignal;
}

export interface VolumeParams extends ListingParams {
  /** Default executionLimits.volumeLimitDefault (Loki's 100). */
  readonly limit?: number;
  readonly targetLabels?: readonly string[];
  readonly aggregateBy?: "series" | "labels";
}

export interface LastRecordsParams {
  readonly signal?: AbortSignal;
}

/** Reference A's last entries of a service: the stored records, oldest first, and how they were read. */
export interface LastRecords {
  readonly records: StoredRecord[];
  /** "index": through the candidate blocks (last-entries.ts); "scan": PartitionLog.readLast. */
  readonly path: "index" | "scan";
  readonly stats: LastRecordsStats;
}

/** Wider than any stored timestamp (±2^51 ms, src/log/FORMAT.md): no time bound. */
const unboundedStartNs = -(2n ** 80n);
const unboundedEndNs = 2n ** 80n;

export class QueryEngine {
  readonly #log: PartitionLog;
  readonly #limits: ExecutionLimits;
  readonly #blocks: ((tenant: string) => CandidateBlocks) | undefined;
  readonly #memoryBudget: QueryBudget;
  readonly #pool: QueryPool | undefined;

  constructor(options: QueryEngineOptions) {
    this.#log = options.log;
    this.#limits = { ...executionLimits, ...options.limits };
    this.#blocks = options.blocks;
    this.#memoryBudget = { ...defaultQueryBudget, ...options.budget };
    this.#pool = options.pool;
  }

  /** /query_range: parses `text` and evaluates it over [startNs, endNs). */
  async query(tenant: string, text: string, params: RangeQueryParams): Promise<LokiResultData> {
    return this.#evaluateRange(tenant, parseQuery(text), params);
  }

  #evaluateRange(
    tenant: string,
    query: Query,
    params: Omit<RangeQueryParams, "signal"> & { readonly signal?: AbortSignal },
  ): Promise<LokiResultData> {
    const range = {
      startNs: params.startNs,
      endNs: params.endNs,
      limit: params.limit,
      direction: params.direction,
      stepNs: params.stepNs,
      ...(params.intervalNs === undefined ? {} : { intervalNs: params.intervalNs }),
    };
    const pool = this.#pool;
    if (pool !== undefined)
      return this.#budget(params.signal, (signal) =>
        pool.run(this.#task(tenant, query, { kind: "range", ...range }), {
          log: this.#log,
          blocks: this.#blocks?.(tenant),
          signal,
        }),
      );
    return this.#budget(params.signal, (signal) =>
      evaluateRange(query, this.#source(tenant), { ...range, signal, budget: this.#memoryBudget }),
    );
  }

  /** /query: parses `text` and evaluates it at `timeNs`. */
  async instantQuery(tenant: string, text: string, params: InstantQueryParams): Promise<LokiResultData> {
    const query = parseQuery(text);
    const instant = { timeNs: params.timeNs, limit: params.limit, direction: params.direction };
    const pool = this.#pool;
    if (pool !== undefined)
      return this.#budget(params.signal, (signal) =>
        pool.run(this.#task(tenant, query, { kind: "instant", ...instant }), {
          log: this.#log,
          blocks: this.#blocks?.(tenant),
          signal,
        }),
      );
    return this.#budget(params.signal, (signal) =>
      evaluateInstant(query, this.#source(tenant), { ...instant, signal, budget: this.#memoryBudget }),
    );
  }

  #task(tenant: string, query: Query, evaluation: PoolTask["evaluation"]): PoolTask {
    return {
      tenant,
      query,
      readStepBytes: this.#limits.readStepBytes,
      budget: this.#memoryBudget,
      evaluation,
    };
  }

  /** /series: the streams any of `selectors` matches (Loki's repeated match[]; none: every stream). */
  async series(tenant: string, selectors: readonly string[], params: ListingParams): Promise<LabelSet[]> {
    const matcherSets = selectors.map(matchersOf); // none: every stream of the tenant, as Loki answers
    return this.#budget(params.signal, (signal) =>
      listSeries(this.#log, this.#range(tenant, params, signal), matcherSets),
    );
  }

  /** /labels: label names of the streams `selector` matches (every stream when null). */
  async labelNames(tenant: string, selector: string | null, params: ListingParams): Promise<string[]> {
    const matchers = selector === null ? [] : matchersOf(selector);
    return this.#budget(params.signal, (signal) =>
      labelNames(this.#log, this.#range(tenant, params, signal), matchers),
    );
  }

  /** /label/<name>/values: the values of `name` in the streams `selector` matches (every stream when null). */
  async labelValues(
    tenant: string,
    name: string,
    selector: string | null,
    params: ListingParams,
  ): Promise<string[]> {
    const matchers = selector === null ? [] : matchersOf(selector);
    return this.#budget(params.signal, (signal) =>
      labelValues(this.#log, this.#range(tenant, params, signal), name, matchers),
    );
  }

  /** /index/stats: {streams, chunks, entries, bytes} of `selector` (series.ts says what chunks are). */
  async indexStats(tenant: string, selector: string, params: ListingParams): Promise<IndexStats> {
    const matchers = matchersOf(selector);
    return this.#budget(params.signal, (signal) =>
      indexStats(this.#log, this.#range(tenant, params, signal), matchers),
    );
  }

  /** /index/volume: the `result` vector of Loki's answer (resultType "vector"). */
  async volume(tenant: string, selector: string, params: VolumeParams): Promise<VolumeSample[]> {
    const matchers = matchersOf(selector);
    return this.#budget(params.signal, (signal) =>
      volume(this.#log, this.#range(tenant, params, signal), matchers, {
        limit: params.limit ?? this.#limits.volumeLimitDefault,
        targetLabels: params.targetLabels,
        aggregateBy: params.aggregateBy,
        seriesMax: this.#limits.volumeSeriesMax,
      }),
    );
  }

  /**
   * /index/volume_range: the bytes of the matching lines per step, as the metric query
   * `sum by (<labels>) (bytes_over_time(<selector> [<step>]))` over the range, where the labels are
   * `targetLabels` or the selector's label names (as volume aggregates them); the `limit` series
   * with the most bytes in all. aggregateBy "labels" is answered like "series" here.
   */
  async volumeRange(
    tenant: string,
    selector: string,
    params: VolumeParams & { readonly stepNs: bigint },
  ): Promise<LokiMatrixSeries[]> {
    const matchers = matchersOf(selector);
    const labels = params.targetLabels?.length
      ? [...params.targetLabels]
      : [...new Set(matchers.map((m) => m.name))];
    const query: Query = {
      kind: "vectorAggregation",
      op: "sum",
      grouping: { mode: "by", labels },
      parameter: null,
      inner: {
        kind: "rangeAggregation",
        op: "bytes_over_time",
        log: { kind: "log", matchers, pipeline: [] },
        rangeNs: Number(params.stepNs),
        offsetNs: 0,
      },
    };
    const data = await this.#evaluateRange(tenant, query, {
      startNs: params.startNs,
      endNs: params.endNs,
      limit: 1,
      direction: "backward",
      stepNs: params.stepNs,
      signal: params.signal,
    });
    if (data.resultType !== "matrix") throw new Error(`volume_range evaluated to ${data.resultType}`);
    const total = (series: LokiMatrixSeries) =>
      series.values.reduce((sum, [, value]) => sum + Number(value), 0);
    return [...data.result]
      .sort((a, b) => total(b) - total(a))
      .slice(0, params.limit ?? this.#limits.volumeLimitDefault);
  }

  /**
   * Reference A's GET /v1/query: the last `count` records of `tenant`'s `service`, oldest first, as
   * stored (the caller answers with their bytes). With a candidate-blocks hook (the block index), only
   * the blocks holding the service's streams and the unindexed tail are read, newest first (on a
   * pool's worker over a snapshot when there is a pool, here when it is full); without one,
   * PartitionLog.readLast walks back through the partition. Both give the same records.
   */
  async lastServiceRecords(
    tenant: string,
    service: string,
    count: number,
    params: LastRecordsParams = {},
  ): Promise<LastRecords> {
    const partition = partitionFor(service, this.#log.partitionCount);
    const key = serviceStreamKey(tenant, service);
    const matches = (record: StoredRecord) => key.equals(record.key);
    const blocks = this.#blocks?.(tenant);
    if (blocks === undefined || count === 0) {
      const records = count === 0 ? [] : this.#log.readLast(partition, count, matches);
      return { records, path: "scan", stats: emptyLastRecordsStats() };
    }
    return this.#budget(params.signal, async (signal) => {
      const selection = (name: string) =>
        ({
          matchers: [{ name, op: "=", value: service }],
          lineFilters: [],
          startNs: unboundedStartNs,
          endNs: unboundedEndNs,
          direction: "backward",
          cutoffNs: () => null,
          signal,
        }) as const;
      // Records keyed by the service: reference A's (label service), and generic stream entries
      // (format 0x03) whose key is their `service` label or, without one, their `service_name`.
      const ranges = unionRanges([
        ...blocks(partition, selection("service")),
        ...blocks(partition, selection("service_name")),
      ]);
      const source = this.#log.partition(partition);
      const pool = this.#pool;
      if (pool !== undefined) {
        // On a worker: the batches a read decompresses (4 MiB each when compacted) then make garbage
        // of a small heap; on the main thread they cost a full GC of its large one
        // (src/index/README.md, "Sparse streams"). The snapshot is taken with the ranges, in the
        // same synchronous step, so it ends where the tail does.
        const held = source.readSnapshot(
          Math.min(ranges[0]?.fromOffset ?? source.endOffset, source.endOffset),
        );
        try {
          const { records, stats } = await pool.runLastRecords(
            { snapshot: held.snapshot, ranges, count, key, stepBytes: this.#limits.readStepBytes },
            held,
            signal,
          );
          return { records, path: "index", stats };
        } catch (error) {
          // Every thread busy and the queue full: read here rather than refuse (as without a pool).
          if (!(error instanceof QueryPoolError && error.code === queryPoolErrorCodes.full)) throw error;
        }
      }
      const stats = emptyLastRecordsStats(ranges.length);
      const records = await readLastInRanges(
        source,
        { ranges, count, matches, stepBytes: this.#limits.readStepBytes, signal },
        stats,
      );
      return { records, path: "index", stats };
    });
  }

  #source(tenant: string): LogSource {
    return new LogSource({
      log: this.#log,
      tenant,
      readStepBytes: this.#limits.readStepBytes,
      blocks: this.#blocks?.(tenant),
    });
  }

  #range(tenant: string, params: ListingParams, signal: AbortSignal): ListingRange {
    return {
      tenant,
      startNs: params.startNs,
      endNs: params.endNs,
      signal,
      stepBytes: this.#limits.readStepBytes,
      seriesMax: this.#limits.seriesMax,
    };
  }

  /** Runs `work` under the time budget; a budget that runs out becomes QueryTimeoutError. */
  async #budget<T>(caller: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = this.#limits.queryTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = caller === undefined ? timeout : AbortSignal.any([caller, timeout]);
    try {
      return await work(signal);
    } catch (error) {
      // The caller's abort wins when both happened: its reason is what it waits for.
      if (timeout.aborted && !(caller?.aborted ?? false)) throw new QueryTimeoutError(timeoutMs, error);
      throw error;
    }
  }
}

/**
 * The stream matchers of a selector given to a listing. A log query's pipeline is ignored (Loki's
 * index endpoints look at matchers only); a metric query is refused.
 */
function matchersOf(selector: string): readonly LabelMatcher[] {
  const query: Query = parseQuery(selector);
  if (query.kind !== "log")
    throw new QueryParameterError(`a stream selector is required, not a metric query: ${selector}`);
  return query.matchers;
}

/**
 * Offset ranges in any order, overlapping or not, as ascending non-overlapping ranges. Two that
 * overlap merge; the merged range keeps point offsets only when both had them (their union: only
 * those offsets of either range may match), else it is read whole. Touching ranges merge when
 * both are read whole (readLastInRanges then steps back through them in growing windows).
 */
export function unionRanges(ranges: OffsetRange[]): OffsetRange[] {
  ranges.sort((a, b) => a.fromOffset - b.fromOffset);
  const merged: OffsetRange[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    const touching =
      last !== undefined &&
      range.fromOffset === last.toOffset &&
      last.offsets === undefined &&
      range.offsets === undefined;
    if (last !== undefined && (range.fromOffset < last.toOffset || touching)) {
      const offsets =
        last.offsets !== undefined && range.offsets !== undefined
          ? [...new Set([...last.offsets, ...range.offsets])].sort((a, b) => a - b)
          : undefined;
      merged[merged.length - 1] = {
        fromOffset: last.fromOffset,
        toOffset: Math.max(last.toOffset, range.toOffset),
        ...(offsets === undefined ? {} : { offsets }),
      };
    } else merged.push(range);
  }
  return merged;
}
