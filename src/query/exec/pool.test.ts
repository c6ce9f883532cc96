// The query pool (pool.ts, query-worker.ts) over a real partition log: it answers exactly what the
// main-thread engine answers, also with candidate ranges and the query's own errors; an abort stops
// the worker's scan (the task rejects with the reason, the same thread takes the next task); a
// worker that dies fails only its task; a full queue refuses; every snapshot fd is given back.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { enrichAndRoute } from "../../ingest/index.ts";
import { ServiceLogGenerator } from "../../loadgen/index.ts";
import { PartitionLog } from "../../log/index.ts";
import { QueryExecutionError, QuerySyntaxError } from "../errors.ts";
import type { LokiResultData } from "../eval/result.ts";
import { QueryEngine } from "./engine.ts";
import { QueryPoolError, QueryTimeoutError, queryPoolErrorCodes } from "./errors.ts";
import type { CandidateBlocks } from "./log-source.ts";
import { QueryPool } from "./pool.ts";

const partitionCount = 4;
const startMs = Date.UTC(2026, 0, 1);
const entryCount = 12_000;
let directory = "";
let log: PartitionLog;

before(async () => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-pool-test-"));
  log = PartitionLog.open({
    directory,
    partitionCount,
    fsync: "interval",
    segmentBytesMax: 64 * 1024,
    onEvent: () => {},
  });
  const generator = new ServiceLogGenerator({ seed: 11, startTimestampMs: startMs });
  const enrichment = { receivedAtMs: 1, clientIp: "10.0.0.1", nodeId: "node-a" };
  for (let i = 0; i < entryCount; i += 300) {
    const tenant = i % 1500 === 0 ? "other" : "t";
    for (const [partition, columns] of enrichAndRoute(
      generator.batch(300),
      enrichment,
      tenant,
      partitionCount,
    ))
      await log.append(partition, columns);
  }
  await log.partition(0).compact(); // compacted and uncompacted segments both
});

after(async () => {
  await log.close();
  fs.rmSync(directory, { recursive: true, force: true });
});

const endMs = startMs + entryCount * 500;
const ns = (ms: number) => BigInt(ms) * 1_000_000n;
const range = (overrides: Partial<{ limit: number; direction: "forward" | "backward" }> = {}) => ({
  startNs: ns(startMs),
  endNs: ns(endMs),
  limit: 100,
  direction: "backward" as const,
  stepNs: 60_000_000_000n,
  ...overrides,
});

/** What must match: the answer without its timing stats. */
function answer(data: LokiResultData) {
  return { resultType: data.resultType, result: data.result };
}

/** Open fds of the log's files (the fd LRU's and snapshots'; threads' own fds do not count). */
function openFdCount(): number {
  let count = 0;
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(directory)) count++;
    } catch {
      // closed between the listing and the readlink (the listing's own fd)
    }
  }
  return count;
}

const rangeQueries: Array<[string, ReturnType<typeof range>]> = [
  ['{service="auth_service"}', range()],
  ['{service="auth_service"}', range({ direction: "forward", limit: 37 })],
  ['{service=~".+"} |= "focus"', range({ limit: 500 })],
  ['{service=~".+"} |~ "user [0-9a-f]+" != "snoozed"', range({ direction: "forward", limit: 1000 })],
  ['{level="ERROR"}', range({ limit: 5000 })],
  ['sum by (service) (count_over_time({service=~".+"}[5m]))', range()],
  ['rate({service="auth_service"} |= "login" [1m])', range()],
  ['topk(2, sum by (level) (bytes_over_time({service=~".+"}[10m])))', range()],
  [
    'sum(count_over_time({service="event_creator"}[2m])) / sum(count_over_time({service=~".+"}[2m]))',
    range(),
  ],
];

