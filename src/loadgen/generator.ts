// The realistic log generator, shared by the load generator, tests and benchmarks. It produces the
// same kind of data as reference A's load generator: four services, 24 message templates each with
// varying ids, levels weighted towards INFO, timestamps advancing 50-499 ms per log, and labels on
// 30% of logs. Seeded, so a test or benchmark sees the same data every run.

export const services = ["focus_allocator", "event_creator", "auth_service", "notification_service"] as const;
export type ServiceName = (typeof services)[number];

/** Reference A's level weights: INFO three times as likely as each other level. */
export const levels = ["DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"] as const;

export interface ServiceLog {
  timestamp: number;
  service: string;
  level: string;
  message: string;
  labels?: Record<string, string>;
}

/** mulberry32: a small, fast, seedable PRNG (statistical quality is plenty for test data). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Template = (id: () => string, n: (max: number) => number) => string;

const templates: Record<ServiceName, Template[]> = {
  focus_allocator: [
    (id) => `allocated focus block ${id()} for user ${id()}`,
    (_, n) => `focus session started, planned ${n(120)} minutes`,
    (id, n) => `focus session ${id()} ended after ${n(180)} minutes`,
    (id) => `user ${id()} snoozed focus reminder`,
    (_, n) => `rebalanced ${n(40)} focus blocks across the week`,
    (id) => `conflict detected between focus block ${id()} and meeting ${id()}`,
    (id) => `focus block ${id()} moved to avoid overlap`,
    (_, n) => `weekly focus goal at ${n(100)}%`,
    (id) => `calendar sync requested for user ${id()}`,
    (_, n) => `allocation pass took ${n(900)} ms`,
    (id) => `focus preferences updated for team ${id()}`,
    (id) => `no free slot found for user ${id()}`,
    (_, n) => `deep work window of ${n(240)} minutes protected`,
    (id) => `focus block ${id()} cancelled by owner`,
    (_, n) => `retrying allocation, attempt ${n(5)}`,
    (id) => `focus streak reset for user ${id()}`,
    (_, n) => `scheduler queue depth ${n(500)}`,
    (id) => `timezone change applied for user ${id()}`,
    (id) => `focus block ${id()} shortened by a new meeting`,
    (_, n) => `daily focus summary sent to ${n(2000)} users`,
    (id) => `quiet hours enabled for user ${id()}`,
    (id) => `failed to read calendar for user ${id()}: timeout`,
    (_, n) => `cache hit ratio ${n(100)}% for availability lookups`,
    (id) => `focus template ${id()} applied`,
  ],
  event_creator: [
    (id) => `created event ${id()} in calendar ${id()}`,
    (id) => `updated event ${id()}: time changed`,
    (id) => `deleted event ${id()}`,
    (_, n) => `recurring series expanded into ${n(52)} occurrences`,
    (id) => `invite sent to ${id()}@example.com`,
    (id) => `attendee ${id()} accepted event ${id()}`,
    (id) => `attendee ${id()} declined event ${id()}`,
    (id) => `conference link generated for event ${id()}`,
    (_, n) => `event creation took ${n(800)} ms`,
    (id) => `duplicate event ${id()} suppressed`,
    (id) => `reminder scheduled for event ${id()}`,
    (id) => `event ${id()} moved to calendar ${id()}`,
    (_, n) => `batch import of ${n(300)} events finished`,
    (id) => `room ${id()} booked`,
    (id) => `room ${id()} unavailable, suggesting alternatives`,
    (id) => `external calendar ${id()} webhook received`,
    (_, n) => `webhook backlog at ${n(1000)} items`,
    (id) => `event ${id()} visibility set to private`,
    (id) => `failed to notify attendees of event ${id()}: provider returned 503`,
    (id) => `ics file parsed for upload ${id()}`,
    (_, n) => `timezone normalisation fixed ${n(20)} events`,
    (id) => `event ${id()} description truncated`,
    (id) => `organizer changed for event ${id()}`,
    (id) => `event ${id()} restored from trash`,
  ],
  auth_service: [
    (id) => `user ${id()} logged in`,
    (id) => `user ${id()} logged out`,
    (id) => `login failed for user ${id()}: invalid password`,
    (id) => `token refreshed for session ${id()}`,
    (id) => `session ${id()} expired`,
    (id) => `password reset requested for user ${id()}`,
    (id) => `mfa challenge sent to user ${id()}`,
    (id) => `mfa verified for user ${id()}`,
    (_, n) => `rate limit hit, ${n(100)} attempts in the last minute`,
    (id) => `oauth callback received for client ${id()}`,
    (id) => `api key ${id()} rotated`,
    (_, n) => `jwks refreshed, ${n(6)} keys loaded`,
    (id) => `account ${id()} locked after repeated failures`,
    (id) => `sso assertion accepted for org ${id()}`,
    (_, n) => `token validation took ${n(50)} ms`,
    (id) => `permission denied for user ${id()} on resource ${id()}`,
    (id) => `new device registered for user ${id()}`,
    (id) => `suspicious login blocked for user ${id()}`,
    (_, n) => `session store at ${n(100)}% capacity`,
    (id) => `scope upgrade granted to client ${id()}`,
    (id) => `user ${id()} changed password`,
    (id) => `refresh token ${id()} revoked`,
    (id) => `ldap lookup timeout for user ${id()}`,
    (id) => `consent recorded for user ${id()}`,
  ],
  notification_service: [
    (id) => `email queued for user ${id()}`,
    (id) => `email delivered to user ${id()}`,
    (id) => `email bounced for user ${id()}`,
    (id) => `push notification sent to device ${id()}`,
    (id) => `push token ${id()} invalid, removed`,
    (id) => `sms sent to user ${id()}`,
    (_, n) => `digest built with ${n(50)} items`,
    (_, n) => `provider latency ${n(2000)} ms`,
    (id) => `webhook delivered to ${id()}`,
    (id) => `webhook to ${id()} failed, will retry`,
    (_, n) => `queue depth ${n(5000)}`,
    (id) => `user ${id()} unsubscribed from digests`,
    (id) => `template ${id()} rendered`,
    (_, n) => `throttled ${n(300)} notifications for quiet hours`,
    (id) => `slack message posted to channel ${id()}`,
    (id) => `duplicate notification ${id()} dropped`,
    (_, n) => `retry pass resent ${n(80)} notifications`,
    (id) => `notification ${id()} expired before delivery`,
    (id) => `in-app notification ${id()} marked read`,
    (_, n) => `provider quota at ${n(100)}%`,
    (id) => `preferences loaded for user ${id()}`,
    (id) => `failed to render template ${id()}: missing variable`,
    (id) => `batch ${id()} of reminders dispatched`,
    (id) => `delivery receipt ${id()} processed`,
  ],
};

const labelMakers: Record<
  ServiceName,
  (pick: <T>(items: readonly T[]) => T, n: (max: number) => number) => Record<string, string>
> = {
  focus_allocator: (pick, n) => ({
    focus_type: pick(["deep_work", "shallow", "meeting_free", "learning"]),
    duration_minutes: String(15 * (1 + n(8))),
  }),
  event_creator: (pick) => ({
    event_type: pick(["meeting", "reminder", "focus", "out_of_office"]),
    calendar: pick(["work", "personal", "team"]),
  }),
  auth_service: (pick) => ({ auth_method: pick(["password", "oauth", "sso", "api_key", "mfa"]) }),
  notification_service: (pick) => ({ channel: pick(["email", "push", "sms", "slack", "in_app"]) }),
};

export interface GeneratorOptions {
  seed?: number;
  startTimestampMs?: number;
  /** Fraction of logs carrying labels; the reference uses 0.3. */
  labelRatio?: number;
}

