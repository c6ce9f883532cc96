// TEMPORARY: replaced by src/model's stream id at merge. The one function this stage computes stream
// identity with: a stable 64-bit hash of the tenant and the label set (two 32-bit FNV-1a variants over
// the UTF-8 of `tenant 0x00 name 0x01 value 0x00 …`, labels sorted). Swap this file for the model's.

import type { LabelSet } from "../model/stream.ts";

const encoder = new TextEncoder();

export function streamIdOf(tenant: string, labels: LabelSet): bigint {
  let text = `${tenant}\u0000`;
  for (const [name, value] of labels) text += `${name}\u0001${value}\u0000`;
  const bytes = encoder.encode(text);
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (const byte of bytes) {
    a = Math.imul(a ^ byte, 0x01000193);
    b = Math.imul(b ^ byte, 0x01000193) ^ (b >>> 15);
  }
  return (BigInt(a >>> 0) << 32n) | BigInt(b >>> 0);
}