describe("the query pool", () => {
  test("answers exactly what the main-thread engine answers, and gives every fd back", async () => {
    const pool = new QueryPool({ threads: 2 });
    try {
      const main = new QueryEngine({ log });
      const pooled = new QueryEngine({ log, pool });
      const expected = [];
      for (const [text, params] of rangeQueries) expected.push(answer(await main.query("t", text, params)));
      const instantText = 'sum by (service) (count_over_time({service=~".+"}[30m]))';
      const instant = { timeNs: ns(startMs + 3_600_000), limit: 100, direction: "backward" as const };
      const expectedInstant = answer(await main.instantQuery("t", instantText, instant));
      const fdsBefore = openFdCount();
      // Concurrently: both threads busy and the queue in use.
      const actual = await Promise.all(rangeQueries.map(([text, params]) => pooled.query("t", text, params)));
      for (let i = 0; i < rangeQueries.length; i++)
        assert.deepEqual(answer(actual[i]), expected[i], rangeQueries[i][0]);
      assert.ok(
        expected.every((data) => data.result.length > 0),
        "every query answers something",
      );
      assert.deepEqual(answer(await pooled.instantQuery("t", instantText, instant)), expectedInstant);
      assert.equal(openFdCount(), fdsBefore, "every snapshot fd is closed");
      assert.equal(pool.running, 0);
    } finally {
      await pool.close();
    }
  });

  test("with candidate ranges from a blocks hook, and the query's errors, as on the main thread", async () => {
    const pool = new QueryPool({ threads: 1 });
    try {
      // Two ranges per partition, split at the middle: the scan reads exactly these.
      const blocks: CandidateBlocks = (partition) => {
        const end = log.partition(partition).endOffset;
        const middle = Math.floor(end / 2);
        return [
          { fromOffset: 0, toOffset: middle },
          { fromOffset: middle + 10, toOffset: end },
        ];
      };
      const main = new QueryEngine({ log, blocks: () => blocks });
      const pooled = new QueryEngine({ log, blocks: () => blocks, pool });
      for (const [text, params] of rangeQueries.slice(0, 6)) {
        assert.deepEqual(
          answer(await pooled.query("t", text, params)),
          answer(await main.query("t", text, params)),
          text,
        );
      }
      // A budget error thrown by the evaluator in the worker arrives as the same class and code.
      const tight = { seriesMax: 1 };
      const text = 'sum by (service) (count_over_time({service=~".+"}[5m]))';
      const mainError = await new QueryEngine({ log, budget: tight })
        .query("t", text, range())
        .catch((e) => e);
      const poolError = await new QueryEngine({ log, budget: tight, pool })
        .query("t", text, range())
        .catch((e) => e);
      assert.ok(mainError instanceof QueryExecutionError);
      assert.ok(poolError instanceof QueryExecutionError, String(poolError));
      assert.equal(poolError.code, mainError.code);
      assert.equal(poolError.message, mainError.message);
      // A parse error never reaches the pool.
      await assert.rejects(pooled.query("t", "{service=", range()), QuerySyntaxError);
    } finally {
      await pool.close();
    }
  });

  test("an abort stops the worker's scan: the task rejects with the reason, the thread takes the next task", async () => {
    // A long grace: the worker must stop because it saw the flag, not because it was terminated.
    const pool = new QueryPool({ threads: 1, abortGraceMs: 600_000 });
    try {
      const controller = new AbortController();
      const reason = new Error("client went away");
      let prepared = 0;
      const blocks: CandidateBlocks = (partition) => {
        // Called on the main thread as the worker starts a selection's scan: abort once it reads.
        if (prepared++ === 0) setImmediate(() => controller.abort(reason));
        return [{ fromOffset: 0, toOffset: log.partition(partition).endOffset }];
      };
      const engine = new QueryEngine({ log, blocks: () => blocks, pool, limits: { readStepBytes: 1 } });
      const started = pool.workersStarted;
      await assert.rejects(
        engine.query("t", '{service=~".+"} |= "no such line anywhere"', {
          ...range(),
          signal: controller.signal,
        }),
        (error) => error === reason,
      );
      // The next task runs on the same thread once it has let go of the aborted one.
      const main = new QueryEngine({ log });
      const next = await engine.query("t", '{service="auth_service"}', range());
      assert.deepEqual(answer(next), answer(await main.query("t", '{service="auth_service"}', range())));
      assert.equal(pool.workersStarted, started, "no thread was terminated or replaced");
      assert.equal(pool.running, 0);
    } finally {
      await pool.close();
    }
  });

  test("a time budget that runs out in the pool is the engine's QueryTimeoutError", async () => {
    const pool = new QueryPool({ threads: 1 });
    try {
      const engine = new QueryEngine({ log, pool, limits: { queryTimeoutMs: 1, readStepBytes: 1 } });
      await assert.rejects(engine.query("t", '{service=~".+"} |= "nothing"', range()), QueryTimeoutError);
      const next = await new QueryEngine({ log, pool }).query("t", '{service="auth_service"}', range());
      assert.equal(next.result.length > 0, true);
    } finally {
      await pool.close();
    }
  });

  for (const how of ["crash", "terminate"] as const) {
    test(`a worker that dies (${how}) fails only its task and is replaced`, async () => {
      const pool = new QueryPool({ threads: 2 });
      try {
        let prepared = 0;
        const blocks: CandidateBlocks = (partition) => {
          if (prepared++ === 0) {
            if (how === "crash") pool.crashBusyWorkerForTest();
            else void pool.terminateBusyWorkerForTest();
          }
          return [{ fromOffset: 0, toOffset: log.partition(partition).endOffset }];
        };
        const engine = new QueryEngine({ log, blocks: () => blocks, pool, limits: { readStepBytes: 1 } });
        const main = new QueryEngine({ log });
        const text = 'sum by (service) (count_over_time({service=~".+"}[5m]))';
        const expected = answer(await main.query("t", text, range()));
        const started = pool.workersStarted;
        const fdsBefore = openFdCount();
        const failed = engine.query("t", '{service=~".+"} |= "nothing"', range());
        await assert.rejects(
          failed,
          (error) => error instanceof QueryPoolError && error.code === queryPoolErrorCodes.workerFailed,
        );
        const results = await Promise.all([
          engine.query("t", text, range()),
          engine.query("t", text, range()),
        ]);
        for (const result of results) assert.deepEqual(answer(result), expected);
        assert.equal(pool.workersStarted, started + 1, "one thread replaced");
        assert.equal(openFdCount(), fdsBefore, "the dead worker's snapshots were released");
      } finally {
        await pool.close();
      }
    });
  }

  test("a full queue refuses at once; a closed pool refuses", async () => {
    const pool = new QueryPool({ threads: 1, queueMax: 1 });
    const engine = new QueryEngine({ log, pool });
    const main = new QueryEngine({ log });
    const text = '{service="auth_service"}';
    const running = engine.query("t", text, range());
    const queued = engine.query("t", text, range());
    await assert.rejects(
      engine.query("t", text, range()),
      (error) => error instanceof QueryPoolError && error.code === queryPoolErrorCodes.full,
    );
    const expected = answer(await main.query("t", text, range()));
    assert.deepEqual(answer(await running), expected);
    assert.deepEqual(answer(await queued), expected);
    await pool.close();
    await assert.rejects(
      engine.query("t", text, range()),
      (error) => error instanceof QueryPoolError && error.code === queryPoolErrorCodes.closed,
    );
  });
});
