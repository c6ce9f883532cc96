// The web UI in a real browser: Debian's chromium driven by playwright-core against a real
// `sluice serve` child holding generated data. Explore (pick a service, a filter query with its
// matches marked, the volume histogram, live tail, a bad query's error with its position),
// Analytics after reference B's scenario (16,000 in a minute window), Status, and no console error
// anywhere. SLUICE_CHROMIUM_BIN names another chromium; SLUICE_SKIP_BROWSER=1 skips, loudly.
// SLUICE_UPDATE_SCREENSHOTS=1 writes the pages to docs/screenshots/ (`npm run screenshots`).

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { referenceScenario } from "../src/loadgen/scenario.ts";
import { findOnPath } from "./support/deploy.ts";
import { postServiceLogs, send } from "./support/http-client.ts";
import { postBatches, waitForCaughtUp } from "./support/scenario-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

const skip = process.env.SLUICE_SKIP_BROWSER === "1";
const chromiumPath =
  process.env.SLUICE_CHROMIUM_BIN ?? findOnPath("chromium") ?? findOnPath("chromium-browser") ?? null;
const screenshotsDir = fileURLToPath(new URL("../docs/screenshots/", import.meta.url));
const updateScreenshots = process.env.SLUICE_UPDATE_SCREENSHOTS === "1";

if (skip)
  process.stderr.write("\n*** SLUICE_SKIP_BROWSER=1: the browser tests of the web UI are SKIPPED ***\n\n");

const services = ["checkout", "auth_service", "billing", "search", "inventory"];
const levels = ["INFO", "INFO", "INFO", "WARN", "ERROR"];

/** 500 lines over the last 30 minutes; auth_service says "timeout" in every 7th. */
function generatedEntries(nowMs: number): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [];
  for (let index = 0; index < 500; index++) {
    const service = services[index % services.length];
    const timeout = service === "auth_service" && index % 7 === 1;
    entries.push({
      timestamp: nowMs - 30 * 60_000 + index * 3_000,
      service,
      level: levels[Math.floor(index / services.length) % levels.length],
      message: timeout
        ? `upstream timeout after 3000 ms talking to ldap (request ${index})`
        : `handled request ${index} for ${service} in ${index % 97} ms`,
    });
  }
  return entries;
}

/** Evaluated in the page (a string: this file is type-checked without the DOM library). */
const bodyBackground = "getComputedStyle(document.body).backgroundColor";

