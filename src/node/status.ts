// The shape of a node's status (SluiceNode.status(), GET /api/v1/status). A file of types alone,
// with no imports, so the web UI (src/ui/app/api.ts) type-checks against the very same shape.

/** What GET /api/v1/status shows (the UI's status page): one node's logs, derived views and disk. */
export interface NodeStatus {
  nodeId: string;
  uptimeS: number;
  build: { version: string; node: string };
  /** Records appended to both logs since this process started (the UI derives a rate from two reads). */
  appendedRecords: number;
  appendedBytes: number;
  /** Bytes of every file under the data dir: logs, indexes, aggregates. */
  diskBytes: number;
  topics: {
    topic: string;
    partitions: {
      partition: number;
      bytes: number;
      segments: number;
      startOffset: number;
      endOffset: number;
    }[];
  }[];
  /** Null when --search-index is off. */
  index:
    | { partition: number; indexedTo: number; committedEnd: number; lagRecords: number; bytes: number }[]
    | null;
  analytics: { partition: number; lagRecords: number; lagSeconds: number }[];
}
