// Syslog while the server recovers: a `sluice serve` child on a data dir whose access log holds many
// batches (the idempotency rebuild takes a while, as in test/server-recovery.test.ts). The syslog
// ports are bound before recovery and named in the "sluice recovering" line; a TCP connection made
// then is accepted but not read, and its message is stored once the server is ready. A UDP datagram
// that arrives during recovery is dropped and counted (not_ready) — or, if it was read after
// recovery, stored: one or the other, never lost silently.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { dataLayout, topics } from "../src/config/index.ts";
import { accessBatchKey } from "../src/ingest/index.ts";
import { PartitionLog } from "../src/log/index.ts";
import { accessEntry, metricValue, scrape, send } from "./support/http-client.ts";
import { sluiceEntry, temporaryDataDir } from "./support/server.ts";

const partitionCount = 4;
const prefilledBatchCounts = [300_000, 1_200_000]; // the second only when the first recovered too fast
const dataDirs: string[] = [];
after(() => {
  for (const dataDir of dataDirs) fs.rmSync(dataDir, { recursive: true, force: true });
});

async function prefilledDataDir(count: number): Promise<string> {
  const dataDir = temporaryDataDir("sluice-syslog-recovery-");
  dataDirs.push(dataDir);
  const log = PartitionLog.open({
    directory: dataLayout.topicDirectory(dataDir, topics.accessLogs),
    partitionCount,
  });
  const body = Buffer.from(JSON.stringify([accessEntry()]));
  const nowMs = Date.now();
  for (let first = 0; first < count; first += 5000 * partitionCount) {
    await Promise.all(
      Array.from({ length: partitionCount }, (_, partition) => {
        const records = [];
        for (let n = 0; n < 5000; n++) {
          const index = first + n * partitionCount + partition;
          if (index >= count) break;
          records.push({
            timestampMs: nowMs,
            key: accessBatchKey("cus-axon", `pre-${index}`, "r"),
            value: body,
          });
        }
        return records.length > 0 ? log.append(partition, records) : Promise.resolve();
      }),
    );
  }
  await log.close();
  return dataDir;
}

interface Recovering {
  url: string;
  tcpPort: number;
  udpPort: number;
  logs: string[];
  stop(): Promise<number | null>;
}

/** Spawns `sluice serve` with both syslog listeners; resolves at the "sluice recovering" line. */
async function spawnRecovering(dataDir: string): Promise<Recovering> {
  const child = spawn(
    process.execPath,
    [
      sluiceEntry,
      "serve",
      ...["--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--partitions", "4"],
      ...["--syslog-tcp-port", "0", "--syslog-udp-port", "0"],
      ...["--otlp-grpc-port", "-1"], // as test/support/server.ts: parallel tests never share 4317
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const logs: string[] = [];
  const line = await new Promise<{ port: number; syslogTcpPort: number; syslogUdpPort: number }>(
    (resolve, reject) => {
      let buffered = "";
      child.stdout!.on("data", (chunk) => {
        buffered += chunk;
        for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
          const text = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          logs.push(text);
          const parsed = JSON.parse(text);
          if (parsed.msg === "sluice recovering") resolve(parsed);
        }
      });
      exited.then((code) => reject(new Error(`server exited with ${code} before recovering: ${stderr}`)));
    },
  );
  return {
    url: `http://127.0.0.1:${line.port}`,
    tcpPort: line.syslogTcpPort,
    udpPort: line.syslogUdpPort,
    logs,
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

test("during recovery: TCP accepted and held unread, stored once ready; UDP dropped as not_ready (or stored)", async () => {
  for (const batches of prefilledBatchCounts) {
    const server = await spawnRecovering(await prefilledDataDir(batches));
    try {
      const message = `<14>1 ${new Date().toISOString()} h held - - - sent while recovering`;
      const socket = await new Promise<net.Socket>((resolve, reject) => {
        const connection = net.connect({ port: server.tcpPort, host: "127.0.0.1" }, () =>
          resolve(connection),
        );
        connection.once("error", reject);
      });
      await new Promise<void>((resolve) => socket.write(`${message}\n`, () => resolve()));
      const udp = dgram.createSocket("udp4");
      await new Promise<void>((resolve) =>
        udp.send(`<14>1 - h udpearly - - - datagram while recovering`, server.udpPort, "127.0.0.1", () =>
          resolve(),
        ),
      );
      udp.close();
      const ready = await send(`${server.url}/ready`);
      if (ready.status !== 503 && batches !== prefilledBatchCounts.at(-1)) continue; // recovered too fast to tell
      assert.equal(ready.status, 503, "the messages were sent while recovering");
      const deadline = Date.now() + 50_000;
      while ((await send(`${server.url}/ready`)).status !== 200) {
        assert.ok(Date.now() < deadline, "recovery did not finish");
        await sleep(100);
      }
      const query = async (selector: string) => {
        const params = new URLSearchParams({ query: selector, since: "30m" });
        const reply = await send(`${server.url}/loki/api/v1/query_range?${params}`);
        return JSON.parse(reply.text).data.result as { values: [string, string][] }[];
      };
      let held = await query('{app_name="held"}');
      for (let i = 0; i < 50 && held.length === 0; i++) {
        await sleep(100);
        held = await query('{app_name="held"}');
      }
      assert.deepEqual(
        held.flatMap((s) => s.values.map(([, line]) => line)),
        ["sent while recovering"],
      );
      const samples = await scrape(server.url);
      const droppedEarly = metricValue(samples, "sluice_syslog_dropped_messages_total", {
        route: "syslog-udp",
        reason: "not_ready",
      });
      const storedEarly = (await query('{app_name="udpearly"}')).length;
      assert.equal(droppedEarly + storedEarly, 1, "the datagram is dropped and counted, or stored");
      socket.destroy();
      return;
    } finally {
      assert.equal(await server.stop(), 0);
    }
  }
});
