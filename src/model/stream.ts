// The stream model: a stream is a tenant plus a label set, and every log line belongs to exactly
// one. The query stage matches stream selectors against label sets, the index records which streams
// a block holds, and the Loki API prints label sets; all of them use the types here so a label set
// means the same thing everywhere. How each ingest format maps onto streams: src/model/README.md.

/** One label. Names follow Prometheus (`[A-Za-z_][A-Za-z0-9_]*`); values are any UTF-8 text. */
export type Label = readonly [name: string, value: string];

/**
 * A label set: names unique and sorted by UTF-16 code unit order (JavaScript's default string
 * order), so two equal sets are equal element by element. Build one with `labelSet`.
 */
export type LabelSet = readonly Label[];

/** A label set from pairs in any order. A name given twice keeps its last value. */
export function labelSet(pairs: Iterable<readonly [string, string]>): LabelSet {
  const byName = new Map<string, string>();
  for (const [name, value] of pairs) byName.set(name, value);
  return [...byName].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The value of `name`, or "" when the set has no such label (as Prometheus and Loki treat it). */
export function labelValue(labels: LabelSet, name: string): string {
  for (const [n, v] of labels) if (n === name) return v;
  return "";
}

/** `{a="1", b="x\"y"}`: the form Loki and Prometheus print a label set in (Go %q quoting of values). */
export function formatLabels(labels: LabelSet): string {
  return `{${labels.map(([name, value]) => `${name}=${JSON.stringify(value)}`).join(", ")}}`;
}

/** One log line as the query stage sees it, whatever protocol brought it in. */
export interface LogEntry {
  /** Nanoseconds since the Unix epoch (Loki's precision; reference A's milliseconds × 1e6). */
  readonly timestampNs: bigint;
  /** The stream's labels. */
  readonly labels: LabelSet;
  /** The log line. */
  readonly line: string;
  /** Structured metadata (Loki's per-line labels that are not stream labels); often empty. */
  readonly metadata: LabelSet;
}
