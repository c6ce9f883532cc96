// Helpers the index tests share (not part of the stage's surface): a temporary topics/logs log with
// records in the stored service format (0x01), the naive scan the index is checked against, and a
// wait for the consumer to reach an offset.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PartitionLog } from "../log/index.ts";
import type { BlockIndex } from "./block-index.ts";

export interface TestEntry {
  tenant?: string;
  service: string;
  level?: string;
  message: string;
  labels?: Record<string, string>;
  timestampMs: number;
}

export function temporaryDirectory(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sluice-index-${prefix}-`));
}

const encoder = new TextEncoder();

export function storedRecord(entry: TestEntry): { timestampMs: number; key: Uint8Array; value: Uint8Array } {
  const { tenant = "fake", timestampMs, ...rest } = entry;
  const json = JSON.stringify({
    timestamp: timestampMs,
    ...rest,
    received_at: timestampMs,
    client_ip: "10.0.0.1",
  });
  const body = encoder.encode(json);
  const value = new Uint8Array(body.length + 1);
  value[0] = 0x01;
  value.set(body, 1);
  return { timestampMs, key: encoder.encode(`${tenant}\u0000${entry.service}`), value };
}

export function openLog(
  directory: string,
  partitionCount = 2,
  extra: Partial<Parameters<typeof PartitionLog.open>[0]> = {},
) {
  return PartitionLog.open({ directory, partitionCount, fsync: "interval", onEvent: () => {}, ...extra });
}

export async function appendEntries(
  log: PartitionLog,
  partition: number,
  entries: readonly TestEntry[],
  batchRecords = 500,
): Promise<void> {
  for (let i = 0; i < entries.length; i += batchRecords)
    await log.append(partition, entries.slice(i, i + batchRecords).map(storedRecord));
}

/** Every record of `partition` as (offset, message), read straight from the log. */
export function naiveLines(log: PartitionLog, partition: number): { offset: number; line: string }[] {
  const lines: { offset: number; line: string }[] = [];
  const decoder = new TextDecoder();
  let offset = 0;
  for (;;) {
    const read = log.read(partition, offset);
    for (const record of read.records)
      lines.push({
        offset: record.offset,
        line: JSON.parse(decoder.decode(record.value.subarray(1))).message,
      });
    if (read.nextOffset <= offset || read.nextOffset >= read.endOffset) break;
    offset = read.nextOffset;
  }
  return lines;
}

/** Resolves once every partition's indexed position reaches `offsets[partition]` (polls the status). */
export async function waitForIndexed(index: BlockIndex, offsets: readonly number[]): Promise<void> {
  for (;;) {
    const { partitions } = index.status();
    if (partitions.every((partition, i) => partition.indexedTo >= offsets[i])) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
