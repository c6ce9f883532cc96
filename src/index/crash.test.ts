// The block index under kill -9: a child process (test/support/index-crash-child.ts) indexes a log of
// 2 × 30,000 entries in small blocks and is SIGKILLed after a few more blocks committed, round after
// round, on the same index directory. After every kill the index must be consistent with what it
// covers — blocks contiguous from the first to the committed position, the position within the log —
// and answer needle queries without missing a matching line (naive scan). At the end a restarted
// index catches up and its answers equal those of an index built from scratch.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type { LineFilterStage } from "../query/ast.ts";
import { BlockIndex } from "./block-index.ts";
import { appendEntries, naiveLines, openLog, temporaryDirectory, waitForIndexed } from "./test-support.ts";

const childPath = path.join(import.meta.dirname, "../../test/support/index-crash-child.ts");
const entriesPerPartition = 30_000;
const blockRecords = 40;
const rounds = 4;
const sealsPerRound = 30;
const everything = { startNs: 0n, endNs: 2n ** 62n };
const needle = (i: number) => `ord-${String(77_000_000 + i * 7919).padStart(8, "0")}`;
const needleIndexes = [3, 1234, 9999, 17_001, 29_998];

/** Runs the child until it has committed `seals` more blocks, then SIGKILLs it. */
async function runAndKill(
  logDirectory: string,
  indexDirectory: string,
  seals: number,
): Promise<{ lastSealed: number[] }> {
  const child = spawn(process.execPath, [childPath, logDirectory, indexDirectory, String(blockRecords)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lastSealed = [0, 0];
  let sealed = 0;
  let buffered = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const message = JSON.parse(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
        if (message.kind === "failed") reject(new Error(`child step failed: ${message.message}`));
        if (message.kind !== "sealed") continue;
        lastSealed[message.partition] = message.toOffset;
        if (++sealed === seals) {
          child.kill("SIGKILL");
          resolve();
        }
      }
    });
    exited.then(({ code }) => reject(new Error(`child exited with ${code} after ${sealed} seals`)));
  });
  const exit = await exited;
  assert.equal(exit.signal, "SIGKILL");
  return { lastSealed };
}

function needleQueries(): LineFilterStage[][] {
  return [
    ...needleIndexes.map((i): LineFilterStage[] => [{ kind: "lineFilter", op: "|=", values: [needle(i)] }]),
    [{ kind: "lineFilter", op: "|~", values: [`(?i)${needle(1234).toUpperCase()}`] }],
    [{ kind: "lineFilter", op: "|=", values: ["user u12"] }],
  ];
}

/** Blocks contiguous up to the position, position within the log, and no matching line missed. */
function assertConsistent(index: BlockIndex, lines: { offset: number; line: string }[][]): void {
  for (let partition = 0; partition < 2; partition++) {
    const status = index.status().partitions[partition];
    assert.ok(status.indexedTo <= status.committedEnd, "never ahead of the log");
    const ranges = index.candidates(partition, { ...everything, lineFilters: [] });
    let expected = 0;
    for (const range of ranges) {
      assert.equal(range.fromOffset, expected, `partition ${partition}: ranges contiguous`);
      expected = range.toOffset;
    }
    assert.equal(expected, status.committedEnd);
    assert.equal(ranges.filter((range) => range.minTsNs !== undefined).length, status.blocks);
    for (const filters of needleQueries()) {
      const candidates = index.candidates(partition, { ...everything, lineFilters: filters });
      const literal = filters[0].values[0].replace("(?i)", "").toLowerCase();
      for (const { offset, line } of lines[partition])
        if (line.toLowerCase().includes(literal))
          assert.ok(
            candidates.some((range) => range.fromOffset <= offset && offset < range.toOffset),
            `partition ${partition}: line ${offset} missed for ${literal}`,
          );
    }
  }
}

test("the block index survives SIGKILL while indexing and catches up consistently", {
  timeout: 120_000,
}, async () => {
  const directory = temporaryDirectory("crash");
  const logDirectory = path.join(directory, "log");
  const indexDirectory = path.join(directory, "index");
  try {
    const log = openLog(logDirectory);
    for (let partition = 0; partition < 2; partition++)
      await appendEntries(
        log,
        partition,
        Array.from({ length: entriesPerPartition }, (_, i) => ({
          service: `svc${partition}`,
          level: "INFO",
          message: needleIndexes.includes(i) ? `payment for ${needle(i)} failed` : `login ok for user u${i}`,
          timestampMs: 1_000_000 + i,
        })),
      );
    const lines = [naiveLines(log, 0), naiveLines(log, 1)];
    await log.close();

    let killedBehind = 0;
    for (let round = 0; round < rounds; round++) {
      const { lastSealed } = await runAndKill(logDirectory, indexDirectory, sealsPerRound);
      const reopened = openLog(logDirectory);
      const index = await BlockIndex.open(indexDirectory, reopened, {
        blockRecordsMax: blockRecords,
        blockOpenMsMax: null,
      });
      const status = index.status().partitions;
      for (let partition = 0; partition < 2; partition++)
        assert.ok(
          status[partition].indexedTo >= lastSealed[partition],
          "a reported commit survived the kill",
        );
      if (status.some((partition) => partition.indexedTo < partition.committedEnd)) killedBehind++;
      assertConsistent(index, lines);
      await index.close();
      await reopened.close();
    }
    assert.ok(killedBehind > 0, "at least one kill landed while the index was behind the log");

    // Catch up after the last kill; the answers equal those of an index built from scratch.
    const reopened = openLog(logDirectory);
    const resumed = await BlockIndex.open(indexDirectory, reopened, {
      blockRecordsMax: blockRecords,
      blockOpenMsMax: null,
    });
    const fresh = await BlockIndex.open(path.join(directory, "fresh"), reopened, {
      blockRecordsMax: blockRecords,
      blockOpenMsMax: null,
    });
    resumed.start();
    fresh.start();
    await waitForIndexed(resumed, [entriesPerPartition, entriesPerPartition]);
    await waitForIndexed(fresh, [entriesPerPartition, entriesPerPartition]);
    assertConsistent(resumed, lines);
    assert.deepEqual(resumed.status(), fresh.status());
    for (let partition = 0; partition < 2; partition++)
      for (const filters of needleQueries())
        assert.deepEqual(
          resumed.candidates(partition, { ...everything, lineFilters: filters }),
          fresh.candidates(partition, { ...everything, lineFilters: filters }),
        );
    await resumed.close();
    await fresh.close();
    await reopened.close();
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
});
