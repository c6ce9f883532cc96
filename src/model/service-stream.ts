// Reference A entries as streams: which labels a POST /v1/logs entry's stream has, and the LogEntry
// the query stage sees for it. The rules and their reasons are in src/model/README.md; the decoding
// of the stored bytes is src/ingest's (decodeServiceRecord), this file only maps decoded fields.

import type { Label, LabelSet, LogEntry } from "./stream.ts";

/** The fields of a reference A entry the mapping reads (src/ingest's StoredServiceEntry has them). */
export interface ServiceEntryFields {
  readonly timestamp: number;
  readonly service: string;
  readonly level?: string | null;
  readonly message: string;
  readonly labels?: Readonly<Record<string, string>> | null;
}

const nanosecondsPerMillisecond = 1_000_000n;
const noMetadata: LabelSet = Object.freeze([]);

/**
 * A Prometheus label name for any text: every character (code point) outside `[A-Za-z0-9_]`
 * becomes `_`, and a name that would start with a digit (or be empty) gets a `_` in front.
 * `http.status` → `http_status`, `2xx` → `_2xx`, `ünï` → `_n_`.
 */
export function sanitiseLabelName(name: string): string {
  let clean = true;
  for (let i = 0; i < name.length; i++) {
    if (!isNameCode(name.charCodeAt(i))) {
      clean = false;
      break;
    }
  }
  let result = name;
  if (!clean) {
    result = "";
    for (const char of name) result += char.length === 1 && isNameCode(char.charCodeAt(0)) ? char : "_";
  }
  const first = result.charCodeAt(0);
  if (result.length === 0 || (first >= 0x30 && first <= 0x39)) result = `_${result}`;
  return result;
}

function isNameCode(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x5f // _
  );
}

/**
 * The stream labels of an entry: `service`; `level` when the entry has a non-empty one; each of its
 * `labels` under its sanitised name, unless that value is empty (an empty label is no label, as in
 * Prometheus and Loki) or the name is `service`, or `level` while the entry has a level (the
 * entry's own fields win). Two labels whose names sanitise to one name: the one whose name needed
 * no change wins, else the one whose original name sorts first — never the order the client sent.
 */
export function serviceEntryLabels(entry: ServiceEntryFields): LabelSet {
  const hasLevel = typeof entry.level === "string" && entry.level !== "";
  const labels = entry.labels;
  if (labels === undefined || labels === null) {
    // The common case, built without a map or a sort ("level" < "service").
    return hasLevel
      ? [
          ["level", entry.level as string],
          ["service", entry.service],
        ]
      : [["service", entry.service]];
  }
  const chosen = new Map<string, { original: string; value: string }>();
  for (const original in labels) {
    const value = labels[original];
    if (value === "") continue;
    const name = sanitiseLabelName(original);
    if (name === "service" || (name === "level" && hasLevel)) continue;
    const held = chosen.get(name);
    if (held !== undefined && !preferred(original, held.original, name)) continue;
    chosen.set(name, { original, value });
  }
  const pairs: Label[] = [["service", entry.service]];
  if (hasLevel) pairs.push(["level", entry.level as string]);
  for (const [name, { value }] of chosen) pairs.push([name, value]);
  return pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Whether label `candidate` beats `held` for the sanitised `name` both map to. */
function preferred(candidate: string, held: string, name: string): boolean {
  if (held === name) return false;
  if (candidate === name) return true;
  return candidate < held;
}

/**
 * The LogEntry of a reference A entry: its stream labels, `message` as the line, the timestamp in
 * nanoseconds, no structured metadata (received_at, client_ip and ingested_node_id stay in the
 * stored record: README.md says why).
 */
export function serviceLogEntry(entry: ServiceEntryFields): LogEntry {
  return {
    timestampNs: BigInt(entry.timestamp) * nanosecondsPerMillisecond,
    labels: serviceEntryLabels(entry),
    line: entry.message,
    metadata: noMetadata,
  };
}
