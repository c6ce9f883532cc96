// The analytics stage under kill -9: reference B's scenario (3,200 batches of 20 entries for
// cus-axon) is sent by two senders while the server is SIGKILLed at seeded random moments and once
// right after the last batch is acknowledged, each time restarted on the same data dir. Interrupted
// requests are resent to the restarted server and must end in 202, or 409 on a resend. Afterwards
// the aggregates must equal the expected windows exactly: no entry lost, none counted twice.
//
// Whether a kill during the sending lands while the consumer is behind depends on timing (it steps
// at most every analyticsLimits.stepIntervalMinMs), so phase 1 records it for each kill but does not
// rely on it. To kill the consumer mid catch-up for certain, phase 2 rolls the aggregate store back
// to the copy taken at the first kill (what an OS crash may do to the store's newest commits,
// src/analytics/FORMAT.md "Durability"), restarts, reads /v1/aggregates/status once and kills at
// once. That must have happened while behind — the status showed a lag and the store the kill left
// is short of the log's end — in one of up to 4 attempts; then the final counts must be exact again.
//
// After every kill the store is read (from a copy, so the server's own crash recovery still runs) to
// check that the offset and the counts were committed together: entries counted = 20 × records
// consumed, every window size and dimension sums to it, and no record beyond the log's end counts.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { referenceScenario, seededRandom } from "../src/loadgen/index.ts";
import type { AggregateDocument, AggregateStatus } from "./support/scenario-client.ts";
import { type ServerProcess, startServerProcess, temporaryDataDir } from "./support/server.ts";

