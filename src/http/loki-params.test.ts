// Loki's request parsing, case by case against the semantics and messages of pkg/loghttp.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  checkEntriesLimit,
  defaultStepNs,
  LokiRequestError,
  lokiParams,
  parseBounds,
  parseDirection,
  parseInstantQuery,
  parseLabelQuery,
  parseLimit,
  parsePrometheusDurationNs,
  parseRangeQuery,
  parseSecondsOrDurationNs,
  parseSeriesQuery,
  parseTailQuery,
  parseTimestampNs,
  parseVolumeInstantQuery,
  parseVolumeRangeQuery,
} from "./loki-params.ts";

const s = 1_000_000_000n;
const nowNs = 1_700_000_000n * s; // 2023-11-14T22:13:20Z
const params = (query: string) => lokiParams(query, undefined, undefined);

function assertRefused(run: () => unknown, message: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof LokiRequestError, `not a LokiRequestError: ${error}`);
    assert.equal(error.status, 400);
    assert.equal(error.message, message);
    return true;
  });
}

describe("parseTimestampNs", () => {
  const cases: [string, bigint][] = [
    ["1700000000", 1_700_000_000n * s], // 10 digits: seconds
    ["170000000", 170_000_000n * s],
    ["0", 0n],
    ["-5", -5n * s],
    ["17000000000", 17_000_000_000n], // 11 digits: nanoseconds
    ["1700000000123456789", 1_700_000_000_123_456_789n],
    ["1700000000.5", 1_700_000_000n * s + 500_000_000n],
    ["1700000000.1234567", 1_700_000_000n * s + 123_000_000n], // Loki rounds the fraction to ms
    ["1700000000.9996", 1_700_000_001n * s],
    ["2023-11-14T22:13:20Z", 1_700_000_000n * s],
    ["2023-11-14T22:13:20.123456789Z", 1_700_000_000n * s + 123_456_789n],
    ["2023-11-14T22:13:20.5Z", 1_700_000_000n * s + 500_000_000n],
    ["2023-11-15T00:13:20+02:00", 1_700_000_000n * s],
    ["2023-11-14T21:13:20-01:00", 1_700_000_000n * s],
    ["0001-01-01T00:00:00Z", -62_135_596_800n * s],
  ];
  for (const [value, expectedNs] of cases) {
    test(value, () => assert.equal(parseTimestampNs(value, 7n), expectedNs));
  }
  test("empty is the default", () => assert.equal(parseTimestampNs("", 7n), 7n));
  test("a float in exponent form with a dot", () =>
    assert.equal(parseTimestampNs("1.7e9", 0n), 1_700_000_000n * s));
  for (const value of [
    "abc",
    "1.5e3.",
    "2023-11-14 22:13:20Z",
    "2023-13-01T00:00:00Z",
    "2023-02-30T00:00:00Z",
    "2023-11-14T22:13:20",
  ]) {
    test(`refuses ${value} with the integer parse's error`, () =>
      assertRefused(
        () => parseTimestampNs(value, 0n),
        `strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`,
      ));
  }
  test("refuses an integer beyond int64", () =>
    assertRefused(
      () => parseTimestampNs("99999999999999999999", 0n),
      'strconv.ParseInt: parsing "99999999999999999999": value out of range',
    ));
});

describe("durations", () => {
  test("Prometheus durations", () => {
    assert.equal(parsePrometheusDurationNs("0"), 0n);
    assert.equal(parsePrometheusDurationNs("5m"), 300n * s);
    assert.equal(parsePrometheusDurationNs("1h30m"), 5400n * s);
    assert.equal(parsePrometheusDurationNs("1d"), 86_400n * s);
    assert.equal(parsePrometheusDurationNs("1w"), 604_800n * s);
    assert.equal(parsePrometheusDurationNs("1y"), 31_536_000n * s);
    assert.equal(parsePrometheusDurationNs("250ms"), 250_000_000n);
    assertRefused(() => parsePrometheusDurationNs("5"), 'not a valid duration string: "5"');
    assertRefused(() => parsePrometheusDurationNs("1m1h"), 'not a valid duration string: "1m1h"');
    assertRefused(() => parsePrometheusDurationNs("1.5h"), 'not a valid duration string: "1.5h"');
    assertRefused(() => parsePrometheusDurationNs(""), "empty duration string");
  });
  test("seconds or a duration", () => {
    assert.equal(parseSecondsOrDurationNs("15"), 15n * s);
    assert.equal(parseSecondsOrDurationNs("0.5"), 500_000_000n);
    assert.equal(parseSecondsOrDurationNs("-1"), -s);
    assert.equal(parseSecondsOrDurationNs("1m"), 60n * s);
    assertRefused(() => parseSecondsOrDurationNs("1x"), 'cannot parse "1x" to a valid duration');
    assertRefused(
      () => parseSecondsOrDurationNs("1e19"),
      'cannot parse "1e19" to a valid duration. It overflows int64',
    );
    assertRefused(
      () => parseSecondsOrDurationNs("+Inf"),
      'cannot parse "+Inf" to a valid duration. It overflows int64',
    );
  });
});

