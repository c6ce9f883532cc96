// Syslog ingest end to end against a real `sluice serve` child: util-linux `logger` (RFC 5424 and
// 3164, TCP with LF framing and octet counting, UDP) and raw sockets send; every line is found again
// through the Loki query API with the mapped labels (src/ingest/SYSLOG.md). Then the hard cases: many
// messages on one connection in both framings, a frame split over many writes, garbage and
// oversized frames beside good ones (the process keeps serving), a slow client, idle and surplus
// connections, the tenant, TCP backpressure through the tenant rate limit, and a shutdown that
// stores what was read.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { metricValue, scrape, send } from "./support/http-client.ts";
import { type ServerProcess, sluiceEntry, startServerProcess, temporaryDataDir } from "./support/server.ts";

const run = promisify(execFile);
const loggerPath = "/usr/bin/logger";
const tenant = "ops";
const lineBytesMax = 4096;

interface QueryStream {
  stream: Record<string, string>;
  values: [string, string][];
}

async function queryRange(url: string, query: string, queryTenant = tenant): Promise<QueryStream[]> {
  const params = new URLSearchParams({ query, since: "30m", limit: "5000" });
  const reply = await send(`${url}/loki/api/v1/query_range?${params}`, {
    headers: { "x-scope-orgid": queryTenant },
  });
  assert.equal(reply.status, 200, reply.text);
  return JSON.parse(reply.text).data.result;
}

function lineCount(streams: QueryStream[]): number {
  return streams.reduce((sum, stream) => sum + stream.values.length, 0);
}

/** Polls query_range until it holds `count` lines (batches flush within ~50 ms + an fsync). */
async function waitForLines(
  url: string,
  query: string,
  count: number,
  timeoutMs = 10_000,
): Promise<QueryStream[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const streams = await queryRange(url, query);
    if (lineCount(streams) >= count || Date.now() > deadline) {
      assert.equal(lineCount(streams), count, `${query}: ${JSON.stringify(streams).slice(0, 500)}`);
      return streams;
    }
    await sleep(100);
  }
}

function onlyLine(streams: QueryStream[]): { labels: Record<string, string>; line: string; ts: bigint } {
  assert.equal(lineCount(streams), 1);
  return {
    labels: streams[0]!.stream,
    line: streams[0]!.values[0]![1],
    ts: BigInt(streams[0]!.values[0]![0]),
  };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" }, () => resolve(socket));
    socket.once("error", reject);
  });
}

function write(socket: net.Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (error) => (error ? reject(error) : resolve())));
}

function closeSocket(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.once("close", () => resolve());
    socket.end();
  });
}

function octetCounted(message: string): Buffer {
  const bytes = Buffer.from(message, "utf8");
  return Buffer.concat([Buffer.from(`${bytes.length} `), bytes]);
}

function rfc5424(app: string, message: string, pri = 14): string {
  return `<${pri}>1 ${new Date().toISOString()} testhost ${app} - - - ${message}`;
}

/** RFC 3164's timestamp of now, local time (`Dec  4 18:29:30`). */
function bsdNow(): string {
  const now = new Date();
  const month = now.toLocaleString("en-US", { month: "short" });
  const time = [now.getHours(), now.getMinutes(), now.getSeconds()]
    .map((n) => String(n).padStart(2, "0"))
    .join(":");
  return `${month} ${String(now.getDate()).padStart(2, " ")} ${time}`;
}

function logger(args: string[]): Promise<unknown> {
  return run(loggerPath, args);
}

