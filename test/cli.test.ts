// The sluice command: configuration (flags, env, file, --help, clear errors), the load generator
// against a real server, and graceful shutdown on SIGTERM with requests in flight.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { serveOptions } from "../src/config/index.ts";
import { defaultPaths } from "../src/loadgen/index.ts";
import {
  npmStartNodeArgs,
  type ServerProcess,
  sluiceEntry,
  startServerProcess,
  temporaryDataDir,
} from "./support/server.ts";

function sluice(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [sluiceEntry, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("configuration", () => {
  test("serve --help lists every option with its env variable and default", () => {
    const { status, stdout } = sluice(["serve", "--help"]);
    assert.equal(status, 0);
    for (const [name, spec] of Object.entries(serveOptions)) {
      const line = stdout.split("\n").find((candidate) => candidate.trimStart().startsWith(`--${name} `));
      assert.ok(line, `--help lists --${name}`);
      assert.match(line, new RegExp(`SLUICE_${name.toUpperCase().replaceAll("-", "_")}\\s`));
      assert.ok(
        line.includes(spec.default === null ? "default none" : `default ${JSON.stringify(spec.default)}`),
        line,
      );
    }
  });

  test("invalid values are all reported at once, naming their source, and serve exits 2", () => {
    const configFile = path.join(temporaryDataDir("sluice-config-"), "bad.json");
    fs.writeFileSync(configFile, JSON.stringify({ partitions: "many", nonsense: 1 }));
    const { status, stderr } = sluice(
      ["serve", "--port", "70000", "--fsync", "sometimes", "--config", configFile, "--bogus", "1"],
      {
        SLUICE_BATCH_ENTRIES_MAX: "ten",
      },
    );
    assert.equal(status, 2);
    for (const expected of [
      "port (from --port): must be <= 65535, got 70000",
      'fsync (from --fsync): must be one of always, interval, got "sometimes"',
      "unknown option --bogus",
      'batch-entries-max (from SLUICE_BATCH_ENTRIES_MAX): expected an integer, got "ten"',
      `partitions (from ${configFile}): expected an integer, got "many"`,
      'unknown option "nonsense"',
    ]) {
      assert.ok(stderr.includes(expected), `stderr mentions ${expected}:\n${stderr}`);
    }
    fs.rmSync(path.dirname(configFile), { recursive: true, force: true });
  });

  test("env and config file set options; flags win over env, env over the file", async () => {
    const dataDir = temporaryDataDir("sluice-config-");
    const configFile = path.join(dataDir, "sluice.json");
    fs.writeFileSync(
      configFile,
      JSON.stringify({ "node-id": "from-file", partitions: 8, "query-limit-max": 3 }),
    );
    const server = await startServerProcess({
      dataDir: path.join(dataDir, "data"),
      args: ["--config", configFile, "--node-id", "from-flag"],
      env: { SLUICE_NODE_ID: "from-env", SLUICE_PARTITIONS: "2" },
    });
    try {
      const body = JSON.stringify(
        Array.from({ length: 5 }, (_, i) => ({ timestamp: i, service: "svc", message: `m${i}` })),
      );
      assert.equal((await fetch(`${server.url}/v1/logs`, { method: "POST", body })).status, 200);
      const stored = (await (await fetch(`${server.url}/v1/query?service=svc&limit=100`)).json()) as Array<{
        ingested_node_id: string;
      }>;
      assert.equal(stored.length, 3, "query-limit-max 3 came from the file");
      assert.equal(stored[0].ingested_node_id, "from-flag", "the flag beats env and file");
      const partitions = fs
        .readdirSync(path.join(server.dataDir, "topics", "logs"))
        .filter((name) => name.startsWith("partition-"));
      assert.equal(partitions.length, 2, "SLUICE_PARTITIONS beats the file");
    } finally {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("a queue larger than the heap can hold is refused at start", () => {
    const result = spawnSync(
      process.execPath,
      ["--max-old-space-size=64", sluiceEntry, "serve", "--queue-bytes-max", String(512 * 1024 * 1024)],
      { encoding: "utf8" },
    );
    assert.equal(result.status, 2);
    assert.match(result.stderr, /needs a V8 heap of at least \d+ MiB/);
  });

  test("unknown commands print usage and exit 2", () => {
    const { status, stderr } = sluice(["frobnicate"]);
    assert.equal(status, 2);
    assert.match(stderr, /unknown command "frobnicate"/);
    assert.match(stderr, /serve/);
  });
});

describe("loadgen and shutdown", () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    if (server.child.exitCode === null) await server.kill();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  test("loadgen takes the reference flags and ends with a summary of what was acknowledged", () => {
    const { status, stdout } = sluice([
      "loadgen",
      "--url",
      `${server.url}/v1/logs`,
      "--total",
      "250",
      "--batch",
      "50",
      "--delay",
      "5",
    ]);
    assert.equal(status, 0, stdout);
    assert.match(
      stdout,
      /loadgen summary: records sent=250 acknowledged=250 rejected=0 +requests=5 status=200:5/,
    );
    assert.match(stdout, /latency p50=[\d.]+ms p90=[\d.]+ms p99=[\d.]+ms max=[\d.]+ms/);
    assert.match(stdout, /records\/s=\d+ +MB\/s=[\d.]+/);
  });

  test("loadgen --format access sends idempotent batches that are all accepted", () => {
    const { status, stdout } = sluice([
      "loadgen",
      "--url",
      `${server.url}/logs`,
      "--format",
      "access",
      "--duration",
      "1",
      "--batch",
      "20",
      "--delay",
      "0",
      "--concurrency",
      "4",
      "--tenant",
      "cus-lg",
    ]);
    assert.equal(status, 0, stdout);
    const acknowledged = Number(/acknowledged=(\d+)/.exec(stdout)![1]);
    assert.ok(acknowledged > 0 && acknowledged % 20 === 0, stdout);
    assert.match(stdout, /status=202:\d+ /);
  });

  // Each protocol's body, as loadgen encodes it, is accepted and stored whole: the tenant's line
  // count (Loki's index/stats over the run's hour) is exactly what was sent.
  for (const format of ["loki", "loki-proto", "otlp", "otlp-proto", "es"] as const) {
    test(`loadgen --format ${format} is acknowledged and every record is stored`, async () => {
      const tenant = `lg-${format}`;
      const { status, stdout } = sluice([
        "loadgen",
        "--url",
        `${server.url}${defaultPaths[format]}`,
        "--format",
        format,
        "--total",
        "300",
        "--batch",
        "100",
        "--tenant",
        tenant,
      ]);
      assert.equal(status, 0, stdout);
      assert.match(stdout, /acknowledged=300 rejected=0/);
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const hourNs = 3_600_000_000_000n;
      const search = new URLSearchParams({
        query: '{service_name=~".+"}',
        start: String(nowNs - hourNs),
        end: String(nowNs + hourNs),
      });
      const reply = await fetch(`${server.url}/loki/api/v1/index/stats?${search}`, {
        headers: { "x-scope-orgid": tenant },
      });
      const stats = (await reply.json()) as { entries: number };
      assert.equal(stats.entries, 300, JSON.stringify(stats));
    });
  }

  test("loadgen reports refused requests by status and exits 1", () => {
    const { status, stdout } = sluice([
      "loadgen",
      "--url",
      `${server.url}/v1/query`,
      "--total",
      "20",
      "--batch",
      "10",
      "--delay",
      "0",
    ]);
    assert.equal(status, 1);
    assert.match(stdout, /acknowledged=0 rejected=20 +requests=2 status=405:2/);
  });

  test("loadgen refuses bad flags with a clear message", () => {
    const { status, stderr } = sluice(["loadgen", "--batch", "zero"]);
    assert.equal(status, 2);
    assert.match(stderr, /--batch must be an integer >= 1, got "zero"/);
  });

  test("SIGTERM under load: answered requests are stored, nothing is cut off, exit 0", async () => {
    let stop = false;
    let sent = 0;
    const statuses: number[] = [];
    // SIGTERM goes once a request has been acknowledged (not after a fixed time, which a slow
    // machine could spend before the first answer); the other senders have theirs in flight then.
    let firstAcknowledged: () => void = () => {};
    const acknowledgedOnce = new Promise<void>((resolve) => {
      firstAcknowledged = resolve;
    });
    const senders = Array.from({ length: 8 }, async (_, worker) => {
      for (let n = 0; !stop; n++) {
        const body = JSON.stringify(
          Array.from({ length: 100 }, (_, i) => ({
            timestamp: i,
            service: "shutdown_service",
            message: `w${worker} n${n} i${i}`,
          })),
        );
        sent++;
        const status = await fetch(`${server.url}/v1/logs`, { method: "POST", body }).then(
          async (response) => {
            await response.arrayBuffer();
            return response.status;
          },
          () => 0,
        );
        statuses.push(status);
        if (status === 200) firstAcknowledged();
        if (status !== 200) stop = true;
      }
    });
    await Promise.race([acknowledgedOnce, Promise.all(senders)]); // all senders stopping: fails below
    const exitCode = await server.stop();
    stop = true;
    await Promise.all(senders);
    assert.equal(exitCode, 0);
    const acknowledged = statuses.filter((status) => status === 200).length;
    assert.ok(acknowledged > 0, "requests were answered before the signal");
    assert.ok(
      statuses.every((status) => status === 200 || status === 503 || status === 0),
      `statuses ${[...new Set(statuses)]}`,
    );
    const restarted = await startServerProcess({
      dataDir: server.dataDir,
      args: ["--query-limit-max", "1000000"],
    });
    try {
      const stored = (await (
        await fetch(`${restarted.url}/v1/query?service=shutdown_service&limit=1000000`)
      ).json()) as unknown[];
      assert.ok(
        stored.length >= acknowledged * 100,
        `${stored.length} stored, ${acknowledged * 100} acknowledged`,
      );
      assert.ok(stored.length <= sent * 100);
    } finally {
      await restarted.stop();
    }
  });
});

test("npm start's command line (node with a bounded heap) serves and answers /ready", async () => {
  const nodeArgs = npmStartNodeArgs();
  assert.ok(nodeArgs.includes("--max-old-space-size=1024"), nodeArgs.join(" "));
  const server = await startServerProcess({ nodeArgs });
  try {
    assert.equal((await fetch(`${server.url}/ready`)).status, 200);
  } finally {
    assert.equal(await server.stop(), 0);
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
});
