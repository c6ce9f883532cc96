// Request parsing of Loki's query API (`/loki/api/v1/query_range`, `query`, `labels`, `series`,
// `index/*`, `tail`), pure so it can be tested without a server. Semantics and error texts follow
// Loki's pkg/loghttp (params.go, query.go, labels.go, series.go, tail.go) so Grafana and logcli see
// what they see from Loki: the same defaults, the same order of checks, the same messages. Every
// failure is a LokiRequestError carrying the status the route answers with (400 for all of them).
// Times are bigint nanoseconds since the epoch throughout; Loki's Go time.Time has that precision.

/** Loki's defaults (pkg/loghttp/params.go), kept here so the routes and the docs agree. */
export const lokiDefaults = {
  /** Entries returned when `limit` is absent. */
  limit: 100,
  /** Series returned by the volume endpoints when `limit` is absent or 0. */
  volumeLimit: 100,
  /** `start` defaults to end (or now, if end is in the future) minus this. */
  sinceNs: 3_600_000_000_000n,
  direction: "backward",
  /** A range query's step is at least 1 s and at most range/250 by default. */
  stepPointsTarget: 250,
  /** Loki refuses a step that gives more points than this per series (query.go's errStepTooSmall). */
  pointsPerSeriesMax: 11_000,
  /** The tail's delay_for cap in seconds (tail.go's maxDelayForInTailing). */
  tailDelayForSMax: 5,
} as const;

const uint32Max = 4_294_967_295n;
const int64Max = 9_223_372_036_854_775_807n;
const int64Min = -9_223_372_036_854_775_808n;
const nsPerS = 1_000_000_000n;
/** float64(math.MaxInt64) in Go: 2^63, the bound Loki checks a duration in seconds against. */
const int64MaxFloat = 2 ** 63;

export const lokiRequestErrorCode = "LOKI_BAD_REQUEST";

/** A request Loki would refuse: `status` (400) and Loki's message, sent as a plain-text body. */
export class LokiRequestError extends Error {
  readonly code = lokiRequestErrorCode;
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "LokiRequestError";
    this.status = status;
  }
}

const badRequest = (message: string) => new LokiRequestError(400, message);

export type Direction = "forward" | "backward";

/**
 * The parameters of one request as Go's `r.Form` holds them: for a POST with a form body, the body's
 * values come first and the URL's after, so `get` (the first value) prefers the body, as in Loki.
 */
export interface LokiParams {
  /** The first value of `name`, or "" when absent (Go's url.Values.Get). */
  get(name: string): string;
  /** Every value of `name`, body values first. */
  all(name: string): string[];
}

const formContentType = "application/x-www-form-urlencoded";

/**
 * The merged parameters of a request: `rawQuery` is the URL after `?` (without it); `body` is the raw
 * body, read only when `contentType` is a form (Go's ParseForm ignores other bodies).
 */
