// The index as the query executor's candidate-blocks hook: for one tenant's query, the offset
// ranges of each partition that may hold a match. Blocks are pruned by time, by the query's line
// filters (the k-gram blooms) and by stream: the block must hold one of the tenant's streams the
// selector matches, taken from the index's stream registry. The unindexed tail is always read.

import { type CandidateBlocks, compileMatchers } from "../query/index.ts";
import type { BlockIndex } from "./block-index.ts";
import { indexLimits } from "./limits.ts";

type Selection = Parameters<CandidateBlocks>[1];

/** The candidate-blocks hook of `index` for `tenant`'s queries (QueryEngineOptions.blocks). */
export function indexedBlocks(index: BlockIndex, tenant: string): CandidateBlocks {
  return (partition, selection) => {
    // The streams and the blocks are read in one synchronous call, so they describe the same
    // moment. (Working the streams out once per selection and reusing them for later partitions
    // lost blocks: the builder may seal a block of a stream first seen in between, which is then
    // neither in the cached streams nor in the unindexed tail.)
    const { ids, all } = matchingStreamIds(index, tenant, selection);
    return index.candidates(partition, {
      startNs: selection.startNs,
      endNs: selection.endNs,
      lineFilters: selection.lineFilters,
      // When the selector keeps every stream of the tenant in range (`{service=~".+"}`), a block's
      // streams cannot rule it out (another tenant's records are skipped by key as they are read).
      ...(all ? {} : { streamIds: ids }),
    });
  };
}

/**
 * The ids of `tenant`'s streams its selector matches (whatever their time range: blocks are pruned
 * by time on their own), and whether that is every stream of the tenant. The registry includes the
 * streams of blocks still open, so every sealed block's streams are in it at the moment
 * candidates() runs. Answers are cached per tenant and selector while the registry's streamsVersion
 * stays the same — a new stream anywhere changes it — so the four partitions of one query, and
 * the same selector's next query (a dashboard refreshing), match the streams once.
 */
function matchingStreamIds(index: BlockIndex, tenant: string, selection: Selection): Matching {
  const version = index.streamsVersion;
  const cacheKey = `${tenant}\u0000${JSON.stringify(selection.matchers)}`;
  const cached = matchingCache.get(cacheKey);
  if (cached !== undefined && cached.index === index && cached.version === version) {
    matchingCache.delete(cacheKey); // most recently used last
    matchingCache.set(cacheKey, cached);
    return cached;
  }
  const matchers = compileMatchers(selection.matchers);
  try {
    const ids = new Set<bigint>();
    let all = true;
    for (const sighting of index.streamSightings(tenant))
      if (matchers.matches(sighting.labels)) ids.add(sighting.id);
      else all = false;
    const matching: Matching = { index, version, ids, all: all && ids.size > 0 };
    remember(cacheKey, matching);
    return matching;
  } finally {
    matchers.close();
  }
}

interface Matching {
  index: BlockIndex;
  version: number;
  ids: Set<bigint>;
  all: boolean;
}

const matchingCache = new Map<string, Matching>();
let cachedIds = 0;

function remember(cacheKey: string, matching: Matching): void {
  const previous = matchingCache.get(cacheKey);
  if (previous !== undefined) {
    cachedIds -= previous.ids.size;
    matchingCache.delete(cacheKey);
  }
  if (matching.ids.size > indexLimits.matchingCacheIdsMax) return;
  matchingCache.set(cacheKey, matching);
  cachedIds += matching.ids.size;
  for (const [key, oldest] of matchingCache) {
    if (
      matchingCache.size <= indexLimits.matchingCacheEntriesMax &&
      cachedIds <= indexLimits.matchingCacheIdsMax
    )
      break;
    matchingCache.delete(key);
    cachedIds -= oldest.ids.size;
  }
}
