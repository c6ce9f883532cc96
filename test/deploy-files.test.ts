// deploy/ is consistent with Sluice and with itself: every YAML and JSON file parses, every metric
// the Grafana dashboard queries is one a running Sluice actually exposes at GET /metrics (so a
// renamed metric fails here, not silently in a dashboard), and the hosts and ports that
// prometheus.yml, the Grafana data sources and compose.yaml name all meet at the same services.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { serveOptions } from "../src/config/index.ts";
import {
  deployDir,
  deployFiles,
  exposedMetricNames,
  promqlMetricNames,
  readDeployJson,
  readDeployYaml,
} from "./support/deploy.ts";
import { accessEntry, postAccessLogs, postServiceLogs, send } from "./support/http-client.ts";
import { type ServerProcess, startServerProcess } from "./support/server.ts";

interface ComposeService {
  build?: { context: string; dockerfile: string };
  image?: string;
  ports?: string[];
  volumes?: string[];
}
interface Compose {
  services: Record<string, ComposeService>;
}
interface DataSource {
  name: string;
  uid: string;
  type: string;
  url: string;
}
interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr?: string; datasource?: { type: string; uid: string } }>;
  panels?: Panel[];
}

const compose = () => readDeployYaml("compose.yaml") as Compose;
const dataSources = () =>
  (readDeployYaml("grafana/provisioning/datasources/datasources.yaml") as { datasources: DataSource[] })
    .datasources;
const dashboardFiles = () => deployFiles().filter((file) => file.startsWith("grafana/dashboards/"));

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/** Every PromQL expression of every dashboard, with where it is. */
function dashboardExpressions(): Array<{ where: string; expr: string }> {
  return dashboardFiles().flatMap((file) => {
    const dashboard = readDeployJson(file) as { panels: Panel[] };
    return allPanels(dashboard.panels).flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        where: `${file}: "${panel.title}"`,
        expr: target.expr ?? "",
      })),
    );
  });
}

/** The container ports a compose service publishes ("8080:8080" → 8080). */
function containerPorts(service: ComposeService): number[] {
  return (service.ports ?? []).map((mapping) => Number(String(mapping).split(":").at(-1)!.split("/")[0]));
}

/** The compose service built from deploy/Dockerfile: Sluice itself. */
function sluiceServiceName(services: Record<string, ComposeService>): string {
  const built = Object.entries(services).filter(
    ([, service]) => service.build?.dockerfile === "deploy/Dockerfile",
  );
  assert.equal(built.length, 1, "exactly one compose service is built from deploy/Dockerfile");
  return built[0][0];
}

/** Asserts that `host:port` is a compose service that publishes `port` in its container. */
function assertReachesService(what: string, host: string, port: number, expectedService: string) {
  const services = compose().services;
  assert.equal(
    host,
    expectedService,
    `${what} names host ${host}, not the compose service ${expectedService}`,
  );
  assert.ok(services[host], `${what}: no compose service named ${host}`);
  assert.ok(
    containerPorts(services[host]).includes(port),
    `${what}: port ${port} is not a container port of compose service ${host} (${services[host].ports})`,
  );
}

let server: ServerProcess;
let metricsText: string;
before(async () => {
  server = await startServerProcess();
  // One record on each ingest route, so labelled series exist beside their # TYPE lines.
  const service = await postServiceLogs(server.url, [
    { timestamp: Date.now(), service: "deploy", message: "x" },
  ]);
  assert.equal(service.status, 200, service.text);
  const access = await postAccessLogs(server.url, JSON.stringify([accessEntry()]));
  assert.equal(access.status, 202, access.text);
  const reply = await send(`${server.url}/metrics`);
  assert.equal(reply.status, 200);
  metricsText = reply.text;
});
after(async () => {
  await server?.stop();
});

