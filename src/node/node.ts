// The composition root of one Sluice node: what a process is before any transport. It opens the
// logs under the data dir, rebuilds the derived state (idempotency keys), starts the consumers (the
// block index, the analytics consumer, the query engine and its pool), runs their maintenance and
// closes it all in order. Transports (src/http today; gRPC, syslog later) are built on top of a node:
// they read its parts and feed its ingest pipeline, and own nothing of the storage.

import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { Logger } from "pino";
import { AggregateStore, AnalyticsConsumer, type AnalyticsEvent } from "../analytics/index.ts";
import { dataLayout, type ServeConfig, type Topic, topics } from "../config/index.ts";
import { BlockIndex, type IndexEvent, indexedBlocks } from "../index/index.ts";
import {
  Admission,
  IdempotencyTable,
  IngestPipeline,
  logAppender,
  StreamLimiter,
  TenantLimiter,
} from "../ingest/index.ts";
import { type LogEvent, logLimits, PartitionLog } from "../log/index.ts";
import { createMetrics, type Metrics } from "../metrics/index.ts";
import { QueryEngine, QueryPool } from "../query/index.ts";
import type { NodeStatus } from "./status.ts";

/** The analytics consumer over the access log and the store it writes. */
export interface AnalyticsParts {
  store: AggregateStore;
  consumer: AnalyticsConsumer;
}

/** Recovery was stopped (a signal, the process shutting down) before it finished. */
export class RecoveryStoppedError extends Error {
  readonly code = "RECOVERY_STOPPED";
  constructor() {
    super("recovery stopped: the server is shutting down");
    this.name = "RecoveryStoppedError";
  }
}

/**
 * One node. Built without touching the logs (createNode); open() recovers, close() releases. The
 * parts that open() assigns (serviceLog, accessLog, queryEngine, analytics) are undefined before it
 * resolves: a transport must keep requests away from them until then (src/http's recoveryGate).
 */
export class SluiceNode {
  readonly config: ServeConfig;
  readonly logger: Logger;
  readonly dataDir: string;
  readonly nodeId: string;
  readonly admission: Admission;
  readonly tenantLimiter: TenantLimiter;
  readonly idempotency: IdempotencyTable;
  readonly metrics: Metrics;
  /** The ingest pipeline over the service log, for every transport. */
  readonly pipeline: IngestPipeline;
  serviceLog = undefined as unknown as PartitionLog;
  accessLog = undefined as unknown as PartitionLog;
  queryEngine = undefined as unknown as QueryEngine;
  readonly analytics = {} as AnalyticsParts;

  readonly #logs: Record<string, PartitionLog> = {}; // the log gauges read it at scrape
  readonly #stopping = new AbortController();
  #opened = { serviceLog: null as PartitionLog | null, accessLog: null as PartitionLog | null };
  #analyticsStarted = false;
  #blockIndex: BlockIndex | null = null;
  #queryPool: QueryPool | null = null;
  #maintenance: NodeJS.Timeout | null = null;
  #opening: Promise<void> | null = null;
  #closing: Promise<void> | null = null;

  constructor(config: ServeConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
    this.dataDir = path.resolve(config["data-dir"]);
    fs.mkdirSync(this.dataDir, { recursive: true });
    this.nodeId = config["node-id"] ?? persistentNodeId(this.dataDir);
    const admission = new Admission({
      requestsMax: config["queue-requests-max"],
      bytesMax: config["queue-bytes-max"],
    });
    this.admission = admission;
    this.metrics = createMetrics(
      this.#logs,
      () => ({ requests: admission.requestsInFlight, bytes: admission.bytesInFlight }),
      { tenantsMax: config["metrics-tenants-max"] },
    );
    this.tenantLimiter = new TenantLimiter({
      recordsPerS: config["tenant-records-per-s"],
      bytesPerS: config["tenant-bytes-per-s"],
    });
    this.idempotency = new IdempotencyTable(
      config["idempotency-retention-ms"],
      config["idempotency-keys-max"],
    );
    this.pipeline = new IngestPipeline({
      partitionCount: config.partitions,
      nodeId: this.nodeId,
      limits: {
        entriesMax: config["batch-entries-max"],
        lineBytesMax: config["line-bytes-max"],
        decodedBytesMax: config["decoded-bytes-max"],
      },
      admission,
      tenantLimiter: this.tenantLimiter,
      streams: new StreamLimiter(config["streams-per-tenant-max"]),
      // The service log is opened by open(); until then no transport reaches the pipeline.
      appender: { append: (routed) => this.appenderFor(topics.serviceLogs).append(routed) },
    });
  }

