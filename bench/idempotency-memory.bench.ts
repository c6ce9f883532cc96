// Heap bytes per key of the idempotency table, measured: the heap after a full GC with an empty
// table and with `keyCount` keys reserved and confirmed the way POST /logs does (a pair string built
// per request from the headers, which Node's HTTP parser hands over as flat latin-1 strings). Prints one summary line; src/ingest/limits.ts quotes it. Run with
// `node --expose-gc bench/idempotency-memory.bench.ts`.

import { IdempotencyTable } from "../src/ingest/index.ts";
import { ulid } from "../src/model/ulid.ts";
import { benchLine } from "./stats.ts";

const keyCount = Number(process.env.KEYS ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

/** A flat copy, as the HTTP parser makes (ulid() builds its string by concatenation). */
function asHeader(text: string): string {
  return Buffer.from(text, "latin1").toString("latin1");
}

function heapUsedAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const table = new IdempotencyTable(7 * 24 * 3600_000, keyCount);
const before = heapUsedAfterGc();
const startMs = Date.now();
for (let index = 0; index < keyCount; index++) {
  // Fresh flat strings each time, as headers are: a customer of 10 chars and a 26-char ULID key.
  const customerId = asHeader(`cus-${(index % 1000).toString().padStart(6, "0")}`);
  const pair = IdempotencyTable.pair(customerId, asHeader(ulid(startMs + index)));
  table.reserve(pair, startMs + index);
  table.confirm(pair, startMs + index);
}
const after = heapUsedAfterGc();
console.log(
  benchLine("idempotency memory", {
    keys: keyCount,
    pairChars: IdempotencyTable.pair("cus-000000", ulid()).length,
    heapBytesPerKey: ((after - before) / keyCount).toFixed(1),
    size: table.size,
  }),
);
