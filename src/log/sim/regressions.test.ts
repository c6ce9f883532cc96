// The bugs the power-loss simulation found, each pinned as a focused scenario that does not depend
// on the random round generator: the cut falls at the exact storage operation that exposed it, and
// the disk left behind is drawn under many seeds (so the torn and the lost shapes both occur).

import assert from "node:assert/strict";
import { test } from "node:test";
import type { LogRecord } from "../batch.ts";
import { PartitionLog } from "../log.ts";
import { SimDisk } from "./disk.ts";

const directory = "/sim/log";
const survivorSeeds = Array.from({ length: 100 }, (_, i) => i + 1);

function records(count: number, tag: number): LogRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    timestampMs: 1_790_000_000_000 + i,
    key: Buffer.from([i % 3]),
    value: Buffer.from(`record ${tag}.${i} `.repeat(20)),
  }));
}

function open(disk: SimDisk, partitionCount = 2): PartitionLog {
  return PartitionLog.open({
    directory,
    partitionCount,
    compressionThreads: 0,
    codec: "none",
    storage: disk,
    onEvent: () => {},
  });
}

function valuesOf(log: PartitionLog, partition: number): string[] {
  return log.read(partition, 0).records.map((record) => Buffer.from(record.value).toString());
}

test("a partition directory, and the records acknowledged in it, survive a cut right after the appends", async () => {
  for (const seed of survivorSeeds) {
    const disk = new SimDisk(seed);
    const log = open(disk);
    const expected = records(5, 1).map((record) => Buffer.from(record.value).toString());
    await log.append(1, records(5, 1));
    disk.cutPowerNow();
    const reopened = open(disk.afterPowerCut(seed));
    assert.deepEqual(valuesOf(reopened, 1), expected, `seed ${seed}`);
    await reopened.close();
  }
});

test("truncateTo through an acknowledged batch keeps the records before the cut, wherever the power goes", async () => {
  // Where the cut may fall: every storage operation of one truncateTo, found by a dry run.
  const dryRun = new SimDisk(0);
  const dryLog = open(dryRun, 1);
  await dryLog.append(0, records(8, 2));
  const before = dryRun.counters.operations;
  await dryLog.truncateTo(0, 3);
  const operations = dryRun.counters.operations - before;
  assert.ok(operations > 5, "the truncate did some I/O");
  const kept = records(3, 2).map((record) => Buffer.from(record.value).toString());
  const all = records(8, 2).map((record) => Buffer.from(record.value).toString());
  for (let at = 1; at <= operations + 1; at++) {
    for (const seed of survivorSeeds.slice(0, 30)) {
      const disk = new SimDisk(0);
      const log = open(disk, 1);
      await log.append(0, records(8, 2)); // one batch: offset 3 cuts through it
      disk.cutPowerAt(disk.counters.operations + at);
      await log.truncateTo(0, 3).catch(() => {});
      if (!disk.powerCut) disk.cutPowerNow();
      const reopened = open(disk.afterPowerCut(seed), 1);
      const values = valuesOf(reopened, 0);
      // Unacknowledged, the truncate may have happened or not, but never half: the acknowledged
      // records before the cut are there either way.
      assert.ok(
        JSON.stringify(values) === JSON.stringify(kept) || JSON.stringify(values) === JSON.stringify(all),
        `cut before operation ${at} of the truncate, seed ${seed}: ${values.length} records`,
      );
      await reopened.close();
    }
  }
});

test("a compaction running while retention deletes the segments it listed skips them instead of failing", async () => {
  // compact() lists the sealed segments once and works through them one by one; retention (or a
  // truncateTo) does not wait for it between segments. A segment deleted meanwhile used to be opened
  // anyway: ENOENT, and the compaction (with the maintenance run it was part of) failed.
  const disk = new SimDisk(1);
  const options = {
    directory,
    partitionCount: 1,
    compressionThreads: 0,
    codec: "none" as const,
    onEvent: () => {},
  };
  const log = PartitionLog.open({ ...options, storage: disk, retentionBytes: 1 });
  const partition = log.partition(0);
  for (let segment = 0; segment < 3; segment++) {
    await log.append(0, records(5, segment));
    await partition.roll();
  }
  await log.append(0, records(5, 3));
  const compacting = partition.compact(); // its first segment's file is open before retention runs
  const deleted = await partition.enforceRetention(disk.clockMs);
  assert.equal(deleted, 3, "retention takes every sealed segment");
  assert.equal(await compacting, 0, "nothing left to compact, and no failure");
  await log.close();
  const reopened = PartitionLog.open({ ...options, storage: disk });
  assert.equal(reopened.partition(0).logStartOffset, 15);
  assert.deepEqual(
    valuesOf(reopened, 0),
    records(5, 3).map((record) => Buffer.from(record.value).toString()),
  );
  await reopened.close();
});

test("truncateTo the log's start never leaves a partition that restarts at offset 0, wherever the power goes", async () => {
  // Every segment at and past the offset was deleted and one created at the offset, with no
  // directory fsync between: a cut could keep the unlink and lose the create, and open found no
  // segment and began again at 0, under offsets handed out and committed before.
  const setUp = async (disk: SimDisk): Promise<PartitionLog> => {
    const log = PartitionLog.open({
      directory,
      partitionCount: 1,
      compressionThreads: 0,
      codec: "none",
      storage: disk,
      onEvent: () => {},
      retentionBytes: 1,
    });
    await log.append(0, records(5, 1));
    await log.partition(0).roll();
    await log.append(0, records(5, 2));
    await log.partition(0).enforceRetention(disk.clockMs); // the log starts at 5 now
    assert.equal(log.partition(0).logStartOffset, 5);
    return log;
  };
  const dryRun = new SimDisk(0);
  const dryLog = await setUp(dryRun);
  const before = dryRun.counters.operations;
  await dryLog.truncateTo(0, 5);
  const operations = dryRun.counters.operations - before;
  for (let at = 1; at <= operations + 1; at++) {
    for (const seed of survivorSeeds.slice(0, 30)) {
      const disk = new SimDisk(0);
      const log = await setUp(disk);
      disk.cutPowerAt(disk.counters.operations + at);
      await log.truncateTo(0, 5).catch(() => {});
      if (!disk.powerCut) disk.cutPowerNow();
      const reopened = open(disk.afterPowerCut(seed), 1);
      const partition = reopened.partition(0);
      // Unacknowledged, the truncate may have happened or not; the offsets never go back.
      assert.equal(partition.logStartOffset, 5, `cut before operation ${at}, seed ${seed}: the start`);
      assert.ok(
        [5, 10].includes(partition.endOffset),
        `cut before operation ${at}, seed ${seed}: end ${partition.endOffset}`,
      );
      await reopened.close();
    }
  }
});
