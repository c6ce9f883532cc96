// The block index of topics/logs: a derived view of the log (the loop per partition is the shared
// one, src/log/follow.ts) that reads the log from the store's committed position, folds records into blocks (block-builder.ts) and commits each sealed block's
// summary with the new position in one transaction (store.ts); and the query side, which answers
// from the summaries in memory which offset ranges may hold a match (candidates), ending with the
// unindexed tail that a query scans as it is.
//
// Memory: per sealed block, its bloom (bits per key × distinct keys / 8: ~5.8 KiB for 8 K reference A
// lines at the defaults, bench/index.bench.ts), 8 bytes per stream it holds and ~150 bytes of fields
// and objects, and its sparse-stream offsets (~1 byte per stream + ~2 per record of a sparse
// stream, sparse.ts). 10 M lines ≈ 1,240 blocks ≈ 7.5 MiB of blooms, all kept in memory (no bloom
// is read from disk at query time).

import path from "node:path";
import { RecordDecodeError, RecordFormatError } from "../ingest/index.ts";
import {
  type DerivedView,
  type FollowEvent,
  type Follower,
  type FollowStep,
  followPartitions,
  type PartitionLog,
  repairPosition,
  type StoredRecord,
} from "../log/index.ts";
import type { LabelSet } from "../model/stream.ts";
import type { LineFilterStage } from "../query/ast.ts";
import { BlockBuilder, type BlockShape } from "./block-builder.ts";
import { Bloom } from "./bloom.ts";
import { EntryDecoder } from "./decode.ts";
import { indexLimits } from "./limits.ts";
import { mayMatch, requirementsOf } from "./requirements.ts";
import { SparseOffsets } from "./sparse.ts";
import { IndexStore, type StoredBlock, type StreamSighting } from "./store.ts";

export type IndexEvent =
  | { kind: "undecodable-record"; partition: number; offset: number; error: Error }
  | { kind: "step-failed"; partition: number; offset: number; error: Error }
  | { kind: "store-ahead-of-log"; partition: number; storeOffset: number; logEndOffset: number }
  | { kind: "block-sealed"; partition: number; fromOffset: number; toOffset: number };

export interface BlockIndexOptions extends Partial<BlockShape> {
  /** A candidate block carries at most this many sparse offsets, else it is read whole (limits.ts). */
  sparseReadOffsetsMax?: number;
  /** Seal a non-full block open this long while caught up; null: only full blocks are sealed. */
  blockOpenMsMax?: number | null;
  onEvent?: (event: IndexEvent) => void;
}

export interface CandidateQuery {
  startNs: bigint;
  endNs: bigint;
  lineFilters: readonly LineFilterStage[];
  /** The streams that may hold matches; absent: every stream may. */
  streamIds?: ReadonlySet<bigint>;
}

export interface CandidateRange {
  fromOffset: number;
  toOffset: number;
  /** Absent for the unindexed tail. */
  minTsNs?: bigint;
  maxTsNs?: bigint;
  /**
   * When every stream of the selection the block holds is sparse there: the offsets of those
   * streams' records, ascending; no other record of the range can match (README, "Sparse streams").
   */
  offsets?: number[];
}

interface BlockSummary {
  fromOffset: number;
  toOffset: number;
  minTsNs: bigint;
  maxTsNs: bigint;
  streamIds: BigUint64Array;
  bloom: Bloom;
  sparse: SparseOffsets;
}

const nsPerMs = 1_000_000n;
const fileName = "blocks.db";

function summaryOf(block: StoredBlock): BlockSummary {
  return {
    fromOffset: block.fromOffset,
    toOffset: block.toOffset,
    minTsNs: BigInt(block.minTsMs) * nsPerMs,
    maxTsNs: BigInt(block.maxTsMs) * nsPerMs,
    streamIds: block.streamIds,
    bloom: new Bloom(block.bloomWords, block.bloomHashes),
    sparse: new SparseOffsets(block.sparseOffsets, block.fromOffset, block.streamIds.length),
  };
}

/** The block index as a derived view of topics/logs (src/log/follow.ts runs its loops). */
export class BlockIndex implements DerivedView {
  readonly #log: PartitionLog;
  readonly #store: IndexStore;
  readonly #shape: BlockShape;
  readonly #blockOpenMsMax: number | null;
  readonly #sparseReadOffsetsMax: number;
  readonly #onEvent: (event: IndexEvent) => void;
  readonly #decoder = new EntryDecoder();
  /** Per partition, sealed blocks oldest first. */
  readonly #blocks: BlockSummary[][];
  /** Per partition, the committed position: every record below it is in a sealed block. */
  readonly #positions: number[];
  readonly #builders: BlockBuilder[];
  /** tenant → stream id (hex) → sighting, committed streams only. */
  readonly #streams = new Map<string, Map<bigint, StreamSighting>>();
  #streamsRemembered = 0;
  #follower: Follower | null = null;

