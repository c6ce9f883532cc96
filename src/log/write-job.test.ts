// The log thread's unit of work on real files: where each flight lands, and how one failure makes the
// flights already on their way behind it fail instead of writing at a wrong position.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, test } from "node:test";
import { batchHeaderBytes, codecs, encodePayload, readHeader } from "./batch.ts";
import { nodeStorage } from "./storage.ts";
import { type BatchToWrite, runWriteJob, type WriteJob, type WriteOutcome } from "./write-job.ts";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function openFile(): { fd: number; file: string } {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-write-job-"));
  directories.push(directory);
  const file = path.join(directory, "segment.log");
  return { fd: fs.openSync(file, "wx+"), file };
}

function batch(baseOffset: number, count: number): BatchToWrite {
  const records = Array.from({ length: count }, (_, i) => ({
    timestampMs: 1_700_000_000_000 + i,
    key: Buffer.from("tenant\u0000svc"),
    value: Buffer.from(`{"message":"record ${baseOffset + i}"}`),
  }));
  return { ...encodePayload(records), baseOffset, sourcePosition: -1, leaderEpoch: 0 };
}

function run(job: WriteJob): Promise<WriteOutcome> {
  return new Promise((resolve) => runWriteJob(job, nodeStorage, resolve));
}

function job(fd: number, position: number | null, batches: BatchToWrite[]): WriteJob {
  return { fd, position, codec: codecs.zstd, level: 3, sync: true, batches };
}

/** Base offsets of the batches in the file, walking the headers from position 0. */
function baseOffsetsIn(file: string): number[] {
  const bytes = fs.readFileSync(file);
  const offsets: number[] = [];
  for (let position = 0; position < bytes.length; ) {
    const header = readHeader(bytes, position, bytes.length);
    assert.ok(typeof header !== "string", `a batch header at ${position}`);
    offsets.push(header.baseOffset);
    position += batchHeaderBytes + header.payloadBytes;
  }
  return offsets;
}

test("a continuing flight lands right after the one before it, whatever its compressed size", async () => {
  const { fd, file } = openFile();
  const first = await run(job(fd, 0, [batch(0, 50), batch(50, 10)]));
  assert.ok(first.ok);
  assert.equal(first.batchBytes.length, 2);
  const second = await run(job(fd, null, [batch(60, 7)]));
  assert.ok(second.ok);
  const written = [...first.batchBytes, ...second.batchBytes].reduce((sum, bytes) => sum + bytes, 0);
  assert.equal(fs.statSync(file).size, written, "no gap and no overlap between the flights");
  assert.deepEqual(baseOffsetsIn(file), [0, 50, 60]);
  fs.closeSync(fd);
});

test("after a failed flight the continuing ones fail too, until a flight names its position", async () => {
  const { fd, file } = openFile();
  const good = await run(job(fd, 0, [batch(0, 5)]));
  assert.ok(good.ok);
  const broken = batch(5, 5);
  broken.raw = "not bytes" as unknown as Uint8Array; // compression throws before anything is written
  const failed = await run(job(fd, null, [broken]));
  assert.ok(!failed.ok);
  assert.equal(failed.stage, "write");
  const behind = await run(job(fd, null, [batch(5, 5)]));
  assert.ok(!behind.ok, "a flight behind a failed one must not guess its position");
  assert.match(behind.message, /earlier flight of this file failed/);
  assert.deepEqual(baseOffsetsIn(file), [0], "nothing was written by the failed flights");
  const restarted = await run(job(fd, good.batchBytes[0], [batch(5, 5)]));
  assert.ok(restarted.ok);
  assert.deepEqual(baseOffsetsIn(file), [0, 5]);
  fs.closeSync(fd);
});

test("a write to a file that cannot be written fails at the write stage with the errno code", async () => {
  const { fd, file } = openFile();
  fs.closeSync(fd);
  const readOnly = fs.openSync(file, "r");
  const outcome = await run(job(readOnly, 0, [batch(0, 3)]));
  assert.ok(!outcome.ok);
  assert.equal(outcome.stage, "write");
  assert.equal(outcome.code, "EBADF");
  fs.closeSync(readOnly);
});
