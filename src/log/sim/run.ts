// The power-loss simulation from the command line: `npm run sim -- --rounds N [--seed S]` runs rounds
// S, S+1, … (each round is its own seed) and stops at the first failure, printing the command that
// replays it. --lying-syncs runs on a disk whose syncs do nothing: every run must then fail (the
// checker's self-test). --trace N prints the last N storage operations of a failing round.

import { parseArgs } from "node:util";
import { runRound, SimFailure } from "./round.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "1000" },
    seed: { type: "string" },
    "lying-syncs": { type: "boolean", default: false },
    trace: { type: "string", default: "0" },
  },
});
const rounds = Number(values.rounds);
const firstSeed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isSafeInteger(rounds) || rounds < 1 || !Number.isSafeInteger(firstSeed)) {
  process.stderr.write("usage: npm run sim -- [--rounds N] [--seed S] [--lying-syncs] [--trace N]\n");
  process.exit(2);
}

const startedMs = performance.now();
const totals = {
  cuts: 0,
  recoveryCuts: 0,
  appendsAcked: 0,
  truncates: 0,
  truncatesAcrossSegments: 0,
  maintenances: 0,
  segmentsDeleted: 0,
  segmentsCompacted: 0,
  recordsChecked: 0,
  operations: 0,
};
let done = 0;
for (let seed = firstSeed; seed < firstSeed + rounds; seed++) {
  try {
    const summary = await runRound(seed, {
      lyingSyncs: values["lying-syncs"],
      traceOperations: Number(values.trace),
    });
    for (const key of Object.keys(totals) as Array<keyof typeof totals>) totals[key] += summary[key];
    done++;
  } catch (error) {
    const seedOf = error instanceof SimFailure ? error.seed : seed;
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.stderr.write(`replay: npm run sim -- --rounds 1 --seed ${seedOf}\n`);
    process.exit(1);
  }
}
const seconds = (performance.now() - startedMs) / 1000;
process.stdout.write(
  `sim: ${done} rounds from seed ${firstSeed} in ${seconds.toFixed(1)} s (${(done / seconds).toFixed(0)} rounds/s), ` +
    `${totals.cuts} cuts + ${totals.recoveryCuts} during recovery, ${totals.appendsAcked} appends acked, ` +
    `${totals.truncates} truncates (${totals.truncatesAcrossSegments} across segments), ` +
    `${totals.maintenances} maintenance runs (${totals.segmentsDeleted} segments deleted, ${totals.segmentsCompacted} compacted, acknowledged), ` +
    `${totals.recordsChecked} records checked, ${totals.operations} storage operations\n`,
);
