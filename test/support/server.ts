// Starts a real `sluice serve` child process on a free loopback port and a fresh data dir, for
// cross-stage tests. The child prints JSON logs; the "sluice listening" line carries its ports. Its
// OTLP/gRPC listener is off (--otlp-grpc-port -1) unless a test asks for one (`--otlp-grpc-port 0`
// in args, which come later and win), so parallel tests never contend for port 4317.

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const sluiceEntry = fileURLToPath(new URL("../../src/cli/sluice.ts", import.meta.url));

/**
 * The node flags of `npm start` (package.json's start script, read so they cannot drift): the
 * benchmarks and the start-up test run the server exactly as a user does.
 */
export function npmStartNodeArgs(): string[] {
  const packageJson = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  const words: string[] = packageJson.scripts.start.split(/\s+/);
  if (words[0] !== "node") throw new Error(`npm start does not run node: ${packageJson.scripts.start}`);
  const entry = words.indexOf("src/cli/sluice.ts");
  if (entry < 0) throw new Error(`npm start does not run src/cli/sluice.ts: ${packageJson.scripts.start}`);
  return words.slice(1, entry);
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** The syslog listeners' ports from the "sluice listening" line (null: off). */
  syslogTcpPort: number | null;
  syslogUdpPort: number | null;
  /** The OTLP/gRPC port, or null when the child has no gRPC listener (the default). */
  grpcPort: number | null;
  dataDir: string;
  /** Server log lines (JSON) seen so far. */
  logs: string[];
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

export function temporaryDataDir(prefix = "sluice-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startServerProcess(
  options: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? temporaryDataDir();
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      sluiceEntry,
      "serve",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--data-dir",
      dataDir,
      "--otlp-grpc-port",
      "-1",
      ...(options.args ?? []),
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    },
  );
  const logs: string[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk) => {
    stderr += chunk;
  });
  // "close" comes after the process exited and its stdout and stderr ended, so `logs` is complete.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const ports = await new Promise<{
    port: number;
    grpcPort: number | null;
    syslogTcpPort: number | null;
    syslogUdpPort: number | null;
  }>((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(
      () => reject(new Error(`server did not start within 20 s; stderr: ${stderr}`)),
      20_000,
    );
    child.stdout!.on("data", (chunk) => {
      buffered += chunk;
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        logs.push(line);
        if (line.includes('"sluice listening"')) {
          clearTimeout(timer);
          const listening = JSON.parse(line);
          resolve({
            port: listening.port,
            grpcPort: listening.grpcPort ?? null,
            syslogTcpPort: listening.syslogTcpPort ?? null,
            syslogUdpPort: listening.syslogUdpPort ?? null,
          });
        }
        newline = buffered.indexOf("\n");
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening; stderr: ${stderr}`));
    });
  });
  const { port, grpcPort, syslogTcpPort, syslogUdpPort } = ports;
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    port,
    grpcPort,
    syslogTcpPort,
    syslogUdpPort,
    dataDir,
    logs,
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
