// The start-up heap check counts the idempotency table: the defaults fit npm start's 1 GiB heap, a
// table too large for the heap is refused with a message that names the option and the fix, both
// as a function and as `sluice serve` run with npm start's node flags.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { npmStartNodeArgs, sluiceEntry, temporaryDataDir } from "../../test/support/server.ts";
import { serveOptions } from "../config/index.ts";
import { idempotencyLimits } from "../ingest/index.ts";
import { heapBytesNeeded, heapProblem } from "./heap.ts";

const GiB = 2 ** 30;
const defaults = {
  queueBytesMax: serveOptions["queue-bytes-max"].default,
  idempotencyKeysMax: serveOptions["idempotency-keys-max"].default,
};

describe("start-up heap check", () => {
  test("the defaults fit npm start's 1 GiB heap, and the table is counted", () => {
    assert.equal(heapProblem(defaults, GiB), null);
    const withoutKeys = heapBytesNeeded({ ...defaults, idempotencyKeysMax: 0 });
    assert.equal(
      heapBytesNeeded(defaults) - withoutKeys,
      defaults.idempotencyKeysMax * idempotencyLimits.heapBytesPerKey,
    );
  });

  test("syslog's TCP connections are counted when on, and named in the refusal", () => {
    const connections = 2000;
    const buffers = connections * (256 * 1024 + 8 * 1024 + 256 * 1024);
    assert.equal(
      heapBytesNeeded({ ...defaults, syslogBufferBytesMax: buffers }) - heapBytesNeeded(defaults),
      buffers,
    );
    const problem = heapProblem({ ...defaults, syslogBufferBytesMax: buffers }, GiB);
    assert.ok(problem !== null);
    assert.match(problem, /the syslog connections: ~1016 MiB\), this process has 1024 MiB/);
    assert.match(problem, /or --syslog-connections-max/);
  });

  test("a table too large for the heap is refused, naming the option and the heap it needs", () => {
    const problem = heapProblem({ ...defaults, idempotencyKeysMax: 5_000_000 }, GiB);
    assert.ok(problem !== null);
    assert.match(problem, /needs a V8 heap of at least 1443 MiB/);
    assert.match(
      problem,
      /--idempotency-keys-max 5000000: ~611 MiB at 128 B a key\), this process has 1024 MiB/,
    );
    assert.match(problem, /--max-old-space-size=1443/);
  });

  test("sluice serve with npm start's flags exits 2 with that message before opening anything", () => {
    const dataDir = temporaryDataDir();
    const result = spawnSync(
      process.execPath,
      [
        ...npmStartNodeArgs(),
        sluiceEntry,
        "serve",
        "--port",
        "0",
        "--data-dir",
        dataDir,
        "--idempotency-keys-max",
        "10000000",
      ],
      { encoding: "utf8" },
    );
    assert.equal(result.status, 2, result.stderr);
    assert.match(
      result.stderr,
      /^sluice serve: this configuration needs a V8 heap of at least \d+ MiB .*--idempotency-keys-max 10000000/,
    );
  });
});