  private constructor(log: PartitionLog, store: IndexStore, shape: BlockShape, options: BlockIndexOptions) {
    this.#log = log;
    this.#store = store;
    this.#shape = shape;
    this.#blockOpenMsMax =
      options.blockOpenMsMax === undefined ? indexLimits.blockOpenMsMax : options.blockOpenMsMax;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#sparseReadOffsetsMax = options.sparseReadOffsetsMax ?? indexLimits.sparseReadOffsetsMax;
    const partitions = Array.from({ length: log.partitionCount }, (_, partition) => partition);
    this.#positions = partitions.map((partition) => store.position(partition));
    this.#blocks = partitions.map((partition) => store.blocks(partition).map(summaryOf));
    // Repaired at open, not only at start(): candidates() must not offer blocks beyond the log's end.
    for (const partition of partitions) repairPosition(log, this, partition, this.#onFollowEvent);
    this.#builders = partitions.map((partition) => new BlockBuilder(partition, shape));
    for (const sighting of store.streams()) this.#remember(sighting);
  }

  /** Opens (creating when absent) the index of `logs` kept in `dir`. Call start() to follow the log. */
  static async open(dir: string, logs: PartitionLog, options: BlockIndexOptions = {}): Promise<BlockIndex> {
    const shape: BlockShape = {
      gramLength: options.gramLength ?? indexLimits.gramLength,
      windowGrams: options.windowGrams ?? indexLimits.windowGrams,
      longGramLength: options.longGramLength ?? indexLimits.longGramLength,
      bloomBitsPerKey: options.bloomBitsPerKey ?? indexLimits.bloomBitsPerKey,
      bloomHashesMax: options.bloomHashesMax ?? indexLimits.bloomHashesMax,
      blockRecordsMax: options.blockRecordsMax ?? indexLimits.blockRecordsMax,
      blockValueBytesMax: options.blockValueBytesMax ?? indexLimits.blockValueBytesMax,
      sparseStreamRecordsMax: options.sparseStreamRecordsMax ?? indexLimits.sparseStreamRecordsMax,
    };
    const store = IndexStore.open(path.join(dir, fileName), shape);
    return new BlockIndex(logs, store, shape, options);
  }

  #remember(sighting: StreamSighting): void {
    let tenant = this.#streams.get(sighting.tenant);
    if (tenant === undefined) {
      tenant = new Map();
      this.#streams.set(sighting.tenant, tenant);
    }
    const known = tenant.get(sighting.id);
    if (known === undefined) {
      tenant.set(sighting.id, { ...sighting });
      this.#streamsRemembered++;
    } else {
      known.firstTsMs = Math.min(known.firstTsMs, sighting.firstTsMs);
      known.lastTsMs = Math.max(known.lastTsMs, sighting.lastTsMs);
    }
  }

  /** Follows the log (one loop per partition, src/log/follow.ts) until stop(). */
  start(): void {
    if (this.#follower !== null) return;
    for (const builder of this.#builders) builder.reset();
    this.#follower = followPartitions(this.#log, this, {
      stepReadBytesMax: indexLimits.stepReadBytesMax,
      retryDelayMs: indexLimits.retryDelayMs,
      onEvent: this.#onFollowEvent,
    });
  }

  /** Stops every loop after its current step; the open blocks are not committed (re-read on restart). */
  async stop(): Promise<void> {
    await this.#follower?.stop();
    this.#follower = null;
  }

  /** stop(), then closes the store. */
  async close(): Promise<void> {
    await this.stop();
    this.#store.close();
  }

