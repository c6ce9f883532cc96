// `sluice query` and `sluice tail`: LogQL from the command line against a running Sluice, over the
// Loki API it serves (the way logcli talks to Loki), so the CLI sees exactly what Grafana sees and
// never needs the data dir (which the server holds locked).

import { parseArgs } from "node:util";

const queryHelp = `usage: sluice query '<logql>' [options]

Runs a LogQL query (log or metric) against a running Sluice and prints the result.

  --addr <url>         the server (default http://localhost:8080, env SLUICE_ADDR)
  --org-id <tenant>    X-Scope-OrgID (default: none, the server's default tenant)
  --from <time>        start: RFC 3339, Unix seconds or nanoseconds, or a duration ago (1h, 30m)
                       (default 1h)
  --to <time>          end, same forms, or "now" (default now)
  --limit <n>          most log lines to return (default 100)
  --direction <d>      backward (newest first, default) or forward
  --step <duration>    metric queries: resolution (e.g. 30s, 1m; default: the server's)
  --instant            metric queries: evaluate at --to only (/loki/api/v1/query)
  --output <o>         raw (lines only), jsonl (one JSON object per line or sample), table (default)
`;

const tailHelp = `usage: sluice tail '<selector and filters>' [options]

Follows new log lines as they are ingested (/loki/api/v1/tail) until interrupted.

  --addr <url>         the server (default http://localhost:8080, env SLUICE_ADDR)
  --org-id <tenant>    X-Scope-OrgID
  --from <time>        also print lines since this time first (default: only new lines)
  --limit <n>          most lines of the initial backlog (default 100)
  --output <o>         raw, jsonl or table (default)
`;

export const outputFormats = ["raw", "jsonl", "table"] as const;
export type OutputFormat = (typeof outputFormats)[number];

/** A usage mistake: printed with the help, exit 2. */
class UsageError extends Error {}

interface StreamResult {
  stream: Record<string, string>;
  values: [string, string][];
}
interface SeriesResult {
  metric: Record<string, string>;
  values?: [number, string][];
  value?: [number, string];
}
interface QueryData {
  resultType: "streams" | "matrix" | "vector" | "scalar";
  result: unknown;
}

const durationUnitsMs: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** A Prometheus-style duration (`1h30m`, `90s`, `250ms`) in milliseconds, or null. */
export function parseDurationMs(text: string): number | null {
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let totalMs = 0;
  let matched = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    totalMs += Number(match[1]) * durationUnitsMs[match[2]];
    matched = pattern.lastIndex;
  }
  return matched === text.length && text.length > 0 ? totalMs : null;
}

/**
 * A --from/--to value as the nanosecond string the Loki API takes: "now", a duration ago, RFC 3339,
 * or a number passed on as is (the server reads seconds or nanoseconds, as Loki does).
 */
export function resolveTime(text: string, nowMs: number): string {
  if (text === "now") return `${BigInt(nowMs) * 1_000_000n}`;
  if (/^\d+(\.\d+)?$/.test(text)) return text;
  const agoMs = parseDurationMs(text);
  if (agoMs !== null) return `${BigInt(Math.round(nowMs - agoMs)) * 1_000_000n}`;
  const parsedMs = Date.parse(text);
  if (Number.isNaN(parsedMs) || !/^\d{4}-\d\d-\d\d/.test(text))
    throw new UsageError(
      `cannot read the time ${JSON.stringify(text)}: use RFC 3339, Unix seconds or nanoseconds, "now" or a duration ago like 1h`,
    );
  // Keep the fraction below milliseconds that Date.parse drops.
  const fraction = /\.(\d+)/.exec(text.replace(/^[^T]*T/, ""))?.[1] ?? "";
  const subMsNs = fraction.length > 3 ? BigInt(fraction.slice(3, 9).padEnd(6, "0")) : 0n;
  return `${BigInt(parsedMs) * 1_000_000n + subMsNs}`;
}

function integer(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  return value;
}