export function lokiParams(
  rawQuery: string,
  body: Uint8Array | undefined,
  contentType: string | undefined,
): LokiParams {
  const url = new URLSearchParams(rawQuery);
  const mediaType = (contentType ?? "").split(";")[0].trim().toLowerCase();
  const form =
    body !== undefined && body.length > 0 && mediaType === formContentType
      ? new URLSearchParams(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"))
      : null;
  return {
    get: (name) => form?.get(name) ?? url.get(name) ?? "",
    all: (name) => [...(form?.getAll(name) ?? []), ...url.getAll(name)],
  };
}

// ---- scalars -----------------------------------------------------------------------------------

/** Go's strconv.Quote for the ASCII text these messages show; JSON's quoting agrees with it there. */
const quote = (value: string) => JSON.stringify(value);

/** Go's strconv.ParseInt(value, 10, 64), with its error text under the name `fn`. */
function parseInt64(value: string, fn = "strconv.ParseInt"): bigint {
  if (!/^[+-]?[0-9]+$/.test(value)) throw badRequest(`${fn}: parsing ${quote(value)}: invalid syntax`);
  const parsed = BigInt(value);
  if (parsed > int64Max || parsed < int64Min)
    throw badRequest(`${fn}: parsing ${quote(value)}: value out of range`);
  return parsed;
}

/** Loki's parseInt: the default for "", else Go's strconv.Atoi. */
function parseIntParam(value: string, defaultValue: number): bigint {
  if (value === "") return BigInt(defaultValue);
  return parseInt64(value, "strconv.Atoi");
}

const decimalFloatPattern = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const specialFloatPattern = /^[+-]?(?:inf|infinity|nan)$/i;

/** Go's strconv.ParseFloat(value, 64) for decimal syntax and inf/nan; null where Go fails. */
function parseFloat64(value: string): number | null {
  if (specialFloatPattern.test(value)) {
    const body = value.replace(/^[+-]/, "").toLowerCase();
    if (body === "nan") return Number.NaN;
    return value.startsWith("-") ? -Infinity : Infinity;
  }
  if (!decimalFloatPattern.test(value)) return null;
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : null; // Go reports overflow as an error
}

/** Prometheus's model.ParseDuration units, largest first, in nanoseconds. */
const durationUnits = [
  ["y", 365n * 24n * 3600n * nsPerS],
  ["w", 7n * 24n * 3600n * nsPerS],
  ["d", 24n * 3600n * nsPerS],
  ["h", 3600n * nsPerS],
  ["m", 60n * nsPerS],
  ["s", nsPerS],
  ["ms", 1_000_000n],
] as const;
const durationPattern =
  /^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$/;

/** Prometheus's model.ParseDuration (`1h30m`, `5m`, `0`), in nanoseconds; its error texts. */
export function parsePrometheusDurationNs(value: string): bigint {
  if (value === "") throw badRequest("empty duration string");
  if (value === "0") return 0n;
  const match = durationPattern.exec(value);
  if (match === null) throw badRequest(`not a valid duration string: ${quote(value)}`);
  let totalNs = 0n;
  durationUnits.forEach(([, unitNs], index) => {
    const digits = match[index + 1];
    if (digits !== undefined) totalNs += BigInt(digits) * unitNs;
  });
  if (totalNs > int64Max) throw badRequest("duration out of range");
  return totalNs;
}

/**
 * Loki's parseTimestamp: "" is `defaultNs`; a value with a '.' that is a float is seconds (the
 * fraction rounded to milliseconds, as Loki does); an integer of up to 10 characters is seconds,
 * longer is nanoseconds; else RFC 3339 (with optional fraction). The error is the integer parse's.
 */
export function parseTimestampNs(value: string, defaultNs: bigint): bigint {
  if (value === "") return defaultNs;
  if (value.includes(".")) {
    const seconds = parseFloat64(value);
    if (seconds !== null && Number.isFinite(seconds)) {
      const wholeS = Math.trunc(seconds);
      const fractionS = Math.round((seconds - wholeS) * 1000) / 1000;
      return BigInt(wholeS) * nsPerS + BigInt(Math.trunc(fractionS * 1e9));
    }
  }
  if (/^[+-]?[0-9]+$/.test(value)) {
    const integer = parseInt64(value);
    return value.length <= 10 ? integer * nsPerS : integer;
  }
  const rfc3339 = parseRfc3339Ns(value);
  if (rfc3339 !== null) return rfc3339;
  return parseInt64(value); // throws Loki's message: the integer parse's error
}

const rfc3339Pattern =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})$/;

/** Go's time.Parse(time.RFC3339Nano, value) in nanoseconds, or null where Go fails. */
export function parseRfc3339Ns(value: string): bigint | null {
  const match = rfc3339Pattern.exec(value);
  if (match === null) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59)
    return null;
  let offsetS = 0;
  const zone = match[8];
  if (zone !== "Z") {
    const zoneHours = Number(zone.slice(1, 3));
    const zoneMinutes = Number(zone.slice(4, 6));
    if (zoneHours > 23 || zoneMinutes > 59) return null;
    offsetS = (zone[0] === "-" ? -1 : 1) * (zoneHours * 3600 + zoneMinutes * 60);
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // Date.UTC maps years 0–99 to 1900–1999
  date.setUTCHours(hour, minute, second, 0);
  const fractionNs = BigInt((match[7] ?? "").slice(0, 9).padEnd(9, "0"));
  return (BigInt(date.getTime()) / 1000n - BigInt(offsetS)) * nsPerS + fractionNs;
}

/** Loki's parseSecondsOrDuration: a float is seconds, else a Prometheus duration. */
export function parseSecondsOrDurationNs(value: string): bigint {
  const seconds = parseFloat64(value);
  if (seconds !== null && !Number.isNaN(seconds)) {
    const ns = seconds * 1e9;
    if (ns > int64MaxFloat || ns < -int64MaxFloat)
      throw badRequest(`cannot parse ${quote(value)} to a valid duration. It overflows int64`);
    return BigInt(Math.trunc(ns));
  }
  try {
    return parsePrometheusDurationNs(value);
  } catch {
    throw badRequest(`cannot parse ${quote(value)} to a valid duration`);
  }
}

export function parseDirection(value: string): Direction {
  if (value === "") return lokiDefaults.direction;
  const upper = value.toUpperCase();
  if (upper === "FORWARD") return "forward";
  if (upper === "BACKWARD") return "backward";
  throw badRequest(`invalid direction '${value}'`);
}

