// The data directory's table of contents: every path Sluice keeps under --data-dir, in one place,
// so the server and the offline commands (aggregates rebuild) cannot disagree about it.

import path from "node:path";

export const topics = { serviceLogs: "logs", accessLogs: "access" } as const;
export type Topic = (typeof topics)[keyof typeof topics];

export const dataLayout = {
  /** Partition log of one topic: <data-dir>/topics/<topic>/ (src/log/FORMAT.md). */
  topicDirectory: (dataDir: string, topic: Topic) => path.join(dataDir, "topics", topic),
  /** The block index of topics/logs: summaries, stream registry, positions (src/index/FORMAT.md). */
  blockIndexDirectory: (dataDir: string) => path.join(dataDir, "index", topics.serviceLogs),
  /** The analytics aggregates and their consumer offsets (src/analytics/FORMAT.md). */
  aggregateStoreFile: (dataDir: string) => path.join(dataDir, "analytics", "aggregates.db"),
  /** This node's id, generated once. */
  nodeIdFile: (dataDir: string) => path.join(dataDir, "node-id"),
} as const;
