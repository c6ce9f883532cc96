// Block index benchmark (issue 13). Writes ~1 M generated reference A lines (ServiceLogGenerator,
// plus a rare needle — an order id, a UUID or an IP — in one line of every 20,000) to a 4-partition
// log as format 0x01 records, compacts it, then builds the index once per configuration and prints
// one summary line each:
//   build rate (lines/s), index bytes vs compressed data bytes vs raw NDJSON bytes, and the fraction
//   of sealed blocks a needle search opens (`|= "<needle>"`: present needles, absent random ones, and
//   the fraction that truly holds the needle).
// Usage: node bench/index.bench.ts [--lines 1000000] [--configs "4:10:8192,3:10:8192,..."] [--dir …]
// A config is gramLength:windowGrams:bloomBitsPerKey:blockRecordsMax.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { BlockIndex } from "../src/index/index.ts";
import { ServiceLogGenerator, seededRandom, services } from "../src/loadgen/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import { benchLine, formatCount } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    lines: { type: "string", default: "1000000" },
    configs: { type: "string", default: "4:4:6:8192" },
    dir: { type: "string", default: path.join(os.tmpdir(), "sluice-bench-index") },
  },
});
const lineCount = Number(args.lines);
const partitionCount = 4;
const needleEvery = 20_000;
const random = seededRandom(7);
const hex = (digits: number) =>
  Array.from({ length: digits }, () => Math.floor(random() * 16).toString(16)).join("");
const needleKinds = {
  order: () => `ord-${String(Math.floor(random() * 1e8)).padStart(8, "0")}`,
  uuid: () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
  ip: () => `10.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`,
} as const;
type NeedleKind = keyof typeof needleKinds;