/** Loki's limit(): default 100, positive, at most uint32. */
export function parseLimit(value: string, name = "limit"): number {
  const limit = parseIntParam(value, lokiDefaults.limit);
  if (limit <= 0n) throw badRequest("limit must be a positive value");
  if (limit > uint32Max) throw badRequest(`${name} value ${limit} is out of range [0, ${uint32Max}]`);
  return Number(limit);
}

// ---- time bounds -------------------------------------------------------------------------------

export interface TimeBounds {
  readonly startNs: bigint;
  readonly endNs: bigint;
}

/**
 * Loki's bounds(): end defaults to now; start to (end, or now when end is in the future) minus
 * `since` (1 h by default). Nothing checks the order here: each endpoint decides (labels do not).
 */
export function parseBounds(params: LokiParams, nowNs: bigint): TimeBounds {
  let sinceNs: bigint = lokiDefaults.sinceNs;
  const since = params.get("since");
  if (since !== "") {
    try {
      sinceNs = parsePrometheusDurationNs(since);
    } catch (error) {
      throw badRequest(`could not parse 'since' parameter: ${(error as Error).message}`);
    }
  }
  const endNs = wrapParse("end", () => parseTimestampNs(params.get("end"), nowNs));
  const endOrNowNs = endNs > nowNs ? nowNs : endNs;
  const startNs = wrapParse("start", () => parseTimestampNs(params.get("start"), endOrNowNs - sinceNs));
  return { startNs, endNs };
}

function wrapParse(name: string, parse: () => bigint): bigint {
  try {
    return parse();
  } catch (error) {
    throw badRequest(`could not parse '${name}' parameter: ${(error as Error).message}`);
  }
}

/** Loki's wording, although it refuses only end < start: equal bounds are accepted. */
const endBeforeStartMessage = "end timestamp must not be before or equal to start time";

function checkOrder(bounds: TimeBounds): void {
  if (bounds.endNs < bounds.startNs) throw badRequest(endBeforeStartMessage);
}

/** Loki's default step: max(floor(range in seconds / 250), 1) seconds. */
export function defaultStepNs(bounds: TimeBounds): bigint {
  const rangeS = Number(bounds.endNs - bounds.startNs) / 1e9;
  return BigInt(Math.max(Math.floor(rangeS / lokiDefaults.stepPointsTarget), 1)) * nsPerS;
}

// ---- whole requests ----------------------------------------------------------------------------

export interface RangeQueryParams {
  readonly query: string;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly limit: number;
  readonly direction: Direction;
  readonly stepNs: bigint;
  /** 0: every entry; else at most one entry per interval (log queries only). */
  readonly intervalNs: bigint;
}

/** Loki's ParseRangeQuery, its checks in its order (the first failure is the one reported). */
export function parseRangeQuery(params: LokiParams, nowNs: bigint): RangeQueryParams {
  const bounds = parseBounds(params, nowNs);
  checkOrder(bounds);
  const limit = parseLimit(params.get("limit"));
  const direction = parseDirection(params.get("direction"));
  const step = params.get("step");
  const stepNs = step === "" ? defaultStepNs(bounds) : parseSecondsOrDurationNs(step);
  if (stepNs <= 0n)
    throw badRequest(
      "zero or negative query resolution step widths are not accepted. Try a positive integer",
    );
  if ((bounds.endNs - bounds.startNs) / stepNs > BigInt(lokiDefaults.pointsPerSeriesMax))
    throw badRequest(
      "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter",
    );
  const interval = params.get("interval");
  const intervalNs = interval === "" ? 0n : parseSecondsOrDurationNs(interval);
  if (intervalNs < 0n) throw badRequest("interval must be >= 0");
  return { query: params.get("query"), ...bounds, limit, direction, stepNs, intervalNs };
}

export interface InstantQueryParams {
  readonly query: string;
  readonly timeNs: bigint;
  readonly limit: number;
  readonly direction: Direction;
}

/** Loki's ParseInstantQuery: limit, then time (default now, errors unwrapped), then direction. */
export function parseInstantQuery(params: LokiParams, nowNs: bigint): InstantQueryParams {
  const limit = parseLimit(params.get("limit"));
  const timeNs = parseTimestampNs(params.get("time"), nowNs);
  const direction = parseDirection(params.get("direction"));
  return { query: params.get("query"), timeNs, limit, direction };
}

/**
 * Loki's max_entries_limit_per_query: a log query asking for more than `entriesMax` entries is
 * refused, not clamped (0: no maximum). Metric queries are not subject to it.
 */
export function checkEntriesLimit(limit: number, entriesMax: number): void {
  if (entriesMax > 0 && limit > entriesMax)
    throw badRequest(
      `max entries limit per query exceeded, limit > max_entries_limit_per_query (${limit} > ${entriesMax})`,
    );
}

export interface LabelQueryParams extends TimeBounds {
  /** A stream selector narrowing the streams, or null for all. */
  readonly query: string | null;
}