describe("limit and direction", () => {
  test("limit", () => {
    assert.equal(parseLimit(""), 100);
    assert.equal(parseLimit("5000"), 5000);
    assert.equal(parseLimit("+7"), 7);
    assertRefused(() => parseLimit("0"), "limit must be a positive value");
    assertRefused(() => parseLimit("-3"), "limit must be a positive value");
    assertRefused(() => parseLimit("ten"), 'strconv.Atoi: parsing "ten": invalid syntax');
    assertRefused(() => parseLimit("1.5"), 'strconv.Atoi: parsing "1.5": invalid syntax');
    assertRefused(() => parseLimit("4294967296"), "limit value 4294967296 is out of range [0, 4294967295]");
    assertRefused(
      () => parseLimit("9007199254740993"),
      "limit value 9007199254740993 is out of range [0, 4294967295]", // exact beyond 2^53
    );
    assertRefused(
      () => parseLimit("9223372036854775808"),
      'strconv.Atoi: parsing "9223372036854775808": value out of range',
    );
  });
  test("max entries limit per query, Loki's message", () => {
    checkEntriesLimit(5000, 5000);
    checkEntriesLimit(1_000_000, 0); // 0: no maximum
    assertRefused(
      () => checkEntriesLimit(5001, 5000),
      "max entries limit per query exceeded, limit > max_entries_limit_per_query (5001 > 5000)",
    );
  });
  test("direction", () => {
    assert.equal(parseDirection(""), "backward");
    assert.equal(parseDirection("forward"), "forward");
    assert.equal(parseDirection("FORWARD"), "forward");
    assert.equal(parseDirection("Backward"), "backward");
    assertRefused(() => parseDirection("up"), "invalid direction 'up'");
  });
});

describe("bounds", () => {
  test("defaults: end now, start an hour before", () =>
    assert.deepEqual(parseBounds(params(""), nowNs), { startNs: nowNs - 3600n * s, endNs: nowNs }));
  test("since counts back from end", () =>
    assert.deepEqual(parseBounds(params("end=1699990000&since=10m"), nowNs), {
      startNs: 1_699_989_400n * s,
      endNs: 1_699_990_000n * s,
    }));
  test("since counts back from now when end is in the future", () =>
    assert.deepEqual(parseBounds(params("end=1800000000&since=10m"), nowNs), {
      startNs: nowNs - 600n * s,
      endNs: 1_800_000_000n * s,
    }));
  test("start overrides since", () =>
    assert.equal(parseBounds(params("start=1600000000&since=10m"), nowNs).startNs, 1_600_000_000n * s));
  test("errors name the parameter", () => {
    assertRefused(
      () => parseBounds(params("start=x"), nowNs),
      `could not parse 'start' parameter: strconv.ParseInt: parsing "x": invalid syntax`,
    );
    assertRefused(
      () => parseBounds(params("end=y"), nowNs),
      `could not parse 'end' parameter: strconv.ParseInt: parsing "y": invalid syntax`,
    );
    assertRefused(
      () => parseBounds(params("since=5"), nowNs),
      `could not parse 'since' parameter: not a valid duration string: "5"`,
    );
  });
});

describe("parseRangeQuery", () => {
  test("defaults", () =>
    assert.deepEqual(parseRangeQuery(params("query=%7Bapp%3D%22a%22%7D"), nowNs), {
      query: '{app="a"}',
      startNs: nowNs - 3600n * s,
      endNs: nowNs,
      limit: 100,
      direction: "backward",
      stepNs: 14n * s, // floor(3600 / 250)
      intervalNs: 0n,
    }));
  test("explicit values", () => {
    const range = parseRangeQuery(
      params("query=x&start=1000&end=2000&limit=7&direction=forward&step=30s&interval=0.5"),
      nowNs,
    );
    assert.deepEqual(
      { ...range },
      {
        query: "x",
        startNs: 1000n * s,
        endNs: 2000n * s,
        limit: 7,
        direction: "forward",
        stepNs: 30n * s,
        intervalNs: 500_000_000n,
      },
    );
  });
  test("the default step is at least a second", () =>
    assert.equal(defaultStepNs({ startNs: 0n, endNs: 10n * s }), s));
  test("end before start is refused, equal is not (as in Loki)", () => {
    assertRefused(
      () => parseRangeQuery(params("start=2000&end=1000"), nowNs),
      "end timestamp must not be before or equal to start time",
    );
    assert.equal(parseRangeQuery(params("start=2000&end=2000"), nowNs).startNs, 2000n * s);
  });
  test("zero or negative step", () => {
    for (const step of ["0", "-1", "0s"])
      assertRefused(
        () => parseRangeQuery(params(`start=1000&end=2000&step=${step}`), nowNs),
        "zero or negative query resolution step widths are not accepted. Try a positive integer",
      );
  });
  test("more than 11,000 points", () => {
    const tooMany =
      "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter";
    assertRefused(() => parseRangeQuery(params("start=0&end=11001&step=1"), nowNs), tooMany);
    assert.equal(parseRangeQuery(params("start=0&end=11000&step=1"), nowNs).stepNs, s);
    assert.equal(parseRangeQuery(params("start=0&end=11000.9&step=1"), nowNs).stepNs, s); // integer division
  });
  test("negative interval", () =>
    assertRefused(
      () => parseRangeQuery(params("start=1000&end=2000&interval=-1"), nowNs),
      "interval must be >= 0",
    ));
  test("checks run in Loki's order: bounds, order, limit, direction, step", () => {
    assertRefused(
      () => parseRangeQuery(params("start=2000&end=1000&limit=0"), nowNs),
      "end timestamp must not be before or equal to start time",
    );
    assertRefused(
      () => parseRangeQuery(params("limit=0&direction=up"), nowNs),
      "limit must be a positive value",
    );
    assertRefused(() => parseRangeQuery(params("direction=up&step=0"), nowNs), "invalid direction 'up'");
  });
});

