// Client helpers for the analytics scenario tests: parallel POST /logs senders that record every
// answer, GET /v1/aggregates and /v1/aggregates/status readers that fail the test on anything but a
// well-formed 200, a bounded wait for the analytics consumer to catch up, and the sluice CLI run as a
// child process (for `sluice aggregates …`).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type {
  PartitionStatus,
  AggregateDocument as ServerAggregateDocument,
} from "../../src/analytics/index.ts";
import { type Reply, send } from "./http-client.ts";
import { sluiceEntry } from "./server.ts";

/** The reference's aggregate document as it arrives over HTTP (windowSize unchecked: tests check it). */
export type AggregateDocument = Omit<ServerAggregateDocument, "windowSize"> & { windowSize: string };

export interface AggregateStatus {
  lagRecords: number;
  lagSeconds: number;
  entriesCounted: number;
  pathsFolded: number;
  userAgentsFolded: number;
  windowKeysMax: number;
  partitions: PartitionStatus[];
}

export interface SentBatch {
  key: string;
  entries: readonly unknown[];
  /** Sends this batch as another customer than the call's. */
  customerId?: string;
}

/**
 * POSTs every batch to /logs from `senders` concurrent loops (each takes the next unsent batch) and
 * returns the replies in batch order. Network errors are returned as status 0 with the message.
 */
export async function postBatches(
  baseUrl: string,
  customerId: string,
  batches: readonly SentBatch[],
  senders = 2,
): Promise<Reply[]> {
  const replies: Reply[] = new Array(batches.length);
  let next = 0;
  const sender = async () => {
    while (next < batches.length) {
      const index = next++;
      const batch = batches[index];
      try {
        replies[index] = await send(`${baseUrl}/logs`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-customer-id": batch.customerId ?? customerId,
            "idempotency-key": batch.key,
          },
          body: JSON.stringify(batch.entries),
        });
      } catch (error) {
        replies[index] = { status: 0, headers: new Headers(), text: (error as Error).message };
      }
    }
  };
  await Promise.all(Array.from({ length: senders }, sender));
  return replies;
}

/**
 * Fails with the first few offenders unless `check` returns null for every reply. `check` returns a
 * description of what is wrong with one reply.
 */
export function assertEveryReply(
  replies: readonly Reply[],
  keys: readonly string[],
  check: (reply: Reply) => string | null,
  what: string,
): void {
  assert.equal(replies.length, keys.length);
  const problems: string[] = [];
  for (let index = 0; index < replies.length; index++) {
    const problem = check(replies[index]);
    if (problem !== null) problems.push(`${keys[index]}: ${problem}`);
  }
  assert.equal(
    problems.length,
    0,
    `${problems.length} of ${replies.length} ${what} were wrong, e.g.:\n${problems.slice(0, 5).join("\n")}`,
  );
}

/** null when `reply` is exactly reference B's error with this status, category, code and description. */
export function accessErrorProblem(
  reply: Reply,
  expected: { status: number; category: string; code: string; description: string },
): string | null {
  if (reply.status !== expected.status) return `status ${reply.status} ${reply.text}`;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(reply.text);
  } catch {
    return `not JSON: ${reply.text}`;
  }
  const requestId = reply.headers.get("x-request-id");
  const wanted = {
    requestId,
    errorCategory: expected.category,
    errorCode: expected.code,
    errorDescription: expected.description,
  };
  if (!requestId) return "no x-request-id header";
  if (JSON.stringify(body) !== JSON.stringify(wanted)) return `body ${reply.text}`;
  return null;
}

export function aggregatesUrl(baseUrl: string, query: Record<string, string | number> = {}): string {
  const search = new URLSearchParams(
    Object.entries(query).map(([name, value]): [string, string] => [name, String(value)]),
  );
  const text = search.toString();
  return `${baseUrl}/v1/aggregates${text === "" ? "" : `?${text}`}`;
}

/** GET /v1/aggregates for `customerId`; the raw reply (status, headers, body). */
export function queryAggregates(
  baseUrl: string,
  customerId: string | null,
  query: Record<string, string | number> = {},
  headers: Record<string, string> = {},
): Promise<Reply> {
  return send(aggregatesUrl(baseUrl, query), {
    headers: customerId === null ? headers : { "x-customer-id": customerId, ...headers },
  });
}

