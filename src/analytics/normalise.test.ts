import assert from "node:assert/strict";
import { test } from "node:test";
import { firstProductToken, pathKey, userAgentFamily } from "./normalise.ts";
import { formatWindowStart, windowStartMs } from "./windows.ts";

test("user-agent families: browsers, bots, tools, and the first-product-token fallback", () => {
  const cases: Array<[string, string]> = [
    [
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
      "Chrome",
    ],
    ["Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox"],
    [
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
      "Safari",
    ],
    [
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
      "Edge",
    ],
    ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"],
    ["Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot"],
    ["curl/8.5.0", "curl"],
    ["python-requests/2.31.0", "python-requests"],
    ["SomeUnknownUserAgent/1.0", "SomeUnknownUserAgent"],
    ["test", "test"],
    ["Mozilla/5.0 (compatible; ExampleCrawler/3.1; +https://example.com)", "ExampleCrawler"],
  ];
  for (const [userAgent, family] of cases) assert.equal(userAgentFamily(userAgent), family, userAgent);
  assert.equal(userAgentFamily("curl/8.5.0"), "curl", "cached answers are the same");
});

test("path keys, product tokens and minute windows", () => {
  assert.equal(pathKey("GET", "/about"), "GET /about");
  assert.equal(firstProductToken("  Wget/1.21 (linux)"), "Wget");
  assert.equal(firstProductToken(""), "");
  const at = (text: string) => Date.parse(text);
  assert.equal(windowStartMs("minute", at("2025-12-28T18:03:59.999Z")), at("2025-12-28T18:03:00.000Z"));
  assert.equal(windowStartMs("minute", at("2025-12-28T18:04:00.000Z")), at("2025-12-28T18:04:00.000Z"));
  assert.equal(windowStartMs("hour", at("2025-12-28T18:59:59.999Z")), at("2025-12-28T18:00:00.000Z"));
  assert.equal(windowStartMs("day", at("2025-12-28T23:59:59.999Z")), at("2025-12-28T00:00:00.000Z"));
  // Before 1970 windows still start on the boundary below (floor, not truncation toward zero).
  assert.equal(windowStartMs("minute", at("1969-12-31T23:59:30.000Z")), at("1969-12-31T23:59:00.000Z"));
  assert.equal(formatWindowStart(at("2025-12-28T18:03:00.000Z")), "2025-12-28T18:03:00Z");
});
