// The derived-view mechanism (follow.ts) on a real PartitionLog in a temporary directory, with a
// small in-memory view: resuming at the committed position, a view that commits only sometimes and
// loses its uncommitted work to a failed step, the idle deadline on an injected clock, the log's
// start moving under retention, a store ahead of the log, and stop().

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, test } from "node:test";
import type { LogRecord } from "./batch.ts";
import {
  type DerivedView,
  type FollowEvent,
  type FollowStep,
  followPartitions,
  type LogOptions,
  PartitionLog,
} from "./index.ts";

const logs: PartitionLog[] = [];
const directories: string[] = [];
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function openLog(options: Partial<LogOptions> = {}): PartitionLog {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-follow-test-"));
  directories.push(directory);
  const log = PartitionLog.open({
    directory,
    partitionCount: 1,
    fsync: "interval",
    codec: "none",
    compressionThreads: 0,
    onEvent: () => {},
    ...options,
  });
  logs.push(log);
  return log;
}

function records(count: number, from = 0): LogRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    timestampMs: 1_700_000_000_000 + from + i,
    key: new TextEncoder().encode("k"),
    value: new TextEncoder().encode(`line ${from + i} ${"x".repeat(40)}`),
  }));
}

/** Resolves once `condition` holds, checked after every turn of the event loop (no wall clock). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A view over one partition: `committed` plays its store. It commits when `commitEvery` records
 * are uncommitted (1: every step) and, when asked, on idle().
 */
class CountingView implements DerivedView {
  committed: number;
  readonly commitEvery: number;
  uncommitted: number[] = [];
  /** Offsets of every record applied, in order, including re-reads after a failure. */
  readonly seen: number[] = [];
  readonly steps: FollowStep[] = [];
  readonly idleCalls: number[] = [];
  readonly rewinds: number[] = [];
  failNextApply = false;
  dueMs: number | null = null;

  constructor(committed: number, commitEvery: number) {
    this.committed = committed;
    this.commitEvery = commitEvery;
  }

  position(): number {
    return this.committed;
  }

  apply(step: FollowStep): void {
    this.steps.push(step);
    for (const record of step.records) {
      this.seen.push(record.offset);
      this.uncommitted.push(record.offset);
    }
    if (this.failNextApply) {
      this.failNextApply = false;
      throw new Error("apply failed");
    }
    if (this.uncommitted.length >= this.commitEvery) this.#commit(step.nextOffset);
  }

  rewind(_partition: number, logEndOffset: number): number {
    this.rewinds.push(logEndOffset);
    this.committed = logEndOffset;
    return logEndOffset;
  }

  idleDueMs(): number | null {
    return this.uncommitted.length > 0 ? this.dueMs : null;
  }

  idle(_partition: number, nowMs: number): void {
    this.idleCalls.push(nowMs);
    this.#commit(this.uncommitted[this.uncommitted.length - 1] + 1);
  }

  discard(): void {
    this.uncommitted = [];
  }

  #commit(offset: number): void {
    this.committed = offset;
    this.uncommitted = [];
  }
}

const options = { stepReadBytesMax: 64 * 1024, retryDelayMs: 0 };

test("a view resumes at its committed position and commits each step's end", async () => {
  const log = openLog();
  await log.append(0, records(10));
  const view = new CountingView(4, 1);
  const follower = followPartitions(log, view, options);
  await until(() => view.committed === 10);
  assert.deepEqual(view.seen, [4, 5, 6, 7, 8, 9]);
  assert.equal(view.steps[0].fromOffset, 4);
  await log.append(0, records(3, 10));
  await until(() => view.committed === 13);
  await follower.stop();

  // A new follower (a restart) starts where the first one committed.
  const restarted = new CountingView(view.committed, 1);
  await log.append(0, records(2, 13));
  const again = followPartitions(log, restarted, options);
  await until(() => restarted.committed === 15);
  assert.deepEqual(restarted.seen, [13, 14]);
  await again.stop();
});

