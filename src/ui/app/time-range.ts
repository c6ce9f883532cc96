// Time ranges as the URL keeps them: `now`, `now-15m` (s, m, h, d, w), or an absolute RFC 3339 /
// ISO time. Relative ends are resolved when a query runs, so a shared link means "the last hour"
// wherever it is opened.

export interface TimeRange {
  from: string;
  to: string;
}

export const relativeRanges: { label: string; from: string }[] = [
  { label: "Last 5 minutes", from: "now-5m" },
  { label: "Last 15 minutes", from: "now-15m" },
  { label: "Last 1 hour", from: "now-1h" },
  { label: "Last 6 hours", from: "now-6h" },
  { label: "Last 24 hours", from: "now-24h" },
  { label: "Last 7 days", from: "now-7d" },
  { label: "Last 30 days", from: "now-30d" },
];

const unitMs: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds since the epoch for one end of a range, or null when the text is neither form. */
export function resolveTime(text: string, nowMs: number): number | null {
  const trimmed = text.trim();
  if (trimmed === "now") return nowMs;
  const relative = /^now-(\d+)([smhdw])$/.exec(trimmed);
  if (relative !== null) return nowMs - Number(relative[1]) * unitMs[relative[2]];
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const ms = Date.parse(trimmed);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

export interface ResolvedRange {
  startMs: number;
  endMs: number;
}

export function resolveRange(range: TimeRange, nowMs = Date.now()): ResolvedRange | string {
  const startMs = resolveTime(range.from, nowMs);
  if (startMs === null)
    return `invalid start time ${JSON.stringify(range.from)}: use now-1h or 2026-12-04T10:00:00Z`;
  const endMs = resolveTime(range.to, nowMs);
  if (endMs === null) return `invalid end time ${JSON.stringify(range.to)}: use now or 2026-12-04T11:00:00Z`;
  if (startMs >= endMs) return "the start of the range must be before its end";
  return { startMs, endMs };
}

export function describeRange(range: TimeRange): string {
  if (range.to === "now") {
    const known = relativeRanges.find((option) => option.from === range.from);
    if (known !== undefined) return known.label;
  }
  return `${range.from} to ${range.to}`;
}

export function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms)) * 1_000_000n;
}

/** A step that gives about `buckets` buckets over the range, rounded to a readable size. */
export function stepForRange(range: ResolvedRange, buckets = 80): number {
  const raw = (range.endMs - range.startMs) / 1000 / buckets;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  return steps.find((step) => step >= raw) ?? Math.ceil(raw / 86400) * 86400;
}

/** `2026-12-04 10:00:00.123` in local time, for a line's timestamp. */
export function formatTimestampNs(ns: string): string {
  const ms = Number(BigInt(ns) / 1_000_000n);
  const date = new Date(ms);
  const pad = (value: number, width = 2) => String(value).padStart(width, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}
