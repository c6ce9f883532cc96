// The load generator's engine: concurrent HTTP senders with an optional global rate, counting what
// was sent, acknowledged and rejected, and the latency of every request. Used by `sluice loadgen`
// and by the end-to-end benchmarks.

import http from "node:http";
import { protocolFormats, serviceLogBody } from "./bodies.ts";
import { AccessLogGenerator, ServiceLogGenerator } from "./generator.ts";

export type LoadFormat = keyof typeof protocolFormats;
export const loadFormats = Object.keys(protocolFormats) as LoadFormat[];

export const defaultPaths = Object.fromEntries(
  loadFormats.map((format) => [format, protocolFormats[format].path]),
) as Record<LoadFormat, string>;

export interface LoadOptions {
  url: string;
  format: LoadFormat;
  batch: number;
  /** Records to send; ignored when durationS > 0. */
  total: number;
  durationS: number;
  delayMs: number;
  concurrency: number;
  /** Records per second over all senders; 0 sends as fast as answers come back. */
  rate: number;
  tenant: string | null;
  /** Spread batches over this many tenants (<tenant>-0 … <tenant>-N-1), so they land on several
   * partitions; 1 (the default) sends everything as <tenant>. */
  tenants?: number;
  /** Build this many distinct bodies up front and cycle through them (0: a fresh body per request). */
  prebuiltBodies: number;
  seed: number;
  onProgress?: (progress: LoadProgress) => void;
}

export interface LoadProgress {
  recordsSent: number;
  recordsAcknowledged: number;
  elapsedS: number;
  fraction: number;
}

export interface LoadSummary {
  requests: number;
  recordsSent: number;
  recordsAcknowledged: number;
  recordsRejected: number;
  statusCounts: Record<string, number>;
  bytesSent: number;
  elapsedS: number;
  latenciesMs: number[];
  errors: string[];
}

interface Body {
  bytes: Buffer;
  records: number;
}

function bodyBuilder(options: LoadOptions): () => Body {
  const services = new ServiceLogGenerator({ seed: options.seed, startTimestampMs: Date.now() });
  const access = new AccessLogGenerator({ seed: options.seed, startTimestampMs: Date.now() });
  const build = (): Body => {
    if (options.format === "access")
      return { bytes: Buffer.from(JSON.stringify(access.batch(options.batch))), records: options.batch };
    const logs = services.batch(options.batch);
    return { bytes: serviceLogBody(options.format, logs), records: logs.length };
  };
  if (options.prebuiltBodies <= 0) return build;
  const bodies = Array.from({ length: options.prebuiltBodies }, build);
  let next = 0;
  return () => bodies[next++ % bodies.length];
}

function post(agent: http.Agent, url: URL, headers: Record<string, string>, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: "POST", agent, headers: { ...headers, "content-length": String(body.length) } },
      (response) => {
        response.resume(); // the body is not needed; drain it so the socket is reused
        response.once("end", () => resolve(response.statusCode ?? 0));
        response.once("error", reject);
      },
    );
    request.once("error", reject);
    request.end(body);
  });
}