function directorySize(directory: string): number {
  let bytes = 0;
  for (const entry of fs.readdirSync(directory, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) bytes += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  return bytes;
}

const designSampleLines = 8 * 8192;
const sampleMessages: string[] = [];

/**
 * Design (b) of the brief, estimated without building it: distinct keys per 8,192-line block when the
 * filter holds whole tokens (split at non-alphanumerics) plus each token's 6-character prefix and
 * suffix, and whole whitespace-separated words; against design (a)/(c) measured for real below.
 */
function designBKeysPerLine(): number {
  let keys = 0;
  for (let start = 0; start < sampleMessages.length; start += 8192) {
    const distinct = new Set<string>();
    for (const message of sampleMessages.slice(start, start + 8192))
      for (const word of message.toLowerCase().split(/\s+/)) {
        distinct.add(`w${word}`);
        for (const token of word.split(/[^a-z0-9]+/)) {
          if (token === "") continue;
          distinct.add(`t${token}`);
          if (token.length > 6) distinct.add(`p${token.slice(0, 6)}`).add(`s${token.slice(-6)}`);
        }
      }
    keys += distinct.size;
  }
  return keys / sampleMessages.length;
}

async function writeLog(directory: string) {
  fs.rmSync(directory, { recursive: true, force: true });
  const log = PartitionLog.open({
    directory,
    partitionCount,
    segmentBytesMax: 16 * 1024 * 1024,
    onEvent: () => {},
  });
  const generator = new ServiceLogGenerator({ seed: 42 });
  const needles: { kind: NeedleKind; value: string }[] = [];
  const encoder = new TextEncoder();
  let ndjsonBytes = 0;
  const batchSize = 1000;
  for (let written = 0; written < lineCount; written += batchSize) {
    const perPartition: { timestampMs: number; key: Uint8Array; value: Uint8Array }[][] = Array.from(
      { length: partitionCount },
      () => [],
    );
    for (let i = 0; i < batchSize; i++) {
      const log = generator.next();
      if ((written + i) % needleEvery === needleEvery / 2) {
        const kinds = Object.keys(needleKinds) as NeedleKind[];
        const kind = kinds[needles.length % kinds.length];
        const value = needleKinds[kind]();
        needles.push({ kind, value });
        log.message += kind === "ip" ? ` from ${value}` : ` for ${value}`;
      }
      const json = JSON.stringify({
        ...log,
        received_at: log.timestamp + 3,
        client_ip: "10.42.0.17",
        ingested_node_id: "n1",
      });
      ndjsonBytes += Buffer.byteLength(json) + 1;
      if (sampleMessages.length < designSampleLines) sampleMessages.push(log.message);
      const value = new Uint8Array(1 + Buffer.byteLength(json));
      value[0] = 0x01;
      encoder.encodeInto(json, value.subarray(1));
      perPartition[services.indexOf(log.service as (typeof services)[number])].push({
        timestampMs: log.timestamp,
        key: encoder.encode(`fake\u0000${log.service}`),
        value,
      });
    }
    await Promise.all(perPartition.map((records, partition) => log.append(partition, records)));
  }
  for (let partition = 0; partition < partitionCount; partition++) await log.partition(partition).roll();
  await log.maintain();
  return { log, needles, ndjsonBytes, dataBytes: directorySize(directory) };
}

async function indexRun(
  log: PartitionLog,
  config: string,
  needles: { kind: NeedleKind; value: string }[],
  sizes: { ndjsonBytes: number; dataBytes: number },
): Promise<void> {
  const [gramLength, windowGrams, bloomBitsPerKey, blockRecordsMax] = config.split(":").map(Number);
  const directory = path.join(args.dir, `index-${config.replaceAll(":", "-")}`);
  fs.rmSync(directory, { recursive: true, force: true });
  const index = await BlockIndex.open(directory, log, {
    gramLength,
    windowGrams,
    bloomBitsPerKey,
    blockRecordsMax,
    blockOpenMsMax: 0,
  });
  const started = performance.now();
  index.start();
  const caughtUp = () => index.status().partitions.every((p) => p.indexedTo >= p.committedEnd);
  while (!caughtUp()) await new Promise((resolve) => setTimeout(resolve, 5));
  const buildS = (performance.now() - started) / 1000;
  await index.stop();
  const status = index.status();
  const blockCount = status.partitions.reduce((sum, p) => sum + p.blocks, 0);
  const memoryBytes = status.partitions.reduce((sum, p) => sum + p.bytes, 0);
  const bloomBitsTotal = memoryBytes * 8;
  const opened = (needle: string) => {
    let blocks = 0;
    const queryStartedMs = performance.now();
    for (let partition = 0; partition < partitionCount; partition++)
      blocks += index
        .candidates(partition, {
          startNs: 0n,
          endNs: 2n ** 63n,
          lineFilters: [{ kind: "lineFilter", op: "|=", values: [needle] }],
        })
        .filter((range) => range.minTsNs !== undefined).length;
    return { fraction: blocks / blockCount, ms: performance.now() - queryStartedMs };
  };
  const fields: Record<string, string | number> = {
    config,
    lines_per_s: formatCount(lineCount / buildS),
    blocks: blockCount,
    ram_KB: (memoryBytes / 1024).toFixed(0),
    keys_per_line: (bloomBitsTotal / bloomBitsPerKey / lineCount).toFixed(2),
  };
  let candidateMsMax = 0;
  for (const kind of Object.keys(needleKinds) as NeedleKind[]) {
    const values = needles.filter((needle) => needle.kind === kind).map((needle) => needle.value);
    const fractions = values.map((value) => {
      const { fraction, ms } = opened(value);
      candidateMsMax = Math.max(candidateMsMax, ms);
      return fraction;
    });
    fields[`${kind}_opened_pct`] = ((100 * fractions.reduce((a, b) => a + b, 0)) / fractions.length).toFixed(
      2,
    );
  }
  const absent = Array.from({ length: 30 }, () => opened(needleKinds.order()).fraction);
  fields.absent_order_opened_pct = ((100 * absent.reduce((a, b) => a + b, 0)) / absent.length).toFixed(2);
  fields.ideal_pct = ((100 * 1) / blockCount).toFixed(2);
  fields.candidates_ms_max = candidateMsMax.toFixed(2);
  await index.close();
  // On disk after close: SQLite has checkpointed its WAL into the database file.
  const indexBytes = directorySize(directory);
  fields.index_KB = (indexBytes / 1024).toFixed(0);
  fields.index_of_data_pct = ((100 * indexBytes) / sizes.dataBytes).toFixed(2);
  fields["raw/(data+index)"] = (sizes.ndjsonBytes / (sizes.dataBytes + indexBytes)).toFixed(2);
  console.log(benchLine("index", fields));
}

const { log, needles, ndjsonBytes, dataBytes } = await writeLog(path.join(args.dir, "log"));
console.log(
  benchLine("index data", {
    lines: formatCount(lineCount),
    ndjson_MB: (ndjsonBytes / 1e6).toFixed(1),
    data_MB: (dataBytes / 1e6).toFixed(2),
    "raw/data": (ndjsonBytes / dataBytes).toFixed(2),
    needles: needles.length,
    design_b_keys_per_line: designBKeysPerLine().toFixed(2),
  }),
);
for (const config of args.configs.split(","))
  await indexRun(log, config, needles, { ndjsonBytes, dataBytes });
await log.close();
fs.rmSync(args.dir, { recursive: true, force: true });
