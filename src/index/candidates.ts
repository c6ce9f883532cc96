// The index as the query executor's candidate-blocks hook: for one tenant's query, the offset
// ranges of each partition that may hold a match. Blocks are pruned by time, by the query's line
// filters (the k-gram blooms) and by stream: the block must hold one of the tenant's streams the
// selector matches, taken from the index's stream registry. The unindexed tail is always read.

import type { LabelSet } from "../model/stream.ts";
import { streamId } from "../model/stream-id.ts";
import { type CandidateBlocks, compileMatchers } from "../query/index.ts";
import type { BlockIndex } from "./block-index.ts";

type Selection = Parameters<CandidateBlocks>[1];

/** The candidate-blocks hook of `index` for `tenant`'s queries (QueryEngineOptions.blocks). */
export function indexedBlocks(index: BlockIndex, tenant: string): CandidateBlocks {
  return (partition, selection) => {
    // The streams and the blocks are read in one synchronous call, so they describe the same
    // moment. (Working the streams out once per selection and reusing them for later partitions
    // lost blocks: the builder may seal a block of a stream first seen in between, which is then
    // neither in the cached streams nor in the unindexed tail.)
    const matching = matchingStreamIds(index, tenant, selection);
    return index.candidates(partition, {
      startNs: selection.startNs,
      endNs: selection.endNs,
      lineFilters: selection.lineFilters,
      streamIds: (id) => matching.has(id),
    });
  };
}

/**
 * The ids of `tenant`'s streams with entries in the selection's time range that its selector
 * matches. The registry includes the streams of blocks still open, so every sealed block's streams
 * are in it at the moment candidates() runs.
 */
function matchingStreamIds(index: BlockIndex, tenant: string, selection: Selection): Set<bigint> {
  const matchers = compileMatchers(selection.matchers);
  try {
    const ids = new Set<bigint>();
    for (const labels of index.streams(tenant, selection.startNs, selection.endNs))
      if (matchers.matches(labels)) ids.add(memoizedStreamId(tenant, labels));
    return ids;
  } finally {
    matchers.close();
  }
}

/**
 * Stream ids by label set object, per tenant: the registry hands out the same LabelSet for a stream
 * every call, and hashing every stream of a tenant on every query was a tenth of a search over
 * ~50 K streams (profiled, bench/search.bench.ts). Weak, so forgotten streams cost nothing.
 */
const streamIds = new WeakMap<LabelSet, { tenant: string; id: bigint }>();

function memoizedStreamId(tenant: string, labels: LabelSet): bigint {
  const known = streamIds.get(labels);
  if (known !== undefined && known.tenant === tenant) return known.id;
  const id = streamId(tenant, labels);
  streamIds.set(labels, { tenant, id });
  return id;
}
