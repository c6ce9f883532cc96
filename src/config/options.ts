// Every option of `sluice serve`: its flag, env variable, type, default and meaning, in one table.
// `--help` prints this table; parsing and validation read it. Precedence: flag > env > file > default.

const KiB = 1024;
const MiB = 1024 * KiB;
const dayMs = 24 * 60 * 60 * 1000;

export type OptionType = "integer" | "string" | "enum" | "boolean";

export interface OptionSpec {
  type: OptionType;
  default: number | string | boolean | null;
  description: string;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** A string option's values must match this (`means` says what in the error). */
  pattern?: { regex: RegExp; means: string };
}

export const serveOptions = {
  port: {
    type: "integer",
    default: 8080,
    min: 0,
    max: 65535,
    description: "HTTP port (0 picks a free port)",
  },
  "otlp-grpc-port": {
    type: "integer",
    // OTLP/gRPC's default port (the OTLP spec), so an OpenTelemetry SDK or Collector finds it unset.
    default: 4317,
    min: -1,
    max: 65535,
    description: "OTLP/gRPC logs port, on --host (0 picks a free port; -1: no gRPC listener)",
  },
  host: { type: "string", default: "0.0.0.0", description: "interface to listen on" },
  "data-dir": { type: "string", default: "./data", description: "where the log and derived state live" },
  "node-id": {
    type: "string",
    default: null,
    description: "this node's id (default: generated once and kept in <data-dir>/node-id)",
  },
  partitions: {
    type: "integer",
    default: 4,
    min: 1,
    max: 4096,
    description: "partitions of each log; fixed when the data dir is created",
  },
  fsync: {
    type: "enum",
    default: "always",
    values: ["always", "interval"],
    description:
      "always: ack after fdatasync; interval: ack after write, fsync every --fsync-interval-ms (an OS crash can lose that much)",
  },
  "fsync-interval-ms": {
    type: "integer",
    default: 200,
    min: 1,
    max: 60_000,
    description: "fsync period in interval mode",
  },
  "segment-bytes-max": {
    type: "integer",
    default: 256 * MiB,
    min: 64 * KiB,
    max: 4 * 1024 * MiB - 1,
    description: "segment size before it rolls",
  },
  "retention-ms": {
    type: "integer",
    default: 7 * dayMs,
    min: 0,
    description:
      "delete sealed log segments last appended to longer ago, by the server's clock (their files' mtime), not the records' timestamps (0: keep forever)",
  },
  "maintenance-interval-ms": {
    type: "integer",
    default: 60_000,
    min: 100,
    max: 24 * 60 * 60 * 1000,
    description: "how often log retention and compaction (and idempotency key expiry) run",
  },
  "retention-bytes": {
    type: "integer",
    default: 0,
    min: 0,
    description: "delete the oldest segments while a partition is larger (0: no limit)",
  },
  "body-bytes-max": {
    type: "integer",
    default: 10 * MiB,
    min: 1 * KiB,
    max: 1024 * MiB,
    description:
      "largest POST /v1/logs (reference A, OTLP/HTTP) body, and OTLP/gRPC message; larger gets 413 (gRPC: RESOURCE_EXHAUSTED)",
  },
  "access-body-bytes-max": {
    type: "integer",
    default: 2 * MiB,
    min: 1 * KiB,
    max: 1024 * MiB,
    description: "largest POST /logs body (reference B: 2 MB)",
  },
  "batch-entries-max": {
    type: "integer",
    default: 10_000,
    min: 1,
    max: 1_000_000,
    description: "most entries in one POST /v1/logs; more gets 413",
  },
  "labels-max": { type: "integer", default: 30, min: 0, max: 1000, description: "most labels on one entry" },
  "line-bytes-max": {
    type: "integer",
    default: 256 * KiB,
    min: 16,
    max: 16 * MiB,
    description: "longest message of one entry (bytes)",
  },
  "queue-requests-max": {
    type: "integer",
    default: 512,
    min: 1,
    max: 1_000_000,
    description: "ingest requests admitted at once; past it: 429 + Retry-After",
  },
  "queue-bytes-max": {
    type: "integer",
    default: 128 * MiB,
    min: 1 * MiB,
    max: 64 * 1024 * MiB,
    description: "request body bytes admitted at once; past it: 429 + Retry-After",
  },
  "tenant-records-per-s": {
    type: "integer",
    default: 0,
    min: 0,
    description: "per-tenant ingest rate in records (entries) per second (0: unlimited)",
  },
  "tenant-bytes-per-s": {
    type: "integer",
    default: 0,
    min: 0,
    description: "per-tenant ingest rate in body bytes per second (0: unlimited)",
  },
  "decoded-bytes-max": {
    type: "integer",
    default: 64 * MiB,
    min: 1 * KiB,
    max: 1024 * MiB,
    description: "most bytes a compressed push body may inflate to (a decompression bomb stops here; 413)",
  },
  "streams-per-tenant-max": {
    type: "integer",
    default: 5000,
    min: 0,
    description:
      "most active streams (distinct label sets) per tenant on the generic ingest routes (0: unlimited)",
  },
  "es-message-field": {
    type: "string",
    default: "message",
    description:
      "Elasticsearch _bulk: the document field that is the log line (a dotted path reaches into objects; absent: the whole document)",
  },
  "es-timestamp-field": {
    type: "string",
    default: "@timestamp",
    description:
      "Elasticsearch _bulk: the document field holding the line's time, RFC 3339 or epoch ms (absent: the receive time)",
  },
  "es-label-fields": {
    type: "string",
    default: "service.name,service,host.name,level,log.level",
    description:
      "Elasticsearch _bulk: comma-separated document fields that become stream labels, names sanitised (service.name → service_name); at most 13",
  },
  "idempotency-retention-ms": {
    type: "integer",
    default: 7 * dayMs,
    min: 60_000,
    description: "how long a POST /logs idempotency key is remembered",
  },
  "idempotency-keys-max": {
    type: "integer",
    // At up to 128 B a key (idempotencyLimits.heapBytesPerKey, measured) a full table of 1 M keys
    // takes ~122 MiB of heap, which fits npm start's 1 GiB heap beside the default ingest queue
    // (64 MiB + 6 x 128 MiB); the former 5 M (~610 MiB) did not, and the heap check refuses it there.
    default: 1_000_000,
    min: 1000,
    description:
      "idempotency keys held in memory (up to 128 B of heap each, counted by the start-up heap check); past it new batches get 503",
  },
  "aggregate-keys-max": {
    type: "integer",
    default: 1000,
    min: 1,
    // A window's document holds up to twice this many keys, and a query returns at least one whole
    // window: past 100,000 a single document would block the event loop for about a second.
    max: 100_000,
    description:
      "distinct paths (and user-agent families) one aggregate window keeps; the rest fold into `other`",
  },
  "metrics-tenants-max": {
    type: "integer",
    // Each tenant that keeps its own label costs two series per ingest route it uses (records and
    // bytes), ~75 B of scrape each (up to ~220 B with 150-character tenant ids): 100 tenants add at
    // most ~90 KB to a scrape of ~20 KB, and stay in the low hundreds of series per metric that
    // Prometheus's guidance asks of a label. The rest of the tenants are counted exactly under
    // tenant="other".
    default: 100,
    min: 0,
    max: 100_000,
    description:
      'tenants that keep their own tenant label on /metrics (the first ones seen); the rest count under tenant="other"',
  },
  "query-limit-max": {
    type: "integer",
    default: 5000,
    min: 1,
    description: "GET /v1/query limit is clamped to this",
  },
  "query-entries-max": {
    type: "integer",
    // Loki's max_entries_limit_per_query default: Grafana and logcli are built against it, and the
    // evaluator's bytes budget (src/query/limits.ts) assumes at most this many lines are kept.
    default: 5000,
    min: 1,
    max: 1_000_000,
    description: "most lines one Loki API log query may ask for (a higher limit is a 400, as in Loki)",
  },
  "query-timeout-ms": {
    type: "integer",
    // Loki's query_timeout default (1 minute): past it the scan stops and the answer is a 504.
    default: 60_000,
    min: 100,
    max: 60 * 60 * 1000,
    description: "time budget of one query, labels, series, stats or volume request",
  },
  "query-threads": {
    type: "integer",
    // The machine this was built on has 2 cores: two query threads let a heavy query use the core
    // ingest is not using, and keep the main thread (HTTP, appends) free (bench/query-pool.bench.ts).
    default: 2,
    min: 0,
    max: 64,
    description: "worker threads that run Loki API queries (0: on the main thread)",
  },
  "search-index": {
    type: "enum",
    default: "on",
    values: ["on", "off"],
    description: "keep the block index of topics/logs (time, streams, k-gram blooms); off: queries scan",
  },
  "request-timeout-ms": {
    type: "integer",
    default: 30_000,
    min: 1000,
    description: "a request must arrive whole within this (slow clients are cut off)",
  },
  "connections-max": {
    type: "integer",
    default: 4096,
    min: 1,
    description: "open client connections; more are refused",
  },
  "syslog-port": {
    type: "integer",
    default: -1,
    min: -1,
    max: 65535,
    description:
      "syslog over TCP and UDP on this one port (-1: off; 0: a free port); --syslog-tcp-port / --syslog-udp-port override it per protocol",
  },
  "syslog-tcp-port": {
    type: "integer",
    default: -1,
    min: -1,
    max: 65535,
    description:
      "syslog over TCP (RFC 5424 / RFC 3164, octet-counted or LF-framed, RFC 6587) on this port (-1: off, 0: a free port)",
  },
  "syslog-udp-port": {
    type: "integer",
    default: -1,
    min: -1,
    max: 65535,
    description: "syslog over UDP (one datagram, one message) on this port (-1: off, 0: a free port)",
  },
  "syslog-host": {
    type: "string",
    default: null,
    description: "interface the syslog listeners bind (default: --host)",
  },
  "syslog-tenant": {
    type: "string",
    default: "fake",
    // The rules of X-Scope-OrgID (src/ingest/tenant.ts): the tenant is stored and queried as one.
    pattern: {
      regex: /^(?!\.{1,2}$)[A-Za-z0-9!\-_.*'()]{1,150}$/,
      means: "up to 150 of A-Z a-z 0-9 ! - _ . * ' ( ), not . or ..",
    },
    description:
      "tenant the syslog listeners write as (Loki's default tenant, as a push without X-Scope-OrgID)",
  },
  "syslog-connections-max": {
    type: "integer",
    // Each connection holds at most one frame (--line-bytes-max plus its header) and one batch
    // (src/syslog/limits.ts, 256 KiB): 256 connections at the defaults are ~150 MiB at worst.
    default: 256,
    min: 1,
    max: 100_000,
    description: "open syslog TCP connections; more are closed at once",
  },
  "syslog-idle-timeout-ms": {
    type: "integer",
    // Long: a sender (rsyslog's omfwd) learns that the server closed its connection only when its
    // next write fails, and the message of that write is lost. An hour keeps that rare.
    default: 60 * 60 * 1000,
    min: 1000,
    description: "a syslog TCP connection that sends nothing for this long is closed",
  },
  "log-level": {
    type: "enum",
    default: "info",
    values: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
    description: "level of the server's own JSON logs",
  },
  config: {
    type: "string",
    default: null,
    description: "JSON file with any of these options (keys as the flag names)",
  },
} as const satisfies Record<string, OptionSpec>;

export type ServeOptionName = keyof typeof serveOptions;

type ValueOf<S> = S extends { type: "integer" } ? number : S extends { type: "boolean" } ? boolean : string;
type Nullable<S, V> = S extends { default: null } ? V | null : V;

export type ServeConfig = {
  [K in ServeOptionName]: Nullable<(typeof serveOptions)[K], ValueOf<(typeof serveOptions)[K]>>;
};

export function envName(option: string): string {
  return `SLUICE_${option.toUpperCase().replaceAll("-", "_")}`;
}
