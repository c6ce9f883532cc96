// Public surface of the block index: which offset ranges of topics/logs a search must open, and the
// streams seen per tenant. Design, exactness argument and measurements: README.md.
export {
  BlockIndex,
  type BlockIndexOptions,
  type CandidateQuery,
  type CandidateRange,
  type IndexEvent,
} from "./block-index.ts";
export { indexedBlocks } from "./candidates.ts";
export {
  IndexError,
  IndexStoreConflictError,
  IndexStoreFormatError,
  IndexStoreIoError,
  indexErrorCodes,
} from "./errors.ts";
export { indexLimits } from "./limits.ts";