test("every YAML and JSON file under deploy/ parses (no syntax errors, no duplicate keys)", () => {
  const files = deployFiles().filter((file) => /\.(ya?ml|json)$/.test(file));
  for (const expected of [
    "compose.yaml",
    "prometheus.yml",
    "grafana/provisioning/datasources/datasources.yaml",
    "grafana/provisioning/dashboards/provider.yaml",
  ])
    assert.ok(files.includes(expected), `deploy/${expected} is missing`);
  assert.ok(dashboardFiles().length > 0, "no dashboard under deploy/grafana/dashboards/");
  for (const file of files) {
    const parsed = file.endsWith(".json") ? readDeployJson(file) : readDeployYaml(file);
    assert.equal(typeof parsed, "object", `deploy/${file} is not a mapping`);
    assert.notEqual(parsed, null, `deploy/${file} is empty`);
  }
});

test("the PromQL metric-name extractor finds the selected metrics and nothing else", () => {
  const cases: Array<[string, string[]]> = [
    ["sluice_ingest_queue_bytes", ["sluice_ingest_queue_bytes"]],
    [
      'sum by (route) (rate(sluice_ingested_records_total{route="/v1/logs"}[$__rate_interval]))',
      ["sluice_ingested_records_total"],
    ],
    [
      "histogram_quantile(0.99, sum by (le, topic) (rate(sluice_log_append_duration_seconds_bucket[5m])))",
      ["sluice_log_append_duration_seconds_bucket"],
    ],
    ["a_total / on (job) group_left b offset 1h > bool 1e3", ["a_total", "b"]],
    ['up{job="sluice", x=~"rate(y)"} or vector(0)', ["up"]],
    ["topk(10, sum without (tenant) (increase(c_total[1m:10s])))", ["c_total"]],
  ];
  for (const [expression, names] of cases) assert.deepEqual(promqlMetricNames(expression), names, expression);
});

test("every metric the Grafana dashboards query exists in a running Sluice's GET /metrics", () => {
  const exposed = exposedMetricNames(metricsText);
  assert.ok(exposed.has("sluice_ingested_records_total"), "the scrape lacks sluice_ingested_records_total");
  const expressions = dashboardExpressions();
  assert.ok(expressions.length >= 10, `only ${expressions.length} PromQL expressions in the dashboards`);
  const missing: string[] = [];
  for (const { where, expr } of expressions) {
    const names = promqlMetricNames(expr);
    assert.ok(names.length > 0, `${where}: the expression selects no metric: ${expr}`);
    for (const name of names) if (!exposed.has(name)) missing.push(`${where}: ${name} (in ${expr})`);
  }
  assert.deepEqual(
    missing,
    [],
    `metrics the dashboard uses but Sluice does not expose:\n${missing.join("\n")}`,
  );
});

test("the dashboard shows ingest rate, rejections by reason, append latency, queue depth, consumer and index lag, disk", () => {
  const used = new Set(dashboardExpressions().flatMap(({ expr }) => promqlMetricNames(expr)));
  for (const name of [
    "sluice_ingested_records_total",
    "sluice_rejected_requests_total",
    "sluice_http_requests_total",
    "sluice_log_append_duration_seconds_bucket",
    "sluice_ingest_queue_requests",
    "sluice_analytics_lag_seconds",
    "sluice_index_lag_records",
    "sluice_log_partition_bytes",
  ])
    assert.ok(used.has(name), `no dashboard panel queries ${name}`);
  assert.ok(
    dashboardExpressions().some(({ expr }) => /\bby \([^)]*\breason\b/.test(expr)),
    "no panel breaks rejections down by reason",
  );
});

test("dashboard panels use a provisioned data source", () => {
  const uids = new Map(dataSources().map((source) => [source.uid, source.type]));
  for (const file of dashboardFiles()) {
    const dashboard = readDeployJson(file) as { panels: Panel[] };
    for (const panel of allPanels(dashboard.panels)) {
      for (const source of [panel.datasource, ...(panel.targets ?? []).map((target) => target.datasource)]) {
        if (source === undefined) continue;
        assert.equal(
          uids.get(source.uid),
          source.type,
          `${file}: "${panel.title}" uses data source ${source.uid}`,
        );
      }
    }
  }
});

