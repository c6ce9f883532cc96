// The web UI (src/ui): its pages (/, /explore, /analytics, /status) and bundle (/ui/*), served from
// build/ui, which `npm start` and `npm test` build first; and GET /api/v1/status, the node status
// the UI's status page reads. GET / negotiates: a browser (Accept: text/html) gets the UI, any other
// client what `rootForOthers` answers (the Elasticsearch handshake, or 404).

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { NodeStatus } from "../node/index.ts";
import { sendPlainError } from "./replies.ts";

/** Where src/ui/build.ts writes the bundle. */
export const uiBuildDirectory = fileURLToPath(new URL("../../build/ui/", import.meta.url));

/** The pages the UI routes itself; each is the same index.html. */
export const uiPages = ["/", "/explore", "/analytics", "/status"] as const;

const contentTypes: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

/** The bundle, read once: a few files, a few hundred KiB (src/ui/README.md). */
function loadAssets(directory: string): Map<string, Asset> | null {
  let names: string[];
  try {
    names = fs.readdirSync(directory);
  } catch {
    return null;
  }
  if (!names.includes("index.html")) return null;
  const assets = new Map<string, Asset>();
  for (const name of names) {
    const contentType = contentTypes[path.extname(name)];
    if (contentType === undefined) continue;
    const body = fs.readFileSync(path.join(directory, name));
    const etag = `"${crypto.createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
    assets.set(name, { body, contentType, etag });
  }
  return assets;
}

/** Whether the client prefers HTML: browsers send `Accept: text/html,...`; API clients do not. */
export function wantsHtml(request: FastifyRequest): boolean {
  const accept = String(request.headers.accept ?? "");
  return /\btext\/html\b/i.test(accept);
}

export interface UiRouteOptions {
  /** The node's status, for GET /api/v1/status (only reached once the node is ready). */
  nodeStatus: () => NodeStatus & { phase: string };
  /** GET / (and HEAD /) for a client that does not ask for HTML. */
  rootForOthers?: (request: FastifyRequest, reply: FastifyReply) => unknown;
  directory?: string;
}

export function registerUiRoutes(app: FastifyInstance, options: UiRouteOptions): void {
  const assets = loadAssets(options.directory ?? uiBuildDirectory);
  const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset, cacheControl: string) => {
    reply.header("etag", asset.etag).header("cache-control", cacheControl);
    if (request.headers["if-none-match"] === asset.etag) return reply.code(304).send();
    return reply.header("content-type", asset.contentType).send(asset.body);
  };
  const page = (request: FastifyRequest, reply: FastifyReply) => {
    if (assets === null)
      return sendPlainError(
        reply,
        503,
        "the web UI is not built: run `npm run build:ui` (npm start and npm test build it first)",
      );
    // The bundle's names do not change between builds, so pages and assets revalidate (ETag).
    return send(request, reply, assets.get("index.html")!, "no-cache");
  };
  for (const url of uiPages) {
    if (url === "/") {
      app.route({
        method: ["GET", "HEAD"],
        url,
        handler: (request, reply) => {
          if (wantsHtml(request)) return page(request, reply);
          if (options.rootForOthers !== undefined) return options.rootForOthers(request, reply);
          return sendPlainError(reply, 404, "404 page not found");
        },
      });
    } else app.get(url, page);
  }
  app.get("/ui/:file", (request, reply) => {
    const { file } = request.params as { file: string };
    const asset = assets?.get(file);
    if (asset === undefined || file === "index.html") return sendPlainError(reply, 404, "404 page not found");
    return send(request, reply, asset, "no-cache");
  });
  app.get("/api/v1/status", (_request, reply) => {
    return reply.header("content-type", "application/json").send(JSON.stringify(options.nodeStatus()));
  });
}
