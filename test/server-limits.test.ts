// Route limits and log limits agree: anything a route accepts, the log can store.

import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, test } from "node:test";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

let server: ServerProcess;
before(async () => {
  server = await startServerProcess();
});
after(async () => {
  await server.stop();
  fs.rmSync(server.dataDir, { recursive: true, force: true });
});

test("an access batch just under the 2 MB limit is stored (one record, larger than the log's default record limit)", async () => {
  const entries = Array.from({ length: 800 }, (_, i) => ({
    receivedAt: "2025-12-28T18:03:15.000Z",
    method: "GET",
    path: `/${"p".repeat(1900)}/${i}`,
    userAgent: "curl/8.5.0",
  }));
  const body = JSON.stringify(entries);
  assert.ok(body.length > 1.5 * 1024 * 1024 && body.length < 2 * 1024 * 1024, `${body.length}`);
  const response = await fetch(`${server.url}/logs`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-customer-id": "cus-big", "idempotency-key": "big-1" },
  });
  assert.equal(response.status, 202, await response.text());
});

test("a service log whose message is a whole large body is stored", async () => {
  const message = "x".repeat(200 * 1024);
  const body = JSON.stringify(
    Array.from({ length: 6 }, (_, i) => ({ timestamp: i, service: "big_service", message })),
  );
  const response = await fetch(`${server.url}/v1/logs`, { method: "POST", body });
  assert.equal(response.status, 200, await response.text());
  const stored = (await (
    await fetch(`${server.url}/v1/query?service=big_service&limit=10`)
  ).json()) as unknown[];
  assert.equal(stored.length, 6);
});

test("timestamps the log cannot store exactly are refused as a bad entry, not a 500", async () => {
  for (const timestamp of [2 ** 51 + 1, Number.MAX_SAFE_INTEGER]) {
    const body = JSON.stringify([
      { timestamp: 1, service: "a", message: "ok" },
      { timestamp, service: "b", message: "m" },
    ]);
    const response = await fetch(`${server.url}/v1/logs`, { method: "POST", body });
    assert.equal(response.status, 400);
    assert.equal(
      await response.text(),
      "invalid entry at index 1: timestamp must be a non-negative integer (Unix milliseconds) below 2^51\n",
    );
  }
  const exact = await fetch(`${server.url}/v1/logs`, {
    method: "POST",
    body: JSON.stringify([{ timestamp: 2 ** 51, service: "edge", message: "m" }]),
  });
  assert.equal(exact.status, 200);
});
