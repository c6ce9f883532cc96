// Sequential batch scanning over a segment file with synchronous positioned reads (the page cache
// answers them in microseconds). Finds whole, checksummed batches and reports every damaged region
// instead of throwing: recovery and readers decide what a damaged region means for them.

import assert from "node:assert/strict";
import { type BatchHeader, batchHeaderBytes, batchMagic, crcMatches, readHeader } from "./batch.ts";
import type { Storage } from "./storage.ts";

export interface ScannedBatch {
  kind: "batch";
  position: number;
  header: BatchHeader;
  /** Valid until the scanner moves on: copy or decode before the next step. */
  payload: Uint8Array;
}

export interface DamagedRegion {
  kind: "damaged";
  position: number;
  /** Where whole batches resume, or the scan end when none follow ("torn tail"). */
  endPosition: number;
  /** Records the damaged region held, as far as a readable header tells; 0 when unknown. */
  recordCountAtLeast: number;
  reason: string;
  tail: boolean;
}

export type ScanItem = ScannedBatch | DamagedRegion;

export interface ScanOptions {
  chunkBytes: number;
  payloadBytesMax: number;
  /** Where the segment files are read from (the fd belongs to it). */
  storage: Storage;
}

/** A sliding read window so small batches cost one read per chunk, not two reads each. */
class Window {
  readonly #storage: Storage;
  readonly #fd: number;
  readonly #endPosition: number;
  #buffer: Buffer;
  #start = 0;
  #length = 0;

  constructor(storage: Storage, fd: number, endPosition: number, chunkBytes: number) {
    this.#storage = storage;
    this.#fd = fd;
    this.#endPosition = endPosition;
    this.#buffer = Buffer.allocUnsafe(chunkBytes);
  }

  /** Returns a view of [position, position + bytes), reading from the file when needed. */
  view(position: number, bytes: number): Uint8Array {
    assert.ok(position + bytes <= this.#endPosition, "window read past the scan end");
    if (position < this.#start || position + bytes > this.#start + this.#length) {
      if (bytes > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(bytes);
      const wanted = Math.min(this.#buffer.length, this.#endPosition - position);
      const read = readFully(this.#storage, this.#fd, this.#buffer, wanted, position);
      assert.ok(read >= bytes, "file shorter than its committed size");
      this.#start = position;
      this.#length = read;
    }
    const at = position - this.#start;
    return this.#buffer.subarray(at, at + bytes);
  }
}

export function readFully(
  storage: Storage,
  fd: number,
  buffer: Buffer,
  bytes: number,
  position: number,
): number {
  let done = 0;
  while (done < bytes) {
    const read = storage.read(fd, buffer, done, bytes - done, position + done);
    if (read === 0) break;
    done += read;
  }
  return done;
}

/** Checks whether a whole, checksummed batch starts at position (used to resynchronise). */
function wholeBatchAt(window: Window, position: number, endPosition: number, options: ScanOptions): boolean {
  if (position + batchHeaderBytes > endPosition) return false;
  const headerView = window.view(position, batchHeaderBytes);
  const header = readHeader(headerView, 0, options.payloadBytesMax);
  if (typeof header === "string") return false;
  const total = batchHeaderBytes + header.payloadBytes;
  if (position + total > endPosition) return false;
  return crcMatches(window.view(position, total), 0, header);
}

function resync(window: Window, from: number, endPosition: number, options: ScanOptions): number {
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(batchMagic);
  for (let position = from; position + batchHeaderBytes <= endPosition; ) {
    const span = Math.min(options.chunkBytes, endPosition - position);
    const found = Buffer.from(window.view(position, span)).indexOf(magic);
    if (found < 0) {
      position += Math.max(1, span - 3);
      continue;
    }
    if (wholeBatchAt(window, position + found, endPosition, options)) return position + found;
    position += found + 1;
  }
  return endPosition;
}

/** Scans [startPosition, endPosition) of a segment file, yielding batches and damaged regions in order. */
export function* scanBatches(
  fd: number,
  startPosition: number,
  endPosition: number,
  options: ScanOptions,
): Generator<ScanItem> {
  // A short range (one index chunk, as readLast scans) needs no full-size window.
  const window = new Window(
    options.storage,
    fd,
    endPosition,
    Math.max(batchHeaderBytes, Math.min(options.chunkBytes, endPosition - startPosition)),
  );
  let position = startPosition;
  while (position < endPosition) {
    if (position + batchHeaderBytes > endPosition) {
      yield damaged(position, endPosition, 0, "torn header", true);
      return;
    }
    const header = readHeader(window.view(position, batchHeaderBytes), 0, options.payloadBytesMax);
    if (typeof header === "string") {
      const next = resync(window, position + 1, endPosition, options);
      yield damaged(position, next, 0, header, next === endPosition);
      position = next;
      continue;
    }
    const total = batchHeaderBytes + header.payloadBytes;
    if (position + total > endPosition) {
      yield damaged(position, endPosition, header.recordCount, "torn payload", true);
      return;
    }
    const batchView = window.view(position, total);
    if (!crcMatches(batchView, 0, header)) {
      const lengthTrusted =
        position + total === endPosition || wholeBatchAt(window, position + total, endPosition, options);
      const next = lengthTrusted ? position + total : resync(window, position + 1, endPosition, options);
      yield damaged(position, next, header.recordCount, "checksum mismatch", next === endPosition);
      position = next;
      continue;
    }
    yield { kind: "batch", position, header, payload: batchView.subarray(batchHeaderBytes) };
    position += total;
  }
}

function damaged(
  position: number,
  endPosition: number,
  recordCountAtLeast: number,
  reason: string,
  tail: boolean,
): DamagedRegion {
  return { kind: "damaged", position, endPosition, recordCountAtLeast, reason, tail };
}
