// Recomputes the aggregates from the access log into a fresh store beside the live one, then swaps
// it in with a rename. The old store stays untouched until the new one is complete and synced, so an
// interrupted rebuild changes nothing. The server must be stopped (the log's LOCK says so).

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { PartitionLog } from "../log/index.ts";
import { type AnalyticsEvent, consumeStep } from "./consumer.ts";
import { AggregateStore } from "./store.ts";
import { windowSizeList } from "./windows.ts";

export interface RebuildProgress {
  partition: number;
  recordsDone: number;
  recordsTotal: number;
  entries: number;
}

export interface RebuildSummary {
  records: number;
  entries: number;
  windows: Record<string, number>;
  pathsFolded: number;
  agentsFolded: number;
  undecodableRecords: number;
  /** Records retention deleted before this rebuild (their entries cannot be recomputed). */
  expiredRecords: number;
  /** Records in damaged batches the log could not read. */
  damagedRecords: number;
  durationMs: number;
}

const sqliteSidecars = ["-wal", "-shm", "-journal"];

function removeStore(file: string): void {
  for (const suffix of ["", ...sqliteSidecars]) fs.rmSync(file + suffix, { force: true });
}

export function rebuildAggregates(
  log: PartitionLog,
  storeFile: string,
  options: { windowKeysMax: number; onProgress?: (progress: RebuildProgress) => void },
): RebuildSummary {
  const startedMs = performance.now();
  const buildFile = `${storeFile}.rebuild`;
  removeStore(buildFile);
  const store = AggregateStore.open(buildFile, { windowKeysMax: options.windowKeysMax });
  const summary: RebuildSummary = {
    records: 0,
    entries: 0,
    windows: {},
    pathsFolded: 0,
    agentsFolded: 0,
    undecodableRecords: 0,
    expiredRecords: 0,
    damagedRecords: 0,
    durationMs: 0,
  };
  const onEvent = (event: AnalyticsEvent) => {
    if (event.kind === "undecodable-record") summary.undecodableRecords++;
    if (event.kind === "records-expired") summary.expiredRecords += event.toOffset - event.fromOffset;
    if (event.kind === "records-damaged") summary.damagedRecords += event.toOffset - event.fromOffset;
  };
  try {
    for (let partition = 0; partition < log.partitionCount; partition++) {
      const source = log.partition(partition);
      const endOffset = source.endOffset;
      const recordsTotal = endOffset - source.logStartOffset;
      let recordsDone = 0;
      for (;;) {
        const step = consumeStep(log, store, partition, onEvent, endOffset);
        if (step === null) break;
        recordsDone += step.records;
        summary.records += step.records;
        summary.entries += step.entries;
        summary.pathsFolded += step.pathsFolded;
        summary.agentsFolded += step.agentsFolded;
        options.onProgress?.({ partition, recordsDone, recordsTotal, entries: summary.entries });
      }
      assert.ok(
        store.position(partition).nextOffset >= endOffset,
        "the rebuild read the partition to its end",
      );
    }
    for (const size of windowSizeList) summary.windows[size] = store.totals(size).windows;
  } catch (error) {
    store.close();
    removeStore(buildFile);
    throw error;
  }
  store.close();
  // Closing the last connection checkpoints the WAL into the file and deletes it; the file alone is
  // the store now. Make it durable, then replace the old store and its sidecars.
  for (const suffix of sqliteSidecars) assert.ok(!fs.existsSync(buildFile + suffix), `${suffix} left behind`);
  const fd = fs.openSync(buildFile, "r");
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  for (const suffix of sqliteSidecars) fs.rmSync(storeFile + suffix, { force: true });
  fs.renameSync(buildFile, storeFile);
  const directoryFd = fs.openSync(path.dirname(storeFile), "r");
  fs.fsyncSync(directoryFd);
  fs.closeSync(directoryFd);
  summary.durationMs = performance.now() - startedMs;
  return summary;
}
