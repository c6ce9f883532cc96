// The indexing process of the index crash test (src/index/crash.test.ts), meant to die by SIGKILL. It
// opens the partition log and the block index in the directories given on argv and follows the log,
// telling the parent about every sealed (committed) block on stdout, one JSON line each:
//
//   {"kind":"ready","indexedTo":[…]}                  the index is open; its loops are starting
//   {"kind":"sealed","partition":1,"toOffset":4450}   after the block's transaction committed
//
// Lines go out with a synchronous write(2) to fd 1, so the parent sees a seal as soon as it happened.
// Usage: node test/support/index-crash-child.ts <log directory> <index directory> <blockRecordsMax>

import fs from "node:fs";
import { BlockIndex } from "../../src/index/index.ts";
import { PartitionLog } from "../../src/log/index.ts";

const [logDirectory, indexDirectory, blockRecords] = process.argv.slice(2);
const say = (message: object) => fs.writeSync(1, `${JSON.stringify(message)}\n`);
const log = PartitionLog.open({ directory: logDirectory, partitionCount: 2, onEvent: () => {} });
const index = await BlockIndex.open(indexDirectory, log, {
  blockRecordsMax: Number(blockRecords),
  blockOpenMsMax: null,
  onEvent: (event) => {
    if (event.kind === "block-sealed")
      say({ kind: "sealed", partition: event.partition, toOffset: event.toOffset });
    if (event.kind === "step-failed") say({ kind: "failed", message: event.error.message });
  },
});
say({ kind: "ready", indexedTo: index.status().partitions.map((partition) => partition.indexedTo) });
index.start();
