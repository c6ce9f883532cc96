// Hostile input at every ingest endpoint and port of a real `sluice serve`: bodies that are random
// bytes, or valid bodies of each protocol truncated, bit-flipped, spliced or wrongly labelled, LogQL
// queries mangled the same way, and syslog frames over TCP (both framings) and UDP. Every answer must be a 2xx or 4xx (never a 5xx, never a
// dropped connection), the server must log no error, and afterwards a line stored before the storm
// and one stored after it must both be found. The seed is printed; SLUICE_FUZZ_SEED replays a run.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { type protocolFormats, serviceLogBody } from "../src/loadgen/bodies.ts";
import { ServiceLogGenerator, seededRandom } from "../src/loadgen/index.ts";
import { referenceScenario } from "../src/loadgen/scenario.ts";
import { postServiceLogs, queryEntries, send } from "./support/http-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

const seed = Number(process.env.SLUICE_FUZZ_SEED ?? Date.now() % 1_000_000);
const requestsPerTarget = Number(process.env.SLUICE_FUZZ_REQUESTS ?? 150);

interface Target {
  name: string;
  path: string;
  contentType: string;
  corpus: Buffer[];
}

/** One mutation of a valid body (or none, or pure noise), chosen by the seeded random source. */
function mutate(random: () => number, corpus: readonly Buffer[]): Buffer {
  const pick = corpus[Math.floor(random() * corpus.length)];
  const kind = Math.floor(random() * 7);
  const at = (length: number) => Math.floor(random() * Math.max(1, length));
  switch (kind) {
    case 0: // noise
      return Buffer.from(Array.from({ length: at(2048) }, () => Math.floor(random() * 256)));
    case 1: // truncated
      return pick.subarray(0, at(pick.length));
    case 2: {
      // bytes flipped
      const copy = Buffer.from(pick);
      for (let flips = 1 + at(8); flips > 0; flips--) copy[at(copy.length)] ^= 1 << at(8);
      return copy;
    }
    case 3: {
      // bytes inserted
      const position = at(pick.length);
      const noise = Buffer.from(Array.from({ length: 1 + at(64) }, () => Math.floor(random() * 256)));
      return Buffer.concat([pick.subarray(0, position), noise, pick.subarray(position)]);
    }
    case 4: {
      // two bodies spliced
      const other = corpus[at(corpus.length)];
      return Buffer.concat([pick.subarray(0, at(pick.length)), other.subarray(at(other.length))]);
    }
    case 5: // a region repeated (deep nesting, duplicated fields, huge counts)
      return Buffer.concat(Array.from({ length: 2 + at(50) }, () => pick.subarray(0, 1 + at(32))));
    default:
      return pick;
  }
}

