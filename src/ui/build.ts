// Bundles the web UI (src/ui/app) with esbuild into build/ui: app.js, app.css and index.html. Run by
// `npm start` and `npm test` before anything else (package.json's prestart / pretest), and by
// `npm run build:ui`. Everything the UI needs is in the bundle: no request leaves the machine.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const appDirectory = fileURLToPath(new URL("./app/", import.meta.url));
export const uiBuildDirectory = fileURLToPath(new URL("../../build/ui/", import.meta.url));

export async function buildUi(outDirectory = uiBuildDirectory): Promise<{ files: string[]; bytes: number }> {
  fs.mkdirSync(outDirectory, { recursive: true });
  const result = await esbuild.build({
    entryPoints: { app: path.join(appDirectory, "main.tsx") },
    outdir: outDirectory,
    bundle: true,
    minify: true,
    sourcemap: "linked",
    format: "esm",
    target: ["chrome123", "firefox120", "safari17.5"], // light-dark() in the CSS
    jsx: "automatic",
    jsxImportSource: "preact",
    loader: { ".css": "css" },
    legalComments: "linked",
    metafile: true,
    logLevel: "warning",
  });
  fs.copyFileSync(path.join(appDirectory, "index.html"), path.join(outDirectory, "index.html"));
  const files = [...Object.keys(result.metafile.outputs).map((file) => path.basename(file)), "index.html"];
  let bytes = 0;
  for (const file of files) bytes += fs.statSync(path.join(outDirectory, file)).size;
  return { files, bytes };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const startedMs = performance.now();
  const { files, bytes } = await buildUi();
  process.stdout.write(
    `web UI built into ${path.relative(process.cwd(), uiBuildDirectory)}: ${files.length} files, ${Math.round(bytes / 1024)} KiB, ${Math.round(performance.now() - startedMs)} ms\n`,
  );
}