describe("syslog ingest (TCP and UDP) into the Loki query API", () => {
  let server: ServerProcess;
  let url: string;
  let tcpPort: number;
  let udpPort: number;
  const shortHost = os.hostname().split(".")[0]!;

  before(async () => {
    assert.ok(fs.existsSync(loggerPath), `${loggerPath} (util-linux) is needed: apt-get install bsdutils`);
    server = await startServerProcess({
      args: [
        "--syslog-tcp-port",
        "0",
        "--syslog-udp-port",
        "0",
        "--syslog-tenant",
        tenant,
        "--line-bytes-max",
        String(lineBytesMax),
        "--syslog-connections-max",
        "8",
        "--syslog-idle-timeout-ms",
        "1500",
      ],
    });
    url = server.url;
    assert.ok(
      server.syslogTcpPort !== null && server.syslogUdpPort !== null,
      "the listening line carries both ports",
    );
    tcpPort = server.syslogTcpPort;
    udpPort = server.syslogUdpPort;
  });
  after(async () => {
    await server.stop();
  });

  test("logger --tcp --rfc5424 -t -p local3.warning: labels, SD as metadata, the message's own timestamp", async () => {
    const before = Date.now();
    await logger([
      "--server",
      "127.0.0.1",
      "--port",
      String(tcpPort),
      "--tcp",
      "--rfc5424",
      "-t",
      "lg-5424",
      "-p",
      "local3.warning",
      "hello over tcp",
    ]);
    const { labels, line, ts } = onlyLine(await waitForLines(url, '{app_name="lg-5424"}', 1));
    assert.equal(line, "hello over tcp");
    assert.deepEqual(
      { ...labels },
      {
        app_name: "lg-5424",
        service: "lg-5424",
        service_name: "lg-5424",
        hostname: os.hostname(),
        facility: "local3",
        severity: "warning",
        level: "warn",
        sd_timeQuality_tzKnown: labels.sd_timeQuality_tzKnown,
        sd_timeQuality_isSynced: labels.sd_timeQuality_isSynced,
      },
    );
    assert.ok(
      labels.sd_timeQuality_tzKnown !== undefined,
      "logger's timeQuality SD element as structured metadata",
    );
    const ms = Number(ts / 1_000_000n);
    assert.ok(
      ms >= before - 1000 && ms <= Date.now(),
      "logger's timestamp (microseconds), not a receive time",
    );
    assert.notEqual(ts % 1_000_000n, 0n, "sub-millisecond precision kept");
  });

  test("logger --octet-count with --sd-id/--sd-param, --msgid and -i: procid, msgid, SD params", async () => {
    await logger([
      "--server",
      "127.0.0.1",
      "--port",
      String(tcpPort),
      "--tcp",
      "--rfc5424",
      "--octet-count",
      "-i",
      "--msgid",
      "ORDER",
      "--sd-id",
      "shop@32473",
      "--sd-param",
      'cart="42"',
      "-t",
      "lg-octets",
      "-p",
      "user.err",
      "payment declined",
    ]);
    const { labels, line } = onlyLine(await waitForLines(url, '{app_name="lg-octets", level="error"}', 1));
    assert.equal(line, "payment declined");
    assert.equal(labels.severity, "err");
    assert.equal(labels.msgid, "ORDER");
    assert.match(labels.procid ?? "", /^\d+$/);
    assert.equal(labels.sd_shop_32473_cart, "42");
  });

  test("logger --udp --rfc3164: one datagram, one message; the structured-metadata filter finds it", async () => {
    await logger([
      "--server",
      "127.0.0.1",
      "--port",
      String(udpPort),
      "--udp",
      "--rfc3164",
      "-t",
      "lg-udp",
      "-p",
      "daemon.info",
      "udp says hi",
    ]);
    const { labels, line } = onlyLine(await waitForLines(url, '{service="lg-udp", facility="daemon"}', 1));
    assert.equal(line, "udp says hi");
    assert.equal(labels.hostname, shortHost);
    assert.equal(labels.severity, "info");
  });

  test("logger reading stdin over TCP (--rfc3164): one message per line", async () => {
    const child = execFile(loggerPath, [
      "--server",
      "127.0.0.1",
      "--port",
      String(tcpPort),
      "--tcp",
      "--rfc3164",
      "-t",
      "lg-stdin",
    ]);
    child.stdin!.end("first line\nsecond line\nthird line\n");
    await new Promise((resolve) => child.once("exit", resolve));
    const streams = await waitForLines(url, '{app_name="lg-stdin"}', 3);
    assert.deepEqual(streams.flatMap((s) => s.values.map(([, l]) => l)).sort(), [
      "first line",
      "second line",
      "third line",
    ]);
  });

  test("2,000 messages on one connection, octet counting and LF framing alternating", async () => {
    const socket = await connect(tcpPort);
    const parts: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      const message = rfc5424("bulk", `message ${i}`);
      parts.push(i % 2 === 0 ? octetCounted(message) : Buffer.from(`${message}\n`));
    }
    await write(socket, Buffer.concat(parts));
    await closeSocket(socket);
    const streams = await waitForLines(url, '{app_name="bulk"}', 2000);
    const lines = new Set(streams.flatMap((s) => s.values.map(([, l]) => l)));
    assert.equal(lines.size, 2000);
  });

  test("a frame split over many writes (one byte each, 5 ms apart) is one message", async () => {
    const socket = await connect(tcpPort);
    const frame = octetCounted(rfc5424("split", "put together again"));
    for (const byte of frame) {
      await write(socket, Buffer.from([byte]));
      await sleep(5);
    }
    await write(socket, `${rfc5424("split", "and the next one")}\n`);
    const streams = await waitForLines(url, '{app_name="split"}', 2);
    assert.deepEqual(streams.flatMap((s) => s.values.map(([, l]) => l)).sort(), [
      "and the next one",
      "put together again",
    ]);
    await closeSocket(socket);
  });

  test("garbage, invalid UTF-8 and an oversized frame on a connection: its good messages are stored, the process serves", async () => {
    const before = await scrape(url);
    const socket = await connect(tcpPort);
    await write(socket, `${rfc5424("mixed", "good before")}\n`);
    await write(socket, Buffer.from([0x00, 0xff, 0xfe, 0x0a])); // no PRI, not UTF-8
    await write(socket, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); // someone's HTTP client
    await write(
      socket,
      Buffer.concat([Buffer.from("<13>1 - h mixed - - - bad \xff byte", "latin1"), Buffer.from("\n")]),
    );
    await write(socket, `${rfc5424("mixed", `huge ${"x".repeat(3 * lineBytesMax)}`)}\n`);
    await write(socket, octetCounted(rfc5424("mixed", `counted huge ${"y".repeat(3 * lineBytesMax)}`)));
    await write(socket, `${rfc5424("mixed", "good after")}\n`);
    const streams = await waitForLines(url, '{app_name="mixed"}', 5);
    const lines = streams.flatMap((s) => s.values.map(([, l]) => l));
    assert.ok(lines.includes("good before") && lines.includes("good after"), lines.join(" | ").slice(0, 300));
    assert.ok(lines.includes("bad \uFFFD byte"), "invalid UTF-8 replaced by U+FFFD");
    const cut = lines.filter((l) => l.startsWith("huge ") || l.startsWith("counted huge "));
    assert.equal(cut.length, 2);
    for (const line of cut) assert.ok(Buffer.byteLength(line) <= lineBytesMax, "cut within --line-bytes-max");
    // The frames without a PRI are stored whole under the peer's address (as rsyslog does).
    const noPri = await waitForLines(
      url,
      '{hostname="127.0.0.1", facility="user", severity="notice"} |= "HTTP/1.1"',
      1,
    );
    assert.equal(noPri[0]!.values[0]![1], "GET / HTTP/1.1", "its CR is a line end, like the LF");
    const health = await send(`${url}/healthz`);
    assert.equal(health.status, 200);
    await write(socket, `${rfc5424("mixed", "same connection still read")}\n`);
    await waitForLines(url, '{app_name="mixed"} |= "still read"', 1);
    await closeSocket(socket);
    const samples = await scrape(url);
    const delta = (name: string, labels: Record<string, string>) =>
      metricValue(samples, name, labels) - metricValue(before, name, labels);
    assert.equal(delta("sluice_syslog_altered_messages_total", { route: "syslog-tcp", change: "cut" }), 2);
    assert.ok(
      delta("sluice_syslog_altered_messages_total", { route: "syslog-tcp", change: "invalid_utf8" }) >= 2,
    );
    assert.ok(delta("sluice_syslog_messages_total", { route: "syslog-tcp", format: "no_pri" }) >= 3);
  });

  test("a connection closed inside an octet-counted frame: the frame is dropped and counted, the rest stored", async () => {
    const before = await scrape(url);
    const socket = await connect(tcpPort);
    await write(socket, octetCounted(rfc5424("trunc", "whole")));
    await write(socket, `500 ${rfc5424("trunc", "cut short")}`);
    await closeSocket(socket);
    await waitForLines(url, '{app_name="trunc"}', 1);
    await sleep(200);
    const samples = await scrape(url);
    assert.equal(
      metricValue(samples, "sluice_syslog_dropped_messages_total", {
        route: "syslog-tcp",
        reason: "truncated",
      }) -
        metricValue(before, "sluice_syslog_dropped_messages_total", {
          route: "syslog-tcp",
          reason: "truncated",
        }),
      1,
    );
  });

  test("a slow client does not hold back another connection; its message is whole when it ends", async () => {
    const slow = await connect(tcpPort);
    const frame = `${rfc5424("slow", "finally complete")}\n`;
    await write(slow, frame.slice(0, 10));
    await logger([
      "--server",
      "127.0.0.1",
      "--port",
      String(tcpPort),
      "--tcp",
      "--rfc5424",
      "-t",
      "fast",
      "not held back",
    ]);
    await waitForLines(url, '{app_name="fast"}', 1, 3000);
    for (let at = 10; at < frame.length; at += 20) {
      await write(slow, frame.slice(at, at + 20));
      await sleep(50);
    }
    onlyLine(await waitForLines(url, '{app_name="slow"}', 1));
    await closeSocket(slow);
  });

  test("an idle connection is closed after --syslog-idle-timeout-ms; a partial frame it held is stored", async () => {
    const socket = await connect(tcpPort);
    const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
    const startedMs = Date.now();
    await write(socket, rfc5424("idle", "no newline, then silence"));
    const closedMs = await closed;
    assert.ok(
      closedMs - startedMs >= 1400 && closedMs - startedMs < 6000,
      `closed after ${closedMs - startedMs} ms`,
    );
    onlyLine(await waitForLines(url, '{app_name="idle"}', 1));
    const samples = await scrape(url);
    assert.ok(metricValue(samples, "sluice_syslog_connections_total", { outcome: "idle_closed" }) >= 1);
  });

  test("connections past --syslog-connections-max are closed at once; the others stay served", async () => {
    const held: net.Socket[] = [];
    for (let i = 0; i < 8; i++) held.push(await connect(tcpPort));
    const extra = await connect(tcpPort).catch(() => null);
    if (extra !== null) await new Promise((resolve) => extra.once("close", resolve));
    await write(held[0]!, `${rfc5424("held", "the first of eight")}\n`);
    await waitForLines(url, '{app_name="held"}', 1);
    const samples = await scrape(url);
    assert.ok(metricValue(samples, "sluice_syslog_connections_total", { outcome: "refused" }) >= 1);
    await Promise.all(held.map(closeSocket));
  });

  test("UDP: datagrams of two senders in one batch each keep their own client_ip", async () => {
    // Loopback answers on all of 127/8: two sockets, two source addresses, interleaved within the
    // listener's batch window, so one batch holds both senders.
    const sockets = await Promise.all(
      ["127.0.0.1", "127.0.0.2"].map(
        (address) =>
          new Promise<dgram.Socket>((resolve, reject) => {
            const socket = dgram.createSocket("udp4");
            socket.once("error", reject);
            socket.bind(0, address, () => resolve(socket));
          }),
      ),
    );
    for (let i = 0; i < 20; i++) {
      const sender = sockets[i % 2]!;
      const from = sender.address().address;
      await new Promise<void>((resolve, reject) =>
        sender.send(`<14>${bsdNow()} mixhost udpmix: from ${from} #${i}`, udpPort, "127.0.0.1", (e) =>
          e ? reject(e) : resolve(),
        ),
      );
    }
    for (const socket of sockets) socket.close();
    await waitForLines(url, '{service="udpmix"}', 20);
    const response = await fetch(`${url}/v1/query?service=udpmix&limit=100`, {
      headers: { "x-scope-orgid": tenant },
    });
    assert.equal(response.status, 200);
    const entries = (await response.json()) as { message: string; client_ip: string }[];
    assert.equal(entries.length, 20);
    for (const entry of entries)
      assert.equal(entry.client_ip, /from (\S+) /.exec(entry.message)![1], entry.message);
    assert.deepEqual(new Set(entries.map((entry) => entry.client_ip)), new Set(["127.0.0.1", "127.0.0.2"]));
  });

  test("UDP: many datagrams, one message each; garbage datagrams stored as no_pri", async () => {
    const socket = dgram.createSocket("udp4");
    for (let i = 0; i < 200; i++) {
      const message = `<165>${bsdNow()} router${i % 4} udpbulk[${i}]: datagram ${i}`;
      await new Promise<void>((resolve, reject) =>
        socket.send(message, udpPort, "127.0.0.1", (e) => (e ? reject(e) : resolve())),
      );
      if (i % 50 === 49) await sleep(10); // loopback UDP drops too when the receive buffer overflows
    }
    await new Promise<void>((resolve) =>
      socket.send(Buffer.from("udp garbage \xff\xfe\xfd\xfc", "latin1"), udpPort, "127.0.0.1", () =>
        resolve(),
      ),
    );
    socket.close();
    const streams = await waitForLines(url, '{app_name="udpbulk"}', 200);
    assert.deepEqual(
      new Set(streams.map((s) => s.stream.hostname)),
      new Set(["router0", "router1", "router2", "router3"]),
    );
    assert.ok(streams.every((s) => s.stream.procid !== undefined && s.stream.facility === "local4"));
    const garbage = await waitForLines(url, '{hostname="127.0.0.1", facility="user"} |= "udp garbage"', 1);
    assert.equal(
      garbage[0]!.values[0]![1],
      `udp garbage ${"\uFFFD".repeat(4)}`,
      "not UTF-8, no PRI: stored whole, each byte U+FFFD",
    );
  });

  test("the tenant: lines are stored under --syslog-tenant, invisible to the default tenant", async () => {
    await logger([
      "--server",
      "127.0.0.1",
      "--port",
      String(tcpPort),
      "--tcp",
      "--rfc5424",
      "-t",
      "tenanted",
      "whose line",
    ]);
    await waitForLines(url, '{app_name="tenanted"}', 1);
    assert.equal(lineCount(await queryRange(url, '{app_name="tenanted"}', "fake")), 0);
    const samples = await scrape(url);
    assert.ok(metricValue(samples, "sluice_ingested_records_total", { route: "syslog-tcp", tenant }) > 2000);
    assert.ok(metricValue(samples, "sluice_ingested_records_total", { route: "syslog-udp", tenant }) >= 201);
  });
});

