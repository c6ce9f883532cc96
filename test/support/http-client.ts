// HTTP helpers for the server contract and bad-input tests: fetch wrappers for both references'
// routes, raw-socket exchanges for requests fetch cannot send (truncated, slow, malformed), chunked
// uploads, a well-behaved "neighbour" client that runs beside an attack, Prometheus text parsing,
// and an independent FNV-1a (so routing is checked against the algorithm, not against Sluice's code).

import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { partitionDirectoryName } from "../../src/log/index.ts";

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

export async function send(url: string, init: RequestInit = {}): Promise<Reply> {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** POST /v1/logs; `body` is sent as is when a string or bytes, else as JSON. */
export function postServiceLogs(
  baseUrl: string,
  body: string | Uint8Array | readonly unknown[],
  headers: Record<string, string> = {},
): Promise<Reply> {
  const payload = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  return send(`${baseUrl}/v1/logs`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: payload,
  });
}

export function queryService(
  baseUrl: string,
  service: string,
  limit: number | string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const search = new URLSearchParams({ service, limit: String(limit) });
  return send(`${baseUrl}/v1/query?${search}`, { headers });
}

/** GET /v1/query and parse the array; fails the test unless it is a 200 with a JSON array. */
export async function queryEntries(
  baseUrl: string,
  service: string,
  limit: number,
  headers: Record<string, string> = {},
): Promise<Array<Record<string, unknown>>> {
  const reply = await queryService(baseUrl, service, limit, headers);
  assert.equal(reply.status, 200, `query ${service}: ${reply.text}`);
  const parsed: unknown = JSON.parse(reply.text);
  assert.ok(Array.isArray(parsed), `query ${service} answered ${reply.text}`);
  return parsed as Array<Record<string, unknown>>;
}

export interface AccessEntry {
  receivedAt: unknown;
  method: unknown;
  path: unknown;
  userAgent: unknown;
  [extra: string]: unknown;
}

export function accessEntry(overrides: Partial<AccessEntry> = {}): AccessEntry {
  return {
    receivedAt: "2025-12-28T18:03:15.000Z",
    method: "GET",
    path: "/about",
    userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    ...overrides,
  };
}

/** POST /logs with the reference's headers; pass `null` for a header to leave it out. */
export function postAccessLogs(
  baseUrl: string,
  body: string | Uint8Array | readonly unknown[],
  headers: Record<string, string | null> = {},
): Promise<Reply> {
  const merged: Record<string, string | null> = {
    "content-type": "application/json",
    "x-customer-id": "cus-axon",
    ...headers,
  };
  const sent: Record<string, string> = {};
  for (const [name, value] of Object.entries(merged)) if (value !== null) sent[name] = value;
  const payload = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  return send(`${baseUrl}/logs`, { method: "POST", headers: sent, body: payload });
}

export interface AccessError {
  requestId: string;
  errorCategory: string;
  errorCode: string;
  errorDescription: string;
}

/** Checks reply B's JSON error model and that the body's requestId is the x-request-id header. */
export function assertAccessError(
  reply: Reply,
  expected: { status: number; category: string; code: string; description?: string | RegExp },
): AccessError {
  assert.equal(reply.status, expected.status, reply.text);
  assert.match(reply.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(reply.text) as AccessError;
  assert.deepEqual(Object.keys(body).sort(), ["errorCategory", "errorCode", "errorDescription", "requestId"]);
  assert.equal(body.errorCategory, expected.category, reply.text);
  assert.equal(body.errorCode, expected.code, reply.text);
  if (typeof expected.description === "string") assert.equal(body.errorDescription, expected.description);
  else if (expected.description) assert.match(body.errorDescription, expected.description);
  assert.ok(body.requestId.length > 0, "requestId is empty");
  assert.equal(reply.headers.get("x-request-id"), body.requestId, "x-request-id header vs body requestId");
  return body;
}

/** Checks reference A's plain-text error: Go's http.Error shape, the message plus a newline. */
export function assertPlainError(reply: Reply, status: number, message: string | RegExp): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal(reply.headers.get("content-type"), "text/plain; charset=utf-8");
  if (typeof message === "string") assert.equal(reply.text, `${message}\n`);
  else {
    assert.match(reply.text, message);
    assert.ok(reply.text.endsWith("\n"), `no trailing newline: ${JSON.stringify(reply.text)}`);
  }
}

