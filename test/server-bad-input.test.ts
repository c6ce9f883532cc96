// Bad input against a real `sluice serve` child: wrong types, huge numbers, invalid UTF-8, deeply
// nested JSON, bodies far over the limits, truncated bodies, malformed HTTP and slow-loris clients.
// Every case must get a clear 4xx (or be cut off, for clients that never finish), and after each one
// the server must still answer a normal write and read correctly, while a well-behaved client that
// ran beside the attack was served in full (see besideNeighbour in support/http-client.ts).

import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import {
  accessEntry,
  assertAccessError,
  assertPlainError,
  assertServesNormally,
  besideNeighbour,
  postAccessLogs,
  postChunked,
  postServiceLogs,
  queryEntries,
  type RawOutcome,
  rawExchange,
  send,
  trickle,
} from "./support/http-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

const requestTimeoutMs = 2000;
/** How long past --request-timeout-ms a stalled client may stay connected (a loaded, shared machine). */
const cutOffSlackMs = 2500;
const MiB = 1024 * 1024;
const invalidArgument = { status: 400, category: "invalid_argument", code: "ING_1000" } as const;

interface Fixture {
  readonly server: ServerProcess;
  readonly url: string;
  readonly port: number;
}

function serverFor(args: string[]): Fixture {
  let server: ServerProcess | undefined;
  before(async () => {
    server = await startServerProcess({ args });
    const started = server;
    // Kept for the failure message of assertStillUp: why the process died, if it did.
    started.child.stderr?.on("data", (chunk) => stderrOf.set(started, (stderrOf.get(started) ?? "") + chunk));
  });
  after(async () => {
    if (!server) return;
    if (server.child.exitCode === null && server.child.signalCode === null) {
      const timer = setTimeout(() => server?.child.kill("SIGKILL"), 10_000);
      await server.stop();
      clearTimeout(timer);
    }
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  });
  const started = () => {
    assert.ok(server, "server not started");
    return server;
  };
  return {
    get server() {
      return started();
    },
    get url() {
      return started().url;
    },
    get port() {
      return started().port;
    },
  };
}

const stderrOf = new WeakMap<ServerProcess, string>();

/**
 * The server process is alive, and it serves a normal write and read correctly. No sleep "to see an
 * exit": a normal request answered after the attack is the proof that the process outlived it, and
 * a process the attack killed fails that request whenever its exit is noticed.
 */
async function assertStillUp(fixture: Fixture): Promise<void> {
  const { child } = fixture.server;
  const processState = () =>
    `exit code ${child.exitCode}, signal ${child.signalCode}; stderr: ${(stderrOf.get(fixture.server) ?? "").slice(-3000)}`;
  try {
    await assertServesNormally(fixture.url);
  } catch (error) {
    throw new Error(`the server does not serve normally after the attack (${processState()})`, {
      cause: error,
    });
  }
  assert.ok(
    child.exitCode === null && child.signalCode === null,
    `the server process exited (${processState()})`,
  );
}

/** Runs one bad request beside a neighbour client, then checks the server still serves normally. */
async function attack<T>(fixture: Fixture, name: string, run: () => Promise<T>): Promise<T> {
  const result = await besideNeighbour(fixture.url, name, run);
  await assertStillUp(fixture);
  return result;
}

const validLine = { timestamp: 1766944995000, service: "bad_input_service", message: "a normal line" };
const raw = (text: string) => Buffer.from(text, "latin1");

/** A batch of one entry whose `field` holds the raw JSON text `valueJson`. */
function lineWith(field: string, valueJson: string): string {
  const fields: Record<string, string> = { timestamp: "1", service: '"bad_input_service"', message: '"m"' };
  fields[field] = valueJson;
  const members = Object.entries(fields).map(([name, value]) => `${JSON.stringify(name)}:${value}`);
  return `[{${members.join(",")}}]`;
}