describe("syslog TCP backpressure and shutdown", () => {
  test("over the tenant rate the connection is paused and retried: every message stored, none dropped; paused is not idle", async () => {
    const server = await startServerProcess({
      args: ["--syslog-tcp-port", "0", "--tenant-records-per-s", "1000", "--syslog-idle-timeout-ms", "1000"],
    });
    try {
      const socket = await connect(server.syslogTcpPort!);
      const closedByServer = new Promise<void>((resolve) => socket.once("close", () => resolve()));
      const parts: Buffer[] = [];
      for (let i = 0; i < 3000; i++) parts.push(Buffer.from(`${rfc5424("paced", `paced ${i}`)}\n`));
      await write(socket, Buffer.concat(parts)); // kept open: the server closes it once idle
      const deadline = Date.now() + 15_000;
      let stored = 0;
      while (Date.now() < deadline) {
        const params = new URLSearchParams({
          query: 'count_over_time({app_name="paced"}[30m])',
          time: String(Date.now() / 1000),
        });
        const reply = await send(`${server.url}/loki/api/v1/query?${params}`);
        const result = JSON.parse(reply.text).data.result;
        stored = result.length === 0 ? 0 : Number(result[0].value[1]);
        if (stored >= 3000) break;
        await sleep(200);
      }
      assert.equal(stored, 3000);
      const samples = await scrape(server.url);
      assert.ok(
        metricValue(samples, "sluice_rejected_requests_total", {
          route: "syslog-tcp",
          reason: "tenant_rate_limited",
        }) >= 1,
        "some batches waited for the rate",
      );
      assert.equal(metricValue(samples, "sluice_syslog_dropped_messages_total"), 0);
      const idleClosed = await Promise.race([
        closedByServer.then(() => true),
        sleep(10_000).then(() => false),
      ]);
      assert.ok(idleClosed, "the connection, idle after the rate let its last batch through, was closed");
      const after = await scrape(server.url);
      assert.equal(metricValue(after, "sluice_syslog_connections_total", { outcome: "idle_closed" }), 1);
    } finally {
      await server.stop();
    }
  });

  test("a sender far faster than the tenant rate is held back by TCP flow control, not buffered", async () => {
    const server = await startServerProcess({
      args: ["--syslog-tcp-port", "0", "--tenant-records-per-s", "200"],
    });
    try {
      const socket = await connect(server.syslogTcpPort!);
      const message = Buffer.from(`${rfc5424("flood", `flood ${"f".repeat(60)}`)}\n`);
      const wire = Buffer.concat(Array.from({ length: 200_000 }, () => message)); // ~21 MB
      socket.write(wire);
      await sleep(2000);
      // Loopback's socket buffers hold a few MB; the rest must still be waiting in the sender.
      assert.ok(
        socket.writableLength > wire.length / 2,
        `${socket.writableLength} of ${wire.length} bytes unsent`,
      );
      const samples = await scrape(server.url);
      assert.ok(metricValue(samples, "sluice_ingested_records_total", { route: "syslog-tcp" }) < 5000);
      const resident = metricValue(samples, "sluice_process_resident_memory_bytes");
      assert.ok(resident < 400 * 1024 * 1024, `resident ${resident} bytes`);
      assert.equal((await send(`${server.url}/healthz`)).status, 200);
      socket.destroy();
    } finally {
      await server.stop();
    }
  });

  test("SIGTERM stores the batch being collected; the lines are there after a restart", async () => {
    const first = await startServerProcess({ args: ["--syslog-tcp-port", "0", "--syslog-udp-port", "0"] });
    const socket = await connect(first.syslogTcpPort!);
    await write(socket, `${rfc5424("parting", "said just before the end")}\n`);
    await sleep(15); // read, not yet flushed (batches wait up to 50 ms)
    assert.equal(await first.stop(), 0);
    socket.destroy();
    const second = await startServerProcess({ dataDir: first.dataDir, args: ["--syslog-tcp-port", "0"] });
    try {
      const params = new URLSearchParams({ query: '{app_name="parting"}', since: "30m" });
      const reply = await send(`${second.url}/loki/api/v1/query_range?${params}`);
      const streams: QueryStream[] = JSON.parse(reply.text).data.result;
      assert.equal(lineCount(streams), 1, reply.text.slice(0, 300));
    } finally {
      await second.stop();
    }
  });
});

