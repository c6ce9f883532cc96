// Syslog messages (RFC 5424 and RFC 3164, with the variants real senders use) to IngestStreams:
// one frame in (its transport framing already removed, src/syslog/framing.ts), one message out.
// The mapping, what is accepted and the error policy are in SYSLOG.md beside this file. The parser
// is lenient where syslog receivers are (rsyslog, syslog-ng): a frame is refused only when it is
// empty; anything with a valid PRI is stored, a frame without one is stored whole (as rsyslog does,
// with RFC 3164's default PRI 13 = user.notice). Invalid UTF-8 is replaced with U+FFFD, never refused.

import { Buffer, isUtf8 } from "node:buffer";
import { sanitiseLabelName } from "../model/service-stream.ts";
import type { IngestEntry, IngestStream } from "./batch.ts";
import { syslogLimits, timestampMsMax } from "./limits.ts";
import { utcOffsetMinutes, utcWallMs } from "./utc-time.ts";

/** Severity names as syslog.h and rsyslog spell them (RFC 5424 table 2, 0–7). */
export const syslogSeverities = [
  "emerg",
  "alert",
  "crit",
  "err",
  "warning",
  "notice",
  "info",
  "debug",
] as const;

/** Facility names as rsyslog prints them (`%syslogfacility-text%`; RFC 5424 table 1, 0–23). */
export const syslogFacilities = [
  "kern",
  "user",
  "mail",
  "daemon",
  "auth",
  "syslog",
  "lpr",
  "news",
  "uucp",
  "cron",
  "authpriv",
  "ftp",
  "ntp",
  "audit",
  "alert",
  "clock",
  "local0",
  "local1",
  "local2",
  "local3",
  "local4",
  "local5",
  "local6",
  "local7",
] as const;

/**
 * Sluice's `level` label (the one reference A and the OTLP mapping use, Loki's lowercase level names)
 * per severity: emerg, alert and crit are `critical`, err `error`, warning `warn`, notice and info
 * `info`, debug `debug`.
 */
const levelOfSeverity = [
  "critical",
  "critical",
  "critical",
  "error",
  "warn",
  "info",
  "info",
  "debug",
] as const;

/** How a frame was read: the label of the syslog messages metric. */
export const syslogFormats = {
  rfc5424: "rfc5424",
  rfc3164: "rfc3164",
  /** `<PRI>1 ` followed by a header that is not RFC 5424's: stored with the PRI, the rest as the line. */
  badHeader: "bad_header",
  /** No valid `<PRI>`: the whole frame is the line, PRI 13 (user.notice) as RFC 3164 §4.3.3 says. */
  noPri: "no_pri",
} as const;
export type SyslogFormat = (typeof syslogFormats)[keyof typeof syslogFormats];

/** What the transport knows of a frame: when and from where it came, and the line bound. */
export interface SyslogReceipt {
  /** Unix ms: the timestamp of a message without one, and the reference year of RFC 3164's. */
  receivedAtMs: number;
  /** The sender's address: `hostname` of a message that names none (as rsyslog's fromhost). */
  peerHost: string;
  /** UTF-8 bytes of one line: a longer MSG is cut at a character boundary. */
  lineBytesMax: number;
}

/** One decoded message: its stream labels and its entry. */
export interface SyslogMessage {
  format: SyslogFormat;
  /** In a fixed order: hostname, app_name, service, facility, severity, level (absent ones left out). */
  labels: [string, string][];
  entry: IngestEntry;
  /** The frame was not valid UTF-8: each invalid sequence became U+FFFD. */
  invalidUtf8: boolean;
  /** The line was longer than lineBytesMax and was cut. */
  lineCut: boolean;
}

const nanosecondsPerMillisecond = 1_000_000n;
const dayMs = 24 * 60 * 60 * 1000;
const noPriValue = 13; // user.notice: RFC 3164 §4.3.3

