// Routing: partition = FNV-1a 32-bit hash of the routing key, modulo the partition count. Reference A
// routes by service name, so event_creator→0, focus_allocator→1, notification_service→2,
// auth_service→3 with four partitions; clients depend on that placement.

const fnvOffsetBasis = 0x811c9dc5;
const fnvPrime = 0x01000193;

/** FNV-1a over the UTF-8 bytes of `text`, as Go's hash/fnv New32a does. */
export function fnv1a32(text: string): number {
  let hash = fnvOffsetBasis;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      hash = Math.imul(hash ^ code, fnvPrime);
      continue;
    }
    // Non-ASCII: hash the UTF-8 encoding, byte by byte.
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    for (const byte of utf8Bytes(code)) hash = Math.imul(hash ^ byte, fnvPrime);
  }
  return hash >>> 0;
}

/** FNV-1a over bytes[start, end): the same hash as fnv1a32 of the text those bytes encode in UTF-8. */
export function fnv1a32Bytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = fnvOffsetBasis;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i], fnvPrime);
  return hash >>> 0;
}

function utf8Bytes(code: number): number[] {
  if (code < 0x800) return [0xc0 | (code >> 6), 0x80 | (code & 63)];
  if (code < 0x10000) return [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63)];
  return [0xf0 | (code >> 18), 0x80 | ((code >> 12) & 63), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63)];
}

export function partitionFor(routingKey: string, partitionCount: number): number {
  return fnv1a32(routingKey) % partitionCount;
}
