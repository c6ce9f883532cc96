// `npm run bench`: runs every benchmark in bench/ in turn, each in its own process, and prints their
// summary lines. Pass names to run only some: npm run bench -- log ingest
// Each benchmark prints one line per figure; compare lines of the same run (the machine is shared).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const directory = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const benches = fs
  .readdirSync(directory)
  .filter((name) => name.endsWith(".bench.ts"))
  .filter((name) => wanted.length === 0 || wanted.some((word) => name.includes(word)))
  .sort();
let failed = 0;
for (const name of benches) {
  process.stdout.write(`# ${name}\n`);
  const result = spawnSync(process.execPath, [path.join(directory, name)], { stdio: "inherit" });
  if (result.status !== 0) {
    failed++;
    process.stdout.write(`# ${name} failed with status ${result.status}\n`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