function outputOf(text: string | undefined): OutputFormat {
  const output = text ?? "table";
  if (!(outputFormats as readonly string[]).includes(output))
    throw new UsageError(
      `--output must be one of ${outputFormats.join(", ")}, got ${JSON.stringify(output)}`,
    );
  return output as OutputFormat;
}

function addressOf(text: string | undefined): URL {
  const address = text ?? process.env.SLUICE_ADDR ?? "http://localhost:8080";
  try {
    const url = new URL(address);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http");
    return url;
  } catch {
    throw new UsageError(`--addr must be an http:// or https:// URL, got ${JSON.stringify(address)}`);
  }
}

const commonOptions = {
  addr: { type: "string" },
  "org-id": { type: "string" },
  from: { type: "string" },
  limit: { type: "string" },
  output: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function query(argv: readonly string[]): Promise<number> {
  return run("query", queryHelp, async () => {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        ...commonOptions,
        to: { type: "string" },
        direction: { type: "string" },
        step: { type: "string" },
        instant: { type: "boolean" },
      },
    });
    if (values.help) return help(queryHelp);
    const text = singleQuery(positionals);
    const nowMs = Date.now();
    const direction = values.direction ?? "backward";
    if (direction !== "backward" && direction !== "forward")
      throw new UsageError(`--direction must be backward or forward, got ${JSON.stringify(direction)}`);
    const output = outputOf(values.output);
    const params = new URLSearchParams({
      query: text,
      limit: String(integer("limit", values.limit, 100, 1)),
      direction,
    });
    const end = resolveTime(values.to ?? "now", nowMs);
    if (values.instant) params.set("time", end);
    else {
      params.set("start", resolveTime(values.from ?? "1h", nowMs));
      params.set("end", end);
      if (values.step !== undefined) {
        if (parseDurationMs(values.step) === null && !/^\d+(\.\d+)?$/.test(values.step))
          throw new UsageError(`--step must be a duration like 30s or a number of seconds`);
        params.set("step", values.step);
      }
    }
    const route = values.instant ? "/loki/api/v1/query" : "/loki/api/v1/query_range";
    const url = new URL(`${route}?${params}`, addressOf(values.addr));
    const body = (await request(url, values["org-id"])) as { data: QueryData };
    printResult(body.data, output, direction);
    return 0;
  });
}

export async function tail(argv: readonly string[]): Promise<number> {
  return run("tail", tailHelp, async () => {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: commonOptions,
    });
    if (values.help) return help(tailHelp);
    const text = singleQuery(positionals);
    const output = outputOf(values.output);
    const address = addressOf(values.addr);
    const params = new URLSearchParams({
      query: text,
      limit: String(integer("limit", values.limit, 100, 1)),
    });
    params.set("start", resolveTime(values.from ?? "0s", Date.now()));
    const url = new URL(`/loki/api/v1/tail?${params}`, address);
    url.protocol = address.protocol === "https:" ? "wss:" : "ws:";
    const headers: Record<string, string> = {};
    if (values["org-id"] !== undefined) headers["x-scope-orgid"] = values["org-id"];
    // Node's WebSocket (undici) takes headers through this non-standard option.
    const socket = new WebSocket(url, { headers } as unknown as string[]);
    return await new Promise<number>((resolve) => {
      let opened = false;
      const stop = () => socket.close(1000);
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      socket.addEventListener("open", () => {
        opened = true;
      });
      socket.addEventListener("message", (event) => {
        const message = JSON.parse(String(event.data)) as {
          streams?: StreamResult[];
          dropped_entries?: unknown[] | null;
        };
        printStreams(message.streams ?? [], output, "forward");
        if (message.dropped_entries?.length)
          process.stderr.write(`sluice tail: the server dropped ${message.dropped_entries.length} lines\n`);
      });
      socket.addEventListener("error", () => {
        if (!opened) process.stderr.write(`sluice tail: cannot open a tail at ${url.origin}\n`);
      });
      socket.addEventListener("close", (event) => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        if (event.code !== 1000 && event.code !== 1005 && opened)
          process.stderr.write(`sluice tail: the server closed the tail: ${event.reason || event.code}\n`);
        resolve(opened && (event.code === 1000 || event.code === 1005) ? 0 : 1);
      });
    });
  });
}