describe("fuzz: hostile bodies at every endpoint and port", () => {
  let server: ServerProcess;
  const random = seededRandom(seed);
  const statuses = new Map<string, Map<number, number>>();
  const sentinel = `sentinel before the storm ${seed}`;

  before(async () => {
    process.stdout.write(`fuzz seed ${seed} (SLUICE_FUZZ_SEED=${seed} replays it)\n`);
    server = await startServerProcess({ args: ["--otlp-grpc-port", "0", "--syslog-port", "0"] });
    const stored = await postServiceLogs(server.url, [
      { timestamp: Date.now(), service: "fuzz_sentinel", level: "INFO", message: sentinel },
    ]);
    assert.equal(stored.status, 200, stored.text);
  });
  after(async () => {
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  const generator = new ServiceLogGenerator({ seed, startTimestampMs: Date.now() });
  const batches = Array.from({ length: 6 }, (_, index) => generator.batch(1 + index * 7));
  const corpusOf = (format: Exclude<keyof typeof protocolFormats, "access">) =>
    batches.map((logs) => serviceLogBody(format, logs));
  const targets: Target[] = [
    { name: "reference A", path: "/v1/logs", contentType: "application/json", corpus: corpusOf("v1") },
    { name: "OTLP/JSON", path: "/v1/logs", contentType: "application/json", corpus: corpusOf("otlp") },
    {
      name: "OTLP/protobuf",
      path: "/v1/logs",
      contentType: "application/x-protobuf",
      corpus: corpusOf("otlp-proto"),
    },
    {
      name: "Loki JSON",
      path: "/loki/api/v1/push",
      contentType: "application/json",
      corpus: corpusOf("loki"),
    },
    {
      name: "Loki protobuf",
      path: "/loki/api/v1/push",
      contentType: "application/x-protobuf",
      corpus: corpusOf("loki-proto"),
    },
    {
      name: "reference B",
      path: "/logs",
      contentType: "application/json",
      corpus: referenceScenario()
        .batches.slice(0, 6)
        .map((batch) => Buffer.from(JSON.stringify(batch.entries))),
    },
    {
      name: "Elasticsearch bulk",
      path: "/_bulk",
      contentType: "application/x-ndjson",
      corpus: corpusOf("es"),
    },
  ];

  for (const target of targets) {
    test(`${target.name} (${target.path}): ${requestsPerTarget} mutated bodies, no 5xx`, async () => {
      const seen = new Map<number, number>();
      statuses.set(target.name, seen);
      for (let index = 0; index < requestsPerTarget; index++) {
        let body = mutate(random, target.corpus);
        const headers: Record<string, string> = {
          "content-type": random() < 0.9 ? target.contentType : "application/octet-stream",
        };
        const encoding = random();
        if (encoding < 0.1) {
          body = gzipSync(body);
          headers["content-encoding"] = "gzip";
        } else if (encoding < 0.15) headers["content-encoding"] = "gzip"; // says gzip, is not
        if (target.path === "/logs") {
          headers["x-customer-id"] = "cus-fuzz";
          headers["idempotency-key"] = `fuzz-${seed}-${index}`;
        }
        let status: number;
        try {
          status = (await send(`${server.url}${target.path}`, { method: "POST", headers, body })).status;
        } catch (error) {
          assert.fail(`request ${index} to ${target.path} failed at the socket: ${String(error)}`);
        }
        seen.set(status, (seen.get(status) ?? 0) + 1);
        assert.ok(
          status >= 200 && status < 500,
          `${target.name} answered ${status} to mutated body ${index} (${body.length} bytes, seed ${seed})`,
        );
      }
    });
  }

  test(`LogQL: ${requestsPerTarget} mangled queries at query_range, no 5xx`, async () => {
    const queries = [
      '{service="auth_service"} |= "timeout"',
      'sum by (level) (count_over_time({service=~".+"} | json | status >= 500 [1m]))',
      '{service="a", level!="debug"} |~ "(?i)err.*" | logfmt | line_format "{{.msg}}" | drop level',
      'topk(3, rate({service=~"a|b"}[5m])) / vector(1)',
    ].map((query) => Buffer.from(query));
    const seen = new Map<number, number>();
    statuses.set("LogQL", seen);
    for (let index = 0; index < requestsPerTarget; index++) {
      const query = mutate(random, queries).toString("utf8");
      const params = new URLSearchParams({
        query,
        start: String(Date.now() - 3_600_000),
        end: String(Date.now()),
      });
      if (random() < 0.3) params.set("limit", String(Math.floor(random() * 10_000) - 100));
      if (random() < 0.3) params.set("step", mutate(random, [Buffer.from("15s")]).toString("utf8"));
      const reply = await send(`${server.url}/loki/api/v1/query_range?${params}`);
      seen.set(reply.status, (seen.get(reply.status) ?? 0) + 1);
      assert.ok(
        reply.status >= 200 && reply.status < 500,
        `query ${JSON.stringify(query)}: ${reply.status} ${reply.text}`,
      );
    }
  });

  test(`OTLP/gRPC: ${requestsPerTarget} mutated Export messages, only OK or a client-error code`, async () => {
    assert.ok(server.grpcPort !== null, "the gRPC listener was asked for");
    const client = new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
    const identity = (bytes: Buffer) => bytes;
    const corpus = corpusOf("otlp-proto");
    const seen = new Map<number, number>();
    statuses.set("gRPC", seen);
    try {
      for (let index = 0; index < requestsPerTarget; index++) {
        const message = mutate(random, corpus);
        const code = await new Promise<number>((resolve) =>
          client.makeUnaryRequest(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            identity,
            identity,
            message,
            new grpc.Metadata(),
            (error) => resolve(error ? error.code : grpc.status.OK),
          ),
        );
        seen.set(code, (seen.get(code) ?? 0) + 1);
        assert.ok(
          [grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED].includes(code),
          `gRPC answered code ${code} to mutated message ${index} (seed ${seed})`,
        );
      }
    } finally {
      client.close();
    }
  });

  const syslogCorpus = [
    '<34>1 2026-12-04T10:00:00.123Z web-1 checkout 4242 ID47 [origin ip="10.0.0.1" x="a\\]b"] order 8812 placed',
    "<13>Dec  4 10:00:00 web-2 sshd[991]: Accepted publickey for root from 10.0.3.7",
    "<190>1 - - - - - - \ufeffplain message with a BOM",
    "<0>Dec 04 10:00:00.123 UTC: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
  ].map((message) => Buffer.from(message));

  test(`syslog over TCP (both framings) and UDP: ${requestsPerTarget} mutated frames each, the process unharmed`, async () => {
    assert.ok(
      server.syslogTcpPort !== null && server.syslogUdpPort !== null,
      "the syslog listeners were asked for",
    );
    const socket = net.connect(server.syslogTcpPort, "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    for (let index = 0; index < requestsPerTarget; index++) {
      const frame = mutate(random, syslogCorpus);
      const framed =
        random() < 0.5
          ? Buffer.concat([Buffer.from(`${frame.length} `), frame])
          : Buffer.concat([frame, Buffer.from("\n")]);
      await new Promise<void>((resolve, reject) =>
        socket.write(framed, (error) => (error ? reject(error) : resolve())),
      );
    }
    // Noise that claims a frame longer than the limit, then the connection ends mid-frame.
    socket.end(Buffer.from("99999999999 <13>truncated"));
    await new Promise((resolve) => socket.once("close", resolve));
    const udp = dgram.createSocket("udp4");
    for (let index = 0; index < requestsPerTarget; index++)
      await new Promise<void>((resolve, reject) =>
        udp.send(mutate(random, syslogCorpus), server.syslogUdpPort!, "127.0.0.1", (error) =>
          error ? reject(error) : resolve(),
        ),
      );
    udp.close();
    // A good message after the storm is stored.
    const marker = `syslog after the storm ${seed}`;
    const good = net.connect(server.syslogTcpPort, "127.0.0.1");
    await new Promise<void>((resolve, reject) => good.once("connect", resolve).once("error", reject));
    good.end(`<14>1 ${new Date().toISOString()} host fuzz_syslog - - - ${marker}\n`);
    const deadline = performance.now() + 10_000;
    for (;;) {
      const params = new URLSearchParams({ query: '{app_name="fuzz_syslog"}', since: "1h" });
      const reply = await send(`${server.url}/loki/api/v1/query_range?${params}`);
      if (reply.text.includes(marker)) break;
      assert.ok(performance.now() < deadline, `the message after the storm was not stored: ${reply.text}`);
      await new Promise((wake) => setTimeout(wake, 100));
    }
  });

  test("afterwards: still serving, nothing logged as an error, the sentinel and a fresh line found", async () => {
    process.stdout.write(
      `fuzz statuses: ${JSON.stringify(Object.fromEntries([...statuses].map(([name, seen]) => [name, Object.fromEntries(seen)])))}\n`,
    );
    assert.equal((await send(`${server.url}/healthz`)).status, 200);
    const fresh = `fresh line after the storm ${seed}`;
    const stored = await postServiceLogs(server.url, [
      { timestamp: Date.now(), service: "fuzz_sentinel", level: "INFO", message: fresh },
    ]);
    assert.equal(stored.status, 200, stored.text);
    const lines = (await queryEntries(server.url, "fuzz_sentinel", 10)).map((entry) => entry.message);
    assert.ok(lines.includes(sentinel), JSON.stringify(lines));
    assert.ok(lines.includes(fresh), JSON.stringify(lines));
    const errors = server.logs.filter((line) => /"level":(50|60)/.test(line));
    assert.deepEqual(errors, [], "the server logged errors while fuzzed");
  });
});