  /** An Appender over an opened topic's log that observes the append latency metric. */
  appenderFor(topic: Topic) {
    const log = topic === topics.serviceLogs ? this.serviceLog : this.accessLog;
    return logAppender(log, (seconds) => this.metrics.appendLatency.observe({ topic }, seconds));
  }

  /**
   * Recovers: opens the service log (each partition's active segment is checked, a torn tail cut,
   * missing indexes rebuilt), the search index and query engine, the access log; rebuilds the
   * idempotency keys from the access log; starts the analytics consumer and the maintenance timer.
   * Yields to the event loop between steps so a transport can answer meanwhile. Rejects with
   * RecoveryStoppedError once close() was called; what it opened is released then (and on failure).
   */
  open(): Promise<void> {
    this.#opening ??= this.#open().catch(async (error) => {
      await this.#release(); // nothing of a failed or stopped recovery is served (LOCKs, threads)
      throw error;
    });
    return this.#opening;
  }

  async #open(): Promise<void> {
    const { config, logger } = this;
    const signal = this.#stopping.signal;
    const step = async (name: string, run: () => unknown) => {
      await yieldToEventLoop(); // answer what arrived meanwhile (503) before the next step
      if (signal.aborted) throw signal.reason;
      const stepStartedMs = performance.now();
      logger.info({ step: name }, "recovery step");
      await run();
      logger.info({ step: name, ms: Math.round(performance.now() - stepStartedMs) }, "recovery step done");
    };
    await step("open the service log", () => {
      this.#opened.serviceLog = this.#openLog(
        topics.serviceLogs,
        recordLimits(config["body-bytes-max"], config["batch-entries-max"]),
      );
      this.serviceLog = this.#logs[topics.serviceLogs] = this.#opened.serviceLog;
    });
    await step("open the search index", async () => {
      if (config["search-index"] === "on") {
        const index = await BlockIndex.open(dataLayout.blockIndexDirectory(this.dataDir), this.serviceLog, {
          onEvent: (event) => logIndexEvent(logger, event),
        });
        this.#blockIndex = index;
        index.start();
        this.metrics.indexLag.read = () =>
          index.status().partitions.map((status) => Math.max(0, status.committedEnd - status.indexedTo));
      }
      const index = this.#blockIndex;
      if (config["query-threads"] > 0) this.#queryPool = new QueryPool({ threads: config["query-threads"] });
      const pool = this.#queryPool;
      this.queryEngine = new QueryEngine({
        ...(pool === null ? {} : { pool }),
        log: this.serviceLog,
        limits: { queryTimeoutMs: config["query-timeout-ms"] },
        budget: { entriesMax: config["query-entries-max"] },
        ...(index === null ? {} : { blocks: (tenant: string) => indexedBlocks(index, tenant) }),
      });
    });
    await step("open the access log", () => {
      this.#opened.accessLog = this.#openLog(topics.accessLogs, accessLogLimits(config));
      this.accessLog = this.#logs[topics.accessLogs] = this.#opened.accessLog;
    });
    await step("rebuild the idempotency keys", async () => {
      const keysLoaded = await this.idempotency.rebuild(this.accessLog, Date.now(), {
        signal,
        onProgress: (progress) => logger.info(progress, "rebuilding the idempotency keys"),
      });
      logger.info({ keysLoaded }, "idempotency keys rebuilt from the access log");
    });
    await step("start the analytics consumer", () => {
      Object.assign(this.analytics, this.#startAnalytics());
      this.#analyticsStarted = true;
    });
    if (signal.aborted) throw signal.reason;
    this.#maintenance = setInterval(() => {
      this.idempotency.sweep(Date.now());
      for (const log of [this.serviceLog, this.accessLog])
        log.maintain().catch((error) => logger.error({ err: error }, "log maintenance failed"));
    }, config["maintenance-interval-ms"]); // retention, compaction, idempotency key expiry
    this.#maintenance.unref();
  }

  /** The node's status; only once open() resolved (the transport's recovery gate sees to it). */
  status(nowMs = Date.now()): NodeStatus {
    let appendedRecords = 0;
    let appendedBytes = 0;
    // One stats() per log: the partitions' sizes and the appended counters come from the same read.
    const topicStatus = (topic: string, log: PartitionLog) => ({
      topic,
      partitions: log.stats().partitions.map((stats, partition) => {
        appendedRecords += stats.appendedRecords;
        appendedBytes += stats.appendedBytes;
        return {
          partition,
          bytes: stats.sizeBytes,
          segments: stats.segmentCount,
          startOffset: log.partition(partition).logStartOffset,
          endOffset: log.partition(partition).endOffset,
        };
      }),
    });
    const topicStatuses = [
      topicStatus(topics.serviceLogs, this.serviceLog),
      topicStatus(topics.accessLogs, this.accessLog),
    ];
    const index = this.#blockIndex;
    return {
      nodeId: this.nodeId,
      uptimeS: Math.round(process.uptime()),
      build: { version: process.env.npm_package_version ?? "0.1.0", node: `node ${process.version}` },
      appendedRecords,
      appendedBytes,
      diskBytes: directoryBytes(this.dataDir),
      topics: topicStatuses,
      index:
        index === null
          ? null
          : index.status().partitions.map((status, partition) => ({
              partition,
              indexedTo: status.indexedTo,
              committedEnd: status.committedEnd,
              lagRecords: Math.max(0, status.committedEnd - status.indexedTo),
              bytes: status.bytes,
            })),
      analytics: this.analytics.consumer.status(nowMs).map((status) => ({
        partition: status.partition,
        lagRecords: status.lagRecords,
        lagSeconds: status.lagSeconds,
      })),
    };
  }

  /**
   * Makes a recovery under way stop at its next step (open() then rejects with RecoveryStoppedError).
   * A transport calls it first on shutdown, drains its requests, then close()s.
   */
  stopRecovery(): void {
    if (!this.#stopping.signal.aborted) this.#stopping.abort(new RecoveryStoppedError());
  }

  /** Stops a recovery under way and releases everything: consumers, threads, then the logs. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.stopRecovery();
      if (this.#opening !== null) await this.#opening.catch(() => {}); // a stopped recovery released
      await this.#release();
    })();
    return this.#closing;
  }

  async #release(): Promise<void> {
    if (this.#maintenance !== null) clearInterval(this.#maintenance);
    this.#maintenance = null;
    if (this.#queryPool !== null) {
      await this.#queryPool.close();
      this.#queryPool = null;
    }
    if (this.#blockIndex !== null) {
      this.metrics.indexLag.read = null;
      await this.#blockIndex.close();
      this.#blockIndex = null;
    }
    if (this.#analyticsStarted) {
      this.#analyticsStarted = false;
      await this.analytics.consumer.stop();
      this.analytics.store.close();
    }
    const closing = [this.#opened.serviceLog, this.#opened.accessLog].filter((log) => log !== null);
    this.#opened = { serviceLog: null, accessLog: null };
    await Promise.all(closing.map((log) => log.close()));
  }

  #openLog(topic: Topic, limits: { recordBytesMax: number; appendBytesMax: number }): PartitionLog {
    const { config } = this;
    return PartitionLog.open({
      ...limits,
      directory: dataLayout.topicDirectory(this.dataDir, topic),
      partitionCount: config.partitions,
      fsync: config.fsync as "always" | "interval",
      fsyncIntervalMs: config["fsync-interval-ms"],
      segmentBytesMax: config["segment-bytes-max"],
      retentionMs: config["retention-ms"] > 0 ? config["retention-ms"] : null,
      retentionBytes: config["retention-bytes"] > 0 ? config["retention-bytes"] : null,
      onEvent: (event) => logEvent(this.logger, topic, event, this.metrics),
    });
  }

  /** The analytics consumer over the access log, with its store under <data-dir>/analytics. */
  #startAnalytics(): AnalyticsParts {
    const { logger, metrics } = this;
    const store = AggregateStore.open(dataLayout.aggregateStoreFile(this.dataDir), {
      windowKeysMax: this.config["aggregate-keys-max"],
    });
    const consumer = AnalyticsConsumer.start(this.accessLog, store, {
      onEvent: (event: AnalyticsEvent) => {
        metrics.analyticsEvents.inc({ kind: event.kind });
        if ("error" in event) logger.error({ ...event, err: event.error }, `analytics: ${event.kind}`);
        else logger.warn(event, `analytics: ${event.kind}`);
      },
      onStep: (_partition, step, committedAtMs) => {
        metrics.analyticsEntries.inc(step.entries);
        for (const appendedMs of step.recordTimestampsMs)
          metrics.analyticsFreshness.observe(Math.max(0, committedAtMs - appendedMs) / 1000);
      },
    });
    metrics.analyticsStatus.read = () => consumer.status(Date.now());
    return { store, consumer };
  }
}