  // Records retention removed before they were read need no report here: a block opens at the log's
  // start (FollowStep.logStartOffset) and the summaries retention passed go at the next seal.
  readonly #onFollowEvent = (event: FollowEvent): void => {
    if (event.kind !== "records-expired") this.#onEvent(event);
  };

  /** DerivedView: the committed position (every record below it is in a sealed block). */
  position(partition: number): number {
    return this.#positions[partition];
  }

  /**
   * DerivedView: the log ends before the store's position: with --fsync interval an OS crash can
   * lose records the index already covered. New records take those offsets again, so the index moves
   * back (dropping the blocks beyond the log's end) rather than skipping them.
   */
  rewind(partition: number, logEndOffset: number): number {
    this.#positions[partition] = this.#store.rewind(partition, logEndOffset);
    this.#blocks[partition] = this.#store.blocks(partition).map(summaryOf);
    return this.#positions[partition];
  }

  /** DerivedView: folds the step into the open block; a block is committed only when it seals. */
  apply(step: FollowStep): void {
    this.#feed(step.partition, step.records, step.logStartOffset, step.nowMs);
    this.#builders[step.partition].extendTo(step.nextOffset);
  }

  /** DerivedView: an open block is due to seal blockOpenMsMax after it opened. */
  idleDueMs(partition: number): number | null {
    const builder = this.#builders[partition];
    if (builder.isEmpty || this.#blockOpenMsMax === null) return null;
    return builder.openedAtMs + this.#blockOpenMsMax;
  }

  /** DerivedView: caught up and the open block waited long enough: seal it. */
  idle(partition: number): void {
    this.#seal(partition);
  }

  /** DerivedView: nothing of the open block is committed: start it again from what the store holds. */
  discard(partition: number): void {
    this.#builders[partition].reset();
    this.#positions[partition] = this.#store.position(partition);
  }

  /**
   * Folds `records` into the open block, sealing it whenever full. A block opens at the committed
   * position (or the log's start, if retention passed it), so consecutive blocks are contiguous even
   * when the log skipped offsets (damaged batches): no offset falls between two blocks.
   */
  #feed(partition: number, records: readonly StoredRecord[], logStartOffset: number, nowMs: number): void {
    const builder = this.#builders[partition];
    for (const record of records) {
      if (builder.isEmpty) builder.open(Math.max(this.#positions[partition], logStartOffset), nowMs);
      let stream = null;
      try {
        stream = this.#decoder.decodeKeys(record, builder.shape, builder.keys);
      } catch (error) {
        // The query executor skips these records too (src/ingest/FORMAT.md, readers table), so a
        // block that holds nothing of them can never hide a line a query would answer.
        if (!(error instanceof RecordFormatError || error instanceof RecordDecodeError)) throw error;
        this.#onEvent({ kind: "undecodable-record", partition, offset: record.offset, error });
      }
      builder.add(record.offset, record.timestampMs, record.value.length, stream);
      if (builder.isFull) this.#seal(partition);
    }
  }

  #seal(partition: number): void {
    const { block, streams } = this.#builders[partition].seal();
    const logStartOffset = this.#log.partition(partition).logStartOffset;
    this.#store.commitBlock(block, streams, this.#positions[partition], logStartOffset);
    this.#positions[partition] = block.toOffset;
    const blocks = this.#blocks[partition];
    blocks.push(summaryOf(block));
    let expired = 0;
    while (expired < blocks.length && blocks[expired].toOffset <= logStartOffset) expired++;
    if (expired > 0) blocks.splice(0, expired);
    for (const stream of streams) this.#remember(stream);
    this.#onEvent({
      kind: "block-sealed",
      partition,
      fromOffset: block.fromOffset,
      toOffset: block.toOffset,
    });
  }

  /**
   * Offset ranges of `partition` that may hold a line of the selection, oldest first: the sealed
   * blocks whose time range, streams and token filter do not rule it out (clipped to the log's
   * start), then the unindexed tail up to the committed end. Never leaves out a block holding a match.
   */
  candidates(partition: number, query: CandidateQuery): CandidateRange[] {
    const source = this.#log.partition(partition);
    const logStartOffset = source.logStartOffset;
    const requirements = requirementsOf(query.lineFilters, this.#shape);
    const ranges: CandidateRange[] = [];
    for (const block of this.#blocks[partition]) {
      if (block.toOffset <= logStartOffset) continue;
      if (block.maxTsNs < query.startNs || block.minTsNs >= query.endNs) continue;
      let ordinals: number[] | null = null;
      if (query.streamIds !== undefined) {
        ordinals = ordinalsOf(block.streamIds, query.streamIds);
        if (ordinals.length === 0) continue;
      }
      if (requirements.length > 0 && !mayMatch(requirements, (key) => block.bloom.has(key))) continue;
      const fromOffset = Math.max(block.fromOffset, logStartOffset);
      // Every selected stream the block holds is sparse in it: only their records can match.
      let offsets = ordinals === null ? null : block.sparse.offsetsOf(ordinals);
      if (offsets !== null && offsets.length > this.#sparseReadOffsetsMax) offsets = null;
      ranges.push({
        fromOffset,
        toOffset: block.toOffset,
        minTsNs: block.minTsNs,
        maxTsNs: block.maxTsNs,
        ...(offsets === null ? {} : { offsets: offsets.filter((offset) => offset >= fromOffset) }),
      });
    }
    const tailFrom = Math.max(this.#positions[partition], logStartOffset);
    const committedEnd = source.endOffset;
    if (tailFrom < committedEnd) ranges.push({ fromOffset: tailFrom, toOffset: committedEnd });
    return ranges;
  }

  /**
   * Grows whenever a stream id is first seen by the registry or an open block: while it stays the
   * same, streamSightings() of any tenant holds the same ids (retention may only make it a superset).
   */
  get streamsVersion(): number {
    let version = this.#streamsRemembered;
    for (const builder of this.#builders) version += builder.streamsAdded;
    return version;
  }

  /** Every stream of `tenant` known, sealed blocks and open ones, each once, whatever its time range. */
  *streamSightings(tenant: string): Generator<StreamSighting> {
    const registry = this.#streams.get(tenant);
    if (registry !== undefined) yield* registry.values();
    const extra = new Set<bigint>();
    for (const builder of this.#builders)
      for (const sighting of builder.streams())
        if (sighting.tenant === tenant && registry?.has(sighting.id) !== true && !extra.has(sighting.id)) {
          extra.add(sighting.id);
          yield sighting;
        }
  }

  /** Label sets of `tenant`'s streams seen with entries in [startNs, endNs), sealed blocks and open ones. */
  streams(tenant: string, startNs: bigint, endNs: bigint): LabelSet[] {
    // A sighting [first, last] (ms) is in range when last·10^6 ≥ startNs and first·10^6 < endNs, i.e.
    // last ≥ ⌈startNs / 10^6⌉ and first < ⌈endNs / 10^6⌉: compared as numbers, no BigInt per stream.
    const startMs = Number(ceilDiv(startNs, nsPerMs));
    const endMs = Number(ceilDiv(endNs, nsPerMs));
    const inRange = (sighting: StreamSighting) => sighting.lastTsMs >= startMs && sighting.firstTsMs < endMs;
    const registry = this.#streams.get(tenant);
    const found: LabelSet[] = [];
    for (const sighting of registry?.values() ?? []) if (inRange(sighting)) found.push(sighting.labels);
    // Streams of open blocks the registry does not have in range yet (each once).
    let extra: Set<bigint> | null = null;
    for (const builder of this.#builders)
      for (const sighting of builder.streams()) {
        if (sighting.tenant !== tenant || !inRange(sighting)) continue;
        const known = registry?.get(sighting.id);
        if (known !== undefined && inRange(known)) continue;
        extra ??= new Set();
        if (extra.has(sighting.id)) continue;
        extra.add(sighting.id);
        found.push(sighting.labels);
      }
    return found;
  }

  status(): { partitions: { indexedTo: number; committedEnd: number; blocks: number; bytes: number }[] } {
    return {
      partitions: this.#blocks.map((all, partition) => {
        const source = this.#log.partition(partition);
        // Blocks retention has passed are no longer counted (they go from the store at the next seal).
        const blocks = all.filter((block) => block.toOffset > source.logStartOffset);
        return {
          indexedTo: this.#positions[partition],
          committedEnd: source.endOffset,
          blocks: blocks.length,
          bytes: blocks.reduce(
            (sum, block) =>
              sum + block.bloom.byteLength + block.streamIds.byteLength + block.sparse.byteLength,
            0,
          ),
        };
      }),
    };
  }
}

/** ⌈a / b⌉ for b > 0 (BigInt division truncates toward zero, which is the ceiling for a < 0). */
function ceilDiv(a: bigint, b: bigint): bigint {
  const quotient = a / b;
  return a > 0n && a % b !== 0n ? quotient + 1n : quotient;
}

/**
 * The indexes in the sorted `blockIds` of the ids of `wanted` they hold, ascending: a binary search
 * per wanted id when there are few (a rare service's streams against a block's thousands), else one
 * pass over the block's ids.
 */
function ordinalsOf(blockIds: BigUint64Array, wanted: ReadonlySet<bigint>): number[] {
  const ordinals: number[] = [];
  if (wanted.size * 16 < blockIds.length) {
    for (const id of wanted) {
      let low = 0;
      let high = blockIds.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (blockIds[middle] < id) low = middle + 1;
        else high = middle;
      }
      if (low < blockIds.length && blockIds[low] === id) ordinals.push(low);
    }
    return ordinals.sort((a, b) => a - b);
  }
  for (let i = 0; i < blockIds.length; i++) if (wanted.has(blockIds[i])) ordinals.push(i);
  return ordinals;
}