export async function runLoad(options: LoadOptions): Promise<LoadSummary> {
  const url = new URL(options.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const nextBody = bodyBuilder(options);
  const runId = Date.now().toString(36);
  const summary: LoadSummary = {
    requests: 0,
    recordsSent: 0,
    recordsAcknowledged: 0,
    recordsRejected: 0,
    statusCounts: {},
    bytesSent: 0,
    elapsedS: 0,
    latenciesMs: [],
    errors: [],
  };
  const startedMs = performance.now();
  const deadlineMs = options.durationS > 0 ? startedMs + options.durationS * 1000 : Number.POSITIVE_INFINITY;
  let recordsClaimed = 0;
  let batchNumber = 0;
  let nextSendMs = startedMs;
  const progressTimer = options.onProgress
    ? setInterval(() => options.onProgress!(progressOf(summary, options, startedMs)), 200)
    : null;
  const sender = async () => {
    for (;;) {
      const nowMs = performance.now();
      if (nowMs >= deadlineMs) return;
      if (options.durationS <= 0 && recordsClaimed >= options.total) return;
      const body = nextBody();
      recordsClaimed += body.records;
      const number = ++batchNumber;
      if (options.rate > 0) {
        // Each batch gets the next free slot of the global schedule; senders sleep until theirs.
        const slotMs = Math.max(nextSendMs, nowMs);
        nextSendMs = slotMs + (body.records / options.rate) * 1000;
        if (slotMs > nowMs) await new Promise((resolve) => setTimeout(resolve, slotMs - nowMs));
      }
      const headers: Record<string, string> = { "content-type": protocolFormats[options.format].contentType };
      const tenantCount = options.tenants ?? 1;
      const baseTenant = options.tenant ?? (options.format === "access" ? "cus-loadgen" : null);
      const tenant = tenantCount > 1 ? `${baseTenant ?? "tenant"}-${number % tenantCount}` : baseTenant;
      if (options.format === "access") {
        headers["x-customer-id"] = tenant!;
        headers["idempotency-key"] = `loadgen-${runId}-${String(number).padStart(9, "0")}`;
      } else if (tenant) headers["x-scope-orgid"] = tenant;
      const sentMs = performance.now();
      let status: number;
      try {
        status = await post(agent, url, headers, body.bytes);
      } catch (error) {
        status = 0;
        if (summary.errors.length < 10) summary.errors.push(String(error));
      }
      summary.latenciesMs.push(performance.now() - sentMs);
      summary.requests++;
      summary.recordsSent += body.records;
      summary.bytesSent += body.bytes.length;
      summary.statusCounts[String(status)] = (summary.statusCounts[String(status)] ?? 0) + 1;
      if (status >= 200 && status < 300) summary.recordsAcknowledged += body.records;
      else summary.recordsRejected += body.records;
      if (options.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, sender));
  if (progressTimer) clearInterval(progressTimer);
  summary.elapsedS = (performance.now() - startedMs) / 1000;
  options.onProgress?.(progressOf(summary, options, startedMs));
  agent.destroy();
  return summary;
}

function progressOf(summary: LoadSummary, options: LoadOptions, startedMs: number): LoadProgress {
  const elapsedS = (performance.now() - startedMs) / 1000;
  const fraction =
    options.durationS > 0 ? elapsedS / options.durationS : summary.recordsSent / Math.max(1, options.total);
  return {
    recordsSent: summary.recordsSent,
    recordsAcknowledged: summary.recordsAcknowledged,
    elapsedS,
    fraction: Math.min(1, fraction),
  };
}

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))];
}

/** The one-line summary printed at the end of a run. */
export function formatSummary(summary: LoadSummary): string {
  const sorted = [...summary.latenciesMs].sort((a, b) => a - b);
  const ms = (fraction: number) => percentile(sorted, fraction).toFixed(1);
  const statuses = Object.entries(summary.statusCounts)
    .map(([status, count]) => `${status === "0" ? "error" : status}:${count}`)
    .join(",");
  return [
    `records sent=${summary.recordsSent} acknowledged=${summary.recordsAcknowledged} rejected=${summary.recordsRejected}`,
    `requests=${summary.requests} status=${statuses || "none"}`,
    `records/s=${Math.round(summary.recordsAcknowledged / Math.max(summary.elapsedS, 1e-9))}`,
    `MB/s=${(summary.bytesSent / Math.max(summary.elapsedS, 1e-9) / 1e6).toFixed(1)}`,
    `latency p50=${ms(0.5)}ms p90=${ms(0.9)}ms p99=${ms(0.99)}ms max=${(sorted.at(-1) ?? Number.NaN).toFixed(1)}ms`,
    `elapsed=${summary.elapsedS.toFixed(1)}s`,
  ].join("  ");
}
