// Builds the one typed ServeConfig from flags, SLUICE_* env and an optional JSON file, and validates
// it. Every problem is collected, so an operator sees all of them at once.

import fs from "node:fs";
import { envName, type OptionSpec, type ServeConfig, type ServeOptionName, serveOptions } from "./options.ts";

export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export interface ParsedArgs {
  help: boolean;
  values: Map<string, string>;
  problems: string[];
}

/** Parses `--name value`, `--name=value` and bare boolean flags. */
export function parseFlags(argv: readonly string[]): ParsedArgs {
  const values = new Map<string, string>();
  const problems: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      problems.push(`unexpected argument ${JSON.stringify(arg)}`);
      continue;
    }
    const equals = arg.indexOf("=");
    const name = equals > 0 ? arg.slice(2, equals) : arg.slice(2);
    const spec = (serveOptions as Record<string, OptionSpec>)[name];
    if (spec === undefined) {
      problems.push(`unknown option --${name} (see --help)`);
      continue;
    }
    if (equals > 0) values.set(name, arg.slice(equals + 1));
    else if (spec.type === "boolean") values.set(name, "true");
    else if (i + 1 < argv.length) values.set(name, argv[++i]);
    else problems.push(`--${name} needs a value`);
  }
  return { help, values, problems };
}

function convert(name: string, spec: OptionSpec, raw: unknown, source: string, problems: string[]): unknown {
  const where = `${name} (from ${source})`;
  if (spec.type === "integer") {
    const value =
      typeof raw === "number"
        ? raw
        : typeof raw === "string" && /^-?\d+$/.test(raw.trim())
          ? Number(raw)
          : Number.NaN;
    if (!Number.isSafeInteger(value)) {
      problems.push(`${where}: expected an integer, got ${JSON.stringify(raw)}`);
      return undefined;
    }
    if (spec.min !== undefined && value < spec.min)
      problems.push(`${where}: must be >= ${spec.min}, got ${value}`);
    if (spec.max !== undefined && value > spec.max)
      problems.push(`${where}: must be <= ${spec.max}, got ${value}`);
    return value;
  }
  if (spec.type === "boolean") {
    if (raw === true || raw === "true" || raw === "1") return true;
    if (raw === false || raw === "false" || raw === "0") return false;
    problems.push(`${where}: expected true or false, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  if (typeof raw !== "string" || raw.length === 0) {
    problems.push(`${where}: expected a non-empty string, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  if (spec.pattern !== undefined && !spec.pattern.regex.test(raw))
    problems.push(`${where}: must be ${spec.pattern.means}, got ${JSON.stringify(raw)}`);
  if (spec.type === "enum" && !spec.values!.includes(raw)) {
    problems.push(`${where}: must be one of ${spec.values!.join(", ")}, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** Resolves the configuration; throws ConfigError listing every problem. */
export function resolveConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): { config: ServeConfig; help: boolean } {
  const flags = parseFlags(argv);
  const problems = [...flags.problems];
  const configPath = flags.values.get("config") ?? env[envName("config")];
  let file: Record<string, unknown> = {};
  if (configPath) {
    try {
      const parsed = JSON.parse(fs.readFileSync(configPath, "utf8"));
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
        problems.push(`${configPath}: must hold a JSON object`);
      else file = parsed;
    } catch (error) {
      problems.push(`${configPath}: ${(error as Error).message}`);
    }
    for (const key of Object.keys(file)) {
      if (!(key in serveOptions)) problems.push(`${configPath}: unknown option ${JSON.stringify(key)}`);
    }
  }
  const config: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(serveOptions) as Array<[ServeOptionName, OptionSpec]>) {
    const fromFlag = flags.values.get(name);
    const fromEnv = env[envName(name)];
    let value: unknown = spec.default;
    if (fromFlag !== undefined) value = convert(name, spec, fromFlag, `--${name}`, problems);
    else if (fromEnv !== undefined && fromEnv !== "")
      value = convert(name, spec, fromEnv, envName(name), problems);
    else if (name in file) value = convert(name, spec, file[name], configPath!, problems);
    config[name] = value;
  }
  if (problems.length > 0 && !flags.help) throw new ConfigError(problems);
  return { config: config as ServeConfig, help: flags.help };
}

export function helpText(command: string): string {
  const lines = [`usage: sluice ${command} [options]`, "", "options (flag, env variable, default):"];
  for (const [name, spec] of Object.entries(serveOptions) as Array<[string, OptionSpec]>) {
    const shown = spec.default === null ? "none" : JSON.stringify(spec.default);
    lines.push(`  --${name.padEnd(26)} ${envName(name).padEnd(34)} default ${shown}`);
    lines.push(`      ${spec.description}${spec.values ? ` (${spec.values.join(" | ")})` : ""}`);
  }
  return `${lines.join("\n")}\n`;
}