describe("web UI in a real browser", { skip: skip ? "SLUICE_SKIP_BROWSER=1" : false }, () => {
  let server: ServerProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const consoleErrors: string[] = [];
  // Chromium logs every 4xx answer as a console error; the bad-query test expects exactly one.
  let badRequestsExpected = 0;
  const expectedTimeouts = generatedEntries(0).filter((entry) =>
    String(entry.message).includes("timeout"),
  ).length;

  before(async () => {
    assert.ok(
      chromiumPath !== null,
      "no chromium binary: install Debian's package (apt-get install -y chromium), name one in SLUICE_CHROMIUM_BIN, or set SLUICE_SKIP_BROWSER=1 to skip these tests",
    );
    server = await startServerProcess();
    const posted = await postServiceLogs(server.url, generatedEntries(Date.now()));
    assert.equal(posted.status, 200, posted.text);
    browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      if (badRequestsExpected > 0 && /status of 400/.test(message.text())) badRequestsExpected--;
      else consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => consoleErrors.push(`page error: ${error.message}`));
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  const shot = async (name: string) => {
    const file = updateScreenshots
      ? path.join(screenshotsDir, `${name}.png`)
      : path.join(os.tmpdir(), `sluice-ui-${name}.png`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await page.screenshot({ path: file });
  };

  test("GET / gives a browser the UI and a JSON client no HTML", async () => {
    const html = await send(`${server!.url}/`, { headers: { accept: "text/html,application/xhtml+xml" } });
    assert.equal(html.status, 200);
    assert.match(html.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(html.text, /<script type="module" src="\/ui\/app.js">/);
    const json = await send(`${server!.url}/`, { headers: { accept: "application/json" } });
    assert.doesNotMatch(json.headers.get("content-type") ?? "", /html/);
    const script = await send(`${server!.url}/ui/app.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get("content-type") ?? "", /javascript/);
    const etag = script.headers.get("etag")!;
    const revalidated = await send(`${server!.url}/ui/app.js`, { headers: { "if-none-match": etag } });
    assert.equal(revalidated.status, 304);
    assert.equal((await send(`${server!.url}/ui/nope.js`)).status, 404);
  });

  test("GET /api/v1/status: the node, its partitions, lags and disk", async () => {
    const reply = await send(`${server!.url}/api/v1/status`);
    assert.equal(reply.status, 200);
    const status = JSON.parse(reply.text);
    assert.equal(status.phase, "ready");
    assert.equal(status.appendedRecords, 500, "the 500 generated lines, appended since start");
    const logs = status.topics.find((topic: { topic: string }) => topic.topic === "logs");
    assert.equal(logs.partitions.length, 4);
    const stored = logs.partitions.reduce(
      (sum: number, one: { endOffset: number }) => sum + one.endOffset,
      0,
    );
    assert.ok(stored >= 1 && stored <= 500, `records of the logs topic: ${stored}`);
    assert.ok(status.diskBytes > 0);
    assert.equal(status.index.length, 4);
    assert.equal(status.analytics.length, 4);
  });

  test("pick a service: its lines are listed, newest first, with the volume histogram", async () => {
    await page.goto(`${server!.url}/`);
    const picker = page.getByTestId("service-picker");
    await picker.locator("option", { hasText: "billing" }).waitFor({ state: "attached" });
    await picker.selectOption("billing");
    await page.getByTestId("show-logs").click();
    const rows = page.getByTestId("log-lines").locator(".row");
    await rows.first().waitFor();
    assert.equal(
      await page
        .getByTestId("result-summary")
        .textContent()
        .then((text) => text?.split(" ")[0]),
      "100",
    );
    const texts = await rows.locator(".line").allTextContents();
    assert.ok(texts.length > 10, `${texts.length} rows rendered`);
    assert.ok(
      texts.every((text) => text.includes("for billing")),
      texts.find((text) => !text.includes("for billing")),
    );
    const numbers = texts.map((text) => Number(/request (\d+)/.exec(text)![1]));
    assert.deepEqual(
      numbers,
      [...numbers].sort((a, b) => b - a),
      "newest first",
    );
    await page.getByTestId("volume-histogram").locator("canvas").waitFor();
    assert.match(
      decodeURIComponent(page.url()),
      /query=\{service="billing"\}/,
      "the query is kept in the URL",
    );
    await shot("explore");
  });

  test("a filter query finds exactly the matching lines and marks the match", async () => {
    const query = '{service="auth_service"} |= "timeout"';
    await page.goto(`${server!.url}/explore?${new URLSearchParams({ query, from: "now-1h", to: "now" })}`);
    const rows = page.getByTestId("log-lines").locator(".row");
    await rows.first().waitFor();
    await page
      .getByTestId("result-summary")
      .getByText(new RegExp(`^${expectedTimeouts} lines`))
      .waitFor();
    const texts = await rows.locator(".line").allTextContents();
    assert.equal(texts.length, expectedTimeouts);
    assert.ok(texts.every((text) => text.includes("upstream timeout")));
    assert.equal(await rows.first().locator("mark").first().textContent(), "timeout");
    await rows.first().click();
    const detail = page.getByTestId("line-detail");
    await detail.waitFor();
    assert.match((await detail.textContent()) ?? "", /auth_service/);
  });

  test("typing a query in the editor and pressing Ctrl+Enter runs it", async () => {
    await page.goto(`${server!.url}/explore`);
    const editor = page.locator('[data-testid="query-editor"]');
    await editor.click();
    await page.keyboard.type('{service="search"} |= "request 3"');
    await page.keyboard.press("Control+Enter");
    const rows = page.getByTestId("log-lines").locator(".row");
    await rows.first().waitFor();
    const texts = await rows.locator(".line").allTextContents();
    assert.ok(
      texts.length > 0 && texts.every((text) => text.includes("request 3") && text.includes("search")),
    );
  });

  test("the editor highlights LogQL and completes label names and values from the live routes", async () => {
    await page.goto(`${server!.url}/explore`);
    const editor = page.locator('[data-testid="query-editor"]');
    await editor.click();
    await page.keyboard.type("{");
    const options = page.locator(".cm-tooltip-autocomplete li");
    await options.filter({ hasText: /^service$/ }).waitFor();
    await options.filter({ hasText: /^service$/ }).click();
    await page
      .locator(".cm-tooltip-autocomplete li")
      .filter({ hasText: /^auth_service$/ })
      .waitFor();
    await page.keyboard.type("auth");
    const value = page.locator(".cm-tooltip-autocomplete li").filter({ hasText: /^auth_service$/ });
    await value.waitFor();
    assert.equal(await page.locator(".cm-tooltip-autocomplete li").count(), 1, "filtered to the one match");
    await value.click();
    assert.equal(await editor.textContent(), '{service="auth_service"');
    assert.equal(await editor.locator(".tok-label").first().textContent(), "service");
    assert.equal(await editor.locator(".tok-string").first().textContent(), '"auth_service"');
  });

  test("a bad query shows the server's error with its position", async () => {
    badRequestsExpected = 1; // the query's own 400: no histogram request is made for it
    await page.goto(`${server!.url}/explore?${new URLSearchParams({ query: '{service="checkout"} |= ' })}`);
    const error = page.getByTestId("query-error");
    await error.waitFor();
    assert.match((await error.textContent()) ?? "", /parse error at line 1, col \d+/);
    for (let waitedMs = 0; badRequestsExpected > 0 && waitedMs < 2000; waitedMs += 50)
      await new Promise((wake) => setTimeout(wake, 50)); // the console message may trail the render
    assert.equal(badRequestsExpected, 0, "the browser saw the 400");
    await shot("explore-error");
  });

  test("auto-refresh (every 5s, kept in the URL) shows a line ingested after the page loaded", async () => {
    await page.goto(
      `${server!.url}/explore?${new URLSearchParams({ query: '{service="search"}', refresh: "5s" })}`,
    );
    await page.getByTestId("log-lines").locator(".row").first().waitFor();
    assert.equal(await page.getByTestId("auto-refresh").inputValue(), "5s");
    const marker = `refreshed line ${Date.now()}`;
    const posted = await postServiceLogs(server!.url, [
      { timestamp: Date.now(), service: "search", level: "INFO", message: marker },
    ]);
    assert.equal(posted.status, 200, posted.text);
    await page.getByTestId("log-lines").getByText(marker).waitFor({ timeout: 8000 });
    await page.getByTestId("auto-refresh").selectOption("off");
    assert.doesNotMatch(page.url(), /refresh=/);
  });

  test("live tail shows a freshly ingested line within 2 s", async () => {
    await page.goto(`${server!.url}/explore?${new URLSearchParams({ query: '{service="inventory"}' })}`);
    await page.getByTestId("log-lines").locator(".row").first().waitFor();
    await page.getByTestId("live-tail").check();
    await page.getByTestId("live-state").getByText("live").waitFor();
    const marker = `fresh line ${Date.now()}`;
    const posted = await postServiceLogs(server!.url, [
      { timestamp: Date.now(), service: "inventory", level: "INFO", message: marker },
    ]);
    assert.equal(posted.status, 200, posted.text);
    const startedMs = performance.now();
    await page.getByTestId("log-lines").getByText(marker).waitFor({ timeout: 2000 });
    assert.ok(performance.now() - startedMs < 2000);
    await page.getByTestId("live-tail").uncheck();
  });

  test("the analytics page reads 16,000 requests in a minute window of reference B's scenario", async () => {
    const scenario = referenceScenario();
    const replies = await postBatches(server!.url, scenario.customerId, scenario.batches, 2);
    assert.ok(replies.every((reply) => reply.status === 202));
    await waitForCaughtUp(server!.url, 64_000, 60_000);
    const params = new URLSearchParams({
      customer: scenario.customerId,
      window: "minute",
      from: "2025-12-28T18:00:00Z",
      to: "2025-12-28T19:00:00Z",
    });
    await page.goto(`${server!.url}/analytics?${params}`);
    const windows = page.getByTestId("windows");
    await windows.waitFor();
    const rowTexts = await windows.locator("tbody tr").allTextContents();
    assert.equal(rowTexts.length, 4, rowTexts.join("\n"));
    assert.ok(
      rowTexts.every((text) => text.includes("16,000")),
      rowTexts.join("\n"),
    );
    assert.match(rowTexts[0], /2025-12-28T18:03:00Z/);
    await page.getByTestId("chart-by-path").locator("canvas").waitFor();
    const topPaths = await page.getByTestId("top-paths").locator("tbody tr").allTextContents();
    assert.deepEqual(topPaths.length, 4);
    assert.ok(
      topPaths.every((text) => text.endsWith("16,000")),
      topPaths.join("\n"),
    );
    await page.getByTestId("window-hour").click();
    await page.waitForFunction(`document.querySelectorAll('[data-testid="windows"] tbody tr').length === 1`);
    assert.match((await windows.locator("tbody tr").first().textContent()) ?? "", /64,000/);
    await page.getByTestId("window-minute").click();
    await page.waitForFunction(`document.querySelectorAll('[data-testid="windows"] tbody tr').length === 4`);
    await shot("analytics");
  });

  test("the status page shows the partitions, sizes and lags", async () => {
    await page.goto(`${server!.url}/status`);
    const table = page.getByTestId("partitions-logs");
    await table.waitFor();
    assert.ok((await table.locator("tbody tr").count()) > 0);
    const cards = (await page.getByTestId("status-cards").textContent()) ?? "";
    assert.match(cards, /Disk\d+(\.\d)? (KiB|MiB)/);
    assert.match(cards, /Search index lag/);
    await shot("status");
  });

  test("dark mode: the system's dark scheme gives the dark palette", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(
      `${server!.url}/explore?${new URLSearchParams({ query: '{service=~".+"} |= "timeout"' })}`,
    );
    await page.getByTestId("log-lines").locator(".row").first().waitFor();
    const background = await page.evaluate(bodyBackground);
    assert.equal(background, "rgb(13, 17, 23)");
    await shot("explore-dark");
    await page.emulateMedia({ colorScheme: "light" });
    await page.reload();
    assert.equal(await page.evaluate(bodyBackground), "rgb(255, 255, 255)");
  });

  test("10,000 lines: virtualised (a few dozen rows in the DOM), the oldest reached by scrolling; JSON lines expand", async () => {
    const nowMs = Date.now();
    const bulk = Array.from({ length: 10_000 }, (_, index) => ({
      timestamp: nowMs - 20 * 60_000 + index * 100,
      service: "bulk",
      level: "INFO",
      message:
        index === 9_999
          ? JSON.stringify({ event: "order placed", order: { id: 8812, items: 3 } })
          : `bulk line ${String(index).padStart(5, "0")}`,
    }));
    for (let start = 0; start < bulk.length; start += 2000) {
      const posted = await postServiceLogs(server!.url, bulk.slice(start, start + 2000));
      assert.equal(posted.status, 200, posted.text);
    }
    await page.goto(
      `${server!.url}/explore?${new URLSearchParams({ query: '{service="bulk"}', limit: "10000" })}`,
    );
    await page
      .getByTestId("result-summary")
      .getByText(/^10000 lines/)
      .waitFor();
    const list = page.getByTestId("log-lines");
    const rendered = await list.locator(".row").count();
    assert.ok(rendered > 10 && rendered < 200, `${rendered} rows in the DOM for 10,000 lines`);
    // The newest line is the JSON one: its detail pane shows it pretty-printed.
    await list.locator(".row").first().click();
    const detail = (await page.getByTestId("line-detail").locator(".full-line").textContent()) ?? "";
    assert.match(detail, /\n {2}"order": \{\n {4}"id": 8812/);
    await list.focus();
    await page.keyboard.press("End"); // selects the last line and scrolls it into view
    await list.getByText("bulk line 00000").waitFor();
    const scrolledPx = await list.evaluate(
      (element) => (element as unknown as { scrollTop: number }).scrollTop,
    );
    assert.ok(scrolledPx > 200_000, `scrolled ${scrolledPx} px`);
    assert.ok((await list.locator(".row").count()) < 200);
  });

  test("Last 100 of a service in one click", async () => {
    await page.goto(`${server!.url}/explore`);
    const picker = page.getByTestId("service-picker");
    await picker.locator("option", { hasText: "bulk" }).waitFor({ state: "attached" });
    await picker.selectOption("bulk");
    await page.getByTestId("last-100").click();
    await page
      .getByTestId("result-summary")
      .getByText(/^100 lines \(the limit, 100\)/)
      .waitFor();
    assert.match(decodeURIComponent(page.url()), /limit=100\b/);
  });

  test("keyboard: the results list moves its selection with the arrow keys", async () => {
    await page.goto(`${server!.url}/explore?${new URLSearchParams({ query: '{service="checkout"}' })}`);
    const list = page.getByTestId("log-lines");
    await list.locator(".row").first().waitFor();
    await list.focus();
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    assert.equal(await list.locator(".row.selected").getAttribute("data-index"), "1");
    await page.getByTestId("line-detail").waitFor();
  });

  test("no console errors on any page", () => {
    assert.deepEqual(consoleErrors, []);
  });
});