/**
 * Parses one frame (trailing LF, CR and NUL bytes are not part of the message). Returns null for an
 * empty frame (nothing to store). Never throws for any bytes (property test in syslog.test.ts): a
 * frame it cannot read as a header is still a message.
 */
export function parseSyslogMessage(frame: Uint8Array, receipt: SyslogReceipt): SyslogMessage | null {
  let end = frame.length;
  while (end > 0 && (frame[end - 1] === 0x0a || frame[end - 1] === 0x0d || frame[end - 1] === 0x00)) end--;
  if (end === 0) return null;
  const bytes = Buffer.from(frame.buffer, frame.byteOffset, end);
  const invalidUtf8 = !isUtf8(bytes);
  const text = bytes.toString("utf8");
  const pri = readPri(text);
  const parsed: Parsed = {
    format: syslogFormats.noPri,
    pri: noPriValue,
    timestampNs: null,
    hostname: null,
    appName: null,
    metadata: [],
    line: text,
  };
  if (pri !== null) {
    parsed.pri = pri.value;
    if (text.startsWith("1 ", pri.next)) {
      if (!readRfc5424(text, pri.next + 2, parsed)) {
        parsed.format = syslogFormats.badHeader;
        parsed.line = text.slice(pri.next);
      }
    } else readRfc3164(text, pri.next, receipt.receivedAtMs, parsed);
  }
  return toMessage(parsed, receipt, invalidUtf8);
}

/** Messages grouped into streams by their label sets (the order of first appearance). */
export function syslogStreams(messages: readonly SyslogMessage[]): IngestStream[] {
  const byLabels = new Map<string, IngestStream>();
  for (const message of messages) {
    // Values hold no NUL (the header grammars below exclude control characters), so this is unique.
    let key = "";
    for (const [name, value] of message.labels) key += `${name}=${value}\u0000`;
    let stream = byLabels.get(key);
    if (stream === undefined) {
      stream = { labels: message.labels, entries: [] };
      byLabels.set(key, stream);
    }
    stream.entries.push(message.entry);
  }
  return [...byLabels.values()];
}

interface Parsed {
  format: SyslogFormat;
  pri: number;
  timestampNs: bigint | null;
  hostname: string | null;
  appName: string | null;
  metadata: [string, string][];
  line: string;
}

function toMessage(parsed: Parsed, receipt: SyslogReceipt, invalidUtf8: boolean): SyslogMessage {
  const severity = parsed.pri & 7;
  const facility = parsed.pri >> 3;
  const labels: [string, string][] = [];
  const hostname = parsed.hostname ?? receipt.peerHost;
  if (hostname !== "") labels.push(["hostname", hostname]);
  if (parsed.appName !== null) labels.push(["app_name", parsed.appName], ["service", parsed.appName]);
  labels.push(
    ["facility", syslogFacilities[facility]!],
    ["severity", syslogSeverities[severity]!],
    ["level", levelOfSeverity[severity]!],
  );
  let line = parsed.line;
  if (line.charCodeAt(0) === 0xfeff) line = line.slice(1); // RFC 5424's BOM: it says "UTF-8", it is not text
  const cut = cutToBytes(line, receipt.lineBytesMax);
  const timestampNs =
    parsed.timestampNs ?? BigInt(Math.trunc(receipt.receivedAtMs)) * nanosecondsPerMillisecond;
  return {
    format: parsed.format,
    labels,
    entry: { timestampNs, line: cut, metadata: parsed.metadata, clientIp: receipt.peerHost },
    invalidUtf8,
    lineCut: cut.length !== line.length,
  };
}

/** `line` within `bytesMax` UTF-8 bytes, cut before the character that would cross it. */
function cutToBytes(line: string, bytesMax: number): string {
  if (line.length * 3 <= bytesMax) return line; // no character takes more than 3 bytes per UTF-16 unit
  const encoded = Buffer.from(line, "utf8");
  if (encoded.length <= bytesMax) return line;
  let at = bytesMax;
  while (at > 0 && (encoded[at]! & 0xc0) === 0x80) at--; // back to the start of a character
  return encoded.toString("utf8", 0, at);
}

