// Partition log benchmarks (issue 4). Each prints one summary line:
//   append c=N   durable append of ~200-byte realistic records in batches of 100, fsync before ack
//   read         sequential read of everything appended
//   last-100     readLast(100) on the largest partition, and readLast(100) of one service (key filter)
//   on-disk      bytes on disk after compaction vs the same records as raw NDJSON
// Usage: node bench/log.bench.ts [--seconds 5] [--dir /tmp/sluice-bench-log]

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ServiceLogGenerator, storedRecordsFor } from "../src/loadgen/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import { benchLine, formatCount, latencySummary } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    dir: { type: "string", default: path.join(os.tmpdir(), "sluice-bench-log") },
    concurrency: { type: "string", default: "1,8,64" },
  },
});
const secondsPerRun = Number(args.seconds);
const partitionCount = 4;
const batchRecords = 100;

// Pre-generate records so the benchmark measures the log, not the generator.
const pool = storedRecordsFor(new ServiceLogGenerator({ seed: 42 }).batch(200_000));
const poolBatches: (typeof pool)[] = [];
for (let i = 0; i + batchRecords <= pool.length; i += batchRecords)
  poolBatches.push(pool.slice(i, i + batchRecords));
const recordBytesAverage =
  pool.reduce((sum, record) => sum + record.key.length + record.value.length, 0) / pool.length;

async function appendRun(concurrency: number): Promise<{ directory: string; appended: number }> {
  const directory = path.join(args.dir, `append-c${concurrency}`);
  fs.rmSync(directory, { recursive: true, force: true });
  const log = PartitionLog.open({
    directory,
    partitionCount,
    segmentBytesMax: 64 * 1024 * 1024,
    onEvent: () => {},
  });
  const latenciesMs: number[] = [];
  let appended = 0;
  let next = 0;
  const deadline = performance.now() + secondsPerRun * 1000;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        const batch = poolBatches[next++ % poolBatches.length];
        const begin = performance.now();
        await log.append(worker % partitionCount, batch);
        latenciesMs.push(performance.now() - begin);
        appended += batch.length;
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const fsyncs = log.stats().partitions.reduce((sum, partition) => sum + partition.fsyncCount, 0);
  await log.close();
  console.log(
    benchLine(`log append c=${concurrency}`, {
      records_per_s: formatCount(appended / elapsedS),
      MB_per_s: ((appended * recordBytesAverage) / elapsedS / 1e6).toFixed(1),
      fsyncs,
      latency: latencySummary(latenciesMs),
      record_bytes: recordBytesAverage.toFixed(0),
      cpu_cores: ((cpu.user + cpu.system) / 1e6 / elapsedS).toFixed(2),
    }),
  );
  return { directory, appended };
}

async function readRun(directory: string): Promise<void> {
  const log = PartitionLog.open({ directory, partitionCount, onEvent: () => {} });
  const started = performance.now();
  let records = 0;
  let bytes = 0;
  for (let partition = 0; partition < partitionCount; partition++) {
    let offset = 0;
    for (;;) {
      const result = log.read(partition, offset, { bytesMax: 4 * 1024 * 1024 });
      if (result.records.length === 0) break;
      records += result.records.length;
      for (const record of result.records) bytes += record.value.length + record.key.length;
      offset = result.nextOffset;
    }
  }
  const elapsedS = (performance.now() - started) / 1000;
  console.log(
    benchLine("log sequential read", {
      records_per_s: formatCount(records / elapsedS),
      MB_per_s: (bytes / elapsedS / 1e6).toFixed(1),
      records: formatCount(records),
    }),
  );
  await log.close();
}

async function lastRun(directory: string): Promise<void> {
  const log = PartitionLog.open({ directory, partitionCount, onEvent: () => {} });
  const sizes = log.stats().partitions.map((partition) => partition.sizeBytes);
  const largest = sizes.indexOf(Math.max(...sizes));
  const lastLatenciesMs: number[] = [];
  const serviceLatenciesMs: number[] = [];
  const service = Buffer.from("auth_service");
  for (let i = 0; i < 200; i++) {
    let begin = performance.now();
    const last = log.readLast(largest, 100);
    lastLatenciesMs.push(performance.now() - begin);
    if (last.length !== 100) throw new Error(`readLast returned ${last.length}`);
    begin = performance.now();
    log.readLast(largest, 100, (record) => service.equals(record.key));
    serviceLatenciesMs.push(performance.now() - begin);
  }
  const partitionRecords = log.partition(largest).endOffset;
  console.log(
    benchLine("log last-100", {
      partition_records: formatCount(partitionRecords),
      partition_MB: (sizes[largest] / 1e6).toFixed(0),
      latency: latencySummary(lastLatenciesMs),
    }),
  );
  console.log(
    benchLine("log last-100 one service", {
      of_4_services: "yes",
      latency: latencySummary(serviceLatenciesMs),
    }),
  );
  await log.close();
}

async function sizeRun(): Promise<void> {
  const directory = path.join(args.dir, "on-disk");
  fs.rmSync(directory, { recursive: true, force: true });
  const log = PartitionLog.open({
    directory,
    partitionCount: 1,
    segmentBytesMax: 8 * 1024 * 1024,
    onEvent: () => {},
  });
  let ndjsonBytes = 0;
  for (let i = 0; i < poolBatches.length; i += 8) {
    const group = poolBatches.slice(i, i + 8);
    await Promise.all(group.map((batch) => log.append(0, batch)));
    for (const batch of group) for (const record of batch) ndjsonBytes += record.value.length + 1;
  }
  const beforeBytes = log.stats().partitions[0].sizeBytes;
  await log.partition(0).roll();
  const started = performance.now();
  await log.maintain();
  const compactS = (performance.now() - started) / 1000;
  const afterBytes = log.stats().partitions[0].sizeBytes;
  console.log(
    benchLine("log on-disk size", {
      ndjson_MB: (ndjsonBytes / 1e6).toFixed(1),
      appended_MB: (beforeBytes / 1e6).toFixed(2),
      compacted_MB: (afterBytes / 1e6).toFixed(2),
      ratio_before: (ndjsonBytes / beforeBytes).toFixed(1),
      ratio_after: (ndjsonBytes / afterBytes).toFixed(1),
      compaction_MB_per_s: (ndjsonBytes / compactS / 1e6).toFixed(0),
    }),
  );
  await log.close();
}

const concurrencies = args.concurrency.split(",").map(Number);
let biggest = { directory: "", appended: 0 };
for (const concurrency of concurrencies) {
  const run = await appendRun(concurrency);
  if (run.appended > biggest.appended) biggest = run;
}
await readRun(biggest.directory);
await lastRun(biggest.directory);
await sizeRun();
fs.rmSync(args.dir, { recursive: true, force: true });
