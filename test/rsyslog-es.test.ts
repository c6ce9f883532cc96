// A real shipper against the Elasticsearch bulk route: Debian's rsyslogd with omelasticsearch
// (bulk mode, an ECS-ish JSON template) takes syslog lines over TCP and ships them to a real
// `sluice serve` child as to Elasticsearch; the lines come back through /loki/api/v1/query_range
// with the time, host, service and index they were sent with, and rsyslog's error file stays empty.
//
// The binary and module come from Debian (`apt-get install -y rsyslog rsyslog-elasticsearch`, which
// .ci/run does); SLUICE_RSYSLOGD_BIN names another rsyslogd. Without them the test fails, unless
// SLUICE_SKIP_RSYSLOG=1 is set, which turns the failure into a loud skip.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { findOnPath, freeLoopbackPort } from "./support/deploy.ts";
import { send } from "./support/http-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

const stopTimeoutMs = 10_000;
const shippedTimeoutMs = 30_000;

const temporaryDirs: string[] = [];
let sluice: ServerProcess | undefined;
let rsyslog: { child: ChildProcess; exited: Promise<number | null> } | undefined;

after(async () => {
  if (rsyslog && rsyslog.child.exitCode === null && rsyslog.child.signalCode === null) {
    rsyslog.child.kill("SIGTERM");
    const timer = setTimeout(() => rsyslog?.child.kill("SIGKILL"), stopTimeoutMs);
    await rsyslog.exited;
    clearTimeout(timer);
  }
  await sluice?.stop();
  for (const directory of temporaryDirs) fs.rmSync(directory, { recursive: true, force: true });
});

function rsyslogConfig(directory: string, inputPort: number, sluicePort: number): string {
  return `global(workDirectory="${directory}")
module(load="imtcp")
module(load="omelasticsearch")
input(type="imtcp" port="${inputPort}" address="127.0.0.1")
template(name="ecs" type="list" option.jsonf="on") {
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host.name" name="hostname" format="jsonf")
  property(outname="service.name" name="app-name" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}
action(type="omelasticsearch" server="127.0.0.1" serverport="${sluicePort}" template="ecs"
       searchIndex="syslog-test" bulkmode="on" errorfile="${directory}/errors.json")
`;
}

test("rsyslog's omelasticsearch ships syslog lines into Sluice as to Elasticsearch", async (t) => {
  const binary = process.env.SLUICE_RSYSLOGD_BIN || findOnPath("rsyslogd");
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-rsyslog-"));
  temporaryDirs.push(directory);
  sluice = await startServerProcess();
  const inputPort = await freeLoopbackPort();
  const configPath = path.join(directory, "rsyslog.conf");
  fs.writeFileSync(configPath, rsyslogConfig(directory, inputPort, sluice.port));
  const validated =
    binary === null ? null : spawnSync(binary, ["-N1", "-f", configPath], { encoding: "utf8" });
  if (binary === null || validated?.status !== 0) {
    const why =
      binary === null
        ? "no rsyslogd on PATH (apt-get install rsyslog rsyslog-elasticsearch)"
        : `rsyslogd cannot load the config (is rsyslog-elasticsearch installed?): ${validated?.stderr}${validated?.stdout}`;
    if (process.env.SLUICE_SKIP_RSYSLOG === "1") {
      console.error(`\n!!!!! SKIPPED test/rsyslog-es.test.ts: ${why}; SLUICE_SKIP_RSYSLOG=1 is set !!!!!\n`);
      t.skip(`SKIPPED: ${why} (SLUICE_SKIP_RSYSLOG=1)`);
      return;
    }
    assert.fail(`${why}. Set SLUICE_SKIP_RSYSLOG=1 to skip this test instead.`);
  }

  let output = "";
  const child = spawn(binary, ["-n", "-f", configPath, "-i", path.join(directory, "rsyslogd.pid")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  rsyslog = { child, exited: new Promise((resolve) => child.once("close", (code) => resolve(code))) };

  // RFC 5424 lines, so the time is exact (RFC 3164's has no year nor sub-seconds).
  const baseMs = Date.now() - 60_000;
  const lines = Array.from({ length: 20 }, (_, i) => {
    const stamp = new Date(baseMs + i * 10).toISOString();
    return `<14>1 ${stamp} web-${i % 2} checkout ${1000 + i} - - order ${i} shipped via syslog\n`;
  });
  await sendWhenListening(inputPort, lines.join(""), () => output);

  const query = '{index="syslog-test", service_name="checkout"}';
  const deadline = Date.now() + shippedTimeoutMs;
  let found: { stream: Record<string, string>; values: [string, string][] }[] = [];
  while (Date.now() < deadline) {
    const params = new URLSearchParams({ query, since: "15m", limit: "100" });
    const reply = await send(`${sluice.url}/loki/api/v1/query_range?${params}`);
    assert.equal(reply.status, 200, reply.text);
    found = JSON.parse(reply.text).data.result;
    if (found.reduce((n, stream) => n + stream.values.length, 0) >= lines.length) break;
    await new Promise((wake) => setTimeout(wake, 200));
  }
  const byLine = new Map(
    found.flatMap((s) => s.values.map(([ts, line]) => [line.trim(), { ts, host: s.stream.host_name }])),
  );
  assert.equal(
    byLine.size,
    lines.length,
    `shipped ${byLine.size} of ${lines.length}; rsyslog said: ${output}`,
  );
  for (let i = 0; i < lines.length; i++) {
    const entry = byLine.get(`order ${i} shipped via syslog`);
    assert.ok(entry, `line ${i}`);
    assert.equal(entry.host, `web-${i % 2}`);
    // rsyslog's rfc3339 property keeps microseconds at most: the ms of the line are exact.
    assert.equal(BigInt(entry.ts) / 1_000_000n, BigInt(baseMs + i * 10));
  }
  assert.equal(fs.existsSync(path.join(directory, "errors.json")), false, "rsyslog logged bulk errors");
  assert.equal((await send(`${sluice.url}/healthz`)).status, 200);
});

/** Sends `text` once rsyslog's TCP input accepts connections (it opens it a moment after start). */
async function sendWhenListening(port: number, text: string, output: () => string): Promise<void> {
  const deadline = Date.now() + shippedTimeoutMs;
  for (;;) {
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1", () => socket.end(text, () => resolve()));
        socket.once("error", reject);
      });
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`rsyslog never listened on ${port}: ${output()}`, { cause: error });
      await new Promise((wake) => setTimeout(wake, 100));
    }
  }
}