// ===============================================================================================
describe("bad input to a running server", () => {
  const fixture = serverFor(["--request-timeout-ms", String(requestTimeoutMs)]);

  // ---- wrong types and huge numbers, POST /v1/logs ----
  const wrongValues: Record<string, string[]> = {
    timestamp: [
      "true",
      "[]",
      "{}",
      '"1766944995000"',
      "-1",
      "1.5",
      "1e400",
      "-1e400",
      "1e308",
      "18446744073709551616",
      "9007199254740993",
      "1".repeat(400),
      "null",
    ],
    service: ["true", "[]", "{}", "1", '""', "null", '["auth_service"]'],
    message: ["true", "[]", "{}", "1", '""', "null", "1e400"],
    level: ["true", "[]", "{}", "1"],
    labels: [
      "true",
      "[]",
      '"a=b"',
      "1",
      '{"a":1}',
      '{"a":true}',
      '{"a":[]}',
      '{"a":{}}',
      '{"a":null}',
      '{"a":1e400}',
      '{"__proto__":{"polluted":"yes"}}',
    ],
  };
  for (const [field, values] of Object.entries(wrongValues)) {
    for (const value of values) {
      const shown = value.length > 24 ? `${value.slice(0, 12)}…(${value.length} chars)` : value;
      test(`/v1/logs ${field}: ${shown} is a 400 naming index 0 and ${field}`, async () => {
        const reply = await attack(fixture, `${field}=${shown}`, () =>
          postServiceLogs(fixture.url, lineWith(field, value)),
        );
        assertPlainError(reply, 400, new RegExp(`index 0\\b.*\\b${field}\\b`));
      });
    }
  }

  const wrongBodies: Array<[string, string]> = [
    ["a string", '"[]"'],
    ["a number", "123"],
    ["a boolean", "true"],
    ["an object", "{}"],
    ["an array of numbers", "[1,2,3]"],
    ["an array of strings", '["a"]'],
    ["an array of arrays", "[[]]"],
    ["an array of nulls", "[null]"],
  ];
  for (const [name, body] of wrongBodies) {
    test(`/v1/logs body ${name} is a plain-text 400`, async () => {
      const reply = await attack(fixture, `body ${name}`, () => postServiceLogs(fixture.url, body));
      assertPlainError(reply, 400, /^(invalid json: |invalid entry at index 0)/);
    });
  }

  // ---- wrong types and huge numbers, POST /logs ----
  const wrongAccessValues: Array<[string, string]> = [
    ["receivedAt", "1e400"],
    ["receivedAt", "18446744073709551616"],
    ["receivedAt", "1766944995000"],
    ["receivedAt", '"99999-12-28T18:03:15Z"'],
    ["receivedAt", '"2025-12-28T18:03:15.000Z2025"'],
    ["method", "[]"],
    ["method", "true"],
    ["path", "{}"],
    ["path", "1e400"],
    ["userAgent", '{"family":"Chrome"}'],
    ["userAgent", "0"],
  ];
  for (const [field, value] of wrongAccessValues) {
    test(`/logs ${field}: ${value} is a 400 naming the item and ${field}`, async () => {
      const fields = { ...accessEntry() } as Record<string, unknown>;
      const json = JSON.stringify(fields).replace(new RegExp(`"${field}":"[^"]*"`), `"${field}":${value}`);
      const reply = await attack(fixture, `/logs ${field}=${value}`, () =>
        postAccessLogs(fixture.url, `[${json}]`),
      );
      assertAccessError(reply, {
        ...invalidArgument,
        description: new RegExp(`^item at index 0: .*${field}`),
      });
    });
  }

  test("/logs body that is not an array of objects is a 400 in the JSON error model", async () => {
    for (const body of ['"x"', "7", "{}", "[1]", "[[]]", "[null]", "true"]) {
      const reply = await attack(fixture, `/logs body ${body}`, () => postAccessLogs(fixture.url, body));
      assertAccessError(reply, invalidArgument);
    }
  });

  // ---- invalid UTF-8 ----
  // Each fragment is invalid UTF-8 (latin1 text here stands for raw bytes).
  const invalidUtf8: Array<[string, string]> = [
    ["a lone 0xFF byte", "a\xffb"],
    ["an overlong encoding of /", "\xc0\xaf"],
    ["an encoded UTF-16 surrogate", "\xed\xa0\x80"],
    ["a truncated sequence", "\xe2\x82"],
    ["a code point above U+10FFFF", "\xf4\x90\x80\x80"],
    ["Latin-1 text", "caf\xe9"],
  ];
  for (const [name, fragment] of invalidUtf8) {
    for (const [where, body] of [
      ["message", `[{"timestamp":1,"service":"s","message":"${fragment}"}]`],
      ["service", `[{"timestamp":1,"service":"${fragment}","message":"m"}]`],
      ["label name", `[{"timestamp":1,"service":"s","message":"m","labels":{"${fragment}":"v"}}]`],
    ]) {
      test(`/v1/logs with ${name} in the ${where}: 400 invalid json naming UTF-8`, async () => {
        const reply = await attack(fixture, `utf-8 ${name} in ${where}`, () =>
          postServiceLogs(fixture.url, raw(body)),
        );
        assertPlainError(reply, 400, /^invalid json: .*utf-8/i);
      });
    }
    test(`/logs with ${name} in the path: 400 invalid json`, async () => {
      const body = raw(
        `[{"receivedAt":"2025-12-28T18:03:15Z","method":"GET","path":"/${fragment}","userAgent":"curl"}]`,
      );
      const reply = await attack(fixture, `/logs utf-8 ${name}`, () => postAccessLogs(fixture.url, body));
      assertAccessError(reply, { ...invalidArgument, description: "invalid json" });
    });
  }

  test("/v1/logs with invalid bytes outside any string: 400 invalid json", async () => {
    const body = raw('[{"timestamp":1,"service":"s","message":"m"}\xff]');
    const reply = await attack(fixture, "utf-8 outside strings", () => postServiceLogs(fixture.url, body));
    assertPlainError(reply, 400, /^invalid json: /);
  });

  test("invalid UTF-8 in X-Scope-OrgID is a plain-text 400", async () => {
    const outcome = await attack(fixture, "utf-8 in X-Scope-OrgID", () =>
      rawExchange(fixture.port, {
        script: [
          raw(
            `POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Scope-OrgID: t\xff\xfe\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]`,
          ),
        ],
        waitMs: 3000,
      }),
    );
    assert.equal(outcome.status, 400, outcome.response);
    assert.match(outcome.response, /content-type: text\/plain; charset=utf-8/i);
  });

  // ---- deeply nested JSON ----
  const depth = 100_000;
  const deepBodies: Array<[string, string]> = [
    ["arrays", `${"[".repeat(depth)}${"]".repeat(depth)}`],
    ["objects", `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`],
    [
      "labels",
      `[{"timestamp":1,"service":"s","message":"m","labels":${'{"a":'.repeat(depth)}"v"${"}".repeat(depth)}}]`,
    ],
    ["arrays never closed", "[".repeat(depth)],
    ["arrays, a million deep", `${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}`],
  ];
  for (const [name, body] of deepBodies) {
    test(`/v1/logs with deeply nested ${name}: a plain-text 400`, async () => {
      const reply = await attack(fixture, `deep ${name}`, () => postServiceLogs(fixture.url, body));
      assertPlainError(reply, 400, /\S/);
    });
  }
  test("/logs with 100k-deep nested arrays and objects: a 400 in the JSON error model", async () => {
    for (const body of [
      `${"[".repeat(depth)}${"]".repeat(depth)}`,
      `[${'{"a":'.repeat(depth)}1${"}".repeat(depth)}]`,
    ]) {
      const reply = await attack(fixture, "/logs deep", () => postAccessLogs(fixture.url, body));
      assertAccessError(reply, invalidArgument);
    }
  });

  // ---- huge bodies ----
  test("/v1/logs: a 10 MB batch under the limit is accepted whole", async () => {
    const service = `ten-megabytes-${Date.now()}`;
    const message = "x".repeat(1920);
    const entries = Array.from({ length: 5000 }, (_, i) => ({ timestamp: i, service, message }));
    const body = JSON.stringify(entries);
    assert.ok(body.length > 9_900_000 && body.length < 10 * MiB, `body of ${body.length} bytes`);
    const reply = await attack(fixture, "10 MB batch", () => postServiceLogs(fixture.url, body));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.text, '{"received":5000}\n');
    assert.equal((await queryEntries(fixture.url, service, 5000)).length, 5000);
  });

  test("/v1/logs: a body over 10 MiB is a plain-text 413, with content-length", async () => {
    const body = `[${JSON.stringify(validLine)}${" ".repeat(10 * MiB)}]`;
    const reply = await attack(fixture, "over 10 MiB", () => postServiceLogs(fixture.url, body));
    assertPlainError(reply, 413, /too large/);
  });

  test("/v1/logs: a 12 MB chunked body (no content-length) is a plain-text 413", async () => {
    const chunk = Buffer.alloc(MiB, 0x20);
    const reply = await attack(fixture, "chunked 12 MB", () =>
      postChunked(`${fixture.url}/v1/logs`, { "content-type": "application/json" }, [
        Buffer.from("["),
        ...Array.from({ length: 12 }, () => chunk),
        Buffer.from("]"),
      ]),
    );
    assert.equal(reply.status, 413, reply.text);
    assert.equal(reply.headers["content-type"], "text/plain; charset=utf-8");
  });

  test("/v1/logs: a client still uploading after its 413 reads the answer, not a reset", async () => {
    // Raw socket: the body over the limit goes out, then the client keeps sending for 600 ms after the
    // answer came. The server drains for a while (replies.ts, lingerMs) instead of closing at once, so
    // none of those writes meets a reset and the 413 is read whole.
    const { port } = new URL(fixture.url);
    // Half-open allowed: the server's FIN after its answer must not stop this side from sending.
    const socket = net.connect({ port: Number(port), host: "127.0.0.1", allowHalfOpen: true });
    await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    let received = "";
    let socketError: Error | null = null;
    socket.on("data", (part) => {
      received += part.toString("latin1");
    });
    socket.on("error", (error) => {
      socketError = error;
    });
    const closed = new Promise((resolve) => socket.once("close", resolve));
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const framed = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from("\r\n"),
    ]);
    socket.write(
      "POST /v1/logs HTTP/1.1\r\nhost: sluice\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    const writeFramed = () =>
      new Promise<void>((resolve) => {
        if (socket.destroyed || socket.write(framed)) return resolve();
        socket.once("drain", resolve).once("close", resolve);
      });
    for (let i = 0; i < 44 && !received.includes("\r\n\r\n"); i++) await writeFramed(); // 11 MiB
    const answeredAt = Date.now();
    while (Date.now() - answeredAt < 600 && socketError === null && !socket.destroyed) {
      await writeFramed();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    socket.end("0\r\n\r\n");
    await closed;
    assert.equal(socketError, null, `the upload met ${socketError}`);
    assert.ok(Date.now() - answeredAt >= 600, "the client could send for 600 ms after the answer");
    assert.match(received, /^HTTP\/1\.1 413 /);
    assert.match(received, /body too large/);
    await assertStillUp(fixture);
  });

  test("/v1/logs: 10 MB of garbage under the limit is a 400 invalid json", async () => {
    const reply = await attack(fixture, "10 MB garbage", () =>
      postServiceLogs(fixture.url, Buffer.alloc(10_000_000, 0x61)),
    );
    assertPlainError(reply, 400, /^invalid json: /);
    assert.ok(reply.text.length < 1000, `error body of ${reply.text.length} bytes`);
  });

  test("/v1/logs: 20,000 tiny entries are refused whole by the batch limit", async () => {
    const body = `[${Array.from({ length: 20_000 }, () => JSON.stringify(validLine)).join(",")}]`;
    const reply = await attack(fixture, "20k entries", () => postServiceLogs(fixture.url, body));
    assert.ok(reply.status === 413 || reply.status === 400, `status ${reply.status}`);
    assertPlainError(reply, reply.status, /10000/);
  });

  test("/logs: a 3 MB body is a 400 batch too large (content-length and chunked)", async () => {
    const body = `[${JSON.stringify(accessEntry())}${" ".repeat(3 * MiB)}]`;
    const reply = await attack(fixture, "/logs 3 MB", () => postAccessLogs(fixture.url, body));
    assertAccessError(reply, { ...invalidArgument, description: "batch too large: must be <= 2MB" });
    const chunk = Buffer.alloc(MiB, 0x20);
    const chunked = await attack(fixture, "/logs chunked 3 MB", () =>
      postChunked(
        `${fixture.url}/logs`,
        { "content-type": "application/json", "x-customer-id": "cus-axon" },
        [Buffer.from("["), chunk, chunk, chunk, Buffer.from("]")],
      ),
    );
    assert.equal(chunked.status, 400, chunked.text);
    assert.equal(JSON.parse(chunked.text).errorDescription, "batch too large: must be <= 2MB");
  });

  // A client that sends its whole body (as most do) must be able to read the refusal: the server
  // must not reset the connection under the upload (Go's net/http lingers; see closeWriteAndWait).
  const uploads: Array<[string, string, number, number]> = [
    ["/v1/logs", "", 11 * MiB, 413],
    ["/logs", "x-customer-id: cus-axon\r\n", 3 * MiB, 400],
  ];
  for (const [path, headers, size, status] of uploads) {
    test(`${path}: a client sending all of a ${size / MiB} MiB body reads the ${status}, and is not reset`, async () => {
      const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}Content-Length: ${size}\r\n\r\n`;
      const outcome = await attack(fixture, `whole ${path} upload`, () =>
        rawExchange(fixture.port, { script: [head, Buffer.alloc(size, 0x20)], waitMs: 5000 }),
      );
      assert.equal(outcome.status, status, `no ${status} read (socket error ${outcome.errorCode})`);
      assert.equal(
        outcome.errorCode,
        null,
        "the server reset the connection while the client was still sending",
      );
    });
  }

  test("a huge declared content-length is refused at once, without waiting for the body", async () => {
    const declare = (path: string, extraHeaders: string) =>
      rawExchange(fixture.port, {
        script: [
          `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extraHeaders}Content-Length: 10000000000\r\n\r\n[`,
        ],
        waitMs: 1500,
        stopAtResponse: true,
      });
    const logs = await attack(fixture, "declared 10 GB /v1/logs", () => declare("/v1/logs", ""));
    assert.equal(logs.status, 413, logs.response);
    const access = await attack(fixture, "declared 10 GB /logs", () =>
      declare("/logs", "x-customer-id: cus-axon\r\n"),
    );
    assert.equal(access.status, 400, access.response);
    assert.match(access.response, /batch too large: must be <= 2MB/);
  });

  // ---- truncated bodies and malformed HTTP ----
  const truncations: Array<[string, string]> = [
    [
      "/v1/logs, content-length longer than the body",
      'POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"timestamp":1,',
    ],
    [
      "/logs, content-length longer than the body",
      'POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-customer-id: cus-axon\r\nContent-Length: 1000\r\n\r\n[{"receivedAt":',
    ],
    [
      "/v1/logs, a chunked body cut inside a chunk",
      'POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n[{"timestamp":1,',
    ],
  ];
  for (const [name, request] of truncations) {
    test(`truncated body (${name}), then the client closes: answered or dropped at once`, async () => {
      const outcome = await attack(fixture, `truncated ${name}`, () =>
        rawExchange(fixture.port, { script: [request, 50], endAfterScript: true, waitMs: 3000 }),
      );
      assert.ok(outcome.closed, "the server kept a half-closed, truncated request open");
      assert.ok(outcome.status === null || (outcome.status >= 400 && outcome.status < 500), outcome.response);
    });
  }

  const malformed: Array<[string, string, number]> = [
    ["garbage instead of a request line", "GARBAGE\r\n\r\n", 400],
    ["a 20 KB header", `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431],
    [
      "both content-length and transfer-encoding",
      "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400,
    ],
    ["a negative content-length", "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400],
    [
      "a content-length that is not a number",
      "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
      400,
    ],
    [
      "invalid chunk framing",
      "POST /v1/logs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n[]\r\n",
      400,
    ],
    ["a NUL byte in a header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n", 400],
  ];
  for (const [name, request, status] of malformed) {
    test(`malformed HTTP (${name}): ${status}`, async () => {
      const outcome = await attack(fixture, `malformed ${name}`, () =>
        rawExchange(fixture.port, { script: [request], waitMs: 3000, stopAtResponse: true }),
      );
      assert.equal(outcome.status, status, outcome.response.slice(0, 300));
    });
  }

  test("no bad input made the server answer 5xx or log an error", async () => {
    const metrics = await send(`${fixture.url}/metrics`);
    const serverErrors = metrics.text
      .split("\n")
      .filter((line) => line.startsWith("sluice_http_requests_total") && /status="5\d\d"/.test(line));
    assert.deepEqual(serverErrors, []);
    const errorLogs = fixture.server.logs.filter((line) => {
      try {
        return (JSON.parse(line) as { level?: number }).level! >= 50;
      } catch {
        return false;
      }
    });
    assert.deepEqual(errorLogs, []);
  });
});

