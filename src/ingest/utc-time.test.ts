// Written-out times that do not exist are refused, not rolled over; years below 100 stay themselves.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRfc3339Ns } from "./syslog.ts";
import { utcOffsetMinutes, utcWallMs } from "./utc-time.ts";

test("utcWallMs: real dates as Date.UTC has them, impossible ones null, years 0-99 kept", () => {
  assert.equal(utcWallMs(2024, 2, 29, 23, 59, 59), Date.UTC(2024, 1, 29, 23, 59, 59));
  assert.equal(
    utcWallMs(2024, 12, 31, 0, 0, 60),
    Date.UTC(2024, 11, 31, 0, 0, 59),
    "a leap second reads as :59",
  );
  for (const fields of [
    [2024, 13, 1, 0, 0, 0],
    [2024, 0, 15, 0, 0, 0],
    [2023, 2, 29, 0, 0, 0],
    [2024, 4, 31, 0, 0, 0],
    [2024, 1, 1, 24, 0, 0],
    [2024, 1, 1, 0, 60, 0],
  ] as const) {
    const [year, month, day, hour, minute, second] = fields;
    assert.equal(utcWallMs(year, month, day, hour, minute, second), null, fields.join("-"));
  }
  const ancient = new Date(utcWallMs(99, 6, 1, 0, 0, 0)!);
  assert.equal(ancient.getUTCFullYear(), 99);
  assert.equal(utcOffsetMinutes("-", 5, 30), -330);
  assert.equal(utcOffsetMinutes("+", 99, 99), null);
  assert.equal(utcOffsetMinutes("+", 23, 60), null);
});

test("syslog's RFC 3339 refuses month 13 and +99:99; 0099 is not read as 1999", () => {
  assert.equal(parseRfc3339Ns("2024-13-01T00:00:00Z"), null);
  assert.equal(parseRfc3339Ns("2024-06-01T00:00:00+99:99"), null);
  const ancient = parseRfc3339Ns("0099-06-01T00:00:00Z");
  // Before 1970 is outside what the log stores (null), never silently 1999.
  assert.ok(
    ancient === null || new Date(Number(ancient / 1_000_000n)).getUTCFullYear() === 99,
    String(ancient),
  );
});