/** `<PRI>`: 1–3 digits, at most 191 (facility 23, severity 7). */
function readPri(text: string): { value: number; next: number } | null {
  if (text.charCodeAt(0) !== 0x3c) return null;
  let value = 0;
  let at = 1;
  while (at < text.length && at <= 4) {
    const code = text.charCodeAt(at);
    if (code === 0x3e) break;
    if (code < 0x30 || code > 0x39) return null;
    value = value * 10 + (code - 0x30);
    at++;
  }
  if (at === 1 || at > 4 || text.charCodeAt(at) !== 0x3e || value > 191) return null;
  return { value, next: at + 1 };
}

// --- RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]

/**
 * The header fields after `<PRI>1 ` into `parsed`; false when they are not RFC 5424's (a field
 * missing, longer than its RFC bound or holding a control character).
 */
function readRfc5424(text: string, start: number, parsed: Parsed): boolean {
  const fields: string[] = [];
  let at = start;
  for (let field = 0; field < rfc5424FieldCharsMax.length; field++) {
    const space = text.indexOf(" ", at);
    const tokenEnd = space < 0 ? text.length : space;
    const token = text.slice(at, tokenEnd);
    if (token.length === 0 || token.length > rfc5424FieldCharsMax[field]! || hasControl(token)) return false;
    fields.push(token);
    if (space < 0) return false; // SD is required
    at = space + 1;
  }
  const [timestamp, hostname, appName, procId, msgId] = fields as [string, string, string, string, string];
  parsed.format = syslogFormats.rfc5424;
  parsed.timestampNs = timestamp === "-" ? null : parseRfc3339Ns(timestamp);
  parsed.hostname = nil(hostname);
  parsed.appName = nil(appName);
  if (procId !== "-") parsed.metadata.push(["procid", procId]);
  if (msgId !== "-") parsed.metadata.push(["msgid", msgId]);
  if (text.charCodeAt(at) === 0x2d && (at + 1 === text.length || text.charCodeAt(at + 1) === 0x20)) {
    parsed.line = text.slice(at + 2); // "-": no structured data
    return true;
  }
  const params: [string, string][] = [];
  const afterSd = readStructuredData(text, at, params);
  if (afterSd < 0 || (afterSd < text.length && text.charCodeAt(afterSd) !== 0x20)) {
    parsed.line = text.slice(at); // not structured data after all: the rest is the message
    return true;
  }
  const seen = new Set<string>(["procid", "msgid"]);
  for (const [name, value] of params) {
    // A PARAM-NAME may repeat (RFC 5424 §6.3.3); metadata names are unique: the first value wins.
    if (seen.has(name) || parsed.metadata.length >= syslogLimits.metadataPairsMax) continue;
    seen.add(name);
    parsed.metadata.push([name, value]);
  }
  parsed.line = afterSd < text.length ? text.slice(afterSd + 1) : "";
  return true;
}

/** RFC 5424's bounds: TIMESTAMP (the longest RFC 3339 form, with nanoseconds), HOSTNAME, APP-NAME, PROCID, MSGID. */
const rfc5424FieldCharsMax = [35, 255, 48, 128, 32] as const;

function nil(token: string): string | null {
  return token === "-" ? null : token;
}

function hasControl(token: string): boolean {
  for (let i = 0; i < token.length; i++)
    if (token.charCodeAt(i) < 0x21 || token.charCodeAt(i) === 0x7f) return true;
  return false;
}

/**
 * SD-ELEMENTs from `at` (a "["): each `[SD-ID *(SP PARAM-NAME="value")]`, values with the escapes
 * \" \\ \]. Pushes `sd_<id>_<param>` (sanitised) pairs; returns the index after the last "]", or -1
 * when the text is not structured data (names over 32 characters, unterminated, a stray character).
 */