/** Loki's ParseLabelQuery: bounds (not checked for order, as in Loki) and an optional selector. */
export function parseLabelQuery(params: LokiParams, nowNs: bigint): LabelQueryParams {
  const bounds = parseBounds(params, nowNs);
  const query = params.get("query");
  return { ...bounds, query: query === "" ? null : query };
}

export interface SeriesQueryParams extends TimeBounds {
  /** Deduplicated and sorted; empty means every stream (no match, or a single `{}`). */
  readonly matchers: string[];
}

/** Loki's ParseSeriesQuery: `match` and `match[]` (Prometheus's name), repeated, united and sorted. */
export function parseSeriesQuery(params: LokiParams, nowNs: bigint): SeriesQueryParams {
  const bounds = parseBounds(params, nowNs);
  const matchers = [...new Set([...params.all("match"), ...params.all("match[]")])].sort();
  if (matchers.length === 1 && matchers[0].replaceAll(" ", "") === "{}") matchers.length = 0;
  return { ...bounds, matchers };
}

export type VolumeAggregateBy = "series" | "labels";

export interface VolumeQueryParams extends TimeBounds {
  readonly query: string;
  readonly limit: number;
  readonly targetLabels: string[];
  readonly aggregateBy: VolumeAggregateBy;
  /** null for the instant endpoint `index/volume`. */
  readonly stepNs: bigint | null;
}

/** Loki's volumeLimit: default 100, and 0 also means the default. */
function volumeLimit(params: LokiParams): number {
  const limit = parseIntParam(params.get("limit"), lokiDefaults.volumeLimit);
  if (limit === 0n) return lokiDefaults.volumeLimit;
  if (limit < 0n) throw badRequest("limit must be a positive value");
  return parseLimit(params.get("limit"));
}

function volumeAggregateBy(params: LokiParams): VolumeAggregateBy {
  const value = params.get("aggregateBy");
  if (value === "") return "series";
  if (value === "series" || value === "labels") return value;
  throw badRequest("invalid aggregation option");
}

function targetLabels(params: LokiParams): string[] {
  const value = params.get("targetLabels");
  return value === "" ? [] : value.split(",");
}

/** Loki's ParseVolumeInstantQuery (`index/volume`): an instant query's checks, then bounds. */
export function parseVolumeInstantQuery(params: LokiParams, nowNs: bigint): VolumeQueryParams {
  const limit = volumeLimit(params);
  parseTimestampNs(params.get("time"), nowNs);
  parseDirection(params.get("direction"));
  const aggregateBy = volumeAggregateBy(params);
  const bounds = parseBounds(params, nowNs);
  checkOrder(bounds);
  return {
    query: params.get("query"),
    ...bounds,
    limit,
    targetLabels: targetLabels(params),
    aggregateBy,
    stepNs: null,
  };
}

/** Loki's ParseVolumeRangeQuery (`index/volume_range`): a range query's checks. */
export function parseVolumeRangeQuery(params: LokiParams, nowNs: bigint): VolumeQueryParams {
  const limit = volumeLimit(params);
  const zeroLimit = params.get("limit") !== "" && parseIntParam(params.get("limit"), 0) === 0n;
  const range = parseRangeQuery(zeroLimit ? withValue(params, "limit", "") : params, nowNs);
  const aggregateBy = volumeAggregateBy(params);
  return {
    query: range.query,
    startNs: range.startNs,
    endNs: range.endNs,
    limit,
    targetLabels: targetLabels(params),
    aggregateBy,
    stepNs: range.stepNs,
  };
}

/** `params` with `name` replaced (Loki rewrites limit=0 in r.Form before the range checks). */
function withValue(params: LokiParams, name: string, value: string): LokiParams {
  return {
    get: (key) => (key === name ? value : params.get(key)),
    all: (key) => (key === name ? [value] : params.all(key)),
  };
}

export interface TailQueryParams {
  readonly query: string;
  readonly limit: number;
  readonly startNs: bigint;
  readonly delayForS: number;
}

/** Loki's ParseTailQuery without the query parse (the route parses the query first, as Loki does). */
export function parseTailQuery(params: LokiParams, nowNs: bigint): TailQueryParams {
  const limit = parseLimit(params.get("limit"));
  const { startNs } = parseBounds(params, nowNs);
  const delayForS = parseIntParam(params.get("delay_for"), 0);
  if (delayForS < 0n || delayForS > uint32Max)
    throw badRequest(`delay_for value ${delayForS} is out of range [0, ${uint32Max}]`);
  if (delayForS > BigInt(lokiDefaults.tailDelayForSMax))
    throw badRequest(`delay_for can't be greater than ${lokiDefaults.tailDelayForSMax}`);
  return { query: params.get("query"), limit, startNs, delayForS: Number(delayForS) };
}
