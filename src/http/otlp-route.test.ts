import assert from "node:assert/strict";
import { test } from "node:test";
import zlib from "node:zlib";
import type { FastifyRequest } from "fastify";
import { DecodeError } from "../ingest/index.ts";
import { otlpBodyOf } from "./otlp-route.ts";

const decodedBytesMax = 64 * 1024;

function requestWith(headers: Record<string, string>): FastifyRequest {
  return { headers } as unknown as FastifyRequest;
}

function route(headers: Record<string, string>, body: string | Buffer): string {
  const outcome = otlpBodyOf(requestWith(headers), Buffer.from(body), decodedBytesMax);
  if (outcome === null) return "reference A";
  if (outcome.decoded instanceof DecodeError) return `${outcome.encoding} ${outcome.decoded.reason}`;
  return outcome.encoding;
}

const json = { "content-type": "application/json" };
const gzipJson = { ...json, "content-encoding": "gzip" };
const proto = { "content-type": "application/x-protobuf" };

test("which /v1/logs bodies are OTLP, and which stay reference A's", () => {
  const cases: [Record<string, string>, string | Buffer, string][] = [
    [json, "[]", "reference A"],
    [json, ' \n\t[{"timestamp":1}]', "reference A"],
    [json, '{"resourceLogs":[]}', "json"],
    [json, ' {\n  "resourceLogs": [', "json"], // truncated: OTLP's 400 to answer
    [json, '{"resource_logs":[]}', "json"],
    [{ "content-type": "application/json; charset=utf-8" }, '{"resourceLogs":[]}', "json"],
    [json, "{}", "reference A"],
    [json, '{"timestamp":1,"service":"a"}', "reference A"],
    [json, "", "reference A"],
    [json, "nul", "reference A"],
    [{ "content-type": "text/plain" }, '{"resourceLogs":[]}', "reference A"],
    [{}, '{"resourceLogs":[]}', "reference A"],
    [proto, "", "protobuf"],
    [proto, "\x0a\x00", "protobuf"],
    [{ "content-type": "Application/X-Protobuf" }, "", "protobuf"],
    [{ ...proto, "content-encoding": "gzip" }, zlib.gzipSync("\x0a\x00"), "protobuf"],
    [{ ...proto, "content-encoding": "gzip" }, "not gzip", "protobuf invalid_encoding"],
    [{ ...proto, "content-encoding": "br" }, "", "protobuf unsupported_media_type"],
    [gzipJson, zlib.gzipSync('{"resourceLogs":[]}'), "json"],
    [gzipJson, zlib.gzipSync("[]"), "reference A"], // reference A refuses the raw bytes as before
    [gzipJson, "[]", "reference A"], // an array is reference A's whatever the headers
    [gzipJson, "not gzip", "json invalid_encoding"],
    [gzipJson, zlib.gzipSync(Buffer.alloc(decodedBytesMax + 1)), "json body_too_large"],
    [{ ...json, "content-encoding": "identity" }, '{"resourceLogs":[]}', "json"],
  ];
  for (const [headers, body, expected] of cases)
    assert.equal(
      route(headers, body),
      expected,
      `${JSON.stringify(headers)} ${JSON.stringify(String(body).slice(0, 30))}`,
    );
});
