import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { DecodeError } from "./batch.ts";
import { labelValueCharsMax, syslogLimits, timestampMsMax } from "./limits.ts";
import {
  parseRfc3339Ns,
  parseSyslogMessage,
  type SyslogMessage,
  type SyslogReceipt,
  syslogStreams,
} from "./syslog.ts";

const receivedAtMs = Date.UTC(2026, 11, 4, 18, 30, 0);
const receipt: SyslogReceipt = { receivedAtMs, peerHost: "10.1.2.3", lineBytesMax: 256 * 1024 };
const receivedNs = BigInt(receivedAtMs) * 1_000_000n;
const bom = "\uFEFF";

function parse(text: string | Uint8Array, overrides: Partial<SyslogReceipt> = {}): SyslogMessage {
  const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  const message = parseSyslogMessage(bytes, { ...receipt, ...overrides });
  assert.ok(message !== null, "a message");
  return message;
}

function labels(message: SyslogMessage): Record<string, string> {
  return Object.fromEntries(message.labels);
}

function ns(iso: string): bigint {
  const ms = Date.parse(iso);
  const fraction = /\.(\d+)/.exec(iso)?.[1] ?? "";
  return BigInt(ms) * 1_000_000n + BigInt(fraction.padEnd(9, "0").slice(3) || "0");
}

/** Unix ns of a local wall time (RFC 3164 timestamps are read in the server's zone). */
function localNs(year: number, month: number, day: number, h: number, m: number, s: number, ms = 0): bigint {
  return BigInt(new Date(year, month, day, h, m, s, ms).getTime()) * 1_000_000n;
}

