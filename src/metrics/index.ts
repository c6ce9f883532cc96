// Prometheus instruments of a Sluice process, on one registry served at GET /metrics.
//
// Every label's values are bounded: routes, methods, statuses, topics, partitions and reasons come
// from the server itself; the tenant comes from the client (X-Scope-OrgID, x-customer-id), so only
// the first --metrics-tenants-max tenants keep their own series and the rest count under
// tenant="other" (TenantLabels below).

import client from "prom-client";
import type { PartitionStatus } from "../analytics/index.ts";
import type { PartitionLog } from "../log/index.ts";

export interface Metrics {
  registry: client.Registry;
  httpRequests: client.Counter<"route" | "method" | "status">;
  ingestedRecords: TenantCounter;
  ingestedBytes: TenantCounter;
  rejectedRequests: client.Counter<"route" | "reason">;
  appendLatency: client.Histogram<"topic">;
  damagedBatches: client.Counter<"topic">;
  analyticsEntries: client.Counter;
  analyticsFreshness: client.Histogram;
  analyticsEvents: client.Counter<"kind">;
  /** Set once the analytics consumer runs; read at scrape time for the lag and fold gauges. */
  analyticsStatus: { read: (() => PartitionStatus[]) | null };
  /** Set once the block index runs (--search-index on): per partition, records not yet in a sealed block. */
  indexLag: { read: (() => readonly number[]) | null };
}

/** The tenant label of the tenants past --metrics-tenants-max. */
export const otherTenant = "other";

/**
 * Which tenants keep their own series: the first `tenantsMax` distinct tenants seen since start, for
 * the life of the process; every later one is labelled `other`. First-come rather than "top tenants
 * by volume": a tenant's label never changes, so each series is a plain monotonic counter, the sum
 * over all series is exactly what was counted, and no series appears, vanishes and reappears (which
 * Prometheus's rate() over a vanished series and sum() across them would misread as resets). Memory
 * is the set itself: at most `tenantsMax` strings of at most 150 characters (X-Scope-OrgID) or
 * accessLimits.customerIdCharsMax. A tenant actually named "other" shares that series.
 */
export class TenantLabels {
  readonly #tenantsMax: number;
  readonly #labelled = new Set<string>();

  constructor(tenantsMax: number) {
    if (!Number.isSafeInteger(tenantsMax) || tenantsMax < 0)
      throw new RangeError(`tenantsMax must be a non-negative integer, got ${tenantsMax}`);
    this.#tenantsMax = tenantsMax;
  }

  label(tenant: string): string {
    if (this.#labelled.has(tenant)) return tenant;
    if (this.#labelled.size >= this.#tenantsMax) return otherTenant;
    this.#labelled.add(tenant);
    return tenant;
  }

  get size(): number {
    return this.#labelled.size;
  }
}

/** A counter by route and tenant whose tenant label goes through TenantLabels. */
export interface TenantCounter {
  inc(labels: { route: string; tenant: string }, value?: number): void;
}

function tenantCounter(counter: client.Counter<"route" | "tenant">, tenants: TenantLabels): TenantCounter {
  return {
    inc(labels, value) {
      counter.inc({ route: labels.route, tenant: tenants.label(labels.tenant) }, value);
    },
  };
}

export interface MetricsOptions {
  /** Tenants that keep their own series (see TenantLabels); --metrics-tenants-max. */
  tenantsMax: number;
}

/** Log statistics are read at scrape time, so the append path does no metric work for them. */
export function createMetrics(
  logs: Record<string, PartitionLog>,
  queue: () => { requests: number; bytes: number },
  options: MetricsOptions,
): Metrics {
  const registry = new client.Registry();
  const tenants = new TenantLabels(options.tenantsMax);
  client.collectDefaultMetrics({ register: registry, prefix: "sluice_process_" });
  const metrics: Metrics = {
    registry,
    httpRequests: new client.Counter({
      name: "sluice_http_requests_total",
      help: "HTTP requests answered, by route, method and status code",
      labelNames: ["route", "method", "status"],
      registers: [registry],
    }),
    ingestedRecords: tenantCounter(
      new client.Counter({
        name: "sluice_ingested_records_total",
        help: `records (log entries) acknowledged, by route and tenant (tenants past the first --metrics-tenants-max: "${otherTenant}")`,
        labelNames: ["route", "tenant"],
        registers: [registry],
      }),
      tenants,
    ),
    ingestedBytes: tenantCounter(
      new client.Counter({
        name: "sluice_ingested_bytes_total",
        help: `request body bytes acknowledged, by route and tenant (tenants past the first --metrics-tenants-max: "${otherTenant}")`,
        labelNames: ["route", "tenant"],
        registers: [registry],
      }),
      tenants,
    ),
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
    indexLag: { read: null },
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
    name: "sluice_index_lag_records",
    help: "topics/logs records committed but not yet in a sealed block of the search index (queries scan them)",
    labelNames: ["partition"],
    registers: [registry],
    collect() {
      this.reset();
      (metrics.indexLag.read?.() ?? []).forEach((lag, partition) => {
        this.set({ partition: String(partition) }, lag);
      });
    },
  });
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

/** The syslog listeners' own instruments (src/syslog), beside the ingest counters they share. */
export interface SyslogMetrics {
  /** Messages decoded, by route (syslog-tcp, syslog-udp) and how the frame read (src/ingest/SYSLOG.md). */
  messages: client.Counter<"route" | "format">;
  /** Messages stored changed: `invalid_utf8` (bytes replaced by U+FFFD), `cut` (over --line-bytes-max). */
  altered: client.Counter<"route" | "change">;
  /** Messages not stored, by reason (truncated, queue_full, not_ready, shutdown, a pipeline refusal). */
  dropped: client.Counter<"route" | "reason">;
  /** TCP connections: accepted, refused (over --syslog-connections-max), idle_closed. */
  connections: client.Counter<"outcome">;
}

/** Registers the syslog instruments on `registry`; once per registry (a server's startSyslog). */
export function createSyslogMetrics(registry: client.Registry): SyslogMetrics {
  return {
    messages: new client.Counter({
      name: "sluice_syslog_messages_total",
      help: "syslog messages decoded, by route and format (rfc5424, rfc3164, bad_header, no_pri)",
      labelNames: ["route", "format"],
      registers: [registry],
    }),
    altered: new client.Counter({
      name: "sluice_syslog_altered_messages_total",
      help: "syslog messages stored changed, by route and change (invalid_utf8: replaced by U+FFFD; cut: over --line-bytes-max)",
      labelNames: ["route", "change"],
      registers: [registry],
    }),
    dropped: new client.Counter({
      name: "sluice_syslog_dropped_messages_total",
      help: "syslog messages not stored, by route and reason (truncated frames, full queue, not ready, shutdown, pipeline refusals)",
      labelNames: ["route", "reason"],
      registers: [registry],
    }),
    connections: new client.Counter({
      name: "sluice_syslog_connections_total",
      help: "syslog TCP connections by outcome (accepted, refused over --syslog-connections-max, idle_closed)",
      labelNames: ["outcome"],
      registers: [registry],
    }),
  };
}
