// The character codes of JSON's structure, shared by the two byte-level JSON readers of this stage
// (service-logs-scan.ts over bytes, json-strict.ts over a string's char codes: the same values).

export const jsonCode = {
  tab: 0x09,
  newline: 0x0a,
  carriageReturn: 0x0d,
  space: 0x20,
  quote: 0x22,
  comma: 0x2c,
  zero: 0x30,
  nine: 0x39,
  colon: 0x3a,
  openBracket: 0x5b,
  backslash: 0x5c,
  closeBracket: 0x5d,
  b: 0x62,
  f: 0x66,
  n: 0x6e,
  r: 0x72,
  t: 0x74,
  openBrace: 0x7b,
  closeBrace: 0x7d,
} as const;

/** JSON's whitespace (RFC 8259): space, tab, newline, carriage return. Undefined (past the end) is not. */
export function isJsonWhitespace(code: number | undefined): boolean {
  return (
    code === jsonCode.space ||
    code === jsonCode.newline ||
    code === jsonCode.carriageReturn ||
    code === jsonCode.tab
  );
}