// ===============================================================================================
describe("slow clients are cut off by --request-timeout-ms", { concurrency: true }, () => {
  const fixture = serverFor(["--request-timeout-ms", String(requestTimeoutMs)]);
  const waitMs = requestTimeoutMs + cutOffSlackMs;

  function assertCutOff(outcome: RawOutcome, what: string): void {
    assert.ok(
      outcome.closed,
      `${what}: still connected ${Math.round(outcome.elapsedMs)} ms after connecting; --request-timeout-ms is ${requestTimeoutMs}`,
    );
    assert.ok(outcome.status === null || outcome.status === 408 || outcome.status === 400, outcome.response);
  }

  test("slow loris: headers sent one byte every 100 ms", async () => {
    const head = `POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Padding: ${"p".repeat(200)}\r\n\r\n`;
    const outcome = await attack(fixture, "slow loris headers", () =>
      rawExchange(fixture.port, { script: trickle(head, 100), waitMs }),
    );
    assertCutOff(outcome, "a client sending its headers byte by byte");
  });

  test("slow body: complete headers, then the body one byte every 100 ms", async () => {
    const body = JSON.stringify([validLine]).padEnd(400, " ");
    const head = `POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const outcome = await attack(fixture, "slow body", () =>
      rawExchange(fixture.port, { script: [head, ...trickle(body, 100)], waitMs }),
    );
    assertCutOff(outcome, "a client sending its body byte by byte");
  });

  test("stalled body: content-length longer than what is sent, the client then waits", async () => {
    const head =
      'POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-customer-id: cus-axon\r\nContent-Length: 1000\r\n\r\n[{"receivedAt":';
    const outcome = await attack(fixture, "stalled body", () =>
      rawExchange(fixture.port, { script: [head], waitMs }),
    );
    assertCutOff(outcome, "a client that stops sending its body");
  });

  test("100 slow-loris connections at once: a well-behaved client is served meanwhile, all are cut off", async () => {
    const head = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${"p".repeat(200)}\r\n\r\n`;
    const outcomes = await attack(fixture, "100 slow loris", () =>
      Promise.all(
        Array.from({ length: 100 }, () => rawExchange(fixture.port, { script: trickle(head, 200), waitMs })),
      ),
    );
    const open = outcomes.filter((outcome) => !outcome.closed).length;
    assert.equal(open, 0, `${open} of 100 slow-loris connections outlived the request timeout`);
  });
});

