// Reference B's end-to-end scenario (design.md): 64,000 unique GET entries dated 2025-12-28 for
// customer cus-axon, sent as 3,200 batches of 20 with keys batch-000001…, plus 2,000 repeats of
// earlier batches that must each get 409. The result: four minute windows 18:03–18:06 of 16,000
// entries, each with 4,000 per path and 4,000 per user-agent family. Shared by the scenario test,
// the crash test and the analytics benchmark.

import type { AccessLogEntry } from "./generator.ts";

export const scenarioCustomerId = "cus-axon";
export const scenarioPaths = ["/", "/about", "/careers", "/contact"] as const;
export const scenarioUserAgents = [
  [
    "Chrome",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
  ],
  ["Firefox", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"],
  ["Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"],
  ["curl", "curl/8.5.0"],
] as const;

export interface ScenarioBatch {
  key: string;
  entries: AccessLogEntry[];
}

export interface Scenario {
  customerId: string;
  batches: ScenarioBatch[];
  /** Keys of the batches sent again, each of which must be answered 409. */
  repeatKeys: string[];
  /** The expected minute documents, oldest first. */
  expectedMinutes: Array<{
    windowStart: string;
    requestsByPath: Record<string, number>;
    requestsByUserAgent: Record<string, number>;
  }>;
}

export function referenceScenario(
  options: { batchCount?: number; batchEntries?: number; repeatCount?: number } = {},
): Scenario {
  const batchCount = options.batchCount ?? 3200;
  const batchEntries = options.batchEntries ?? 20;
  const repeatCount = options.repeatCount ?? 2000;
  const windowCount = 4;
  const total = batchCount * batchEntries;
  if (total % (windowCount * 16) !== 0) throw new RangeError("entries must split evenly into windows");
  const perWindow = total / windowCount;
  const firstMinuteMs = Date.UTC(2025, 11, 28, 18, 3);
  // Entry i: window i / perWindow, spread evenly (and uniquely) over its minute; path i % 4, agent
  // (i / 4) % 4, so each window holds perWindow / 4 of each path and of each family.
  const entry = (index: number): AccessLogEntry => {
    const window = Math.floor(index / perWindow);
    const offsetMs = Math.floor(((index % perWindow) * 60_000) / perWindow);
    return {
      receivedAt: new Date(firstMinuteMs + window * 60_000 + offsetMs).toISOString(),
      method: "GET",
      path: scenarioPaths[index % 4],
      userAgent: scenarioUserAgents[Math.floor(index / 4) % 4][1],
    };
  };
  // Batch b holds entries b, b + batchCount, b + 2·batchCount, …: every batch spans all four minutes,
  // as real batches may (the windowing happens in aggregation, not at ingest).
  const batches: ScenarioBatch[] = [];
  for (let batch = 0; batch < batchCount; batch++) {
    const entries: AccessLogEntry[] = [];
    for (let slot = 0; slot < batchEntries; slot++) entries.push(entry(batch + slot * batchCount));
    batches.push({ key: `batch-${String(batch + 1).padStart(6, "0")}`, entries });
  }
  const quarter = perWindow / 4;
  const expectedMinutes = Array.from({ length: windowCount }, (_, window) => ({
    windowStart: new Date(firstMinuteMs + window * 60_000).toISOString().replace(".000Z", "Z"),
    requestsByPath: Object.fromEntries(scenarioPaths.map((path) => [`GET ${path}`, quarter])),
    requestsByUserAgent: Object.fromEntries(scenarioUserAgents.map(([family]) => [family, quarter])),
  }));
  return {
    customerId: scenarioCustomerId,
    batches,
    repeatKeys: batches.slice(0, Math.min(repeatCount, batchCount)).map((batch) => batch.key),
    expectedMinutes,
  };
}
