// Retention follows the server's clock, not the clients' (Sluice issue 12). One reference A entry
// stamped in the year 3000 used to make its segment's newest timestamp the year 3000, and age
// retention, which deleted from the head while the oldest segment's newest record was old enough,
// then stopped at that segment for the whole partition forever. Retention now ages a segment by its
// last append, its .log file's mtime (src/log/FORMAT.md, "Retention").
//
// Here the real server runs as a child process with 64 KiB segments, 3 s retention and maintenance
// every 500 ms, on one partition. The year-3000 entry goes first, so it sits in the head segment;
// then enough sane entries for dozens of segments, then a trickle. The partition's files on disk must
// shrink well below their peak, the head segment with the year-3000 entry must go, and the query
// must still answer with the newest entries. Under the old rule nothing at all would be deleted: the
// head segment blocks every one behind it, and the wait below runs into its timeout.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { dataLayout, topics } from "../src/config/layout.ts";
import { startServerProcess, temporaryDataDir } from "./support/server.ts";

const yearThreeThousandMs = Date.UTC(3000, 0, 1);
const segmentBytesMax = 64 * 1024;
const retentionMs = 3_000;
/** How long the partition may take to shrink: retention (3 s) + a few maintenance runs, with room
 * for a slow machine; the test's own run time is ~6 s when it passes. */
const shrinkTimeoutMs = 15_000;

/** Bytes of the partition's segment files (.log) on disk, and their names. */
function partitionOnDisk(dataDir: string): { bytes: number; logFiles: string[] } {
  const directory = path.join(dataLayout.topicDirectory(dataDir, topics.serviceLogs), "partition-0000");
  let bytes = 0;
  const logFiles: string[] = [];
  for (const name of fs.readdirSync(directory)) {
    if (!name.endsWith(".log")) continue;
    try {
      bytes += fs.statSync(path.join(directory, name)).size;
      logFiles.push(name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error; // deleted meanwhile
    }
  }
  return { bytes, logFiles: logFiles.sort() };
}

async function postEntries(url: string, entries: object[]): Promise<void> {
  const response = await fetch(`${url}/v1/logs`, { method: "POST", body: JSON.stringify(entries) });
  const text = await response.text();
  assert.equal(response.status, 200, text);
}

/** Entries with incompressible messages, so compaction (which also runs) cannot explain a shrink. */
function saneEntries(
  count: number,
  tag: string,
): Array<{ timestamp: number; service: string; message: string }> {
  return Array.from({ length: count }, (_, i) => ({
    timestamp: Date.now(),
    service: "auth_service",
    message: `${tag}-${i} ${crypto.randomBytes(96).toString("base64")}`,
  }));
}

test("age retention deletes old segments although one holds an entry stamped in the year 3000", {
  timeout: 60_000,
}, async () => {
  const dataDir = temporaryDataDir("sluice-retention-clock-");
  const server = await startServerProcess({
    dataDir,
    args: [
      "--partitions",
      "1",
      "--segment-bytes-max",
      String(segmentBytesMax),
      "--retention-ms",
      String(retentionMs),
      "--maintenance-interval-ms",
      "500",
    ],
  });
  try {
    await postEntries(server.url, [
      { timestamp: yearThreeThousandMs, service: "auth_service", message: "x" },
    ]);
    const head = "00000000000000000000.log";
    // ~40 segments of sane entries behind it (each request ~90 KB of JSON). On a loaded machine this
    // takes longer than the retention, and deleting starts meanwhile: the peak is the largest seen.
    let peak = { bytes: 0, segments: 0 };
    for (let request = 0; request < 30; request++) {
      await postEntries(server.url, saneEntries(500, `bulk${request}`));
      const seen = partitionOnDisk(dataDir);
      if (request === 0) assert.equal(seen.logFiles[0], head, "the year-3000 entry's segment is the head");
      peak = {
        bytes: Math.max(peak.bytes, seen.bytes),
        segments: Math.max(peak.segments, seen.logFiles.length),
      };
    }
    assert.ok(peak.segments >= 20, `the bulk filled ${peak.segments} segments`);

    // A trickle continues (a live partition), while retention gets to work.
    let last: string[] = [];
    let now = partitionOnDisk(dataDir);
    const deadlineMs = Date.now() + shrinkTimeoutMs;
    for (let tick = 0; ; tick++) {
      const trickle = saneEntries(5, `trickle${tick}`);
      await postEntries(server.url, trickle);
      last = [...last, ...trickle.map((entry) => entry.message)].slice(-10);
      now = partitionOnDisk(dataDir);
      if (now.bytes < peak.bytes * 0.3 && !now.logFiles.includes(head)) break;
      assert.ok(
        Date.now() < deadlineMs,
        `after ${shrinkTimeoutMs} ms the partition is still ${now.bytes} of its peak ${peak.bytes} bytes ` +
          `(${now.logFiles.length} segments, head ${now.logFiles[0]}): retention is held`,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(now.logFiles.length < peak.segments / 2, "whole segments went, not just bytes");

    // The server still answers: the newest entries, oldest first, the year-3000 one gone with its segment.
    const response = await fetch(`${server.url}/v1/query?service=auth_service&limit=10`);
    assert.equal(response.status, 200);
    const stored = (await response.json()) as Array<{ service: string; message: string; timestamp: number }>;
    assert.deepEqual(
      stored.map((entry) => entry.message),
      last,
      "the query returns the last ten entries posted",
    );
    for (const entry of stored) assert.equal(entry.service, "auth_service");
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