// ===============================================================================================
describe("accepted requests after bad ones carry the right data", () => {
  const fixture = serverFor([]);

  test("a rejected batch leaves no trace; the next good batch of the same service is stored exactly", async () => {
    const service = `after-bad-${Date.now()}`;
    const bad = [
      { timestamp: 1, service, message: "first" },
      { timestamp: 2, service, message: "second", labels: { nested: { no: "way" } } },
    ];
    assertPlainError(await postServiceLogs(fixture.url, bad), 400, /index 1\b.*labels/);
    const good = [
      { timestamp: 3, service, message: "third", labels: { k: "v" } },
      { timestamp: 4, service, message: "ünïcödé ✓ \u0000 \u2028" },
    ];
    assert.equal((await postServiceLogs(fixture.url, good)).text, '{"received":2}\n');
    const stored = await queryEntries(fixture.url, service, 10);
    assert.deepEqual(
      stored.map(({ timestamp, service: s, message, labels }) => ({
        timestamp,
        service: s,
        message,
        labels,
      })),
      [
        { timestamp: 3, service, message: "third", labels: { k: "v" } },
        { timestamp: 4, service, message: "ünïcödé ✓ \u0000 \u2028", labels: undefined },
      ],
    );
  });

  test("a /logs batch refused for one bad item does not use up its key", async () => {
    const key = `bad-then-good-${Date.now()}`;
    const bad = [accessEntry(), accessEntry({ userAgent: 1e300 })];
    assertAccessError(await postAccessLogs(fixture.url, bad, { "idempotency-key": key }), invalidArgument);
    assert.equal(
      (await postAccessLogs(fixture.url, [accessEntry()], { "idempotency-key": key })).status,
      202,
    );
    assert.equal(
      (await postAccessLogs(fixture.url, [accessEntry()], { "idempotency-key": key })).status,
      409,
    );
  });
});
