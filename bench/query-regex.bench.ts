// Regex matching cost per log line: the wrapper's V8 path, its re2-wasm path, and plain RegExp, on a
// typical 190-byte logfmt line. Prints one line per pattern and engine. Usage: node bench/query-regex.bench.ts

import { RE2 } from "re2-wasm";
import { compileRegex } from "../src/query/index.ts";

const line =
  'level=info ts=2026-12-03T14:45:12.345Z caller=handler.go:112 service=auth_service method=POST path=/v1/login status=200 duration_ms=12.7 user_id=48213 msg="login succeeded for user"';
const patterns = ["timeout|refused", "status=5\\d\\d", "(?i)LOGIN SUCCEEDED", "user_id=\\d+ msg="];

function nsPerTest(test: (text: string) => boolean, runs: number): number {
  let matches = 0;
  const start = process.hrtime.bigint();
  for (let index = 0; index < runs; index++) if (test(line)) matches++;
  const elapsed = Number(process.hrtime.bigint() - start);
  if (matches !== 0 && matches !== runs) throw new Error("BUG: unstable match");
  return elapsed / runs;
}

for (const pattern of patterns) {
  const wrapped = compileRegex(pattern, "substring");
  const re2 = new RE2(pattern, "u");
  const js = pattern.startsWith("(?i)") ? new RegExp(pattern.slice(4), "iu") : new RegExp(pattern, "u");
  const figures = [
    [`wrapper (${wrapped.engine})`, nsPerTest((text) => wrapped.test(text), 1_000_000)],
    ["re2-wasm", nsPerTest((text) => re2.test(text), 100_000)],
    ["RegExp", nsPerTest((text) => js.test(text), 1_000_000)],
  ] as const;
  for (const [engine, ns] of figures) {
    process.stdout.write(
      `query-regex ${pattern.padEnd(20)} ${engine.padEnd(14)} ${ns.toFixed(0).padStart(6)} ns/line\n`,
    );
  }
  wrapped.close();
}
