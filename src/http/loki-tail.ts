// The message `/loki/api/v1/tail` sends over its websocket, in Loki's shape (pkg/loghttp/tail.go,
// pkg/util/marshal/query.go's EncodeTailResult), so logcli and Grafana's live tail read it unchanged:
//   {"streams":[{"stream":{…},"values":[["<ns>","<line>"],…]},…],
//    "dropped_entries":[{"timestamp":"<ns>","labels":{…}}]}
// `streams` is always present; `dropped_entries` only when something was dropped. The route is
// loki-tail-route.ts.

import type { LabelSet, LogEntry } from "../model/stream.ts";

export interface DroppedTailEntry {
  readonly timestampNs: bigint;
  readonly labels: LabelSet;
}

/** One tail message: entries grouped into streams by label set, in the order they are given. */
export function formatTailMessage(
  entries: readonly Pick<LogEntry, "timestampNs" | "labels" | "line">[],
  dropped: readonly DroppedTailEntry[] = [],
): string {
  const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
  for (const entry of entries) {
    const key = JSON.stringify(entry.labels);
    let stream = streams.get(key);
    if (stream === undefined) {
      stream = { stream: Object.fromEntries(entry.labels), values: [] };
      streams.set(key, stream);
    }
    stream.values.push([String(entry.timestampNs), entry.line]);
  }
  const message: { streams: unknown[]; dropped_entries?: unknown[] } = { streams: [...streams.values()] };
  if (dropped.length > 0)
    message.dropped_entries = dropped.map((entry) => ({
      timestamp: String(entry.timestampNs),
      labels: Object.fromEntries(entry.labels),
    }));
  return JSON.stringify(message);
}
