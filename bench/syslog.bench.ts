// Syslog ingest: the decoder alone (RFC 5424 and RFC 3164 frames, decoded and grouped into streams,
// one core) and end to end (one TCP connection to a real `sluice serve` child writing LF-framed
// RFC 5424 as fast as it reads, until the ingest counter says every message is durable).
// Usage: node bench/syslog.bench.ts [--messages 200000]

import net from "node:net";
import { parseSyslogMessage, syslogStreams } from "../src/ingest/index.ts";
import { metricValue, scrape } from "../test/support/http-client.ts";
import { startServerProcess } from "../test/support/server.ts";

const at = process.argv.indexOf("--messages");
const messageCount = at > 0 ? Number(process.argv[at + 1]) : 200_000;
const timestamp = new Date().toISOString();
const rfc5424 = (i: number) =>
  `<14>1 ${timestamp} web-${i % 8} nginx ${1000 + (i % 50)} - - GET /api/v1/items/${i} HTTP/1.1 200 512 "Mozilla/5.0"`;
const rfc3164 = (i: number) =>
  `<30>Dec  4 18:29:30 web-${i % 8} nginx[${1000 + (i % 50)}]: GET /api/v1/items/${i} HTTP/1.1 200 512 "Mozilla/5.0"`;

function decodeRate(format: (i: number) => string): { perS: number; mbPerS: number } {
  const frames = Array.from({ length: 100_000 }, (_, i) => Buffer.from(format(i)));
  const bytes = frames.reduce((sum, frame) => sum + frame.length, 0);
  const receipt = { receivedAtMs: Date.now(), peerHost: "127.0.0.1", lineBytesMax: 256 * 1024 };
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const started = performance.now();
    for (let first = 0; first < frames.length; first += 500) {
      const messages = [];
      for (let i = first; i < first + 500; i++) messages.push(parseSyslogMessage(frames[i]!, receipt)!);
      syslogStreams(messages);
    }
    best = Math.min(best, performance.now() - started);
  }
  return { perS: (frames.length / best) * 1000, mbPerS: bytes / 1e3 / best };
}

for (const [name, format] of [
  ["rfc5424", rfc5424],
  ["rfc3164", rfc3164],
] as const) {
  const { perS, mbPerS } = decodeRate(format);
  console.log(
    `syslog decode ${name}      messages/s=${Math.round(perS).toLocaleString("en")} MB/s=${mbPerS.toFixed(1)}`,
  );
}

const server = await startServerProcess({ args: ["--syslog-tcp-port", "0"] });
try {
  const wire = Buffer.from(Array.from({ length: messageCount }, (_, i) => `${rfc5424(i)}\n`).join(""));
  const started = performance.now();
  const socket = net.connect({ port: server.syslogTcpPort!, host: "127.0.0.1" });
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.end(wire);
  for (;;) {
    const stored = metricValue(await scrape(server.url), "sluice_ingested_records_total", {
      route: "syslog-tcp",
    });
    if (stored >= messageCount) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `syslog tcp one connection  messages/s=${Math.round(messageCount / seconds).toLocaleString("en")} MB/s=${(wire.length / 1e6 / seconds).toFixed(1)} messages=${messageCount} (durable, fsync always)`,
  );
} finally {
  await server.stop();
}
