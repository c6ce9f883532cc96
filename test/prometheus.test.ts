// deploy/prometheus.yml works with a real Prometheus: Debian's `prometheus` binary runs with that
// file (target rewritten to a real `sluice serve` child on loopback, scrape interval 1 s) and its
// HTTP query API reports the Sluice job up and exactly the records ingested before the scrape.
//
// The binary comes from the Debian package (`apt-get install -y prometheus`, which .ci/run does);
// SLUICE_PROMETHEUS_BIN names another one. Without it the test fails, unless
// SLUICE_SKIP_PROMETHEUS=1 is set, which turns the failure into a loud skip.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import YAML from "yaml";
import { findOnPath, freeLoopbackPort, readDeployYaml } from "./support/deploy.ts";
import { postServiceLogs } from "./support/http-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

/** Prometheus' TSDB start-up and two 1 s scrapes take a few seconds; CI machines are slow. */
const prometheusReadyTimeoutMs = 60_000;
const prometheusStopTimeoutMs = 15_000;
const pollIntervalMs = 250;
const scrapeInterval = "1s";

const temporaryDirs: string[] = [];
let sluice: ServerProcess | undefined;
let prometheus: { child: ChildProcess; exited: Promise<number | null>; output: () => string } | undefined;

after(async () => {
  if (prometheus) await stopChild(prometheus.child, prometheus.exited);
  await sluice?.stop();
  for (const directory of temporaryDirs) fs.rmSync(directory, { recursive: true, force: true });
});

function prometheusBinary(): string | null {
  const named = process.env.SLUICE_PROMETHEUS_BIN;
  if (named !== undefined && named !== "") return named;
  return findOnPath("prometheus");
}

/** deploy/prometheus.yml with the Sluice job pointed at `target` and every interval 1 s. */
function testPrometheusConfig(target: string): string {
  const config = readDeployYaml("prometheus.yml") as {
    global?: Record<string, unknown>;
    scrape_configs?: Array<Record<string, unknown>>;
  };
  const job = config.scrape_configs?.find((scrape) => scrape.job_name === "sluice");
  assert.ok(job, 'deploy/prometheus.yml has no scrape job "sluice"');
  config.global = {
    ...config.global,
    scrape_interval: scrapeInterval,
    scrape_timeout: scrapeInterval,
    evaluation_interval: scrapeInterval,
  };
  // A job's own interval would override the global one.
  delete job.scrape_interval;
  delete job.scrape_timeout;
  job.static_configs = [{ targets: [target] }];
  return YAML.stringify(config);
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), prometheusStopTimeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

interface QueryAnswer {
  status: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  error?: string;
}

async function instantQuery(baseUrl: string, query: string): Promise<QueryAnswer> {
  const response = await fetch(`${baseUrl}/api/v1/query?query=${encodeURIComponent(query)}`, {
    signal: AbortSignal.timeout(5_000),
  });
  return (await response.json()) as QueryAnswer;
}

test("Prometheus with deploy/prometheus.yml scrapes Sluice: the job is up and sluice_ingested_records_total is exactly what was ingested", async (t) => {
  const binary = prometheusBinary();
  if (binary === null) {
    const why =
      "the prometheus binary is not on PATH (install Debian's package: apt-get install -y prometheus, " +
      "or name one in SLUICE_PROMETHEUS_BIN)";
    if (process.env.SLUICE_SKIP_PROMETHEUS === "1") {
      console.error(
        `\n!!!!! SKIPPED test/prometheus.test.ts: ${why}; SLUICE_SKIP_PROMETHEUS=1 is set !!!!!\n`,
      );
      t.skip(`SKIPPED: ${why} (SLUICE_SKIP_PROMETHEUS=1)`);
      return;
    }
    assert.fail(`${why}. Set SLUICE_SKIP_PROMETHEUS=1 to skip this test instead.`);
  }

  sluice = await startServerProcess();
  // Three batches of different sizes; each is acknowledged (and counted) before Prometheus starts,
  // so its first scrape already sees the final total.
  let ingested = 0;
  for (const size of [1, 7, 29]) {
    const entries = Array.from({ length: size }, (_, index) => ({
      timestamp: 1_700_000_000_000 + ingested + index,
      service: "prometheus_test",
      message: `line ${ingested + index}`,
    }));
    const reply = await postServiceLogs(sluice.url, entries);
    assert.equal(reply.status, 200, reply.text);
    assert.equal(JSON.parse(reply.text).received, size);
    ingested += size;
  }

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-prometheus-"));
  temporaryDirs.push(workDir);
  const configFile = path.join(workDir, "prometheus.yml");
  fs.writeFileSync(configFile, testPrometheusConfig(`127.0.0.1:${sluice.port}`));
  const storageDir = path.join(workDir, "tsdb");
  const port = await freeLoopbackPort();
  const prometheusUrl = `http://127.0.0.1:${port}`;

  const child = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${storageDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"], cwd: workDir },
  );
  let output = "";
  child.stdout!.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr!.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  child.once("error", (error) => {
    output += `spawn failed: ${error.message}\n`;
  });
  prometheus = { child, exited, output: () => output };

  const up = 'up{job="sluice"}';
  const records = 'sum(sluice_ingested_records_total{job="sluice"})';
  const deadline = Date.now() + prometheusReadyTimeoutMs;
  let last = "no answer yet";
  let upAnswer: QueryAnswer | undefined;
  let recordsAnswer: QueryAnswer | undefined;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      assert.fail(
        `prometheus exited (${child.exitCode ?? child.signalCode}) before answering; its output:\n${output}`,
      );
    try {
      upAnswer = await instantQuery(prometheusUrl, up);
      recordsAnswer = await instantQuery(prometheusUrl, records);
      last = `${up} → ${JSON.stringify(upAnswer)}; ${records} → ${JSON.stringify(recordsAnswer)}`;
      if (upAnswer.data?.result[0]?.value[1] === "1" && recordsAnswer.data?.result.length === 1) break;
    } catch (error) {
      last = `query failed: ${(error as Error).message}`;
    }
    if (Date.now() > deadline)
      assert.fail(
        `Prometheus did not report the Sluice job up with its records within ${prometheusReadyTimeoutMs} ms; ` +
          `last: ${last}\nprometheus output (tail):\n${output.slice(-4000)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }

  assert.equal(upAnswer.data?.result.length, 1, last);
  assert.equal(upAnswer.data?.result[0].metric.instance, `127.0.0.1:${sluice.port}`, last);
  assert.equal(Number(recordsAnswer?.data?.result[0].value[1]), ingested, last);

  assert.equal(
    await stopChild(child, exited),
    0,
    `prometheus did not exit 0 on SIGTERM; output:\n${output.slice(-4000)}`,
  );
  prometheus = undefined;
  assert.equal(await sluice.stop(), 0);
  sluice = undefined;
});
