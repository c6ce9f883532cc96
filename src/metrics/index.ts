// Prometheus instruments of a Sluice process, on one registry served at GET /metrics.

import client from "prom-client";
import type { PartitionStatus } from "../analytics/index.ts";
import type { PartitionLog } from "../log/index.ts";

export interface Metrics {
  registry: client.Registry;
  httpRequests: client.Counter<"route" | "method" | "status">;
  ingestedRecords: client.Counter<"route" | "tenant">;
  ingestedBytes: client.Counter<"route" | "tenant">;
  rejectedRequests: client.Counter<"route" | "reason">;
  appendLatency: client.Histogram<"topic">;
  damagedBatches: client.Counter<"topic">;
  analyticsEntries: client.Counter;
  analyticsFreshness: client.Histogram;
  analyticsEvents: client.Counter<"kind">;
  /** Set once the analytics consumer runs; read at scrape time for the lag and fold gauges. */
  analyticsStatus: { read: (() => PartitionStatus[]) | null };
}

/** Log statistics are read at scrape time, so the append path does no metric work for them. */
export function createMetrics(
  logs: Record<string, PartitionLog>,
  queue: () => { requests: number; bytes: number },
): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "sluice_process_" });
  const metrics: Metrics = {
    registry,
    httpRequests: new client.Counter({
      name: "sluice_http_requests_total",
      help: "HTTP requests answered, by route, method and status code",
      labelNames: ["route", "method", "status"],
      registers: [registry],
    }),
    ingestedRecords: new client.Counter({
      name: "sluice_ingested_records_total",
      help: "records (log entries) acknowledged, by route and tenant",
      labelNames: ["route", "tenant"],
      registers: [registry],
    }),
    ingestedBytes: new client.Counter({
      name: "sluice_ingested_bytes_total",
      help: "request body bytes acknowledged, by route and tenant",
      labelNames: ["route", "tenant"],
      registers: [registry],
    }),
    rejectedRequests: new client.Counter({
      name: "sluice_rejected_requests_total",
      help: "ingest requests refused, by route and reason",
      labelNames: ["route", "reason"],
      registers: [registry],
    }),
    appendLatency: new client.Histogram({
      name: "sluice_log_append_duration_seconds",
      help: "time from append to durable (group commit + fdatasync), by topic",
      labelNames: ["topic"],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    damagedBatches: new client.Counter({
      name: "sluice_log_damaged_batches_total",
      help: "damaged batches found (recovery or reads), by topic",
      labelNames: ["topic"],
      registers: [registry],
    }),
    analyticsEntries: new client.Counter({
      name: "sluice_analytics_entries_total",
      help: "access-log entries added to the aggregates since start",
      registers: [registry],
    }),
    analyticsFreshness: new client.Histogram({
      name: "sluice_analytics_freshness_seconds",
      help: "time from a batch's durable append to its entries being visible in the aggregates",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
      registers: [registry],
    }),
    analyticsEvents: new client.Counter({
      name: "sluice_analytics_events_total",
      help: "analytics consumer events: undecodable records skipped, records expired unread, failed steps",
      labelNames: ["kind"],
      registers: [registry],
    }),
    analyticsStatus: { read: null },
  };
  const analyticsGauge = (name: string, help: string, pick: (status: PartitionStatus) => number) =>
    new client.Gauge({
      name,
      help,
      labelNames: ["partition"],
      registers: [registry],
      collect() {
        this.reset();
        for (const status of metrics.analyticsStatus.read?.() ?? [])
          this.set({ partition: String(status.partition) }, pick(status));
      },
    });
  analyticsGauge(
    "sluice_analytics_lag_records",
    "access-log records appended but not yet in the aggregates",
    (status) => status.lagRecords,
  );
  analyticsGauge(
    "sluice_analytics_lag_seconds",
    "age of the oldest access-log record not yet in the aggregates",
    (status) => status.lagSeconds,
  );
  analyticsGauge(
    "sluice_analytics_paths_folded",
    "entries whose path went to the other bucket of their minute window (all time)",
    (status) => status.pathsFolded,
  );
  analyticsGauge(
    "sluice_analytics_user_agents_folded",
    "entries whose user-agent family went to the other bucket of their minute window (all time)",
    (status) => status.agentsFolded,
  );
  new client.Gauge({
    name: "sluice_ingest_queue_requests",
    help: "ingest requests admitted and not yet answered",
    registers: [registry],
    collect() {
      this.set(queue().requests);
    },
  });
  new client.Gauge({
    name: "sluice_ingest_queue_bytes",
    help: "body bytes of ingest requests admitted and not yet answered",
    registers: [registry],
    collect() {
      this.set(queue().bytes);
    },
  });
  type Stats = ReturnType<PartitionLog["stats"]>["partitions"][number];
  const eachPartition = (visit: (labels: { topic: string; partition: string }, stats: Stats) => void) => {
    for (const [topic, log] of Object.entries(logs)) {
      const partitions = log.stats().partitions;
      for (let partition = 0; partition < partitions.length; partition++) {
        visit({ topic, partition: String(partition) }, partitions[partition]);
      }
    }
  };
  const gauge = (name: string, help: string, pick: (stats: Stats) => number) =>
    new client.Gauge({
      name,
      help,
      labelNames: ["topic", "partition"],
      registers: [registry],
      collect() {
        eachPartition((labels, stats) => this.set(labels, pick(stats)));
      },
    });
  // The log counts these itself; at scrape time the counter is set to the log's running total.
  const counter = (name: string, help: string, pick: (stats: Stats) => number) =>
    new client.Counter({
      name,
      help,
      labelNames: ["topic", "partition"],
      registers: [registry],
      collect() {
        this.reset();
        eachPartition((labels, stats) => this.inc(labels, pick(stats)));
      },
    });
  gauge("sluice_log_partition_bytes", "bytes on disk of a partition's segments", (stats) => stats.sizeBytes);
  gauge("sluice_log_partition_segments", "segments of a partition", (stats) => stats.segmentCount);
  gauge(
    "sluice_log_pending_bytes",
    "bytes of appends waiting for the next group commit",
    (stats) => stats.pendingBytes,
  );
  counter(
    "sluice_log_fsyncs_total",
    "fdatasync calls of a partition since start",
    (stats) => stats.fsyncCount,
  );
  counter(
    "sluice_log_appended_records_total",
    "records appended to a partition since start",
    (stats) => stats.appendedRecords,
  );
  counter(
    "sluice_log_batches_written_total",
    "record batches written to a partition since start",
    (stats) => stats.batchesWritten,
  );
  counter(
    "sluice_log_damaged_regions_total",
    "damaged regions a partition's readers found since start",
    (stats) => stats.damagedRegionsFound,
  );
  return metrics;
}