const seed = Number(process.env.SLUICE_CRASH_SEED ?? 20251228);
const senderCount = 2;
const randomKills = 5;
const requestTimeoutMs = 15_000;
const catchUpWaitMs = 30_000;
const catchUpAttemptsMax = 4;

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(requestTimeoutMs) });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${url}: ${text}`);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/, `GET ${url}`);
  return JSON.parse(text) as T;
}

function getStatus(server: ServerProcess): Promise<AggregateStatus> {
  return getJson<AggregateStatus>(`${server.url}/v1/aggregates/status`);
}

const logEnd = (status: AggregateStatus) =>
  status.partitions.reduce((total, partition) => total + partition.endOffset, 0);

/** What the store on disk holds, summed over partitions (only cus-axon's partition has records). */
interface StoreState {
  nextOffset: number;
  entriesCounted: number;
  /** Sum of the counts of cus-axon per "size/dimension" (dimension 0 = path, 1 = user agent). */
  sums: Record<string, number>;
}

const storeFile = (dataDir: string) => path.join(dataDir, "analytics", "aggregates.db");

/**
 * Reads the aggregate store of a dead server from a copy of its file and WAL, so the data dir stays
 * exactly as the crash left it for the next server's recovery.
 */
function readStore(dataDir: string): StoreState {
  const copyDir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-store-copy-"));
  try {
    const copy = path.join(copyDir, "aggregates.db");
    assert.ok(fs.existsSync(storeFile(dataDir)), "no aggregate store after the kill");
    for (const suffix of ["", "-wal"])
      if (fs.existsSync(storeFile(dataDir) + suffix))
        fs.copyFileSync(storeFile(dataDir) + suffix, copy + suffix);
    return readStoreFile(copy);
  } finally {
    fs.rmSync(copyDir, { recursive: true, force: true });
  }
}

function readStoreFile(file: string): StoreState {
  const db = new DatabaseSync(file);
  try {
    const consumer = db
      .prepare(
        "SELECT coalesce(sum(next_offset), 0) AS offset, coalesce(sum(entries_counted), 0) AS entries FROM consumer",
      )
      .get() as { offset: number; entries: number };
    const sums: Record<string, number> = {};
    for (const size of ["minute", "hour", "day"])
      for (const dimension of [0, 1]) sums[`${size}/${dimension}`] = 0;
    const rows = db
      .prepare(
        "SELECT size, dimension, sum(count) AS total FROM counts WHERE customer = ? GROUP BY size, dimension",
      )
      .all("cus-axon") as Array<{ size: string; dimension: number; total: number }>;
    for (const row of rows) sums[`${row.size}/${row.dimension}`] = row.total;
    return { nextOffset: consumer.offset, entriesCounted: consumer.entries, sums };
  } finally {
    db.close();
  }
}

/** Offset and counts were committed together: every consumed record's 20 entries, in every window. */
function assertStoreConsistent(state: StoreState, entriesPerBatch: number, label: string): void {
  assert.equal(
    state.entriesCounted,
    state.nextOffset * entriesPerBatch,
    `${label}: store counted ${state.entriesCounted} entries for ${state.nextOffset} records consumed`,
  );
  for (const [key, total] of Object.entries(state.sums))
    assert.equal(
      total,
      state.entriesCounted,
      `${label}: ${key} counts sum to ${total}, expected ${state.entriesCounted}`,
    );
}

test("analytics counts every acknowledged entry exactly once across repeated kill -9", {
  timeout: 180_000,
}, async (t) => {
  const scenario = referenceScenario();
  const { batches, customerId, expectedMinutes } = scenario;
  const entriesPerBatch = batches[0].entries.length;
  const totalEntries = batches.length * entriesPerBatch;
  assert.equal(batches.length, 3200);
  assert.equal(totalEntries, 64_000);
  const bodies = batches.map((batch) => JSON.stringify(batch.entries));

  // Expected documents: the scenario's minutes; the hour and the day hold all of them.
  const expectedMinuteDocuments: AggregateDocument[] = expectedMinutes.map((minute) => ({
    customerId,
    windowSize: "minute",
    ...minute,
  }));
  const addUp = (pick: (minute: (typeof expectedMinutes)[number]) => Record<string, number>) => {
    const total: Record<string, number> = {};
    for (const minute of expectedMinutes)
      for (const [key, count] of Object.entries(pick(minute))) total[key] = (total[key] ?? 0) + count;
    return total;
  };
  const whole = (windowSize: string, windowStart: string): AggregateDocument => ({
    customerId,
    windowStart,
    windowSize,
    requestsByPath: addUp((minute) => minute.requestsByPath),
    requestsByUserAgent: addUp((minute) => minute.requestsByUserAgent),
  });
  const expectedHour = whole("hour", "2025-12-28T18:00:00Z");
  const expectedDay = whole("day", "2025-12-28T00:00:00Z");
  const sumOf = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  assert.equal(expectedMinuteDocuments.length, 4);
  assert.equal(sumOf(expectedHour.requestsByPath), totalEntries);

  const verifyEndState = async (server: ServerProcess, label: string): Promise<number> => {
    const startedMs = performance.now();
    let status = await getStatus(server);
    while (status.lagRecords !== 0) {
      assert.ok(
        performance.now() - startedMs < catchUpWaitMs,
        `${label}: the analytics consumer did not catch up within ${catchUpWaitMs} ms: ${JSON.stringify(status)}`,
      );
      await sleep(25);
      status = await getStatus(server);
    }
    const catchUpMs = performance.now() - startedMs;
    assert.equal(
      logEnd(status),
      batches.length,
      `${label}: the access log must hold each batch exactly once`,
    );
    assert.equal(
      status.partitions.reduce((total, partition) => total + partition.committedOffset, 0),
      batches.length,
      `${label}: committed offsets`,
    );
    assert.equal(status.entriesCounted, totalEntries, `${label}: status entriesCounted`);
    assert.equal(status.pathsFolded, 0, `${label}: pathsFolded`);
    assert.equal(status.userAgentsFolded, 0, `${label}: userAgentsFolded`);
    const query = (windowSize: string) =>
      getJson<AggregateDocument[]>(
        `${server.url}/v1/aggregates?${new URLSearchParams({ windowSize, from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z" })}`,
        { "x-customer-id": customerId },
      );
    const minutes = await query("minute");
    assert.deepEqual(
      minutes.map((document) => document.windowStart),
      expectedMinuteDocuments.map((document) => document.windowStart),
      `${label}: minute windows`,
    );
    for (const [index, expected] of expectedMinuteDocuments.entries())
      assert.deepEqual(
        minutes[index],
        expected,
        `${label}: minute ${expected.windowStart} is ${JSON.stringify(minutes[index])}`,
      );
    const hours = await query("hour");
    assert.deepEqual(hours, [expectedHour], `${label}: hour documents are ${JSON.stringify(hours)}`);
    assert.equal(sumOf(hours[0].requestsByPath), totalEntries, `${label}: hour total by path`);
    assert.equal(sumOf(hours[0].requestsByUserAgent), totalEntries, `${label}: hour total by user agent`);
    const days = await query("day");
    assert.deepEqual(days, [expectedDay], `${label}: day documents are ${JSON.stringify(days)}`);
    return catchUpMs;
  };

  const dataDir = temporaryDataDir("sluice-analytics-crash-");
  const snapshotDir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-analytics-snapshot-"));
  const snapshotFile = path.join(snapshotDir, "aggregates.db");
  const servers: ServerProcess[] = [];
  const start = async () => {
    const server = await startServerProcess({ dataDir });
    servers.push(server);
    return server;
  };
  const next = seededRandom(seed);
  const runStartedMs = performance.now();

  try {
    // ---- Phase 1: the scenario under random kills -------------------------------------------------
    const cluster = { server: await start(), generation: 0, dying: false };
    const failures: string[] = [];
    const upWaiters: Array<() => void> = [];
    const ackWaiters: Array<() => void> = [];
    const wake = (waiters: Array<() => void>) => {
      for (const resolve of waiters) resolve();
    };
    const fail = (message: string) => {
      failures.push(message);
      wake(upWaiters.splice(0));
      wake(ackWaiters.splice(0));
    };
    const finished = new Array<boolean>(batches.length).fill(false);
    let acknowledged = 0;
    let accepted = 0;
    let repeatedOnResend = 0;
    let interrupted = 0;
    let nextBatch = 0;

    const sender = async () => {
      for (;;) {
        const index = nextBatch++;
        if (index >= batches.length || failures.length > 0) return;
        const batch = batches[index];
        for (let attempt = 1; ; attempt++) {
          while (cluster.dying && failures.length === 0)
            await new Promise<void>((resolve) => upWaiters.push(resolve));
          if (failures.length > 0) return;
          const { server, generation } = cluster;
          let status: number;
          let text: string;
          try {
            const response = await fetch(`${server.url}/logs`, {
              method: "POST",
              headers: {
                "content-type": "application/json",
                "x-customer-id": customerId,
                "idempotency-key": batch.key,
              },
              body: bodies[index],
              signal: AbortSignal.timeout(requestTimeoutMs),
            });
            text = await response.text();
            status = response.status;
          } catch (error) {
            if (generation === cluster.generation && !cluster.dying) {
              fail(
                `${batch.key} attempt ${attempt}: request failed on a live server: ${(error as Error).message}`,
              );
              return;
            }
            interrupted++;
            continue; // killed under us: resend the same batch to the restarted server
          }
          if (status === 202) {
            accepted++;
          } else if (status === 409 && attempt > 1) {
            const body = JSON.parse(text) as { errorDescription?: string };
            if (body.errorDescription !== "log batch already processed") {
              fail(`${batch.key}: 409 with ${text}`);
              return;
            }
            repeatedOnResend++;
          } else {
            fail(`${batch.key} attempt ${attempt}: answered ${status} ${text}`);
            return;
          }
          if (finished[index]) {
            fail(`${batch.key}: acknowledged twice`);
            return;
          }
          finished[index] = true;
          acknowledged++;
          wake(ackWaiters.splice(0));
          break;
        }
      }
    };

    // Kill moments: one random point in each fifth of the sending (plus a random 0–30 ms so the kill
    // lands inside requests and consumer steps), then right after the last batch is acknowledged.
    const fifth = batches.length / randomKills;
    const kills: Array<{ afterAcks: number; delayMs: number }> = [];
    for (let k = 0; k < randomKills; k++)
      kills.push({
        afterAcks: Math.floor(fifth * (k + 0.1 + 0.8 * next())),
        delayMs: Math.floor(next() * 30),
      });
    kills.push({ afterAcks: batches.length, delayMs: 0 });
    const killLog: Array<{ acked: number; storeOffset: number; logEnd: number }> = [];
    let lastStoreOffset = 0;
    let snapshotOffset = -1;
    let lagBeforeLastKill = -1;

    const killAndRestart = async () => {
      cluster.dying = true;
      const acked = acknowledged;
      await cluster.server.kill();
      const state = readStore(dataDir);
      assertStoreConsistent(state, entriesPerBatch, `store after kill ${killLog.length + 1}`);
      assert.ok(state.nextOffset >= lastStoreOffset, "the committed offset went backwards across a kill");
      lastStoreOffset = state.nextOffset;
      if (snapshotOffset < 0) {
        // Keep the store as this kill left it (file + WAL, checkpointed into one file) for phase 2.
        for (const suffix of ["", "-wal"])
          if (fs.existsSync(storeFile(dataDir) + suffix))
            fs.copyFileSync(storeFile(dataDir) + suffix, snapshotFile + suffix);
        const snapshot = readStoreFile(snapshotFile);
        assert.ok(!fs.existsSync(`${snapshotFile}-wal`), "the snapshot was not checkpointed");
        assert.equal(snapshot.nextOffset, state.nextOffset);
        snapshotOffset = snapshot.nextOffset;
      }
      const server = await start();
      const status = await getStatus(server);
      // The store never counts a record the log does not have (e.g. one lost in the crash).
      assert.ok(
        state.nextOffset <= logEnd(status),
        `store consumed ${state.nextOffset} records but the log holds ${logEnd(status)}`,
      );
      assert.ok(logEnd(status) >= acked, `${acked} batches acknowledged, the log holds ${logEnd(status)}`);
      killLog.push({ acked, storeOffset: state.nextOffset, logEnd: logEnd(status) });
      cluster.server = server;
      cluster.generation++;
      cluster.dying = false;
      wake(upWaiters.splice(0));
    };

    const killer = async () => {
      try {
        for (const kill of kills) {
          while (acknowledged < kill.afterAcks && failures.length === 0)
            await new Promise<void>((resolve) => ackWaiters.push(resolve));
          if (failures.length > 0) return;
          if (kill.delayMs > 0) await sleep(kill.delayMs);
          // Right after the last acknowledgement: one status read (a millisecond), then the kill.
          if (kill.afterAcks === batches.length)
            lagBeforeLastKill = (await getStatus(cluster.server)).lagRecords;
          await killAndRestart();
        }
      } catch (error) {
        fail(`killer: ${(error as Error).stack}`);
      }
    };

    await Promise.all([killer(), ...Array.from({ length: senderCount }, sender)]);
    assert.deepEqual(failures, [], "senders and killer");
    assert.equal(acknowledged, batches.length);
    assert.ok(finished.every(Boolean), "every batch acknowledged");
    assert.equal(accepted + repeatedOnResend, batches.length);
    assert.equal(killLog.length, kills.length, "every planned kill happened");
    assert.ok(interrupted > 0, "no request was interrupted by a kill: the kills hit nothing");
    // The last kill came right after the last acknowledgement.
    assert.equal(killLog.at(-1)!.acked, batches.length);
    const phase1CatchUpMs = await verifyEndState(cluster.server, "after the random kills");

    // ---- Phase 2: kill while the consumer is catching up on a backlog -----------------------------
    assert.equal(await cluster.server.stop(), 0, "graceful shutdown exits 0");
    const backlog = batches.length - snapshotOffset;
    assert.ok(backlog >= 2000, `the snapshot at offset ${snapshotOffset} leaves too small a backlog`);
    const catchUpAttempts: Array<{ lagRecords: number; statusEnd: number; storeOffset: number }> = [];
    let killedBehind = 0;
    for (let attempt = 1; attempt <= catchUpAttemptsMax && killedBehind === 0; attempt++) {
      for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(storeFile(dataDir) + suffix, { force: true });
      fs.copyFileSync(snapshotFile, storeFile(dataDir));
      const server = await start();
      const status = await getStatus(server);
      await server.kill(); // at once: the consumer is still replaying if the status showed a lag
      const state = readStore(dataDir);
      assertStoreConsistent(state, entriesPerBatch, `store after catch-up kill ${attempt}`);
      assert.ok(state.nextOffset >= snapshotOffset, "the consumer went back before the restored offset");
      assert.ok(state.nextOffset <= batches.length);
      catchUpAttempts.push({
        lagRecords: status.lagRecords,
        statusEnd: logEnd(status),
        storeOffset: state.nextOffset,
      });
      assert.equal(logEnd(status), batches.length);
      // Behind at the kill: the status showed a lag, and the store the kill left has not caught up.
      if (status.lagRecords > 0 && state.nextOffset < logEnd(status)) killedBehind++;
    }
    assert.ok(
      killedBehind >= 1,
      `never killed the consumer while it was behind: ${JSON.stringify(catchUpAttempts)}`,
    );
    const final = await start();
    const phase2CatchUpMs = await verifyEndState(final, "after the catch-up kill");
    assert.equal(await final.stop(), 0, "graceful shutdown exits 0");

    t.diagnostic(
      `seed ${seed}; ${killLog.length} kills while sending (after ${killLog.map((kill) => kill.acked).join(", ")} acks; ` +
        `status lag just before the last: ${lagBeforeLastKill}; store/log offsets at each: ${killLog.map((kill) => `${kill.storeOffset}/${kill.logEnd}`).join(", ")}); ` +
        `${interrupted} requests interrupted, ${accepted} batches 202, ${repeatedOnResend} 409 on a resend; ` +
        `caught up ${Math.round(phase1CatchUpMs)} ms after the last restart`,
    );
    t.diagnostic(
      `catch-up phase: store rolled back to offset ${snapshotOffset} (backlog ${backlog} records), ` +
        `${catchUpAttempts.length} kill(s): ${catchUpAttempts.map((a) => `status lag ${a.lagRecords}, store at ${a.storeOffset}`).join("; ")}; ` +
        `caught up ${Math.round(phase2CatchUpMs)} ms after restart; total ${Math.round(performance.now() - runStartedMs)} ms`,
    );
  } finally {
    for (const server of servers)
      if (server.child.exitCode === null && server.child.signalCode === null) await server.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(snapshotDir, { recursive: true, force: true });
  }
});