/** GET /v1/aggregates and parse it; fails unless it is a 200 JSON array. */
export async function aggregateDocuments(
  baseUrl: string,
  customerId: string,
  query: Record<string, string | number> = {},
): Promise<AggregateDocument[]> {
  const reply = await queryAggregates(baseUrl, customerId, query);
  assert.equal(reply.status, 200, `GET ${aggregatesUrl(baseUrl, query)}: ${reply.text}`);
  assert.match(reply.headers.get("content-type") ?? "", /^application\/json/);
  const parsed: unknown = JSON.parse(reply.text);
  assert.ok(Array.isArray(parsed), `not an array: ${reply.text.slice(0, 200)}`);
  return parsed as AggregateDocument[];
}

/** The minute, hour and day documents of one customer, over the whole time range. */
export async function allDocuments(
  baseUrl: string,
  customerId: string,
): Promise<Record<"minute" | "hour" | "day", AggregateDocument[]>> {
  return {
    minute: await aggregateDocuments(baseUrl, customerId, { windowSize: "minute" }),
    hour: await aggregateDocuments(baseUrl, customerId, { windowSize: "hour" }),
    day: await aggregateDocuments(baseUrl, customerId, { windowSize: "day" }),
  };
}

export async function aggregateStatus(baseUrl: string): Promise<AggregateStatus> {
  const reply = await send(`${baseUrl}/v1/aggregates/status`);
  assert.equal(reply.status, 200, `GET /v1/aggregates/status: ${reply.text}`);
  const status = JSON.parse(reply.text) as AggregateStatus;
  assertStatusConsistent(status);
  return status;
}

/**
 * The totals are the sums of the partitions', and each partition's lag is what its offsets say (true
 * while retention has deleted nothing unread, as in these tests).
 */
export function assertStatusConsistent(status: AggregateStatus): void {
  const text = JSON.stringify(status);
  const sum = (pick: (partition: AggregateStatus["partitions"][number]) => number) =>
    status.partitions.reduce((total, partition) => total + pick(partition), 0);
  for (const partition of status.partitions) {
    assert.ok(partition.committedOffset <= partition.endOffset, text);
    assert.equal(partition.lagRecords, partition.endOffset - partition.committedOffset, text);
    if (partition.lagRecords === 0) assert.equal(partition.lagSeconds, 0, text);
  }
  assert.equal(
    status.lagRecords,
    sum((partition) => partition.lagRecords),
    text,
  );
  assert.equal(
    status.lagSeconds,
    Math.max(0, ...status.partitions.map((partition) => partition.lagSeconds)),
    text,
  );
  assert.equal(
    status.entriesCounted,
    sum((partition) => partition.entriesCounted),
    text,
  );
  assert.equal(
    status.pathsFolded,
    sum((partition) => partition.pathsFolded),
    text,
  );
  assert.equal(
    status.userAgentsFolded,
    sum((partition) => partition.agentsFolded),
    text,
  );
}

/**
 * Polls /v1/aggregates/status until the consumer has no lag and has counted `entriesCounted`
 * entries; fails with the last status seen when that takes longer than `timeoutMs`.
 */
export async function waitForCaughtUp(
  baseUrl: string,
  entriesCounted: number,
  timeoutMs = 20_000,
): Promise<AggregateStatus> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const status = await aggregateStatus(baseUrl);
    if (status.lagRecords === 0 && status.entriesCounted >= entriesCounted) {
      assert.equal(status.entriesCounted, entriesCounted, "entries counted once caught up");
      return status;
    }
    if (performance.now() > deadline)
      assert.fail(
        `the analytics consumer did not catch up (lagRecords 0, entriesCounted ${entriesCounted}) within ${timeoutMs} ms; last status: ${JSON.stringify(status)}`,
      );
    await new Promise((wake) => setTimeout(wake, 50));
  }
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node src/cli/sluice.ts …args` to completion (killed after `timeoutMs`). */
export function runSluice(args: readonly string[], timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [sluiceEntry, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}