describe("parseInstantQuery", () => {
  test("defaults", () =>
    assert.deepEqual(parseInstantQuery(params("query=vector(1)"), nowNs), {
      query: "vector(1)",
      timeNs: nowNs,
      limit: 100,
      direction: "backward",
    }));
  test("time errors are not wrapped", () =>
    assertRefused(
      () => parseInstantQuery(params("time=soon"), nowNs),
      'strconv.ParseInt: parsing "soon": invalid syntax',
    ));
});

describe("labels and series", () => {
  test("labels: optional query, bounds not ordered", () => {
    assert.deepEqual(parseLabelQuery(params("start=2000&end=1000"), nowNs), {
      startNs: 2000n * s,
      endNs: 1000n * s,
      query: null,
    });
    assert.equal(parseLabelQuery(params("query=%7Ba%3D%22b%22%7D"), nowNs).query, '{a="b"}');
  });
  test("series: match and match[] united, deduplicated, sorted", () =>
    assert.deepEqual(
      parseSeriesQuery(
        params("match[]=%7Bb%3D%221%22%7D&match=%7Ba%3D%221%22%7D&match[]=%7Ba%3D%221%22%7D"),
        nowNs,
      ).matchers,
      ['{a="1"}', '{b="1"}'],
    ));
  test("series: no match, or a lone {}, is every stream", () => {
    assert.deepEqual(parseSeriesQuery(params(""), nowNs).matchers, []);
    assert.deepEqual(parseSeriesQuery(params("match[]=%7B%20%7D"), nowNs).matchers, []);
  });
});

describe("form bodies", () => {
  const form = "application/x-www-form-urlencoded";
  test("body values come before the URL's", () => {
    const merged = lokiParams(
      "limit=5&match[]=url",
      Buffer.from("limit=9&match%5B%5D=body"),
      `${form}; charset=utf-8`,
    );
    assert.equal(merged.get("limit"), "9");
    assert.deepEqual(merged.all("match[]"), ["body", "url"]);
  });
  test("a body of another type is ignored", () =>
    assert.equal(lokiParams("limit=5", Buffer.from("limit=9"), "application/json").get("limit"), "5"));
  test("plus is a space", () =>
    assert.equal(lokiParams("", Buffer.from("query=a+b"), form).get("query"), "a b"));
});

describe("volume", () => {
  test("instant: defaults, limit 0 is the default", () => {
    assert.deepEqual(parseVolumeInstantQuery(params("query=%7Ba%3D%22b%22%7D&limit=0"), nowNs), {
      query: '{a="b"}',
      startNs: nowNs - 3600n * s,
      endNs: nowNs,
      limit: 100,
      targetLabels: [],
      aggregateBy: "series",
      stepNs: null,
    });
  });
  test("range: step, target labels, aggregateBy", () => {
    const volume = parseVolumeRangeQuery(
      params("query=q&start=0&end=3600&step=60&targetLabels=a,b&aggregateBy=labels&limit=0"),
      nowNs,
    );
    assert.deepEqual(volume, {
      query: "q",
      startNs: 0n,
      endNs: 3600n * s,
      limit: 100,
      targetLabels: ["a", "b"],
      aggregateBy: "labels",
      stepNs: 60n * s,
    });
  });
  test("errors", () => {
    assertRefused(() => parseVolumeInstantQuery(params("limit=-1"), nowNs), "limit must be a positive value");
    assertRefused(
      () => parseVolumeInstantQuery(params("aggregateBy=stream"), nowNs),
      "invalid aggregation option",
    );
    assertRefused(
      () => parseVolumeInstantQuery(params("start=2000&end=1000"), nowNs),
      "end timestamp must not be before or equal to start time",
    );
  });
});

describe("tail", () => {
  test("defaults and delay_for bound", () => {
    assert.deepEqual(parseTailQuery(params("query=q"), nowNs), {
      query: "q",
      limit: 100,
      startNs: nowNs - 3600n * s,
      delayForS: 0,
    });
    assertRefused(() => parseTailQuery(params("delay_for=6"), nowNs), "delay_for can't be greater than 5");
    assertRefused(
      () => parseTailQuery(params("delay_for=-1"), nowNs),
      "delay_for value -1 is out of range [0, 4294967295]",
    );
  });
});
