// Types for snappyjs (the package ships none). The tests use it as an independent snappy
// compressor; the decoder is snappy.ts (see why there).
declare module "snappyjs" {
  export function compress(input: Uint8Array): Uint8Array;
  export function uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
}
