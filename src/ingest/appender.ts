// Where the pipeline's records go: a small interface so that a single node appends to its own
// partition log (logAppender) and cluster mode can later swap in one that forwards each partition
// to its owner. The pipeline hands over records grouped by partition and waits for durability.

import {
  InvalidRecordError,
  LogOverloadedError,
  type PartitionLog,
  type RecordSet,
  RecordTooLargeError,
} from "../log/index.ts";
import { IngestError, rejectReasons } from "./errors.ts";

export interface Appender {
  /** Appends each partition's records; resolves once every one is durable (fsync per --fsync). */
  append(routed: Map<number, RecordSet>): Promise<void>;
}

/**
 * An Appender over a local partition log. The log's refusals become IngestErrors (the pipeline
 * validates first, so these mean a limit of the log below one of the request, or a busy log).
 * `onAppended` gets the seconds an append took. Not itself async: a suspended async frame would keep
 * `routed` (and every record buffer in it) alive until the fsync.
 */
export function logAppender(log: PartitionLog, onAppended: (seconds: number) => void = () => {}): Appender {
  return {
    append(routed) {
      const startedMs = performance.now();
      const appends = Array.from(routed, ([partition, records]) => log.append(partition, records));
      return settle(Promise.all(appends), startedMs, onAppended);
    },
  };
}

async function settle(appends: Promise<unknown>, startedMs: number, onAppended: (s: number) => void) {
  try {
    await appends;
  } catch (error) {
    if (error instanceof RecordTooLargeError)
      throw new IngestError(rejectReasons.bodyTooLarge, error.message, { cause: error });
    if (error instanceof InvalidRecordError)
      throw new IngestError(rejectReasons.invalidEntry, error.message, { cause: error });
    if (error instanceof LogOverloadedError) {
      throw new IngestError(rejectReasons.storageOverloaded, "storage is busy, retry later", {
        retryAfterS: Math.max(1, Math.ceil(error.retryAfterMs / 1000)),
        cause: error,
      });
    }
    throw error;
  }
  onAppended((performance.now() - startedMs) / 1000);
}
