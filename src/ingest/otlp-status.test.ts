import assert from "node:assert/strict";
import { test } from "node:test";
import protobuf from "protobufjs";
import { rejectReasons } from "./errors.ts";
import { encodeRpcStatus, rpcCodeOfReason, rpcCodes } from "./otlp-status.ts";

// google.rpc.Status, google.protobuf.Any, google.rpc.RetryInfo and google.protobuf.Duration as
// googleapis defines them, read by protobufjs: an independent decoder of what encodeRpcStatus writes.
const root = protobuf.Root.fromJSON({
  nested: {
    Status: {
      fields: {
        code: { type: "int32", id: 1 },
        message: { type: "string", id: 2 },
        details: { rule: "repeated", type: "Any", id: 3 },
      },
    },
    Any: { fields: { type_url: { type: "string", id: 1 }, value: { type: "bytes", id: 2 } } },
    RetryInfo: { fields: { retry_delay: { type: "Duration", id: 1 } } },
    Duration: { fields: { seconds: { type: "int64", id: 1 }, nanos: { type: "int32", id: 2 } } },
  },
});
const Status = root.lookupType("Status");
const RetryInfo = root.lookupType("RetryInfo");

test("protobuf: code and message, no details without a retry delay", () => {
  const bytes = encodeRpcStatus(
    { code: rpcCodes.invalidArgument, message: "bad ✓", retryDelayS: null },
    "protobuf",
  );
  const decoded = Status.toObject(Status.decode(bytes), { defaults: true });
  assert.deepEqual(decoded, { code: 3, message: "bad ✓", details: [] });
});

test("protobuf: a RetryInfo detail with the delay in seconds (0 is an empty Duration)", () => {
  for (const retryDelayS of [0, 1, 60, 300]) {
    const bytes = encodeRpcStatus(
      { code: rpcCodes.resourceExhausted, message: "slow down", retryDelayS },
      "protobuf",
    );
    const status = Status.decode(bytes) as unknown as {
      code: number;
      details: { type_url: string; value: Uint8Array }[];
    };
    assert.equal(status.code, 8);
    assert.equal(status.details.length, 1);
    assert.equal(status.details[0].type_url, "type.googleapis.com/google.rpc.RetryInfo");
    const retryInfo = RetryInfo.toObject(RetryInfo.decode(status.details[0].value), {
      defaults: true,
      longs: Number,
    });
    assert.deepEqual(retryInfo, { retry_delay: { seconds: retryDelayS, nanos: 0 } });
  }
});

test("JSON: proto3 JSON of the Status, the RetryInfo as an Any with @type and a duration string", () => {
  assert.deepEqual(
    JSON.parse(
      encodeRpcStatus({ code: rpcCodes.invalidArgument, message: "m", retryDelayS: null }, "json").toString(),
    ),
    { code: 3, message: "m" },
  );
  assert.deepEqual(
    JSON.parse(
      encodeRpcStatus({ code: rpcCodes.unavailable, message: "m", retryDelayS: 2 }, "json").toString(),
    ),
    {
      code: 14,
      message: "m",
      details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "2s" }],
    },
  );
});

test("a retry delay that is not whole seconds is a bug", () => {
  assert.throws(() => encodeRpcStatus({ code: 14, message: "", retryDelayS: 1.5 }, "protobuf"), /BUG/);
  assert.throws(() => encodeRpcStatus({ code: 14, message: "", retryDelayS: -1 }, "json"), /BUG/);
});

test("every refusal has a code; bad data is INVALID_ARGUMENT, quotas RESOURCE_EXHAUSTED, overload UNAVAILABLE", () => {
  for (const reason of Object.values(rejectReasons))
    assert.equal(typeof rpcCodeOfReason(reason), "number", reason);
  assert.equal(rpcCodeOfReason(rejectReasons.invalidProtobuf), rpcCodes.invalidArgument);
  assert.equal(rpcCodeOfReason(rejectReasons.invalidEntry), rpcCodes.invalidArgument);
  assert.equal(rpcCodeOfReason(rejectReasons.tenantRateLimited), rpcCodes.resourceExhausted);
  assert.equal(rpcCodeOfReason(rejectReasons.bodyTooLarge), rpcCodes.resourceExhausted);
  assert.equal(rpcCodeOfReason(rejectReasons.queueFull), rpcCodes.unavailable);
  assert.equal(rpcCodeOfReason(rejectReasons.storageOverloaded), rpcCodes.unavailable);
});
