// Debian's rsyslog as the sender: an rsyslogd of its own (unprivileged: user nobody when the test
// runs as root; a temp config, no system socket) takes messages from util-linux `logger` on a unix
// socket and forwards them to a real Sluice server with omfwd in the three ways rsyslog users
// configure it: TCP octet-counted RFC 5424 (RSYSLOG_SyslogProtocol23Format), TCP LF-framed
// RSYSLOG_ForwardFormat (3164 with an RFC 3339 timestamp) and UDP RSYSLOG_TraditionalForwardFormat.
// Each line is then found through the Loki query API with the labels SYSLOG.md maps.
//
// rsyslogd comes from `apt-get install rsyslog` (.ci/run installs it). Without it this test fails
// saying so; SLUICE_SKIP_RSYSLOG=1 skips it, loudly.

import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { send } from "./support/http-client.ts";
import { type ServerProcess, startServerProcess, temporaryDataDir } from "./support/server.ts";

const run = promisify(execFile);
const rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"].find((file) => fs.existsSync(file));
const skip = process.env.SLUICE_SKIP_RSYSLOG === "1";
if (skip)
  process.stderr.write(
    "test/syslog-rsyslog.test.ts: SKIPPED (SLUICE_SKIP_RSYSLOG=1): rsyslog is not tested\n",
  );

interface QueryStream {
  stream: Record<string, string>;
  values: [string, string][];
}

async function waitForLines(url: string, query: string, count: number): Promise<QueryStream[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const params = new URLSearchParams({ query, since: "30m", limit: "5000" });
    const reply = await send(`${url}/loki/api/v1/query_range?${params}`);
    assert.equal(reply.status, 200, reply.text);
    const streams: QueryStream[] = JSON.parse(reply.text).data.result;
    const lines = streams.reduce((sum, s) => sum + s.values.length, 0);
    if (lines >= count || Date.now() > deadline) {
      assert.equal(lines, count, `${query}: ${JSON.stringify(streams).slice(0, 400)}`);
      return streams;
    }
    await sleep(100);
  }
}

function rsyslogConfig(directory: string, tcpPort: number, udpPort: number): string {
  return `
global(workDirectory="${directory}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="${directory}/log.sock" CreatePath="on")
if $programname == "rs-5424" then {
  action(type="omfwd" target="127.0.0.1" port="${tcpPort}" protocol="tcp"
         template="RSYSLOG_SyslogProtocol23Format" TCP_Framing="octet-counted")
  stop
}
if $programname == "rs-fwd" then {
  action(type="omfwd" target="127.0.0.1" port="${tcpPort}" protocol="tcp" template="RSYSLOG_ForwardFormat")
  stop
}
if $programname == "rs-udp" then {
  action(type="omfwd" target="127.0.0.1" port="${udpPort}" protocol="udp" template="RSYSLOG_TraditionalForwardFormat")
  stop
}
stop
`;
}

describe("rsyslog forwarding to Sluice (omfwd)", { skip: skip ? "SLUICE_SKIP_RSYSLOG=1" : false }, () => {
  let server: ServerProcess;
  let daemon: ChildProcess;
  let directory: string;
  let socketPath: string;
  let daemonOutput = "";
  const hostname = os.hostname().split(".")[0]!;

  before(async () => {
    assert.ok(
      rsyslogd !== undefined,
      "rsyslogd not found: install Debian's rsyslog (apt-get install -y rsyslog), or set SLUICE_SKIP_RSYSLOG=1 to skip this test",
    );
    server = await startServerProcess({ args: ["--syslog-tcp-port", "0", "--syslog-udp-port", "0"] });
    directory = temporaryDataDir("sluice-rsyslog-");
    socketPath = path.join(directory, "log.sock");
    fs.writeFileSync(
      path.join(directory, "rsyslog.conf"),
      rsyslogConfig(directory, server.syslogTcpPort!, server.syslogUdpPort!),
    );
    // As root, rsyslogd runs as nobody: nothing here needs a privilege.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    if ("uid" in asNobody) fs.chownSync(directory, 65534, 65534);
    daemon = spawn(
      rsyslogd!,
      ["-n", "-f", path.join(directory, "rsyslog.conf"), "-i", path.join(directory, "rsyslogd.pid")],
      {
        stdio: ["ignore", "pipe", "pipe"],
        ...asNobody,
      },
    );
    daemon.stdout!.on("data", (chunk) => {
      daemonOutput += chunk;
    });
    daemon.stderr!.on("data", (chunk) => {
      daemonOutput += chunk;
    });
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(socketPath)) {
      assert.ok(daemon.exitCode === null, `rsyslogd exited: ${daemonOutput}`);
      assert.ok(Date.now() < deadline, `rsyslogd did not open ${socketPath}: ${daemonOutput}`);
      await sleep(50);
    }
  });
  after(async () => {
    if (daemon !== undefined && daemon.exitCode === null) {
      const exited = new Promise((resolve) => daemon.once("exit", resolve));
      daemon.kill("SIGTERM");
      await exited;
    }
    await server?.stop();
  });

  function logger(tag: string, message: string): Promise<unknown> {
    return run("/usr/bin/logger", ["-u", socketPath, "-t", tag, "-p", "local5.err", message]);
  }

  test("TCP, octet-counted RFC 5424 (RSYSLOG_SyslogProtocol23Format)", async () => {
    await logger("rs-5424", "hello through rsyslog");
    const [stream] = await waitForLines(server.url, '{app_name="rs-5424"}', 1);
    assert.deepEqual(
      { ...stream!.stream, procid: undefined },
      {
        app_name: "rs-5424",
        service: "rs-5424",
        service_name: "rs-5424",
        hostname,
        facility: "local5",
        severity: "err",
        level: "error",
        procid: undefined,
      },
    );
    // rsyslog's %msg% keeps the space after the 3164 tag's colon; RFC 5424's MSG is what follows
    // the header's SP, so that space is part of it (SYSLOG.md).
    assert.equal(stream!.values[0]![1], " hello through rsyslog");
    assert.notEqual(BigInt(stream!.values[0]![0]) % 1_000_000n, 0n, "rsyslog's microseconds");
  });

  test("TCP, LF-framed RSYSLOG_ForwardFormat, 300 messages in order", async () => {
    const child = execFile("/usr/bin/logger", ["-u", socketPath, "-t", "rs-fwd", "-p", "local5.err"]);
    child.stdin!.end(Array.from({ length: 300 }, (_, i) => `forwarded ${i}`).join("\n"));
    await new Promise((resolve) => child.once("exit", resolve));
    const streams = await waitForLines(server.url, '{app_name="rs-fwd"}', 300);
    assert.equal(streams.length, 1);
    assert.equal(streams[0]!.stream.hostname, hostname);
    const lines = streams[0]!.values.map(([, line]) => line).reverse(); // newest first
    assert.deepEqual(
      lines,
      Array.from({ length: 300 }, (_, i) => `forwarded ${i}`),
    );
  });

  test("UDP, RSYSLOG_TraditionalForwardFormat (RFC 3164, second precision)", async () => {
    await logger("rs-udp", "datagram via rsyslog");
    const [stream] = await waitForLines(server.url, '{app_name="rs-udp", severity="err"}', 1);
    assert.equal(stream!.stream.hostname, hostname);
    assert.equal(stream!.values[0]![1], "datagram via rsyslog");
    const ms = Number(BigInt(stream!.values[0]![0]) / 1_000_000n);
    assert.equal(ms % 1000, 0);
    assert.ok(Math.abs(ms - Date.now()) < 60_000, "this year's, in the server's time zone");
  });
});