async function run(command: string, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`sluice ${command}: ${(error as Error).message}\n\n${usage}`);
      return 2;
    }
    if (error instanceof RequestError) {
      process.stderr.write(`sluice ${command}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

function help(text: string): number {
  process.stdout.write(text);
  return 0;
}

function singleQuery(positionals: string[]): string {
  if (positionals.length === 0) throw new UsageError("missing the query");
  if (positionals.length > 1)
    throw new UsageError(`one query expected, got ${positionals.length} arguments (quote the query)`);
  return positionals[0];
}

/** The server could not be reached or refused the request: its own message, exit 1. */
class RequestError extends Error {}

async function request(url: URL, orgId: string | undefined): Promise<unknown> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (orgId !== undefined) headers["x-scope-orgid"] = orgId;
  let response: Response;
  try {
    response = await fetch(url, { headers });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new RequestError(`cannot reach ${url.origin}: ${cause?.code ?? cause?.message ?? String(error)}`);
  }
  const text = await response.text();
  if (!response.ok) throw new RequestError(`${response.status} from the server: ${text.trim()}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new RequestError(`the server answered ${response.status} with a body that is not JSON`);
  }
}

function printResult(data: QueryData, output: OutputFormat, direction: "forward" | "backward"): void {
  switch (data.resultType) {
    case "streams":
      printStreams(data.result as StreamResult[], output, direction);
      return;
    case "matrix":
    case "vector":
      printSeries(data.result as SeriesResult[], output);
      return;
    case "scalar": {
      const [seconds, value] = data.result as [number, string];
      printSeries([{ metric: {}, value: [seconds, value] }], output);
      return;
    }
  }
}

/** Lines of every stream merged by time in the query's direction, as logcli prints them. */
export function printStreams(
  streams: StreamResult[],
  output: OutputFormat,
  direction: "forward" | "backward",
) {
  const lines: { ns: bigint; stream: Record<string, string>; line: string }[] = [];
  for (const { stream, values } of streams)
    for (const [ns, line] of values) lines.push({ ns: BigInt(ns), stream, line });
  lines.sort((a, b) => (a.ns === b.ns ? 0 : a.ns < b.ns === (direction === "forward") ? -1 : 1));
  let text = "";
  for (const { ns, stream, line } of lines) {
    if (output === "raw") text += `${line}\n`;
    else if (output === "jsonl")
      text += `${JSON.stringify({ timestamp: rfc3339Nano(ns), labels: stream, line })}\n`;
    else text += `${rfc3339Nano(ns)} ${formatLabelObject(stream)} ${line}\n`;
  }
  process.stdout.write(text);
}

function printSeries(series: SeriesResult[], output: OutputFormat): void {
  let text = "";
  for (const { metric, values, value } of series) {
    for (const [seconds, sample] of values ?? (value ? [value] : [])) {
      const time = new Date(seconds * 1000).toISOString();
      if (output === "raw") text += `${sample}\n`;
      else if (output === "jsonl") text += `${JSON.stringify({ timestamp: time, metric, value: sample })}\n`;
      else text += `${time} ${formatLabelObject(metric)} ${sample}\n`;
    }
  }
  process.stdout.write(text);
}

function formatLabelObject(labels: Record<string, string>): string {
  return `{${Object.entries(labels)
    .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
    .join(", ")}}`;
}

/** RFC 3339 with nanoseconds, trailing zeros of the fraction dropped (Go's RFC3339Nano). */
export function rfc3339Nano(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // …T12:34:56.789Z
  const fraction = `${iso.slice(20, 23)}${(ns % 1_000_000n).toString().padStart(6, "0")}`.replace(/0+$/, "");
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ""}Z`;
}
