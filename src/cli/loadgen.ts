// `sluice loadgen`: a drop-in replacement for reference A's load generator (same flags and defaults:
// --url --batch --total --delay), plus --format, --concurrency, --rate, --duration and --tenant.
// Shows a progress bar on a terminal and ends with a one-line summary.

import { parseArgs } from "node:util";
import { defaultPaths, formatSummary, type LoadFormat, loadFormats, runLoad } from "../loadgen/index.ts";

const help = `usage: sluice loadgen [options]

  --url <url>          endpoint (default http://localhost:8080/v1/logs; per format: ${Object.entries(
    defaultPaths,
  )
    .map(([format, path]) => `${format} ${path}`)
    .join(", ")})
  --batch <n>          logs per request (default 10)
  --total <n>          logs to send (default 100)
  --delay <ms>         pause after each request, per sender (default 100)
  --format <f>         ${loadFormats.join(" | ")} (default v1)
  --concurrency <n>    parallel senders (default 1)
  --rate <n>           records per second over all senders (default 0: as fast as answered)
  --duration <s>       run for this long instead of --total (default 0: use --total)
  --tenant <id>        X-Scope-OrgID (v1, loki, otlp) or x-customer-id (access, default cus-loadgen)
  --tenants <n>        spread requests over n tenants <tenant>-0 … <tenant>-(n-1) (default 1)
  --prebuilt <n>       build n bodies up front and cycle them, to spend less CPU here (default 0)
  --seed <n>           generator seed (default: time-based)
`;

function integer(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min)
    throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  return value;
}

export async function loadgen(argv: readonly string[]): Promise<number> {
  let options: Parameters<typeof runLoad>[0];
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        url: { type: "string" },
        batch: { type: "string" },
        total: { type: "string" },
        delay: { type: "string" },
        format: { type: "string" },
        concurrency: { type: "string" },
        rate: { type: "string" },
        duration: { type: "string" },
        tenant: { type: "string" },
        tenants: { type: "string" },
        prebuilt: { type: "string" },
        seed: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      process.stdout.write(help);
      return 0;
    }
    const format = (values.format ?? "v1") as LoadFormat;
    if (!loadFormats.includes(format)) throw new Error(`--format must be one of ${loadFormats.join(", ")}`);
    const url = values.url ?? `http://localhost:8080${defaultPaths[format]}`;
    if (!/^http:\/\//.test(url)) throw new Error(`--url must be an http:// URL, got ${JSON.stringify(url)}`);
    options = {
      url,
      format,
      batch: integer("batch", values.batch, 10, 1),
      total: integer("total", values.total, 100, 1),
      delayMs: integer("delay", values.delay, 100, 0),
      concurrency: integer("concurrency", values.concurrency, 1, 1),
      rate: integer("rate", values.rate, 0, 0),
      durationS: integer("duration", values.duration, 0, 0),
      tenant: values.tenant ?? null,
      tenants: integer("tenants", values.tenants, 1, 1),
      prebuiltBodies: integer("prebuilt", values.prebuilt, 0, 0),
      seed: integer("seed", values.seed, Date.now() % 2 ** 31, 0),
    };
  } catch (error) {
    process.stderr.write(`sluice loadgen: ${(error as Error).message}\n\n${help}`);
    return 2;
  }
  const tty = process.stderr.isTTY === true;
  const summary = await runLoad({
    ...options,
    onProgress: tty
      ? (progress) => {
          const width = 30;
          const filled = Math.round(progress.fraction * width);
          const rate = Math.round(progress.recordsAcknowledged / Math.max(progress.elapsedS, 1e-9));
          process.stderr.write(
            `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(progress.fraction * 100).toFixed(0).padStart(3)}%  ${progress.recordsSent} sent  ${progress.recordsAcknowledged} acked  ${rate} records/s   `,
          );
        }
      : undefined,
  });
  if (tty) process.stderr.write("\n");
  for (const error of summary.errors) process.stderr.write(`error: ${error}\n`);
  process.stdout.write(`loadgen summary: ${formatSummary(summary)}\n`);
  return summary.recordsRejected > 0 || summary.requests === 0 ? 1 : 0;
}
