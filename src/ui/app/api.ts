// The HTTP API the UI reads: Loki's query routes, reference B's aggregates, Sluice's status. Every
// call carries the tenant the user picked (X-Scope-OrgID); a failure is an ApiError with the
// server's own message (Loki's plain text, reference B's JSON `message`).

import type { NodeStatus as ServerNodeStatus } from "../../node/status.ts";

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

const tenantStorageKey = "sluice.tenant";

export function currentTenant(): string {
  return localStorage.getItem(tenantStorageKey) ?? "";
}

export function setTenant(tenant: string): void {
  if (tenant === "") localStorage.removeItem(tenantStorageKey);
  else localStorage.setItem(tenantStorageKey, tenant);
}

function tenantHeaders(): Record<string, string> {
  const tenant = currentTenant();
  return tenant === "" ? {} : { "X-Scope-OrgID": tenant };
}

async function getJson<T>(
  url: string,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<T> {
  const response = await fetch(url, { headers: { accept: "application/json", ...headers }, signal });
  const text = await response.text();
  if (!response.ok)
    throw new ApiError(response.status, errorText(text) || `${response.status} ${response.statusText}`);
  return JSON.parse(text) as T;
}

function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // plain text, as Loki answers
  }
  return body.trim();
}

export interface LokiStream {
  stream: Record<string, string>;
  values: [string, string][];
}

export interface LokiSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

export type LokiData =
  | { resultType: "streams"; result: LokiStream[] }
  | { resultType: "matrix"; result: LokiSeries[] }
  | { resultType: "vector"; result: { metric: Record<string, string>; value: [number, string] }[] }
  | { resultType: "scalar"; result: [number, string] };

export interface RangeQuery {
  query: string;
  startNs: bigint;
  endNs: bigint;
  limit?: number;
  direction?: "backward" | "forward";
  stepS?: number;
}

export async function queryRange(request: RangeQuery, signal?: AbortSignal): Promise<LokiData> {
  const params = new URLSearchParams({
    query: request.query,
    start: String(request.startNs),
    end: String(request.endNs),
  });
  if (request.limit !== undefined) params.set("limit", String(request.limit));
  if (request.direction !== undefined) params.set("direction", request.direction);
  if (request.stepS !== undefined) params.set("step", String(request.stepS));
  const body = await getJson<{ status: string; data: LokiData }>(
    `/loki/api/v1/query_range?${params}`,
    tenantHeaders(),
    signal,
  );
  return body.data;
}

export async function labelNames(startNs: bigint, endNs: bigint): Promise<string[]> {
  const params = new URLSearchParams({ start: String(startNs), end: String(endNs) });
  const body = await getJson<{ data?: string[] }>(`/loki/api/v1/labels?${params}`, tenantHeaders());
  return body.data ?? [];
}

export async function labelValues(name: string, startNs: bigint, endNs: bigint): Promise<string[]> {
  const params = new URLSearchParams({ start: String(startNs), end: String(endNs) });
  const body = await getJson<{ data?: string[] }>(
    `/loki/api/v1/label/${encodeURIComponent(name)}/values?${params}`,
    tenantHeaders(),
  );
  return body.data ?? [];
}

export interface TailLine {
  labels: Record<string, string>;
  timestampNs: string;
  line: string;
}

/**
 * Opens /loki/api/v1/tail over a websocket. Browsers cannot set headers on a websocket, so the
 * tenant goes in the `orgId` query parameter (the tail route reads it when no header is sent).
 * Returns a function that closes it.
 */
export function tail(
  query: string,
  onLines: (lines: TailLine[]) => void,
  onState: (state: "open" | "closed", reason?: string) => void,
): () => void {
  const params = new URLSearchParams({ query, start: String(BigInt(Date.now()) * 1_000_000n) });
  const tenant = currentTenant();
  if (tenant !== "") params.set("orgId", tenant);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/loki/api/v1/tail?${params}`);
  let closedByUs = false;
  socket.onopen = () => onState("open");
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { streams?: LokiStream[] };
    const lines: TailLine[] = [];
    for (const stream of message.streams ?? [])
      for (const [timestampNs, line] of stream.values)
        lines.push({ labels: stream.stream, timestampNs, line });
    if (lines.length > 0) onLines(lines);
  };
  socket.onclose = (event) => {
    if (!closedByUs) onState("closed", event.reason || `connection closed (${event.code})`);
  };
  return () => {
    closedByUs = true;
    socket.close();
  };
}

export interface AggregateDocument {
  customerId: string;
  windowStart: string;
  windowSize: "minute" | "hour" | "day";
  requestsByPath: Record<string, number>;
  requestsByUserAgent: Record<string, number>;
}

export async function aggregates(
  customerId: string,
  windowSize: string,
  from: string,
  to: string,
): Promise<AggregateDocument[]> {
  const params = new URLSearchParams({ windowSize, limit: "1000" });
  if (from !== "") params.set("from", from);
  if (to !== "") params.set("to", to);
  return getJson<AggregateDocument[]>(`/v1/aggregates?${params}`, { "x-customer-id": customerId });
}

/** The server's own status type, with the phase ui-routes.ts adds. */
export type NodeStatus = ServerNodeStatus & { phase: string };

export async function nodeStatus(): Promise<NodeStatus> {
  return getJson<NodeStatus>("/api/v1/status");
}
