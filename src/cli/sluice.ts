#!/usr/bin/env node
// The sluice command: serve, loadgen, aggregates, query, tail.

const usage = `usage: sluice <command> [options]

commands:
  serve     run a Sluice node (HTTP on --port, data under --data-dir); see sluice serve --help
  loadgen   send realistic logs to a Sluice (or reference) endpoint; see sluice loadgen --help
  aggregates rebuild
            recompute the access-log aggregates from the log (server stopped)
  query     run a LogQL query against a running Sluice; see sluice query --help
  tail      follow new log lines of a running Sluice; see sluice tail --help
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return (await import("./serve.ts")).serve(rest);
    case "loadgen":
      return (await import("./loadgen.ts")).loadgen(rest);
    case "aggregates":
      return (await import("./aggregates.ts")).aggregates(rest);
    case "query":
      return (await import("./query.ts")).query(rest);
    case "tail":
      return (await import("./query.ts")).tail(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(usage);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`sluice: unknown command ${JSON.stringify(command)}\n\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(
      `sluice: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
