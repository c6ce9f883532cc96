// Event-time windows: a UTC minute, hour or day, identified by its start in Unix ms. An entry belongs
// to the window its receivedAt falls in, whenever it arrives (late entries included).

export const windowSizes = { minute: "minute", hour: "hour", day: "day" } as const;
export type WindowSize = (typeof windowSizes)[keyof typeof windowSizes];

export const windowSizeList: readonly WindowSize[] = [windowSizes.minute, windowSizes.hour, windowSizes.day];

export const windowLengthMs: Record<WindowSize, number> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

export function isWindowSize(value: string): value is WindowSize {
  return value === windowSizes.minute || value === windowSizes.hour || value === windowSizes.day;
}

/** Start (Unix ms) of the window of `size` that `timestampMs` falls in; UTC, negative times included. */
export function windowStartMs(size: WindowSize, timestampMs: number): number {
  const lengthMs = windowLengthMs[size];
  return Math.floor(timestampMs / lengthMs) * lengthMs;
}

/** "2025-12-28T18:03:00Z", the reference's windowStart (RFC 3339, whole seconds, UTC). */
export function formatWindowStart(startMs: number): string {
  return new Date(startMs).toISOString().replace(".000Z", "Z");
}