test("a view that commits only sometimes reads past its position; a failed step resumes at the committed one", async () => {
  const log = openLog();
  const events: FollowEvent[] = [];
  const view = new CountingView(0, 5);
  const follower = followPartitions(log, view, { ...options, onEvent: (event) => events.push(event) });
  await log.append(0, records(3));
  await until(() => view.seen.length === 3);
  assert.equal(view.committed, 0, "three records are fewer than the view commits");
  assert.deepEqual(view.uncommitted, [0, 1, 2]);

  // The next step fails: what the view held uncommitted is dropped and read again from offset 0.
  view.failNextApply = true;
  await log.append(0, records(3, 3));
  await until(() => view.committed === 6);
  assert.deepEqual(view.seen, [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]);
  const failures = events.filter((event) => event.kind === "step-failed");
  assert.equal(failures.length, 1);
  assert.deepEqual(
    { ...failures[0], error: undefined },
    { kind: "step-failed", partition: 0, offset: 0, error: undefined },
  );
  await follower.stop();
});

test("idle() runs once caught up and past the view's deadline, on the injected clock", async () => {
  const log = openLog();
  let nowMs = 0;
  const view = new CountingView(0, 1_000);
  view.dueMs = 1_000;
  const follower = followPartitions(log, view, { ...options, clock: () => nowMs });
  await log.append(0, records(2));
  await until(() => view.seen.length === 2);
  nowMs = 500;
  await log.append(0, records(1, 2));
  await until(() => view.seen.length === 3);
  assert.deepEqual(view.idleCalls, [], "not due before 1,000 ms on the view's clock");
  assert.equal(view.committed, 0);

  // No new data: the loop wakes at its deadline (a timer), finds it due on the view's clock and seals.
  nowMs = 1_000;
  await until(() => view.idleCalls.length === 1);
  assert.deepEqual(view.idleCalls, [1_000]);
  assert.equal(view.committed, 3);
  assert.equal(view.steps[0].nowMs, 0, "a step carries the clock it was read at");
  await follower.stop();
});

test("retention moving the log's start is reported, and the view reads from the new start", async () => {
  const log = openLog({ segmentBytesMax: 4096, retentionBytes: 4096 });
  for (let i = 0; i < 10; i++) await log.append(0, records(20, i * 20));
  await log.maintain();
  const logStartOffset = log.partition(0).logStartOffset;
  assert.ok(logStartOffset > 0, "retention deleted the oldest segments");

  const events: FollowEvent[] = [];
  const view = new CountingView(0, 1);
  const follower = followPartitions(log, view, { ...options, onEvent: (event) => events.push(event) });
  await until(() => view.committed === 200);
  assert.deepEqual(
    events.filter((event) => event.kind === "records-expired"),
    [{ kind: "records-expired", partition: 0, fromOffset: 0, toOffset: logStartOffset }],
  );
  assert.equal(view.seen[0], logStartOffset);
  assert.equal(view.steps[0].logStartOffset, logStartOffset);
  await follower.stop();
});

test("a store ahead of the log is rewound to the log's end, loudly, before following", async () => {
  const log = openLog();
  await log.append(0, records(3));
  const events: FollowEvent[] = [];
  const view = new CountingView(50, 1);
  const follower = followPartitions(log, view, { ...options, onEvent: (event) => events.push(event) });
  assert.deepEqual(view.rewinds, [3]);
  assert.deepEqual(events, [{ kind: "store-ahead-of-log", partition: 0, storeOffset: 50, logEndOffset: 3 }]);
  await log.append(0, records(2, 3));
  await until(() => view.committed === 5);
  assert.deepEqual(view.seen, [3, 4], "the offsets the log lost are read when they are written again");
  await follower.stop();
});

test("stop() waits for the step in flight and ends every loop", async () => {
  const log = openLog({ partitionCount: 2 });
  let release = () => {};
  let applying = 0;
  let applied = 0;
  const view: DerivedView = {
    position: () => 0,
    rewind: (_partition, offset) => offset,
    apply: async () => {
      applying++;
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      applied++;
    },
  };
  const follower = followPartitions(log, view, options);
  await log.append(0, records(1));
  await until(() => applying === 1);
  let stopped = false;
  const stopping = follower.stop().then(() => {
    stopped = true;
  });
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(stopped, false, "stop() waits for the apply in flight");
  release();
  await stopping;
  assert.equal(applied, 1);
  // Partition 1 was waiting for data: stop() ended that loop too, and nothing follows any more.
  await log.append(1, records(1));
  await log.append(0, records(1, 1));
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(applying, 1);
});