/** A node for `config`, nothing opened yet (open() recovers). */
export function createNode(config: ServeConfig, logger: Logger): SluiceNode {
  return new SluiceNode(config, logger);
}

/** A stored record is at most its request body plus the enrichment; one append (a request's records
 * for one partition) at most the body plus the enrichment of every entry. */
function recordLimits(bodyBytesMax: number, entriesMax: number) {
  return {
    recordBytesMax: Math.max(logLimits.recordBytesMax, bodyBytesMax + 64 * 1024),
    appendBytesMax: Math.max(logLimits.appendBytesMax, bodyBytesMax + entriesMax * 512 + 64 * 1024),
  };
}

/** The access log's record limits for a configuration; the rebuild must open it with the same. */
export function accessLogLimits(config: ServeConfig): { recordBytesMax: number; appendBytesMax: number } {
  return recordLimits(config["access-body-bytes-max"], 1);
}

/** Bytes of the regular files under a directory (a file that goes meanwhile counts nothing). */
function directoryBytes(directory: string): number {
  let bytes = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(directory, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) bytes += directoryBytes(full);
    else if (entry.isFile()) {
      try {
        bytes += fs.statSync(full).size;
      } catch {
        // removed by retention or compaction between the listing and the stat
      }
    }
  }
  return bytes;
}