/** An endless, reproducible stream of reference-A style service logs. */
export class ServiceLogGenerator {
  readonly #random: () => number;
  readonly #labelRatio: number;
  #timestampMs: number;

  constructor(options: GeneratorOptions = {}) {
    this.#random = seededRandom(options.seed ?? 1);
    this.#timestampMs = options.startTimestampMs ?? Date.UTC(2026, 0, 1);
    this.#labelRatio = options.labelRatio ?? 0.3;
  }

  #n = (max: number): number => Math.floor(this.#random() * max);
  #pick = <T>(items: readonly T[]): T => items[this.#n(items.length)];
  #id = (): string => (this.#n(0xffffff) + 0x100000).toString(16);

  next(): ServiceLog {
    const service = this.#pick(services);
    this.#timestampMs += 50 + this.#n(450);
    const log: ServiceLog = {
      timestamp: this.#timestampMs,
      service,
      level: this.#pick(levels),
      message: this.#pick(templates[service])(this.#id, this.#n),
    };
    if (this.#random() < this.#labelRatio) log.labels = labelMakers[service](this.#pick, this.#n);
    return log;
  }

  batch(count: number): ServiceLog[] {
    return Array.from({ length: count }, () => this.next());
  }
}

/** A record as the server stores it: the log enriched with received_at, client_ip and ingested_node_id
 * (about 200 bytes of JSON), keyed by service. Used by log tests and benchmarks. */
export function storedRecordsFor(
  logs: readonly ServiceLog[],
  nodeId = "sluice-node-7f3a9c",
): Array<{ timestampMs: number; key: Uint8Array; value: Uint8Array }> {
  return logs.map((log, i) => {
    const receivedAt = log.timestamp + 3 + (i % 40);
    const value = JSON.stringify({
      ...log,
      received_at: receivedAt,
      client_ip: `10.42.${i % 7}.${17 + (i % 50)}`,
      ingested_node_id: nodeId,
    });
    return { timestampMs: receivedAt, key: Buffer.from(log.service), value: Buffer.from(value) };
  });
}

const accessPaths = [
  "/",
  "/about",
  "/careers",
  "/contact",
  "/pricing",
  "/blog",
  "/docs",
  "/login",
  "/api/users",
  "/api/orders",
];
const accessMethods = ["GET", "GET", "GET", "GET", "POST", "PUT", "DELETE"];
const userAgents = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
  "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
  "curl/8.5.0",
  "SomeUnknownUserAgent/1.0",
];

export interface AccessLogEntry {
  receivedAt: string;
  method: string;
  path: string;
  userAgent: string;
}

/** Reference-B style access-log entries: a few paths, common browsers, bots and tools. */
export class AccessLogGenerator {
  readonly #random: () => number;
  #timestampMs: number;

  constructor(options: GeneratorOptions = {}) {
    this.#random = seededRandom(options.seed ?? 1);
    this.#timestampMs = options.startTimestampMs ?? Date.UTC(2026, 0, 1);
  }

  next(): AccessLogEntry {
    const pick = <T>(items: readonly T[]) => items[Math.floor(this.#random() * items.length)];
    this.#timestampMs += Math.floor(this.#random() * 40);
    return {
      receivedAt: new Date(this.#timestampMs).toISOString(),
      method: pick(accessMethods),
      path: pick(accessPaths),
      userAgent: pick(userAgents),
    };
  }

  batch(count: number): AccessLogEntry[] {
    return Array.from({ length: count }, () => this.next());
  }
}