describe("RFC 5424", () => {
  const cases: {
    name: string;
    frame: string;
    labels: Record<string, string>;
    timestampNs: bigint;
    line: string;
    metadata: [string, string][];
  }[] = [
    {
      name: "util-linux logger --rfc5424 (TCP, newline framing)",
      frame:
        '<13>1 2026-12-04T18:29:30.906391+00:00 vm root - - [timeQuality tzKnown="1" isSynced="0"] hello 5424\n',
      labels: {
        hostname: "vm",
        app_name: "root",
        service: "root",
        facility: "user",
        severity: "notice",
        level: "info",
      },
      timestampNs: ns("2026-12-04T18:29:30.906391Z"),
      line: "hello 5424",
      metadata: [
        ["sd_timeQuality_tzKnown", "1"],
        ["sd_timeQuality_isSynced", "0"],
      ],
    },
    {
      name: "logger -t mytag -p local3.warning --sd-id zoo@123 --sd-param tiger=hungry -i --msgid",
      frame:
        '<156>1 2026-12-04T18:29:30.915236+00:00 vm mytag 5873 MID [timeQuality tzKnown="1" isSynced="0"][zoo@123 tiger="hungry"] hello oc',
      labels: {
        hostname: "vm",
        app_name: "mytag",
        service: "mytag",
        facility: "local3",
        severity: "warning",
        level: "warn",
      },
      timestampNs: ns("2026-12-04T18:29:30.915236Z"),
      line: "hello oc",
      metadata: [
        ["procid", "5873"],
        ["msgid", "MID"],
        ["sd_timeQuality_tzKnown", "1"],
        ["sd_timeQuality_isSynced", "0"],
        ["sd_zoo_123_tiger", "hungry"],
      ],
    },
    {
      name: "RFC 5424 example 1: no SD, a BOM before MSG",
      frame: `<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ${bom}'su root' failed for lonvick on /dev/pts/8`,
      labels: {
        hostname: "mymachine.example.com",
        app_name: "su",
        service: "su",
        facility: "auth",
        severity: "crit",
        level: "critical",
      },
      timestampNs: ns("2003-10-11T22:14:15.003Z"),
      line: "'su root' failed for lonvick on /dev/pts/8",
      metadata: [["msgid", "ID47"]],
    },
    {
      name: "RFC 5424 example 2: a negative offset, microseconds, an IP as HOSTNAME",
      frame:
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
      labels: {
        hostname: "192.0.2.1",
        app_name: "myproc",
        service: "myproc",
        facility: "local4",
        severity: "notice",
        level: "info",
      },
      timestampNs: ns("2003-08-24T12:14:15.000003Z"),
      line: "%% It's time to make the do-nuts.",
      metadata: [["procid", "8710"]],
    },
    {
      name: "RFC 5424 example 3: structured data and a message",
      frame: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ${bom}An application event log entry...`,
      labels: {
        hostname: "mymachine.example.com",
        app_name: "evntslog",
        service: "evntslog",
        facility: "local4",
        severity: "notice",
        level: "info",
      },
      timestampNs: ns("2003-10-11T22:14:15.003Z"),
      line: "An application event log entry...",
      metadata: [
        ["msgid", "ID47"],
        ["sd_exampleSDID_32473_iut", "3"],
        ["sd_exampleSDID_32473_eventSource", "Application"],
        ["sd_exampleSDID_32473_eventID", "1011"],
      ],
    },
    {
      name: "RFC 5424 example 4: two SD elements, no MSG",
      frame:
        '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"][examplePriority@32473 class="high"]',
      labels: {
        hostname: "mymachine.example.com",
        app_name: "evntslog",
        service: "evntslog",
        facility: "local4",
        severity: "notice",
        level: "info",
      },
      timestampNs: ns("2003-10-11T22:14:15.003Z"),
      line: "",
      metadata: [
        ["msgid", "ID47"],
        ["sd_exampleSDID_32473_iut", "3"],
        ["sd_examplePriority_32473_class", "high"],
      ],
    },
    {
      name: 'SD-PARAM escapes \\" \\\\ \\] (any other backslash kept), a repeated name keeps its first value',
      frame:
        '<11>1 2026-12-04T18:00:00Z app-1 payments 77 TX [meta@1 q="say \\"hi\\" \\\\ [x\\]" path="C:\\temp" q="second"] charge failed',
      labels: {
        hostname: "app-1",
        app_name: "payments",
        service: "payments",
        facility: "user",
        severity: "err",
        level: "error",
      },
      timestampNs: ns("2026-12-04T18:00:00Z"),
      line: "charge failed",
      metadata: [
        ["procid", "77"],
        ["msgid", "TX"],
        ["sd_meta_1_q", 'say "hi" \\ [x]'],
        ["sd_meta_1_path", "C:\\temp"],
      ],
    },
    {
      name: "every field nil: the receive time, the peer as hostname, no app_name",
      frame: "<14>1 - - - - - -",
      labels: { hostname: "10.1.2.3", facility: "user", severity: "info", level: "info" },
      timestampNs: receivedNs,
      line: "",
      metadata: [],
    },
    {
      name: "rsyslog RSYSLOG_SyslogProtocol23Format (omfwd template), CRLF ending",
      frame: "<30>1 2026-12-04T19:02:03.123456+01:00 web01 nginx 901 - - GET /healthz 200\r\n",
      labels: {
        hostname: "web01",
        app_name: "nginx",
        service: "nginx",
        facility: "daemon",
        severity: "info",
        level: "info",
      },
      timestampNs: ns("2026-12-04T18:02:03.123456Z"),
      line: "GET /healthz 200",
      metadata: [["procid", "901"]],
    },
    {
      name: "a timestamp that is not one is the receive time; the header still reads",
      frame: "<15>1 2026-13-45T99:00:00Z db postgres 1 - - checkpoint starting",
      labels: {
        hostname: "db",
        app_name: "postgres",
        service: "postgres",
        facility: "user",
        severity: "debug",
        level: "debug",
      },
      timestampNs: receivedNs,
      line: "checkpoint starting",
      metadata: [["procid", "1"]],
    },
    {
      name: "not structured data after all ([ without a closing ]): the rest is MSG",
      frame: "<13>1 2026-12-04T18:00:00Z h app - - [unterminated sd",
      labels: {
        hostname: "h",
        app_name: "app",
        service: "app",
        facility: "user",
        severity: "notice",
        level: "info",
      },
      timestampNs: ns("2026-12-04T18:00:00Z"),
      line: "[unterminated sd",
      metadata: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const message = parse(c.frame);
      assert.equal(message.format, "rfc5424");
      assert.deepEqual(labels(message), c.labels);
      assert.equal(message.entry.timestampNs, c.timestampNs);
      assert.equal(message.entry.line, c.line);
      assert.deepEqual(message.entry.metadata, c.metadata);
      assert.equal(message.invalidUtf8, false);
    });
  }

  test("a header that is not RFC 5424's (a field over its bound, no SD) keeps the PRI: bad_header", () => {
    const long = parse(`<13>1 2026-12-04T18:00:00Z ${"h".repeat(256)} app - - - x`);
    assert.equal(long.format, "bad_header");
    assert.equal(long.entry.line, `1 2026-12-04T18:00:00Z ${"h".repeat(256)} app - - - x`);
    assert.deepEqual(labels(long), {
      hostname: "10.1.2.3",
      facility: "user",
      severity: "notice",
      level: "info",
    });
    assert.equal(long.entry.timestampNs, receivedNs);
    assert.equal(parse("<13>1 2026-12-04T18:00:00Z host app").format, "bad_header");
  });

  test("a multi-line MSG (octet counting carries LFs) keeps its inner line breaks", () => {
    const message = parse(
      "<11>1 2026-12-04T18:00:00Z h java - - - Exception in thread main\n\tat A.b(A.java:1)\n",
    );
    assert.equal(message.entry.line, "Exception in thread main\n\tat A.b(A.java:1)");
  });

  test("more SD-PARAMs than metadataPairsMax: the first ones are kept", () => {
    const params = Array.from({ length: 100 }, (_, i) => `p${i}="${i}"`).join(" ");
    const message = parse(`<13>1 - h a - - [many@1 ${params}] msg`);
    assert.equal(message.entry.metadata.length, syslogLimits.metadataPairsMax);
    assert.deepEqual(message.entry.metadata[0], ["sd_many_1_p0", "0"]);
    assert.equal(message.entry.line, "msg");
  });

  test("RFC 3339 timestamps: offsets, fractions to nanoseconds, invalid dates refused", () => {
    assert.equal(parseRfc3339Ns("1985-04-12T23:20:50.52Z"), ns("1985-04-12T23:20:50.520Z"));
    assert.equal(
      parseRfc3339Ns("2026-12-04T18:00:00.123456789Z"),
      BigInt(Date.UTC(2026, 11, 4, 18)) * 1_000_000n + 123_456_789n,
    );
    assert.equal(parseRfc3339Ns("2026-12-04T20:00:00+02:00"), BigInt(Date.UTC(2026, 11, 4, 18)) * 1_000_000n);
    assert.equal(parseRfc3339Ns("2026-02-30T00:00:00Z"), null);
    assert.equal(parseRfc3339Ns("2026-12-04 18:00:00Z"), null);
    assert.equal(parseRfc3339Ns("1969-12-31T23:59:59Z"), null, "before the epoch: not storable");
    assert.equal(parseRfc3339Ns("2026-12-04T18:00:00+24:00"), null);
  });
});

describe("RFC 3164 and its variants", () => {
  test("util-linux logger --rfc3164 -t tag -p local3.warning (a space-padded day)", () => {
    const message = parse("<156>Dec  4 18:29:30 vm tag: hello 3164");
    assert.equal(message.format, "rfc3164");
    assert.deepEqual(labels(message), {
      hostname: "vm",
      app_name: "tag",
      service: "tag",
      facility: "local3",
      severity: "warning",
      level: "warn",
    });
    assert.equal(message.entry.timestampNs, localNs(2026, 11, 4, 18, 29, 30));
    assert.equal(message.entry.line, "hello 3164");
    assert.deepEqual(message.entry.metadata, []);
  });

  const cases: {
    name: string;
    frame: string;
    labels: Record<string, string>;
    line: string;
    metadata: [string, string][];
    timestampNs?: bigint;
  }[] = [
    {
      name: "systemd via rsyslog's traditional forward format",
      frame: "<30>Dec  4 18:29:30 vm systemd[1]: Started session-3.scope - Session 3 of User root.",
      labels: {
        hostname: "vm",
        app_name: "systemd",
        service: "systemd",
        facility: "daemon",
        severity: "info",
        level: "info",
      },
      line: "Started session-3.scope - Session 3 of User root.",
      metadata: [["procid", "1"]],
      timestampNs: localNs(2026, 11, 4, 18, 29, 30),
    },
    {
      name: "sshd with a pid, colons in the message",
      frame:
        "<38>Dec  4 08:01:02 bastion sshd[4721]: Accepted publickey for deploy from 10.0.0.5 port 51234 ssh2: ED25519 SHA256:q1w2e3",
      labels: {
        hostname: "bastion",
        app_name: "sshd",
        service: "sshd",
        facility: "auth",
        severity: "info",
        level: "info",
      },
      line: "Accepted publickey for deploy from 10.0.0.5 port 51234 ssh2: ED25519 SHA256:q1w2e3",
      metadata: [["procid", "4721"]],
      timestampNs: localNs(2026, 11, 4, 8, 1, 2),
    },
    {
      name: "the kernel (no pid)",
      frame: "<4>Nov 30 23:59:59 vm kernel: [  123.456789] eth0: link down",
      labels: {
        hostname: "vm",
        app_name: "kernel",
        service: "kernel",
        facility: "kern",
        severity: "warning",
        level: "warn",
      },
      line: "[  123.456789] eth0: link down",
      metadata: [],
      timestampNs: localNs(2026, 10, 30, 23, 59, 59),
    },
    {
      name: "postfix's slash in the tag",
      frame: "<22>Dec  4 18:00:01 mx1 postfix/smtpd[1203]: connect from unknown[198.51.100.7]",
      labels: {
        hostname: "mx1",
        app_name: "postfix/smtpd",
        service: "postfix/smtpd",
        facility: "mail",
        severity: "info",
        level: "info",
      },
      line: "connect from unknown[198.51.100.7]",
      metadata: [["procid", "1203"]],
    },
    {
      name: "no hostname (logger --rfc3164 to a local socket, many embedded devices): the peer",
      frame: "<13>Dec  4 18:29:30 multi: line1",
      labels: {
        hostname: "10.1.2.3",
        app_name: "multi",
        service: "multi",
        facility: "user",
        severity: "notice",
        level: "info",
      },
      line: "line1",
      metadata: [],
    },
    {
      name: "an RFC 3339 timestamp where 3164's goes (rsyslog's high-precision forward format)",
      frame:
        "<86>2026-12-04T18:29:30.906391+01:00 web01 CRON[2201]: pam_unix(cron:session): session opened for user root",
      labels: {
        hostname: "web01",
        app_name: "CRON",
        service: "CRON",
        facility: "authpriv",
        severity: "info",
        level: "info",
      },
      line: "pam_unix(cron:session): session opened for user root",
      metadata: [["procid", "2201"]],
      timestampNs: ns("2026-12-04T17:29:30.906391Z"),
    },
    {
      name: "Cisco IOS: sequence number, unsynchronised clock (*), milliseconds, colon, no host",
      frame:
        "<189>123: *Mar  1 00:00:15.123: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up",
      labels: {
        hostname: "10.1.2.3",
        app_name: "%LINK-3-UPDOWN",
        service: "%LINK-3-UPDOWN",
        facility: "local7",
        severity: "notice",
        level: "info",
      },
      line: "Interface GigabitEthernet0/1, changed state to up",
      metadata: [["sequence", "123"]],
      timestampNs: localNs(2026, 2, 1, 0, 0, 15, 123),
    },
    {
      name: "Cisco IOS with a year and UTC",
      frame:
        "<187>45: Jan 10 2025 10:00:00.250 UTC: %SYS-5-CONFIG_I: Configured from console by admin on vty0 (10.0.0.9)",
      labels: {
        hostname: "10.1.2.3",
        app_name: "%SYS-5-CONFIG_I",
        service: "%SYS-5-CONFIG_I",
        facility: "local7",
        severity: "err",
        level: "error",
      },
      line: "Configured from console by admin on vty0 (10.0.0.9)",
      metadata: [["sequence", "45"]],
      timestampNs: BigInt(Date.UTC(2025, 0, 10, 10, 0, 0, 250)) * 1_000_000n,
    },
    {
      name: "a hostname but no tag: all after the host is MSG",
      frame: "<13>Dec  4 18:29:30 printer01 paper jam in tray 2",
      labels: { hostname: "printer01", facility: "user", severity: "notice", level: "info" },
      line: "paper jam in tray 2",
      metadata: [],
    },
    {
      name: "no timestamp: the content is MSG (its tag still read), the receive time",
      frame: "<14>myapp[99]: started without a timestamp",
      labels: {
        hostname: "10.1.2.3",
        app_name: "myapp",
        service: "myapp",
        facility: "user",
        severity: "info",
        level: "info",
      },
      line: "started without a timestamp",
      metadata: [["procid", "99"]],
      timestampNs: receivedNs,
    },
    {
      name: "digits and a colon that are no Cisco sequence stay in the message",
      frame: "<14>42: the answer",
      labels: {
        hostname: "10.1.2.3",
        app_name: "42",
        service: "42",
        facility: "user",
        severity: "info",
        level: "info",
      },
      line: "the answer",
      metadata: [],
      timestampNs: receivedNs,
    },
    {
      name: "an upper-case tag right after the timestamp is a tag, not a time zone",
      frame: "<13>Dec  4 18:29:30 CRON: job done",
      labels: {
        hostname: "10.1.2.3",
        app_name: "CRON",
        service: "CRON",
        facility: "user",
        severity: "notice",
        level: "info",
      },
      line: "job done",
      metadata: [],
    },
    {
      name: "Cisco with a local zone (CET) and no year: the zone is read past, the time local",
      frame: "<190>7: Dec  4 10:00:00.5 CET: %SEC-6-IPACCESSLOGP: list 101 denied tcp",
      labels: {
        hostname: "10.1.2.3",
        app_name: "%SEC-6-IPACCESSLOGP",
        service: "%SEC-6-IPACCESSLOGP",
        facility: "local7",
        severity: "info",
        level: "info",
      },
      line: "list 101 denied tcp",
      metadata: [["sequence", "7"]],
      timestampNs: localNs(2026, 11, 4, 10, 0, 0, 500),
    },
    {
      name: "an IPv6 address as hostname",
      frame: "<13>Dec  4 18:29:30 fe80::1 app: v6",
      labels: {
        hostname: "fe80::1",
        app_name: "app",
        service: "app",
        facility: "user",
        severity: "notice",
        level: "info",
      },
      line: "v6",
      metadata: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const message = parse(c.frame);
      assert.equal(message.format, "rfc3164");
      assert.deepEqual(labels(message), c.labels);
      assert.equal(message.entry.line, c.line);
      assert.deepEqual(message.entry.metadata, c.metadata);
      if (c.timestampNs !== undefined) assert.equal(message.entry.timestampNs, c.timestampNs);
    });
  }

  test("the year of a timestamp without one: never more than a day ahead of the receive time", () => {
    const newYear = new Date(2027, 0, 1, 0, 0, 10).getTime();
    assert.equal(
      parse("<13>Dec 31 23:59:59 h a: late", { receivedAtMs: newYear }).entry.timestampNs,
      localNs(2026, 11, 31, 23, 59, 59),
      "December read in January is last year's",
    );
    const newYearsEve = new Date(2026, 11, 31, 23, 59, 0).getTime();
    assert.equal(
      parse("<13>Jan  1 00:00:05 h a: early", { receivedAtMs: newYearsEve }).entry.timestampNs,
      localNs(2027, 0, 1, 0, 0, 5),
      "a fast clock's January is next year's",
    );
    assert.equal(
      parse("<13>Dec  7 00:00:00 h a: days ahead").entry.timestampNs,
      localNs(2025, 11, 7, 0, 0, 0),
      "more than a day ahead is last year's",
    );
    assert.equal(parse("<13>Feb 30 00:00:00 h a: no such day").entry.timestampNs, receivedNs);
  });
});

describe("frames that are not syslog, and bad bytes", () => {
  test("no PRI: the whole frame is the line, user.notice (RFC 3164 §4.3.3), the receive time", () => {
    for (const frame of [
      "hello world no pri",
      "<192>1 2026-12-04T18:00:00Z h a - - - too high",
      "<abc>x",
      "<>x",
      "<1234>x",
      "<13",
    ]) {
      const message = parse(frame);
      assert.equal(message.format, "no_pri", frame);
      assert.equal(message.entry.line, frame);
      assert.deepEqual(labels(message), {
        hostname: "10.1.2.3",
        facility: "user",
        severity: "notice",
        level: "info",
      });
      assert.equal(message.entry.timestampNs, receivedNs);
    }
  });

  test("PRI 0 and 191 are the bounds", () => {
    assert.deepEqual(labels(parse("<0>Dec  4 18:00:00 h kernel: x")).severity, "emerg");
    const top = labels(parse("<191>Dec  4 18:00:00 h a: x"));
    assert.deepEqual([top.facility, top.severity, top.level], ["local7", "debug", "debug"]);
  });

  test("an empty frame (or only line ends and NULs) is no message", () => {
    for (const frame of ["", "\n", "\r\n", "\u0000\u0000", "\n\r\n"])
      assert.equal(parseSyslogMessage(Buffer.from(frame), receipt), null, JSON.stringify(frame));
  });

  test("invalid UTF-8 becomes U+FFFD and is flagged; a cut multi-byte character at the end too", () => {
    const bytes = Buffer.concat([
      Buffer.from("<13>Dec  4 18:29:30 h app: caf"),
      Buffer.from([0xc3]),
      Buffer.from(" \xff end", "latin1"),
    ]);
    const message = parse(bytes);
    assert.equal(message.invalidUtf8, true);
    assert.equal(message.entry.line, "caf\uFFFD \uFFFD end");
    assert.equal(parse("<13>Dec  4 18:29:30 h app: café ✓").invalidUtf8, false);
  });

  test("a MSG over lineBytesMax is cut at a character boundary and flagged", () => {
    const message = parse(`<13>1 - h a - - - ${"é".repeat(20)}`, { lineBytesMax: 25 });
    assert.equal(message.entry.line, "é".repeat(12));
    assert.equal(message.lineCut, true);
    const invalid = parse(Buffer.concat([Buffer.from("<13>1 - h a - - - "), Buffer.alloc(40, 0xff)]), {
      lineBytesMax: 32,
    });
    assert.ok(Buffer.byteLength(invalid.entry.line) <= 32, "U+FFFD takes 3 bytes: still within the bound");
    assert.equal(parse("<13>1 - h a - - - short", { lineBytesMax: 25 }).lineCut, false);
  });

  test("syslogStreams groups messages by label set, in the order first seen", () => {
    const messages = [
      parse("<13>Dec  4 18:29:30 h1 a: one"),
      parse("<13>Dec  4 18:29:31 h2 a: two"),
      parse("<13>Dec  4 18:29:32 h1 a: three"),
      parse("<11>Dec  4 18:29:33 h1 a: four"),
    ];
    const streams = syslogStreams(messages);
    assert.deepEqual(
      streams.map((s) => [
        Object.fromEntries(s.labels).hostname,
        Object.fromEntries(s.labels).severity,
        s.entries.map((e) => e.line),
      ]),
      [
        ["h1", "notice", ["one", "three"]],
        ["h2", "notice", ["two"]],
        ["h1", "err", ["four"]],
      ],
    );
  });
});

describe("property: any bytes", () => {
  const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
  const fragments = [
    "<",
    ">",
    "<13>",
    "<165>",
    "1 ",
    "1",
    " ",
    "-",
    "[",
    "]",
    "=",
    '"',
    "\\",
    "@",
    ":",
    "Dec",
    " 4 ",
    "18:29:30",
    ".123",
    "2026-12-04T18:29:30Z",
    "2026-12-04T18:29:30.5+01:00",
    "host",
    "tag[12]: ",
    "123: ",
    "*",
    " UTC",
    "\uFEFF",
    "é",
    "\n",
    "\u0000",
    "sd@1",
    'p="v"',
  ];
  const syslogish = fc
    .array(fc.oneof(fc.constantFrom(...fragments), fc.string({ maxLength: 4 })), { maxLength: 40 })
    .map((parts) => Buffer.from(parts.join(""), "utf8"));
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array)),
    syslogish,
  );

  test("never throws but DecodeError; what it returns the pipeline stores as is", () => {
    fc.assert(
      fc.property(bytes, fc.integer({ min: 16, max: 400 }), (frame, lineBytesMax) => {
        let message: SyslogMessage | null;
        try {
          message = parseSyslogMessage(frame, { ...receipt, lineBytesMax });
        } catch (error) {
          assert.ok(error instanceof DecodeError, `threw ${error}`);
          return;
        }
        if (message === null) return;
        assert.ok(Buffer.byteLength(message.entry.line) <= lineBytesMax);
        assert.ok(typeof message.entry.line === "string" && message.entry.line.isWellFormed());
        assert.ok(
          message.entry.timestampNs >= 0n && message.entry.timestampNs < BigInt(timestampMsMax) * 1_000_000n,
        );
        const names = new Set<string>();
        for (const [name, value] of message.labels) {
          assert.match(name, labelNamePattern);
          assert.ok(
            value !== "" &&
              value.length <= labelValueCharsMax &&
              value.isWellFormed() &&
              !value.includes("\u0000"),
          );
          names.add(name);
        }
        assert.equal(names.size, message.labels.length, "label names unique");
        const metadataNames = new Set(message.entry.metadata.map(([name]) => name));
        assert.equal(metadataNames.size, message.entry.metadata.length, "metadata names unique");
        for (const [name, value] of message.entry.metadata) {
          assert.match(name, labelNamePattern);
          assert.ok(value.isWellFormed());
        }
      }),
      { numRuns: 5000 },
    );
  });
});
