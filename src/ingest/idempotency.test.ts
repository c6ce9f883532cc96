// The idempotency table against a fake clock: expiry in time order, exactness at the retention's
// edge and at the max, refreshed and released keys, the rebuild's merge of partitions by time, and
// a sweep that never walks the whole table.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { PartitionLog } from "../log/index.ts";
import { accessBatchKey } from "./access-logs.ts";
import { IdempotencyTable, reservations } from "./idempotency.ts";

const retentionMs = 60_000;

function stored(table: IdempotencyTable, pair: string, nowMs: number): void {
  assert.equal(table.reserve(pair, nowMs), reservations.reserved, pair);
  table.confirm(pair, nowMs);
}

describe("IdempotencyTable", () => {
  test("a key is a duplicate until exactly its retention has passed, then new again", () => {
    const table = new IdempotencyTable(retentionMs, 1000);
    stored(table, "c\nk", 1000);
    assert.equal(table.reserve("c\nk", 1000 + retentionMs - 1), reservations.duplicate);
    assert.equal(table.reserve("c\nk", 1000 + retentionMs), reservations.reserved);
    table.confirm("c\nk", 1000 + retentionMs);
    assert.equal(table.reserve("c\nk", 1000 + 2 * retentionMs - 1), reservations.duplicate);
    assert.equal(table.size, 1);
  });

  test("a key whose append is in flight is a duplicate and never expires; a released one is free", () => {
    const table = new IdempotencyTable(retentionMs, 1000);
    assert.equal(table.reserve("c\nk", 0), reservations.reserved);
    assert.equal(table.reserve("c\nk", 10 * retentionMs), reservations.duplicate);
    assert.equal(table.sweep(10 * retentionMs), 0);
    table.release("c\nk");
    assert.equal(table.size, 0);
    assert.equal(table.reserve("c\nk", 10 * retentionMs), reservations.reserved);
  });

  test("expired keys leave in time order, one per reserve, and make room at the max", () => {
    const keysMax = 1000;
    const table = new IdempotencyTable(retentionMs, keysMax);
    for (let index = 0; index < keysMax; index++) stored(table, `c\n${index}`, index * 10);
    // Full, and nothing expired yet: every new key is refused, every held key stays remembered.
    assert.equal(table.reserve("c\nnew", retentionMs - 1), reservations.full);
    for (let index = 0; index < keysMax; index += 97)
      assert.equal(table.reserve(`c\n${index}`, retentionMs - 1), reservations.duplicate);
    // At retention + 10 ms keys 0 and 1 have expired, exactly those: two new keys fit, a third not.
    const nowMs = retentionMs + 10;
    stored(table, "c\nnew-1", nowMs);
    stored(table, "c\nnew-2", nowMs);
    assert.equal(table.reserve("c\nnew-3", nowMs), reservations.full);
    assert.equal(table.reserve("c\n2", nowMs), reservations.duplicate, "key 2 is still within retention");
    assert.equal(table.reserve("c\n0", nowMs), reservations.full, "key 0 expired: a new batch, no room");
    assert.equal(table.size, keysMax);
  });

  test("a refreshed key expires by its new time, not its old slot", () => {
    const table = new IdempotencyTable(retentionMs, 1000);
    stored(table, "c\na", 0);
    stored(table, "c\nb", 1);
    stored(table, "c\na", retentionMs); // expired, stored again
    assert.equal(table.sweep(retentionMs + 1), 1, "b went; a's old slot was stale");
    assert.equal(table.reserve("c\na", 2 * retentionMs - 1), reservations.duplicate);
    assert.equal(table.sweep(2 * retentionMs), 1);
    assert.equal(table.size, 0);
    assert.equal(table.queuedSlots, 0);
  });

  test("stale slots are compacted: the queue stays within about twice the keys", () => {
    const table = new IdempotencyTable(retentionMs, 1_000_000);
    stored(table, "c\nheld", 0); // pins the head for the whole test
    for (let index = 0; index < 200_000; index++) {
      assert.equal(table.reserve(`c\n${index}`, 1), reservations.reserved);
      table.release(`c\n${index}`); // a failed append: its slot goes stale
    }
    assert.equal(table.size, 1);
    assert.ok(table.queuedSlots <= 2 * 16_384 + 1, `${table.queuedSlots} slots for one key`);
    assert.equal(table.reserve("c\nheld", 1), reservations.duplicate);
  });

  // The timeout is a guard, not a measurement: this takes well under a second, the old table's sweep
  // per refusal (2 * 10^10 steps) hours.
  test("at the max, refusing costs no walk over the table (100,000 refusals of a 200,000-key table)", {
    timeout: 120_000,
  }, () => {
    const keysMax = 200_000;
    const table = new IdempotencyTable(retentionMs, keysMax);
    for (let index = 0; index < keysMax; index++) stored(table, `c\n${index}`, 0);
    for (let index = 0; index < 100_000; index++)
      assert.equal(table.reserve(`c\nnew-${index}`, 1), reservations.full);
    assert.equal(table.size, keysMax);
  });

  test("rebuild loads the keys within retention from every partition, merged in time order", async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-idempotency-"));
    try {
      const log = PartitionLog.open({ directory, partitionCount: 3 });
      const nowMs = 10 * retentionMs;
      // Partition p gets keys at times p, p+3, p+6, ...: interleaved across partitions.
      for (let partition = 0; partition < 3; partition++) {
        const records = [];
        for (let timeMs = nowMs - 2 * retentionMs + partition; timeMs < nowMs; timeMs += 3)
          records.push({
            timestampMs: timeMs,
            key: accessBatchKey("c", `k${timeMs}`, "r"),
            value: Buffer.from("[]"),
          });
        await log.append(partition, records);
      }
      const table = new IdempotencyTable(retentionMs, 1_000_000);
      let progressCalls = 0;
      const loaded = await table.rebuild(log, nowMs, { onProgress: () => progressCalls++ });
      await log.close();
      assert.equal(loaded, retentionMs, "one key per ms of the last retention");
      assert.equal(table.size, retentionMs);
      // Expired in time order: sweeping at nowMs + t drops exactly the keys of the first t ms.
      // (The key stored at exactly nowMs - retention is loaded and is the first to go.)
      let previousMs = -1;
      for (const elapsedMs of [0, 1, 2, 3, 1000, 30_000]) {
        assert.equal(table.sweep(nowMs + elapsedMs), elapsedMs - previousMs, `after ${elapsedMs} ms`);
        assert.equal(table.size, retentionMs - elapsedMs - 1, `after ${elapsedMs} ms`);
        previousMs = elapsedMs;
      }
      assert.equal(table.reserve(`c\nk${nowMs - 1}`, nowMs + 30_000), reservations.duplicate);
      assert.equal(
        table.reserve(`c\nk${nowMs - retentionMs + 29_999}`, nowMs + 30_000),
        reservations.reserved,
      );
    } finally {
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  test("an aborted rebuild rejects with the signal's reason", async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-idempotency-"));
    try {
      const log = PartitionLog.open({ directory, partitionCount: 1 });
      await log.append(0, [
        { timestampMs: Date.now(), key: accessBatchKey("c", "k", "r"), value: Buffer.from("[]") },
      ]);
      const controller = new AbortController();
      controller.abort(new Error("stopping"));
      const table = new IdempotencyTable(retentionMs, 1000);
      await assert.rejects(table.rebuild(log, Date.now(), { signal: controller.signal }), /stopping/);
      await log.close();
    } finally {
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });
});