test("Prometheus scrapes, and Grafana's Loki data source queries, the compose service that runs Sluice on its port", () => {
  const services = compose().services;
  const sluice = sluiceServiceName(services);
  const sluicePort = serveOptions.port.default;
  // npm start passes no --port nor --otlp-grpc-port, so the container listens on Sluice's defaults.
  assert.deepEqual(containerPorts(services[sluice]), [sluicePort, serveOptions["otlp-grpc-port"].default]);

  const prometheusConfig = readDeployYaml("prometheus.yml") as {
    scrape_configs: Array<{
      job_name: string;
      metrics_path?: string;
      static_configs: Array<{ targets: string[] }>;
    }>;
  };
  const job = prometheusConfig.scrape_configs.find((scrape) => scrape.job_name === "sluice");
  assert.ok(job, 'prometheus.yml has no job "sluice"');
  assert.equal(job.metrics_path ?? "/metrics", "/metrics");
  const targets = job.static_configs.flatMap((config) => config.targets);
  assert.equal(targets.length, 1, `one Sluice target, got ${targets}`);
  const [targetHost, targetPort] = targets[0].split(":");
  assertReachesService("prometheus.yml's target", targetHost, Number(targetPort), sluice);

  const loki = dataSources().filter((source) => source.type === "loki");
  assert.equal(loki.length, 1, "one Loki data source");
  const lokiUrl = new URL(loki[0].url);
  assertReachesService("the Loki data source", lokiUrl.hostname, Number(lokiUrl.port || 80), sluice);
  assert.equal(lokiUrl.pathname, "/", "Grafana appends /loki/api/v1/… itself");

  const prometheusSources = dataSources().filter((source) => source.type === "prometheus");
  assert.equal(prometheusSources.length, 1, "one Prometheus data source");
  const prometheusUrl = new URL(prometheusSources[0].url);
  const prometheusService = Object.entries(services).find(([, service]) =>
    service.image?.startsWith("prom/prometheus"),
  );
  assert.ok(prometheusService, "no compose service runs prom/prometheus");
  assertReachesService(
    "the Prometheus data source",
    prometheusUrl.hostname,
    Number(prometheusUrl.port),
    prometheusService[0],
  );
});

test("compose mounts files that exist, the dashboards where the provider reads them, and Sluice's data at /app/data", () => {
  const services = compose().services;
  for (const [name, service] of Object.entries(services)) {
    for (const volume of service.volumes ?? []) {
      const [source] = volume.split(":");
      if (source.startsWith("."))
        assert.ok(
          fs.existsSync(path.join(deployDir, source)),
          `compose service ${name} mounts missing ${source}`,
        );
    }
  }
  const provider = readDeployYaml("grafana/provisioning/dashboards/provider.yaml") as {
    providers: Array<{ options: { path: string } }>;
  };
  const grafana = Object.values(services).find((service) => service.image?.startsWith("grafana/grafana"));
  assert.ok(grafana, "no compose service runs grafana/grafana");
  const mounts = new Map(
    (grafana.volumes ?? []).map((volume) => [volume.split(":")[1], volume.split(":")[0]]),
  );
  assert.equal(mounts.get(provider.providers[0].options.path), "./grafana/dashboards");
  assert.equal(mounts.get("/etc/grafana/provisioning"), "./grafana/provisioning");

  const sluice = services[sluiceServiceName(services)];
  assert.equal(sluice.build?.context, "..", "the image is built from the repository root");
  const dockerfile = fs.readFileSync(path.join(deployDir, "Dockerfile"), "utf8");
  assert.match(dockerfile, /^FROM node:24\b/m);
  assert.match(dockerfile, /^WORKDIR \/app$/m);
  assert.match(dockerfile, /^VOLUME \/app\/data$/m);
  assert.match(dockerfile, /^CMD \["npm", "start"\]$/m);
  // npm start uses the default --data-dir, ./data under WORKDIR /app.
  assert.equal(serveOptions["data-dir"].default, "./data");
  assert.ok(
    (sluice.volumes ?? []).some((volume) => volume.split(":")[1] === "/app/data"),
    "no volume at /app/data",
  );
});