function readStructuredData(text: string, at: number, params: [string, string][]): number {
  if (text.charCodeAt(at) !== 0x5b) return -1;
  while (text.charCodeAt(at) === 0x5b) {
    const idEnd = nameEnd(text, at + 1);
    if (idEnd < 0) return -1;
    const id = text.slice(at + 1, idEnd);
    at = idEnd;
    while (text.charCodeAt(at) === 0x20) {
      const paramEnd = nameEnd(text, at + 1);
      if (paramEnd < 0 || text.charCodeAt(paramEnd) !== 0x3d || text.charCodeAt(paramEnd + 1) !== 0x22)
        return -1;
      const name = text.slice(at + 1, paramEnd);
      let value = "";
      let runStart = paramEnd + 2;
      let index = runStart;
      for (; index < text.length; index++) {
        const code = text.charCodeAt(index);
        if (code === 0x22) break;
        if (code === 0x5c) {
          const next = text.charCodeAt(index + 1);
          if (next === 0x22 || next === 0x5c || next === 0x5d) {
            value += text.slice(runStart, index);
            runStart = index + 1; // the escaped character starts the next run
            index++;
          }
        }
      }
      if (index >= text.length) return -1; // unterminated value
      value += text.slice(runStart, index);
      params.push([sanitiseLabelName(`sd_${id}_${name}`), value]);
      at = index + 1;
    }
    if (text.charCodeAt(at) !== 0x5d) return -1;
    at++;
  }
  return at;
}

/** End of an SD-NAME starting at `at` (1–32 printable ASCII but = SP ] "), or -1. */
function nameEnd(text: string, at: number): number {
  let index = at;
  while (index < text.length && index - at <= 32) {
    const code = text.charCodeAt(index);
    if (code < 0x21 || code > 0x7e || code === 0x3d || code === 0x5d || code === 0x22) break;
    index++;
  }
  const length = index - at;
  return length === 0 || length > 32 ? -1 : index;
}

const rfc3339Pattern =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** An RFC 3339 timestamp to Unix ns, or null when it is not one or outside what the log stores. */
export function parseRfc3339Ns(text: string): bigint | null {
  const match = rfc3339Pattern.exec(text);
  if (match === null) return null;
  const [, year, month, day, hour, minute, second, fraction, , sign, offsetHours, offsetMinutes] = match;
  let offsetMs = 0;
  if (sign !== undefined) {
    const minutes = utcOffsetMinutes(sign, Number(offsetHours), Number(offsetMinutes));
    if (minutes === null) return null;
    offsetMs = minutes * 60_000;
  }
  const wallMs = utcWallMs(
    Number(year),
    Number(month),
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
  );
  if (wallMs === null) return null;
  return checkedNs(wallMs - offsetMs, fraction);
}

function checkedNs(ms: number, fraction: string | undefined): bigint | null {
  if (!Number.isFinite(ms) || ms < 0 || ms >= timestampMsMax) return null;
  const fractionNs = fraction === undefined ? 0n : BigInt(fraction.padEnd(9, "0"));
  return BigInt(ms) * nanosecondsPerMillisecond + fractionNs;
}

// --- RFC 3164 and what is sent as it: [SEQ: ] TIMESTAMP SP [HOSTNAME SP] [TAG[\[PID\]]: ] MSG

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** Cisco IOS puts a sequence number before the timestamp (`service sequence-numbers`). */
const sequencePattern = /^(\d{1,10}): /;
/** rsyslog's and systemd's high-precision form: an RFC 3339 timestamp where 3164's goes. */
const isoPrefixPattern =
  /^(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2}))(?: |$)/;
/**
 * `Mmm dd hh:mm:ss` (day space-padded), and Cisco's variants: a leading `*` or `.` (clock not in
 * sync), a year after the day, milliseconds, a time zone, and a colon after it.
 */
const bsdPattern =
  /^[*.]?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(\d{1,2})(?: (\d{4}))? (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:( UTC| [A-Z]{1,4}T)?(:))?(?: |$)/;
