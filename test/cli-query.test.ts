// `sluice query` and `sluice tail` against a real server: each output form, a metric query, the
// server's error for a bad query, an unreachable server, and usage mistakes (exit 2).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { rfc3339Nano } from "../src/cli/query.ts";
import { postServiceLogs } from "./support/http-client.ts";
import { type ServerProcess, sluiceEntry, startServerProcess } from "./support/server.ts";

function sluice(args: string[]) {
  const result = spawnSync(process.execPath, [sluiceEntry, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("sluice query and tail", () => {
  let server: ServerProcess;
  const baseMs = Date.now() - 10 * 60_000;
  before(async () => {
    server = await startServerProcess();
    const reply = await postServiceLogs(
      server.url,
      [
        { timestamp: baseMs, service: "auth_service", level: "info", message: "login ok" },
        { timestamp: baseMs + 1000, service: "auth_service", level: "error", message: "login timeout" },
        { timestamp: baseMs + 2000, service: "event_creator", level: "info", message: "created" },
      ],
      { "x-scope-orgid": "cli" },
    );
    assert.equal(reply.status, 200, reply.text);
  });
  after(async () => {
    await server?.stop();
  });
  const common = () => ["--addr", server.url, "--org-id", "cli", "--from", "1h"];

  test("raw: lines newest first; --direction forward oldest first", () => {
    const newest = sluice(["query", '{service="auth_service"}', ...common(), "--output", "raw"]);
    assert.equal(newest.status, 0, newest.stderr);
    assert.equal(newest.stdout, "login timeout\nlogin ok\n");
    const oldest = sluice([
      "query",
      '{service=~".+"}',
      ...common(),
      "--output",
      "raw",
      "--direction",
      "forward",
    ]);
    assert.equal(oldest.stdout, "login ok\nlogin timeout\ncreated\n");
  });

  test("jsonl and table carry time and labels", () => {
    const jsonl = sluice([
      "query",
      '{service="auth_service"} |= "timeout"',
      ...common(),
      "--output",
      "jsonl",
    ]);
    assert.equal(jsonl.status, 0, jsonl.stderr);
    assert.deepEqual(JSON.parse(jsonl.stdout), {
      // Go's RFC3339Nano, as Loki's tools print: trailing zeros of the fraction dropped.
      timestamp: rfc3339Nano(BigInt(baseMs + 1000) * 1_000_000n),
      labels: { level: "error", service: "auth_service" },
      line: "login timeout",
    });
    const table = sluice(["query", '{service="auth_service"} |= "timeout"', ...common()]);
    assert.equal(
      table.stdout,
      `${rfc3339Nano(BigInt(baseMs + 1000) * 1_000_000n)} {level="error", service="auth_service"} login timeout\n`,
    );
  });

  test("a metric query prints its samples", () => {
    const result = sluice([
      "query",
      'sum by (level) (count_over_time({service=~".+"}[1h]))',
      ...common(),
      "--instant",
      "--output",
      "jsonl",
    ]);
    assert.equal(result.status, 0, result.stderr);
    const samples = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    assert.deepEqual(samples.map((sample) => [sample.metric.level, sample.value]).sort(), [
      ["error", "1"],
      ["info", "2"],
    ]);
  });

  test("the server's error for a bad query, exit 1; an unreachable server, exit 1; usage, exit 2", () => {
    const bad = sluice(["query", '{service="auth_service"', ...common()]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^sluice query: 400 from the server: parse error at line 1, col \d+/);
    const unreachable = sluice(["query", '{a="b"}', "--addr", "http://127.0.0.1:1999"]);
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr, /cannot reach http:\/\/127\.0\.0\.1:1999: ECONNREFUSED/);
    const missing = sluice(["query"]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /missing the query/);
    const badOutput = sluice(["query", '{a="b"}', "--output", "xml"]);
    assert.equal(badOutput.status, 2);
    assert.match(badOutput.stderr, /--output must be one of raw, jsonl, table/);
  });

  test("tail prints a line ingested after it started, then stops on SIGINT", async () => {
    const child = spawn(
      process.execPath,
      [
        sluiceEntry,
        "tail",
        '{service="auth_service"} |= "fresh"',
        "--addr",
        server.url,
        "--org-id",
        "cli",
        "--output",
        "raw",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    // Post until the tail (connecting meanwhile) has printed the line: a tail only shows lines
    // committed after it opened, so the first posts may land before it.
    for (let attempt = 0; attempt < 100 && !stdout.includes("fresh line"); attempt++) {
      const reply = await postServiceLogs(
        server.url,
        [{ timestamp: Date.now(), service: "auth_service", message: "fresh line" }],
        { "x-scope-orgid": "cli" },
      );
      assert.equal(reply.status, 200);
      await new Promise((wake) => setTimeout(wake, 300));
    }
    assert.match(stdout, /^fresh line\n/);
    child.kill("SIGINT");
    assert.equal(await exited, 0);
  });
});

test("rfc3339Nano prints Go's RFC3339Nano: nanoseconds, trailing zeros dropped", () => {
  assert.equal(rfc3339Nano(1796317200123456789n), "2026-12-03T17:00:00.123456789Z");
  assert.equal(rfc3339Nano(1796317200020000000n), "2026-12-03T17:00:00.02Z");
  assert.equal(rfc3339Nano(1796317200000000000n), "2026-12-03T17:00:00Z");
});
