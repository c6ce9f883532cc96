// ULIDs for generated request ids and idempotency keys: 48-bit millisecond time + 80 random bits in
// Crockford base32, so ids sort by creation time.

import { randomBytes } from "node:crypto";

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export function ulid(nowMs = Date.now()): string {
  let time = "";
  let remaining = nowMs;
  for (let i = 0; i < 10; i++) {
    time = alphabet[remaining % 32] + time;
    remaining = Math.floor(remaining / 32);
  }
  const random = randomBytes(10);
  let bits = 0;
  let value = 0;
  let tail = "";
  for (const byte of random) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      tail += alphabet[(value >> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return time + tail;
}
