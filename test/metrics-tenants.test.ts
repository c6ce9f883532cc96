// /metrics stays small whatever tenants clients send: a real server takes batches from thousands of
// tenants on both ingest routes; the scrape stays under a fixed size, the first --metrics-tenants-max
// tenants keep their own series, the rest are counted under tenant="other", and the totals across
// series are exactly what was sent.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  accessEntry,
  metricValue,
  parseMetrics,
  postAccessLogs,
  postServiceLogs,
  send,
} from "./support/http-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

const tenantCount = 2000;
const tenantsMax = 100; // the default of --metrics-tenants-max
/** The scrape of a fresh server is ~20 KB; 100 tenants on two routes add at most ~90 KB. */
const scrapeBytesMax = 128 * 1024;
const concurrency = 32;

let server: ServerProcess;
before(async () => {
  server = await startServerProcess();
});
after(async () => {
  await server?.stop();
});

/** Runs `task(i)` for i in [0, count) with `concurrency` in flight. */
async function forEachConcurrently(count: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

test(`${tenantCount} tenants on both routes: a bounded scrape, exact totals, tenant="other"`, async () => {
  let serviceRecords = 0;
  let accessRecords = 0;
  let serviceBytes = 0;
  let accessBytes = 0;
  await forEachConcurrently(tenantCount, async (index) => {
    const tenant = `tenant-${String(index).padStart(5, "0")}`;
    const entries = Array.from({ length: 1 + (index % 3) }, (_, n) => ({
      timestamp: 1_700_000_000_000 + n,
      service: "auth_service",
      message: `login ${index}/${n}`,
    }));
    const serviceBody = JSON.stringify(entries);
    const serviceReply = await postServiceLogs(server.url, serviceBody, { "x-scope-orgid": tenant });
    assert.equal(serviceReply.status, 200, serviceReply.text);
    serviceRecords += entries.length;
    serviceBytes += Buffer.byteLength(serviceBody);
    const accessBody = JSON.stringify(Array.from({ length: 1 + (index % 2) }, () => accessEntry()));
    const accessReply = await postAccessLogs(server.url, accessBody, {
      "x-customer-id": `cus-${index}`,
      "idempotency-key": `batch-${index}`,
    });
    assert.equal(accessReply.status, 202, accessReply.text);
    accessRecords += 1 + (index % 2);
    accessBytes += Buffer.byteLength(accessBody);
  });

  const reply = await send(`${server.url}/metrics`);
  assert.equal(reply.status, 200);
  const scrapeBytes = Buffer.byteLength(reply.text);
  assert.ok(scrapeBytes < scrapeBytesMax, `scrape is ${scrapeBytes} bytes, over ${scrapeBytesMax}`);
  const samples = parseMetrics(reply.text);
  const recordsName = "sluice_ingested_records_total";
  const bytesName = "sluice_ingested_bytes_total";
  assert.equal(metricValue(samples, recordsName, { route: "/v1/logs" }), serviceRecords);
  assert.equal(metricValue(samples, recordsName, { route: "/logs" }), accessRecords);
  assert.equal(metricValue(samples, bytesName, { route: "/v1/logs" }), serviceBytes);
  assert.equal(metricValue(samples, bytesName, { route: "/logs" }), accessBytes);
  assert.ok(metricValue(samples, recordsName, { tenant: "other" }) > 0, 'no tenant="other" series');
  const tenants = new Set(
    samples.filter((sample) => sample.name === recordsName).map((s) => s.labels.tenant),
  );
  assert.ok(tenants.has("other"));
  assert.equal(tenants.size, tenantsMax + 1, "the first tenants and other");
});
