// The index store: block summaries, the stream registry and each partition's indexed position in one
// SQLite database (node:sqlite), written in one transaction per sealed block, so after a crash at any
// moment the summaries, the streams and the position that produced them are together: the index is
// never ahead of, nor inconsistent with, what it covers. Schema and durability: FORMAT.md.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { LabelSet } from "../model/stream.ts";
import { IndexStoreConflictError, IndexStoreFormatError, IndexStoreIoError } from "./errors.ts";

const formatVersion = 1;

const schema = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (partition INTEGER PRIMARY KEY, next_offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
  partition INTEGER NOT NULL,
  from_offset INTEGER NOT NULL,
  to_offset INTEGER NOT NULL,
  record_count INTEGER NOT NULL,
  min_ts_ms INTEGER NOT NULL,
  max_ts_ms INTEGER NOT NULL,
  stream_ids BLOB NOT NULL,
  bloom_hashes INTEGER NOT NULL,
  bloom BLOB NOT NULL,
  sparse_offsets BLOB NOT NULL,
  PRIMARY KEY (partition, from_offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS streams (
  tenant TEXT NOT NULL,
  stream_id TEXT NOT NULL,
  labels TEXT NOT NULL,
  first_ts_ms INTEGER NOT NULL,
  last_ts_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant, stream_id)
) WITHOUT ROWID;
`;

export interface StoredBlock {
  partition: number;
  fromOffset: number;
  toOffset: number;
  recordCount: number;
  minTsMs: number;
  maxTsMs: number;
  /** Sorted ascending, distinct. */
  streamIds: BigUint64Array;
  bloomHashes: number;
  bloomWords: Uint32Array;
  /** The offsets of the block's sparse streams (sparse.ts, FORMAT.md). */
  sparseOffsets: Uint8Array;
}

export interface StreamSighting {
  tenant: string;
  id: bigint;
  labels: LabelSet;
  firstTsMs: number;
  lastTsMs: number;
}

/** The parameters a store's blooms were built with: a store of other parameters is rebuilt. */
export interface FilterParameters {
  gramLength: number;
  windowGrams: number;
  longGramLength: number;
  sparseStreamRecordsMax: number;
}

export const streamIdText = (id: bigint) => id.toString(16).padStart(16, "0");

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** A copy aligned for a typed array (SQLite hands back unaligned Uint8Arrays). */
function aligned(bytes: Uint8Array): ArrayBuffer {
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}

export class IndexStore {
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #statements: Record<string, StatementSync>;

  private constructor(file: string, db: DatabaseSync) {
    this.file = file;
    this.#db = db;
    this.#statements = {
      getPosition: db.prepare("SELECT next_offset FROM positions WHERE partition = ?"),
      putPosition: db.prepare(
        "INSERT INTO positions (partition, next_offset) VALUES (?, ?) ON CONFLICT (partition) DO UPDATE SET next_offset = excluded.next_offset",
      ),
      putBlock: db.prepare(
        "INSERT INTO blocks (partition, from_offset, to_offset, record_count, min_ts_ms, max_ts_ms, stream_ids, bloom_hashes, bloom, sparse_offsets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      dropBlocksBelow: db.prepare("DELETE FROM blocks WHERE partition = ? AND to_offset <= ?"),
      dropBlocksAbove: db.prepare("DELETE FROM blocks WHERE partition = ? AND to_offset > ?"),
      blocks: db.prepare("SELECT * FROM blocks WHERE partition = ? ORDER BY from_offset"),
      putStream: db.prepare(
        `INSERT INTO streams (tenant, stream_id, labels, first_ts_ms, last_ts_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant, stream_id) DO UPDATE SET
           first_ts_ms = min(first_ts_ms, excluded.first_ts_ms), last_ts_ms = max(last_ts_ms, excluded.last_ts_ms)`,
      ),
      streams: db.prepare("SELECT * FROM streams"),
    };
  }

  /** Opens (creating when absent) the store at `file`; one built with other parameters is emptied. */
  static open(file: string, parameters: FilterParameters): IndexStore {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(file);
    } catch (error) {
      throw new IndexStoreIoError(`cannot open the index store ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      // WAL + synchronous=NORMAL, as the aggregate store: a commit survives kill -9 once COMMIT returns;
      // a power loss may roll back the newest commits, summaries and position together.
      // 1 KiB pages: a bloom is a few KiB, and the last overflow page of each is half empty on average
      // (4 KiB pages cost ~40 % on top of the blooms, bench/index.bench.ts). Only applies to a new file.
      db.exec(
        "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
      );
      db.exec(schema);
      const meta = new Map(
        (db.prepare("SELECT name, value FROM meta").all() as { name: string; value: string }[]).map((row) => [
          row.name,
          row.value,
        ]),
      );
      const wanted = new Map([
        ["format_version", String(formatVersion)],
        ["gram_length", String(parameters.gramLength)],
        ["window_grams", String(parameters.windowGrams)],
        ["long_gram_length", String(parameters.longGramLength)],
        ["sparse_stream_records_max", String(parameters.sparseStreamRecordsMax)],
      ]);
      const version = meta.get("format_version");
      if (version !== undefined && version !== String(formatVersion))
        throw new IndexStoreFormatError(
          `index store ${file} has format version ${version}, this Sluice reads ${formatVersion}: delete it to rebuild`,
        );
      if ([...wanted].some(([name, value]) => meta.get(name) !== value)) {
        // Derived state built with other grams (or without the sparse offsets, a column added
        // 2026-12-04): start again from the log. The blocks table is made anew, so an old store's
        // gets the new column.
        db.exec("BEGIN; DROP TABLE blocks; DELETE FROM positions; DELETE FROM streams; DELETE FROM meta;");
        db.exec(schema);
        const put = db.prepare("INSERT INTO meta (name, value) VALUES (?, ?)");
        for (const [name, value] of wanted) put.run(name, value);
        db.exec("COMMIT");
      }
    } catch (error) {
      db.close();
      if (error instanceof IndexStoreFormatError) throw error;
      throw new IndexStoreFormatError(`${file} is not a Sluice index store: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return new IndexStore(file, db);
  }

  position(partition: number): number {
    const row = this.#statements.getPosition.get(partition) as { next_offset: number } | undefined;
    return row?.next_offset ?? 0;
  }

  blocks(partition: number): StoredBlock[] {
    return (this.#statements.blocks.all(partition) as Record<string, number & Uint8Array>[]).map((row) => ({
      partition,
      fromOffset: row.from_offset,
      toOffset: row.to_offset,
      recordCount: row.record_count,
      minTsMs: row.min_ts_ms,
      maxTsMs: row.max_ts_ms,
      streamIds: new BigUint64Array(aligned(row.stream_ids)),
      bloomHashes: row.bloom_hashes,
      bloomWords: new Uint32Array(aligned(row.bloom)),
      sparseOffsets: Uint8Array.from(row.sparse_offsets),
    }));
  }

  streams(): StreamSighting[] {
    return (this.#statements.streams.all() as Record<string, string & number>[]).map((row) => ({
      tenant: row.tenant,
      id: BigInt(`0x${row.stream_id}`),
      labels: JSON.parse(row.labels) as LabelSet,
      firstTsMs: row.first_ts_ms,
      lastTsMs: row.last_ts_ms,
    }));
  }

  /**
   * Commits one sealed block of `partition` — its summary, the streams it holds and the position
   * `block.toOffset` — and drops summaries wholly below `logStartOffset`, in one transaction. The
   * position is read inside it: a block that does not start where the store is refuses to commit.
   */
  commitBlock(
    block: StoredBlock,
    streams: readonly StreamSighting[],
    expectedPosition: number,
    logStartOffset: number,
  ): void {
    assert.ok(
      block.toOffset > block.fromOffset && block.fromOffset >= expectedPosition,
      "a block follows the position",
    );
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      const position = this.position(block.partition);
      if (position !== expectedPosition)
        throw new IndexStoreConflictError(
          `partition ${block.partition}: block from ${expectedPosition}, but the store is at ${position}`,
        );
      const s = this.#statements;
      s.putBlock.run(
        block.partition,
        block.fromOffset,
        block.toOffset,
        block.recordCount,
        block.minTsMs,
        block.maxTsMs,
        bytesOf(block.streamIds),
        block.bloomHashes,
        bytesOf(block.bloomWords),
        block.sparseOffsets,
      );
      for (const stream of streams)
        s.putStream.run(
          stream.tenant,
          streamIdText(stream.id),
          JSON.stringify(stream.labels),
          stream.firstTsMs,
          stream.lastTsMs,
        );
      s.dropBlocksBelow.run(block.partition, logStartOffset);
      s.putPosition.run(block.partition, block.toOffset);
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      if (error instanceof IndexStoreConflictError) throw error;
      throw new IndexStoreIoError(`index store write failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Moves `partition` back to `offset` (the log lost records the index covered), dropping later blocks. */
  rewind(partition: number, offset: number): number {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#statements.dropBlocksAbove.run(partition, offset);
      const last = this.#db
        .prepare("SELECT max(to_offset) AS to_offset FROM blocks WHERE partition = ?")
        .get(partition) as { to_offset: number | null };
      const position = last.to_offset ?? 0;
      this.#statements.putPosition.run(partition, position);
      this.#db.exec("COMMIT");
      return position;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw new IndexStoreIoError(`index store rewind failed: ${(error as Error).message}`, { cause: error });
    }
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