/** FNV-1a 32 over the UTF-8 bytes, as Go's hash/fnv New32a; written here independently of src/. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

/** Bytes in each partition's .log files of a topic, by partition number. */
export function partitionLogBytes(dataDir: string, partitionCount: number, topic = "logs"): number[] {
  const sizes: number[] = [];
  for (let partition = 0; partition < partitionCount; partition++) {
    const directory = path.join(dataDir, "topics", topic, partitionDirectoryName(partition));
    let bytes = 0;
    for (const name of fs.existsSync(directory) ? fs.readdirSync(directory) : []) {
      if (name.endsWith(".log")) bytes += fs.statSync(path.join(directory, name)).size;
    }
    sizes.push(bytes);
  }
  return sizes;
}

// ---------------------------------------------------------------------------------------------
// Raw sockets

export interface RawOutcome {
  /** Everything the server sent, as latin1 text. */
  response: string;
  /** Status of the first response, null when none arrived. */
  status: number | null;
  /** The server closed (or reset) the connection before the wait ended. */
  closed: boolean;
  /** Milliseconds from connect until the connection closed (or the wait ended). */
  elapsedMs: number;
  /** The socket error, such as EPIPE or ECONNRESET when the server reset the connection. */
  errorCode: string | null;
}

export interface RawExchangeOptions {
  /** Written one after another; a number is a pause in milliseconds. */
  script: ReadonlyArray<string | Uint8Array | number>;
  /** Half-close (FIN) after the script. */
  endAfterScript?: boolean;
  /** Give up waiting for the server to close after this long. */
  waitMs: number;
  /** Stop waiting once a full response head has arrived. */
  stopAtResponse?: boolean;
}

/**
 * Plays a script of writes and pauses on a raw TCP connection, then waits for the server to close
 * it (or for `waitMs`). Writes after the server closed are dropped. Always destroys the socket.
 */
export function rawExchange(port: number, options: RawExchangeOptions): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const startedMs = performance.now();
    const chunks: Buffer[] = [];
    let closed = false;
    let finished = false;
    let errorCode: string | null = null;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      const response = Buffer.concat(chunks).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(response);
      resolve({
        response,
        status: match ? Number(match[1]) : null,
        closed,
        elapsedMs: performance.now() - startedMs,
        errorCode,
      });
    };
    const timer = setTimeout(finish, options.waitMs);
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      if (options.stopAtResponse && Buffer.concat(chunks).includes("\r\n\r\n")) finish();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      errorCode = error.code ?? error.message;
      closed = true;
      finish();
    });
    socket.on("close", () => {
      closed = true;
      finish();
    });
    socket.once("connect", async () => {
      for (const step of options.script) {
        if (closed || finished) return;
        if (typeof step === "number") await new Promise((wake) => setTimeout(wake, step));
        else socket.write(step);
      }
      if (options.endAfterScript && !closed && !finished) socket.end();
    });
  });
}

/** A script that sends `text` one byte every `intervalMs`. */
export function trickle(text: string, intervalMs: number): Array<string | number> {
  const script: Array<string | number> = [];
  for (const char of text) script.push(char, intervalMs);
  return script;
}

/**
 * POST with `Transfer-Encoding: chunked` (no content-length) via node:http. Resolves with the
 * response even when the server answers early and drops the rest of the upload.
 */
