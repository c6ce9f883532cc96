import assert from "node:assert/strict";
import crypto from "node:crypto";
import { test } from "node:test";
import zlib from "node:zlib";
import { codecs } from "./batch.ts";
import { Compressor } from "./compressor.ts";

function payload(bytes: number): Buffer {
  const raw = Buffer.allocUnsafeSlow(bytes);
  for (let i = 0; i < bytes; i++) raw[i] = (i * 31) % 251;
  return raw;
}

test("compression survives its worker thread dying: that job fails, the next ones succeed", async () => {
  const compressor = new Compressor(1);
  const expected = payload(300_000);
  const before = await compressor.compress(Buffer.from(expected), codecs.zstd, 3);
  assert.deepEqual(zlib.zstdDecompressSync(before), expected);
  // Stalled first, so the job is certainly out and unanswered when the thread dies (and the kill
  // cannot land in a zstd context set-up, where Node aborts; docs/handover.md).
  compressor.stallWorkerForTest(0);
  const inFlight = compressor.compress(crypto.randomBytes(1_000_000), codecs.zstd, 3);
  await compressor.crashWorkerForTest(0);
  await assert.rejects(inFlight, /exited/);
  const after = await compressor.compress(Buffer.from(expected), codecs.zstd, 3);
  assert.deepEqual(zlib.zstdDecompressSync(after), expected);
  compressor.stallWorkerForTest(0);
  const pending = assert.rejects(
    compressor.compress(crypto.randomBytes(1_000_000), codecs.zstd, 3),
    /closed/,
  );
  await compressor.close();
  await pending;
});