/** A node id generated once per data directory and kept in <data-dir>/node-id. */
function persistentNodeId(dataDir: string): string {
  const file = dataLayout.nodeIdFile(dataDir);
  try {
    const existing = fs.readFileSync(file, "utf8").trim();
    if (existing) return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const id = `${os
    .hostname()
    .replace(/[^A-Za-z0-9.-]/g, "-")
    .slice(0, 40)}-${crypto.randomBytes(4).toString("hex")}`;
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, `${id}\n`, { flush: true });
  fs.renameSync(temporary, file);
  return id;
}

function logIndexEvent(logger: Logger, event: IndexEvent): void {
  if ("error" in event) logger.warn({ ...event, err: event.error }, `search index: ${event.kind}`);
  else logger.info(event, `search index: ${event.kind}`);
}

function logEvent(logger: Logger, topic: string, event: LogEvent, metrics: Metrics): void {
  if (event.kind === "damaged-batch") {
    metrics.damagedBatches.inc({ topic });
    logger.error({ topic, ...event }, "damaged batch skipped");
  } else if (event.kind === "recovered") {
    if (event.report.damaged.length > 0) metrics.damagedBatches.inc({ topic }, event.report.damaged.length);
    logger.warn({ topic, ...event }, "partition recovered");
  } else if (event.kind === "write-failed")
    logger.error({ topic, err: event.error, partition: event.partition }, "log write failed");
  else logger.info({ topic, ...event }, event.kind);
}