export function postChunked(
  url: string,
  headers: Record<string, string>,
  chunks: readonly Uint8Array[],
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const request = http.request(url, { method: "POST", headers }, (response) => {
      answered = true;
      const parts: Buffer[] = [];
      response.on("data", (part) => parts.push(part));
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          text: Buffer.concat(parts).toString("utf8"),
        }),
      );
      response.on("error", reject);
    });
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    (async () => {
      for (const chunk of chunks) {
        if (answered || request.destroyed) return;
        if (!request.write(chunk)) await new Promise((wake) => request.once("drain", wake));
      }
      request.end();
    })().catch(reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Prometheus text

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]] = pair[2];
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `labels` (0 when none). */
export function metricValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}) {
  let sum = 0;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) sum += sample.value;
  }
  return sum;
}

export async function scrape(baseUrl: string): Promise<Sample[]> {
  const reply = await send(`${baseUrl}/metrics`);
  assert.equal(reply.status, 200);
  return parseMetrics(reply.text);
}

// ---------------------------------------------------------------------------------------------
// A well-behaved client running beside an attack

export interface NeighbourReport {
  sent: number;
  failures: string[];
}

let neighbours = 0;

/**
 * Posts one small entry after another (tenant and service of its own) until stopped, then checks
 * that every request was answered 200 and that exactly the acknowledged entries can be queried.
 */
export function startNeighbour(baseUrl: string, name: string): { stop(): Promise<NeighbourReport> } {
  const tenant = `neighbour-${++neighbours}-${name}`.replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 100);
  const service = "neighbour";
  const failures: string[] = [];
  let sent = 0;
  let acknowledged = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const index = sent++;
      try {
        const reply = await postServiceLogs(
          baseUrl,
          [{ timestamp: index, service, message: `neighbour line ${index}` }],
          { "x-scope-orgid": tenant },
        );
        if (reply.status === 200 && reply.text === '{"received":1}\n') acknowledged++;
        else failures.push(`request ${index}: ${reply.status} ${reply.text.slice(0, 200)}`);
      } catch (error) {
        failures.push(`request ${index}: ${(error as Error).message}`);
      }
      await new Promise((wake) => setTimeout(wake, 15));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      try {
        const stored = await queryEntries(baseUrl, service, 5000, { "x-scope-orgid": tenant });
        if (stored.length !== acknowledged)
          failures.push(`${acknowledged} acknowledged but ${stored.length} stored`);
      } catch (error) {
        failures.push(`query after the run: ${(error as Error).message}`);
      }
      return { sent, failures };
    },
  };
}

/** Runs `attack` while a neighbour client works; asserts the neighbour was served throughout. */
export async function besideNeighbour<T>(
  baseUrl: string,
  name: string,
  attack: () => Promise<T>,
): Promise<T> {
  const neighbour = startNeighbour(baseUrl, name);
  let outcome: { value: T } | { error: unknown };
  try {
    outcome = { value: await attack() };
  } catch (error) {
    outcome = { error };
  }
  const report = await neighbour.stop();
  if ("error" in outcome) throw outcome.error;
  assert.deepEqual(report.failures, [], `the neighbour client was affected by: ${name}`);
  assert.ok(report.sent > 0, "the neighbour sent nothing");
  return outcome.value;
}

let probes = 0;

/** The server is up and answers a normal write and read correctly. */
export async function assertServesNormally(baseUrl: string): Promise<void> {
  const health = await send(`${baseUrl}/healthz`);
  assert.equal(health.status, 200, "GET /healthz");
  const service = `probe-${process.pid}-${++probes}`;
  const written = await postServiceLogs(baseUrl, [{ timestamp: probes, service, message: "still fine" }]);
  assert.equal(written.status, 200, written.text);
  assert.equal(written.text, '{"received":1}\n');
  const stored = await queryEntries(baseUrl, service, 10);
  assert.equal(stored.length, 1);
  assert.equal(stored[0].message, "still fine");
}
