// Helpers for the tests of deploy/ (test/deploy-files.test.ts, test/prometheus.test.ts): reading its
// YAML and JSON, the metric names a PromQL expression selects, the names a Prometheus text
// exposition declares, and a free loopback port for a child process that cannot pick its own.

import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

export const deployDir = fileURLToPath(new URL("../../deploy/", import.meta.url));

/** Every file under deploy/, as paths relative to it, sorted. */
export function deployFiles(): string[] {
  return (fs.readdirSync(deployDir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(deployDir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Parses a YAML file under deploy/; a syntax error or a duplicate key throws. */
export function readDeployYaml(relativePath: string): unknown {
  return YAML.parse(fs.readFileSync(path.join(deployDir, relativePath), "utf8"), { uniqueKeys: true });
}

export function readDeployJson(relativePath: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(deployDir, relativePath), "utf8"));
}

// PromQL words that look like metric names but are not (operators, modifiers, literals).
const promqlKeywords = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "inf",
  "nan",
]);

/**
 * The metric names an expression selects. Strings, label matchers `{…}`, ranges `[…]`, grouping
 * lists `by (…)` and Grafana variables are removed first; what is left that names no function
 * (a word followed by `(`) and is no keyword is a metric name. Enough for the dashboard's
 * expressions; not a PromQL parser.
 */
export function promqlMetricNames(expression: string): string[] {
  const bare = expression
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\{?\w+\}?/g, " ");
  const names = new Set<string>();
  for (const match of bare.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()/g)) {
    if (!promqlKeywords.has(match[0].toLowerCase())) names.add(match[0]);
  }
  return [...names].sort();
}

/**
 * The series names a Prometheus text exposition can have: each sample's name, and for each
 * `# TYPE` line the names of that type (a histogram's _bucket, _sum and _count), so a labelled
 * counter that nothing has incremented yet still counts as existing.
 */
export function exposedMetricNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name, kind] = type;
      if (kind === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
      else if (kind === "summary") for (const suffix of ["", "_sum", "_count"]) names.add(name + suffix);
      else names.add(name);
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)/.exec(line);
    if (sample) names.add(sample[1]);
  }
  return names;
}

/**
 * A loopback port free at the time of the call (listen on 0, read it, close). Another process may
 * take it before the caller binds it; the caller's start-up then fails with a clear error.
 */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The absolute path of `command` on $PATH, or null. */
export function findOnPath(command: string): string | null {
  for (const directory of (process.env.PATH ?? "").split(path.delimiter)) {
    if (directory === "") continue;
    const candidate = path.join(directory, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
