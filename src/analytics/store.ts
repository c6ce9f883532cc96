// The aggregate store: per-window counts and each partition's consumer offset in one SQLite database
// (node:sqlite), written in one transaction per consumer step, so a crash at any moment leaves the
// counts and the offset that produced them together: nothing is lost or counted twice. Schema and
// durability notes: FORMAT.md beside this file.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { ChunkAggregator, WindowDelta } from "./aggregator.ts";
import { StoreConflictError, StoreFormatError, StoreIoError } from "./errors.ts";
import { analyticsLimits, otherKey } from "./limits.ts";
import { formatWindowStart, type WindowSize } from "./windows.ts";

const formatVersion = 1;
const dimensions = { path: 0, agent: 1 } as const;

/** The reference's aggregate document. */
export interface AggregateDocument {
  customerId: string;
  windowStart: string;
  windowSize: WindowSize;
  requestsByPath: Record<string, number>;
  requestsByUserAgent: Record<string, number>;
}

export interface ConsumerPosition {
  partition: number;
  /** Every record below this offset is in the counts. */
  nextOffset: number;
  entriesCounted: number;
  /** Entries whose path (resp. user agent) went to `other` in their minute window. */
  pathsFolded: number;
  agentsFolded: number;
}

export interface StepCounts {
  entries: number;
  pathsFolded: number;
  agentsFolded: number;
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumer (
  partition INTEGER PRIMARY KEY,
  next_offset INTEGER NOT NULL,
  entries_counted INTEGER NOT NULL,
  paths_folded INTEGER NOT NULL,
  agents_folded INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS windows (
  customer TEXT NOT NULL,
  size TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  entry_count INTEGER NOT NULL,
  path_keys INTEGER NOT NULL,
  agent_keys INTEGER NOT NULL,
  paths_folded INTEGER NOT NULL,
  agents_folded INTEGER NOT NULL,
  PRIMARY KEY (customer, size, start_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counts (
  customer TEXT NOT NULL,
  size TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  dimension INTEGER NOT NULL,
  key TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (customer, size, start_ms, dimension, key)
) WITHOUT ROWID;
`;

interface WindowRow {
  path_keys: number;
  agent_keys: number;
}

export class AggregateStore {
  readonly file: string;
  readonly windowKeysMax: number;
  readonly #db: DatabaseSync;
  readonly #statements: ReturnType<typeof prepare>;
  #closed = false;

  private constructor(file: string, db: DatabaseSync, windowKeysMax: number) {
    this.file = file;
    this.#db = db;
    this.windowKeysMax = windowKeysMax;
    this.#statements = prepare(db);
  }

  /** Opens (creating when absent) the store at `file`. */
  static open(file: string, options: { windowKeysMax: number }): AggregateStore {
    assert.ok(Number.isSafeInteger(options.windowKeysMax) && options.windowKeysMax >= 1);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(file);
    } catch (error) {
      throw new StoreIoError(`cannot open the aggregate store ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      // WAL: readers never block the consumer's commits. synchronous=NORMAL: a commit survives a
      // process crash (kill -9) once COMMIT returns; after a power loss the newest commits may roll
      // back, but offsets and counts roll back together and the consumer re-reads the same records
      // from the log, which is the source of truth.
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
      db.exec(schema);
      const row = db.prepare("SELECT value FROM meta WHERE name = 'format_version'").get() as
        | { value: string }
        | undefined;
      if (row === undefined) {
        db.prepare("INSERT INTO meta (name, value) VALUES ('format_version', ?)").run(String(formatVersion));
      } else if (row.value !== String(formatVersion)) {
        throw new StoreFormatError(
          `aggregate store ${file} has format version ${row.value}, this Sluice reads ${formatVersion}: run sluice aggregates rebuild`,
        );
      }
    } catch (error) {
      db.close();
      if (error instanceof StoreFormatError) throw error;
      throw new StoreFormatError(`${file} is not a Sluice aggregate store: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return new AggregateStore(file, db, options.windowKeysMax);
  }

  /** Where each partition's consumer resumes (0 for a partition never consumed). */
  position(partition: number): ConsumerPosition {
    this.#assertOpen();
    const row = this.#statements.getConsumer.get(partition) as
      | { next_offset: number; entries_counted: number; paths_folded: number; agents_folded: number }
      | undefined;
    return {
      partition,
      nextOffset: row?.next_offset ?? 0,
      entriesCounted: row?.entries_counted ?? 0,
      pathsFolded: row?.paths_folded ?? 0,
      agentsFolded: row?.agents_folded ?? 0,
    };
  }

  /**
   * Adds one step's windows — the records [fromOffset, nextOffset) of `partition` — to the counts and
   * moves the partition's offset to `nextOffset`, in one transaction. The committed offset is read
   * inside that transaction: if it is not `fromOffset` (another writer, or a step applied twice) the
   * step is refused with StoreConflictError and nothing changes. On an I/O failure nothing of the
   * step is kept and the error is a StoreIoError.
   */
  apply(partition: number, chunk: ChunkAggregator, fromOffset: number, nextOffset: number): StepCounts {
    this.#assertOpen();
    assert.ok(nextOffset >= fromOffset, "a consumer's offset never moves backwards");
    const counts: StepCounts = { entries: chunk.entryCount, pathsFolded: 0, agentsFolded: 0 };
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      const before = this.position(partition);
      if (before.nextOffset !== fromOffset) {
        throw new StoreConflictError(
          `partition ${partition}: step from offset ${fromOffset}, but the store is at ${before.nextOffset}`,
        );
      }
      for (const window of chunk.windows()) {
        const folded = this.#applyWindow(window);
        if (window.size === "minute") {
          counts.pathsFolded += folded.paths;
          counts.agentsFolded += folded.agents;
        }
      }
      const after: ConsumerPosition = {
        partition,
        nextOffset,
        entriesCounted: before.entriesCounted + counts.entries,
        pathsFolded: before.pathsFolded + counts.pathsFolded,
        agentsFolded: before.agentsFolded + counts.agentsFolded,
      };
      this.#statements.putConsumer.run(
        partition,
        nextOffset,
        after.entriesCounted,
        after.pathsFolded,
        after.agentsFolded,
      );
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      if (error instanceof StoreConflictError) throw error;
      throw new StoreIoError(`aggregate store write failed: ${(error as Error).message}`, { cause: error });
    }
    return counts;
  }

  #applyWindow(window: WindowDelta): { paths: number; agents: number } {
    const { customerId, size, startMs } = window;
    const row = this.#statements.getWindow.get(customerId, size, startMs) as WindowRow | undefined;
    const paths = this.#applyKeys(window, dimensions.path, window.paths, row?.path_keys ?? 0);
    const agents = this.#applyKeys(window, dimensions.agent, window.agents, row?.agent_keys ?? 0);
    this.#statements.putWindow.run(
      customerId,
      size,
      startMs,
      window.entryCount,
      paths.keys,
      agents.keys,
      paths.folded,
      agents.folded,
    );
    return { paths: paths.folded, agents: agents.folded };
  }

  /** Adds counts for known keys, admits new keys while the window has room, folds the rest. */
  #applyKeys(
    window: WindowDelta,
    dimension: number,
    counts: Map<string, number>,
    keysBefore: number,
  ): { keys: number; folded: number } {
    const { customerId, size, startMs } = window;
    const { addCount, insertCount } = this.#statements;
    let keys = keysBefore;
    let folded = 0;
    for (const [key, count] of counts) {
      if (addCount.run(count, customerId, size, startMs, dimension, key).changes === 1) continue;
      if (keys < this.windowKeysMax) {
        insertCount.run(customerId, size, startMs, dimension, key, count);
        keys++;
      } else {
        folded += count;
      }
    }
    if (folded > 0) this.#statements.upsertCount.run(customerId, size, startMs, dimension, otherKey, folded);
    return { keys, folded };
  }

  /**
   * Moves a partition's committed offset back to `offset` without touching the counts: only for a
   * store that is ahead of its log (see consumer.ts, startPosition).
   */
  rewind(partition: number, offset: number): void {
    this.#assertOpen();
    const position = this.position(partition);
    assert.ok(offset <= position.nextOffset, "rewind moves an offset backwards only");
    this.#statements.putConsumer.run(
      partition,
      offset,
      position.entriesCounted,
      position.pathsFolded,
      position.agentsFolded,
    );
  }

  /**
   * The documents of one customer's windows of `size` with fromMs <= start < toMs, oldest first: at
   * most `limit` windows, and no more windows once `rowsMax` count rows have been read (but always
   * at least one whole window). `nextStartMs` is the start of the first window left out, if any.
   */
  query(
    customerId: string,
    size: WindowSize,
    fromMs: number,
    toMs: number,
    limit: number,
    rowsMax: number = analyticsLimits.queryRowsMax,
  ): { documents: AggregateDocument[]; nextStartMs: number | null } {
    this.#assertOpen();
    assert.ok(Number.isSafeInteger(limit) && limit >= 1);
    const starts = (
      this.#statements.windowStarts.all(customerId, size, fromMs, toMs, limit + 1) as Array<{
        start_ms: number;
      }>
    ).map((row) => row.start_ms);
    if (starts.length === 0) return { documents: [], nextStartMs: null };
    let nextStartMs = starts.length > limit ? starts[limit] : null;
    const lastMs = starts[Math.min(starts.length, limit) - 1];
    const rows = this.#statements.windowCounts.iterate(customerId, size, starts[0], lastMs) as Iterable<{
      start_ms: number;
      dimension: number;
      key: string;
      count: number;
    }>;
    const documents: AggregateDocument[] = [];
    let current: AggregateDocument | null = null;
    let currentStartMs = Number.NaN;
    let rowsRead = 0;
    for (const row of rows) {
      if (current === null || row.start_ms !== currentStartMs) {
        if (rowsRead >= rowsMax) {
          nextStartMs = row.start_ms; // the rest is the next page; breaking finalizes the statement
          break;
        }
        currentStartMs = row.start_ms;
        current = {
          customerId,
          windowStart: formatWindowStart(row.start_ms),
          windowSize: size,
          requestsByPath: {},
          requestsByUserAgent: {},
        };
        documents.push(current);
      }
      rowsRead++;
      const target = row.dimension === dimensions.path ? current.requestsByPath : current.requestsByUserAgent;
      // A family may be literally "__proto__" (a user agent "__proto__/1.0"): define it as an own
      // property, since assigning it would set the object's prototype and drop the count.
      if (row.key === "__proto__")
        Object.defineProperty(target, row.key, {
          value: row.count,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      else target[row.key] = row.count;
    }
    return { documents, nextStartMs };
  }

  /** Totals over every window of one size: entries, windows, and entries folded (checks, status). */
  totals(size: WindowSize): { windows: number; entries: number; pathsFolded: number; agentsFolded: number } {
    this.#assertOpen();
    const row = this.#statements.totals.get(size) as {
      windows: number;
      entries: number | null;
      paths_folded: number | null;
      agents_folded: number | null;
    };
    return {
      windows: row.windows,
      entries: row.entries ?? 0,
      pathsFolded: row.paths_folded ?? 0,
      agentsFolded: row.agents_folded ?? 0,
    };
  }

  #assertOpen(): void {
    assert.ok(!this.#closed, "the aggregate store is closed");
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}

function prepare(db: DatabaseSync) {
  const statement = (sql: string): StatementSync => db.prepare(sql);
  return {
    getConsumer: statement(
      "SELECT next_offset, entries_counted, paths_folded, agents_folded FROM consumer WHERE partition = ?",
    ),
    putConsumer: statement(
      "INSERT OR REPLACE INTO consumer (partition, next_offset, entries_counted, paths_folded, agents_folded) VALUES (?, ?, ?, ?, ?)",
    ),
    getWindow: statement(
      "SELECT path_keys, agent_keys FROM windows WHERE customer = ? AND size = ? AND start_ms = ?",
    ),
    putWindow: statement(`INSERT INTO windows
      (customer, size, start_ms, entry_count, path_keys, agent_keys, paths_folded, agents_folded)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
      ON CONFLICT (customer, size, start_ms) DO UPDATE SET
        entry_count = entry_count + ?4, path_keys = ?5, agent_keys = ?6,
        paths_folded = paths_folded + ?7, agents_folded = agents_folded + ?8`),
    addCount: statement(
      "UPDATE counts SET count = count + ? WHERE customer = ? AND size = ? AND start_ms = ? AND dimension = ? AND key = ?",
    ),
    insertCount: statement(
      "INSERT INTO counts (customer, size, start_ms, dimension, key, count) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    upsertCount: statement(`INSERT INTO counts (customer, size, start_ms, dimension, key, count)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6)
      ON CONFLICT (customer, size, start_ms, dimension, key) DO UPDATE SET count = count + ?6`),
    windowStarts: statement(`SELECT start_ms FROM windows
      WHERE customer = ? AND size = ? AND start_ms >= ? AND start_ms < ? ORDER BY start_ms LIMIT ?`),
    windowCounts: statement(`SELECT start_ms, dimension, key, count FROM counts
      WHERE customer = ? AND size = ? AND start_ms >= ? AND start_ms <= ?
      ORDER BY start_ms, dimension, count DESC, key`),
    totals: statement(`SELECT count(*) AS windows, sum(entry_count) AS entries,
      sum(paths_folded) AS paths_folded, sum(agents_folded) AS agents_folded FROM windows WHERE size = ?`),
  };
}
