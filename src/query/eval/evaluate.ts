// TEMPORARY: replaced by branch eval-query at merge
// A stand-in evaluator with the real one's signature, so the executor's engine (src/query/exec)
// builds and is tested on its own: log queries without pipeline stages only.

import type { LogEntry } from "../../model/stream.ts";
import type { Query } from "../ast.ts";
import type { EntrySource } from "../source.ts";

export interface EvaluationParams {
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly limit: number;
  readonly direction: "forward" | "backward";
  readonly stepNs: bigint;
  readonly signal: AbortSignal;
}

export async function evaluateRange(
  query: Query,
  source: EntrySource,
  params: EvaluationParams,
): Promise<unknown> {
  if (query.kind !== "log" || query.pipeline.length > 0)
    throw new Error("the temporary evaluator answers log queries without pipeline stages only");
  const entries: LogEntry[] = [];
  for await (const entry of source.select({
    matchers: query.matchers,
    lineFilters: [],
    startNs: params.startNs,
    endNs: params.endNs,
    direction: params.direction,
    cutoffNs: () => null,
    signal: params.signal,
  }))
    entries.push(entry);
  const sign = params.direction === "forward" ? 1 : -1;
  entries.sort((a, b) => (a.timestampNs < b.timestampNs ? -sign : a.timestampNs > b.timestampNs ? sign : 0));
  const kept = entries.slice(0, params.limit);
  const streams = new Map<string, { stream: Record<string, string>; values: Array<[string, string]> }>();
  for (const entry of kept) {
    const key = JSON.stringify(entry.labels);
    let stream = streams.get(key);
    if (stream === undefined) {
      stream = { stream: Object.fromEntries(entry.labels), values: [] };
      streams.set(key, stream);
    }
    stream.values.push([String(entry.timestampNs), entry.line]);
  }
  return { resultType: "streams", result: [...streams.values()], stats: {} };
}

export interface InstantParams {
  readonly timeNs: bigint;
  readonly limit: number;
  readonly direction: "forward" | "backward";
  readonly signal: AbortSignal;
}

/** A log query at an instant: its entries up to and including `timeNs` (the stand-in's choice). */
export function evaluateInstant(query: Query, source: EntrySource, params: InstantParams): Promise<unknown> {
  return evaluateRange(query, source, { ...params, startNs: 0n, endNs: params.timeNs + 1n, stepNs: 0n });
}
