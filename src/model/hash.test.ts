import assert from "node:assert/strict";
import { test } from "node:test";
import { fnv1a32, fnv1a32Bytes, partitionFor } from "./hash.ts";
import { ulid } from "./ulid.ts";

test("FNV-1a 32 matches the published test vectors and reference A's placement", () => {
  assert.equal(fnv1a32(""), 0x811c9dc5);
  assert.equal(fnv1a32("a"), 0xe40c292c);
  assert.equal(fnv1a32("foobar"), 0xbf9cf968);
  assert.deepEqual(
    ["event_creator", "focus_allocator", "notification_service", "auth_service"].map((service) =>
      partitionFor(service, 4),
    ),
    [0, 1, 2, 3],
  );
});

test("FNV-1a hashes the UTF-8 bytes of non-ASCII text", () => {
  // Expected values computed byte by byte over the UTF-8 encoding.
  const bytewise = (bytes: Uint8Array) => {
    let hash = 0x811c9dc5;
    for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193);
    return hash >>> 0;
  };
  for (const text of ["é", "€uro", "日本語", "😀 emoji", "mixed ascii ü"]) {
    assert.equal(fnv1a32(text), bytewise(Buffer.from(text, "utf8")), text);
    const framed = Buffer.from(`[${text}]`, "utf8");
    assert.equal(fnv1a32Bytes(framed, 1, framed.length - 1), fnv1a32(text), text);
  }
});

test("ULIDs are 26 Crockford base32 characters and sort by time", () => {
  const first = ulid(1_700_000_000_000);
  const second = ulid(1_700_000_000_001);
  assert.match(first, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.ok(first < second);
  assert.notEqual(ulid(5), ulid(5));
});