describe("syslog configuration", () => {
  test("a --syslog-tenant that is no tenant id is a configuration error (exit 2), before anything listens", async () => {
    for (const bad of ["two words", "..", "x".repeat(151)]) {
      const outcome = await run(process.execPath, [
        sluiceEntry,
        "serve",
        "--data-dir",
        temporaryDataDir(),
        "--syslog-tcp-port",
        "0",
        "--syslog-tenant",
        bad,
      ]).then(
        () => ({ code: 0, stderr: "" }),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(outcome.code, 2, bad);
      assert.match(outcome.stderr, /syslog-tenant \(from --syslog-tenant\): must be up to 150 of/);
    }
  });

  test("--syslog-port 0: TCP and UDP on one free port, both stored", async () => {
    const server = await startServerProcess({ args: ["--syslog-port", "0"] });
    try {
      assert.ok(server.syslogTcpPort !== null && server.syslogTcpPort > 0);
      assert.equal(server.syslogUdpPort, server.syslogTcpPort, "one number for both");
      const port = String(server.syslogTcpPort);
      await logger([
        "--server",
        "127.0.0.1",
        "--port",
        port,
        "--tcp",
        "--rfc5424",
        "-t",
        "one-port",
        "over tcp",
      ]);
      await logger([
        "--server",
        "127.0.0.1",
        "--port",
        port,
        "--udp",
        "--rfc5424",
        "-t",
        "one-port",
        "over udp",
      ]);
      const deadline = Date.now() + 10_000;
      let lines: string[] = [];
      while (lines.length < 2 && Date.now() < deadline) {
        const params = new URLSearchParams({ query: '{app_name="one-port"}', since: "30m" });
        const reply = await send(`${server.url}/loki/api/v1/query_range?${params}`);
        lines = (JSON.parse(reply.text).data.result as QueryStream[]).flatMap((s) =>
          s.values.map(([, l]) => l),
        );
        await sleep(100);
      }
      assert.deepEqual(lines.sort(), ["over tcp", "over udp"]);
    } finally {
      await server.stop();
    }
  });

  test("a syslog port in use fails the start and leaves no HTTP listener behind", async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const taken = (holder.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        startServerProcess({ args: ["--syslog-tcp-port", String(taken)] }),
        /exited with [1-9]\d* before listening; stderr: [\s\S]*EADDRINUSE/,
      );
    } finally {
      holder.close();
    }
  });
});