/** A host name or address: what follows the timestamp when it is not the tag. */
const hostnamePattern = /^[A-Za-z0-9:][A-Za-z0-9._:%-]{0,254}$/;
/** TAG: up to 128 characters that are not control, space, [, ] or :, an optional [PID], then ": ". */
// biome-ignore lint/suspicious/noControlCharactersInRegex: excluding control characters is the point
const tagPattern = /^([^\x00-\x20[\]:]{1,128})(?:\[([^\x00-\x20\]]{1,128})\])?: ?/;

function readRfc3164(text: string, start: number, receivedAtMs: number, parsed: Parsed): void {
  parsed.format = syslogFormats.rfc3164;
  let rest = text.slice(start);
  const sequence = sequencePattern.exec(rest);
  if (sequence !== null) {
    parsed.metadata.push(["sequence", sequence[1]!]);
    rest = rest.slice(sequence[0].length);
  }
  let hostnameMayFollow = false;
  const iso = isoPrefixPattern.exec(rest);
  const bsd = iso === null ? bsdPattern.exec(rest) : null;
  if (iso !== null) {
    parsed.timestampNs = parseRfc3339Ns(iso[1]!);
    rest = rest.slice(iso[0].length);
    hostnameMayFollow = true;
  } else if (bsd !== null) {
    parsed.timestampNs = bsdTimestampNs(bsd, receivedAtMs);
    rest = rest.slice(bsd[0].length);
    hostnameMayFollow = bsd[9] === undefined; // Cisco's "…:" form names no host
  } else if (sequence !== null) {
    rest = `${sequence[0]}${rest}`; // not Cisco's form after all: keep the digits in the message
    parsed.metadata.pop();
  }
  if (hostnameMayFollow) {
    const space = rest.indexOf(" ");
    const token = space < 0 ? rest : rest.slice(0, space);
    if (space > 0 && hostnamePattern.test(token) && !token.endsWith(":")) {
      parsed.hostname = token;
      rest = rest.slice(space + 1);
    }
  }
  const tag = tagPattern.exec(rest);
  if (tag !== null) {
    parsed.appName = tag[1]!;
    if (tag[2] !== undefined) parsed.metadata.push(["procid", tag[2]]);
    rest = rest.slice(tag[0].length);
  }
  parsed.line = rest;
}

/**
 * A BSD timestamp to Unix ns, in the server's local time zone (RFC 3164's timestamp has none: rsyslog
 * reads it the same way) unless it names UTC or GMT. Without a year, the latest of next year, this
 * year and last year that is at most a day ahead of the receive time: a sender's clock may run a
 * little fast, and a message from December read in January is last year's.
 */
function bsdTimestampNs(match: RegExpExecArray, receivedAtMs: number): bigint | null {
  const [, monthName, dayText, yearText, hourText, minuteText, secondText, fraction, zone] = match;
  const month = months.indexOf(monthName!);
  const day = Number(dayText);
  const [hour, minute, second] = [Number(hourText), Number(minuteText), Number(secondText)];
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  const utc = zone === " UTC" || zone === " GMT";
  const at = (year: number): number | null => {
    const date = utc
      ? new Date(Date.UTC(year, month, day, hour, minute, Math.min(second, 59)))
      : new Date(year, month, day, hour, minute, Math.min(second, 59));
    return (utc ? date.getUTCDate() : date.getDate()) === day ? date.getTime() : null;
  };
  let ms: number | null = null;
  if (yearText !== undefined) ms = at(Number(yearText));
  else {
    const receivedYear = new Date(receivedAtMs).getFullYear();
    for (const year of [receivedYear + 1, receivedYear, receivedYear - 1]) {
      const candidate = at(year);
      if (candidate !== null && candidate <= receivedAtMs + dayMs) {
        ms = candidate;
        break;
      }
    }
  }
  return ms === null ? null : checkedNs(ms, fraction);
}
