// Elasticsearch's bulk API over the ingest pipeline, and the handshake shippers make before it, so
// Fluent Bit, Vector, Filebeat, Logstash, rsyslog's omelasticsearch and the official
// @elastic/elasticsearch client can point at Sluice as if it were Elasticsearch (ES-BULK.md).
//
// - POST|PUT /_bulk and POST|PUT /<index>/_bulk (and the single-document POST /<index>/_doc,
//   PUT|POST /<index>/_doc/<id>, PUT|POST /<index>/_create/<id> as one-item requests): NDJSON (application/x-ndjson, application/json,
//   application/vnd.elasticsearch+x-ndjson; compatible-with=7|8|9), gzip inflated within
//   --decoded-bytes-max, answered once the stored lines are durable with Elasticsearch's bulk
//   response (one item per action; a refused item does not refuse the others).
// - Whole-request errors in Elasticsearch's error body {error:{root_cause,type,reason},status};
//   limits are 429 es_rejected_execution_exception with Retry-After, as Elasticsearch's rejections.
// - Every answer carries X-Elastic-Product: Elasticsearch (the official clients refuse a 2xx without
//   it) and, when the client asked for a compatible-with version, the matching vendor media type.
// - The handshake: GET|HEAD / (answerEsRoot, for clients that do not ask for HTML: src/http/ui-routes.ts negotiates), /_license, /_xpack, /_cluster/health, /_nodes, and
//   the template / ILM / pipeline / create-index calls of Filebeat and Logstash, acknowledged without
//   being kept (Sluice has no mappings to apply them to): GET and HEAD answer 404, so a shipper
//   PUTs its template at every start, which is acknowledged.

import { createHash, randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  DecodeError,
  type DecodeLimits,
  decodeEsBulk,
  decodeEsDocument,
  type EsBulkItem,
  type EsBulkMapping,
  esBulkMapping,
  IngestError,
  inflateBody,
  type PushResult,
  type RejectReason,
  rejectReasons,
} from "../ingest/index.ts";
import { admit, clientIp, contentEncodingOf, mediaTypeOf, type ServerContext } from "./context.ts";
import { httpStatusOfReason } from "./ingest-status.ts";
import { lingerBeforeClose, sendPlainError } from "./replies.ts";
import { tenantOf } from "./service-routes.ts";

/**
 * The Elasticsearch version Sluice answers as. 9.x: the official v9 clients send
 * `compatible-with=9`, which only a 9.x server accepts; Vector, Fluent Bit, rsyslog and Logstash
 * read the major to choose the typeless API (>= 7 / >= 8: no `_type`), and Beats refuse only an
 * Elasticsearch *older* than themselves (allow_older_versions), never a newer one — so the newest
 * line keeps every current shipper working. Lucene and the compatibility versions are those of
 * Elasticsearch 9.2.0.
 */
export const esVersion = {
  number: "9.2.0",
  build_flavor: "default",
  build_type: "tar",
  build_hash: "sluice",
  build_date: "2025-10-21T00:00:00.000Z",
  build_snapshot: false,
  lucene_version: "10.3.1",
  minimum_wire_compatibility_version: "8.19.0",
  minimum_index_compatibility_version: "8.0.0",
} as const;

const clusterName = "sluice";
/**
 * The ingest routes: the bulk API, and the single-document API (the official clients' `index()` and
 * `create()`) as one-item requests through the same decoder and answer.
 */
const ingestRoutes = [
  { url: "/_bulk", methods: ["POST", "PUT"], action: "bulk" },
  { url: "/:index/_bulk", methods: ["POST", "PUT"], action: "bulk" },
  { url: "/:index/_doc", methods: ["POST"], action: "index" },
  { url: "/:index/_doc/:id", methods: ["POST", "PUT"], action: "index" },
  { url: "/:index/_create/:id", methods: ["POST", "PUT"], action: "create" },
] as const;
/** Top-level paths of Sluice's own routes: never taken for an index name by PUT|HEAD /<index>. */
const reservedIndexNames = new Set(["logs", "metrics", "ready", "healthz", "v1", "loki", "favicon.ico"]);
const acceptedMediaTypes = new Set([
  "application/x-ndjson",
  "application/json",
  "application/vnd.elasticsearch+x-ndjson",
  "application/vnd.elasticsearch+json",
]);
const compatibleVersions = new Set(["7", "8", "9"]);
const compatiblePattern = /compatible-with\s*=\s*"?(\d+)/i;

/** Route URLs answered in Elasticsearch's error model (recovery gate, body-limit errors). */
const esRouteUrls = new Set<string>(["/"]);
/** Whether a route URL (fastify's `routeOptions.url`) belongs to this module. */
export function isEsRoute(routeUrl: string): boolean {
  return esRouteUrls.has(routeUrl);
}

/** The response media type: the vendor type of the compatible-with version the client asked for. */
function contentTypeFor(request: FastifyRequest): string {
  const asked =
    compatiblePattern.exec(String(request.headers.accept ?? "")) ??
    compatiblePattern.exec(String(request.headers["content-type"] ?? ""));
  return asked !== null && compatibleVersions.has(asked[1]!)
    ? `application/vnd.elasticsearch+json;compatible-with=${asked[1]}`
    : "application/json";
}

/** Sends a JSON body as Elasticsearch does (X-Elastic-Product, the negotiated media type). */
export function sendEs(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  reply
    .code(status)
    .header("x-elastic-product", "Elasticsearch")
    .header("content-type", contentTypeFor(reply.request));
  // Bytes, not a string: fastify would re-serialise a string's media type (quoting the
  // compatible-with value, appending a charset) where Elasticsearch sends it as is.
  return reply.request.method === "HEAD" ? reply.send() : reply.send(Buffer.from(JSON.stringify(body)));
}

/** Elasticsearch's error body: {error:{root_cause:[{type,reason}],type,reason},status}. */
export function sendEsError(
  reply: FastifyReply,
  status: number,
  type: string,
  reason: string,
  retryAfterS: number | null = null,
): FastifyReply {
  if (retryAfterS !== null) reply.header("retry-after", String(retryAfterS));
  return sendEs(reply, status, { error: { root_cause: [{ type, reason }], type, reason }, status });
}

/** The exception type Elasticsearch names for a refusal of this status (and reason). */
function esTypeOf(status: number, reason: RejectReason): string {
  if (status === 429) return "es_rejected_execution_exception";
  if (status === 413) return "content_too_long_exception";
  if (status === 401) return "security_exception";
  if (status === 503) return "unavailable_shards_exception";
  // Elasticsearch's request validation ("Validation Failed: 1: …"): no actions, an index missing.
  if (reason === rejectReasons.emptyBody || reason === rejectReasons.invalidEntry)
    return "action_request_validation_exception";
  if (status >= 500) return "exception";
  return "illegal_argument_exception";
}

export function registerEsRoutes(app: FastifyInstance, context: ServerContext): void {
  registerBulkRoutes(app, context);
  registerHandshakeRoutes(app, context);
}

function registerBulkRoutes(app: FastifyInstance, context: ServerContext): void {
  const { config } = context;
  const bodyBytesMax = config["body-bytes-max"];
  const limits: DecodeLimits = context.pipeline.limits;
  const mapping = esBulkMapping(
    config["es-message-field"],
    config["es-timestamp-field"],
    config["es-label-fields"],
  );
  const ids = { prefix: "", next: 0 };
  const sequence = { next: 0 };
  for (const { url, methods, action } of ingestRoutes) {
    esRouteUrls.add(url);
    app.route({
      method: [...methods],
      url,
      bodyLimit: bodyBytesMax,
      onRequest: async (request, reply) => {
        const route = url;
        // Refused before the body is read (see the same in service-routes.ts).
        if (Number(request.headers["content-length"]) > bodyBytesMax) {
          context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.bodyTooLarge });
          lingerBeforeClose(request.raw.socket);
          return sendEsError(
            reply,
            413,
            "content_too_long_exception",
            `request body too large: the limit is ${bodyBytesMax} bytes`,
          );
        }
        const mediaType = mediaTypeOf(request);
        if (!acceptedMediaTypes.has(mediaType)) {
          context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.unsupportedMediaType });
          lingerBeforeClose(request.raw.socket);
          // Elasticsearch's own shape for this one: {"error": "<text>", "status": 406}.
          const header = request.headers["content-type"];
          return sendEs(reply, 406, {
            error:
              header === undefined
                ? "Content-Type header is missing"
                : `Content-Type header [${header}] is not supported`,
            status: 406,
          });
        }
        const compatible = compatiblePattern.exec(String(request.headers["content-type"]));
        if (compatible !== null && !compatibleVersions.has(compatible[1]!)) {
          context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.invalidHeader });
          lingerBeforeClose(request.raw.socket);
          return sendEsError(
            reply,
            400,
            "media_type_header_exception",
            `Invalid media-type value on headers [Content-Type]: compatible-with=${compatible[1]} (this server speaks 7, 8 and 9)`,
          );
        }
        if (!admit(context, request, reply, bodyBytesMax)) {
          context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.queueFull });
          reply.header("connection", "close");
          lingerBeforeClose(request.raw.socket);
          return sendEsError(
            reply,
            429,
            "es_rejected_execution_exception",
            "rejected execution: too many requests in flight, retry later",
            1,
          );
        }
      },
      handler: async (request, reply) => {
        const startedMs = performance.now();
        try {
          const tenant = tenantOf(request);
          const receivedBytes = (request.body as Buffer | undefined)?.length ?? 0;
          // Only the items (index, id, error) cross the await: the body and its streams stay in
          // decodeAndPush's frame (held across the fsync they would be promoted to the old
          // generation, as docs/handover.md measured for POST /v1/logs).
          const { items, pushed } = decodeAndPush(context, request, tenant, action, mapping, limits);
          const result = await pushed;
          context.metrics.ingestedRecords.inc({ route: url, tenant }, result.entries);
          context.metrics.ingestedBytes.inc({ route: url, tenant }, receivedBytes);
          if (ids.prefix === "" || ids.next + items.length > idsPerPrefix) {
            ids.prefix = randomBytes(12).toString("base64url");
            ids.next = 0;
          }
          const answered = bulkResponse(items, Math.round(performance.now() - startedMs), ids, sequence);
          if (action === "bulk") return sendEs(reply, 200, answered);
          // A single document: its item's outcome is the answer (Elasticsearch's index response).
          const [item] = items;
          if (item!.error !== null)
            return sendEsError(reply, item!.error.status, item!.error.type, item!.error.reason);
          const { status: _status, ...indexed } = Object.values(answered.items[0]!)[0] as Record<
            string,
            unknown
          >;
          return sendEs(reply, 201, indexed);
        } catch (error) {
          return replyBulkError(context, reply, url, error);
        }
      },
    });
  }
}

/**
 * Takes the request's body, undoes its Content-Encoding, decodes it (a bulk body or one document)
 * and hands the streams to the pipeline: the items to answer and the pipeline's promise (settles
 * once durable). Throws DecodeError / IngestError for a request refused whole.
 */
function decodeAndPush(
  context: ServerContext,
  request: FastifyRequest,
  tenant: string,
  action: "bulk" | "index" | "create",
  mapping: EsBulkMapping,
  limits: DecodeLimits,
): { items: EsBulkItem[]; pushed: Promise<PushResult> } {
  const received = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
  request.body = undefined;
  const receivedAtMs = Date.now();
  const encoding = contentEncodingOf(request);
  const params = request.params as { index?: string; id?: string };
  const body = inflateBody(received, encoding, limits.decodedBytesMax);
  const esRequest = { urlIndex: params.index ?? null, mapping, limits, receivedAtMs };
  const { items, streams } =
    action === "bulk"
      ? decodeEsBulk(body, esRequest)
      : decodeEsDocument(body, { name: action, index: params.index!, id: params.id ?? null }, esRequest);
  const pushed = context.pipeline.push({
    tenant,
    streams,
    receivedBytes: received.length,
    receivedAtMs,
    clientIp: clientIp(request),
  });
  return { items, pushed };
}

/** Generated ids: 16 random characters per prefix, then a counter: unique without a random draw per item. */
const idsPerPrefix = 64 ** 4;

function generatedId(ids: { prefix: string; next: number }): string {
  let counter = ids.next++;
  let suffix = "";
  for (let digit = 0; digit < 4; digit++) {
    suffix = base64UrlDigits[counter & 63]! + suffix;
    counter >>= 6;
  }
  return ids.prefix + suffix;
}
const base64UrlDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function bulkResponse(
  items: readonly EsBulkItem[],
  tookMs: number,
  ids: { prefix: string; next: number },
  sequence: { next: number },
): { took: number; errors: boolean; items: Record<string, unknown>[] } {
  let errors = false;
  const answered = items.map((item) => {
    const id = item.id ?? generatedId(ids);
    if (item.error !== null) {
      errors = true;
      const { status, type, reason } = item.error;
      return {
        [item.action]: { _index: item.index, _id: id, status, error: { type, reason, index: item.index } },
      };
    }
    return {
      [item.action]: {
        _index: item.index,
        _id: id,
        _version: 1,
        result: "created",
        _shards: { total: 1, successful: 1, failed: 0 },
        _seq_no: sequence.next++,
        _primary_term: 1,
        status: 201,
      },
    };
  });
  return { took: tookMs, errors, items: answered };
}

function replyBulkError(
  context: ServerContext,
  reply: FastifyReply,
  route: string,
  error: unknown,
): FastifyReply {
  if (error instanceof DecodeError || error instanceof IngestError) {
    context.metrics.rejectedRequests.inc({ route, reason: error.reason });
    const status = httpStatusOfReason(error.reason);
    const retryAfterS = error instanceof IngestError ? error.retryAfterS : null;
    return sendEsError(reply, status, esTypeOf(status, error.reason), error.message, retryAfterS);
  }
  context.logger.error({ err: error, url: reply.request.url }, "bulk failed");
  return sendEsError(reply, 500, "exception", "internal server error");
}

/** The body of GET / : who this "cluster" is and which Elasticsearch version it speaks. */
export function esRootInfo(context: ServerContext): Record<string, unknown> {
  return {
    name: context.nodeId,
    cluster_name: clusterName,
    cluster_uuid: clusterUuid(context),
    version: esVersion,
    tagline: "You Know, for Search",
  };
}

/** GET / and HEAD / as Elasticsearch answers them: the handshake every shipper and client makes first. */
export async function answerEsRoot(context: ServerContext, reply: FastifyReply): Promise<FastifyReply> {
  return sendEs(reply, 200, esRootInfo(context));
}

/** A stable 22-character id of this node's data (Elasticsearch's cluster_uuid is base64url of 16 bytes). */
function clusterUuid(context: ServerContext): string {
  return createHash("sha256").update(`sluice-cluster:${context.nodeId}`).digest("base64url").slice(0, 22);
}

/** Settings objects shippers PUT at start and GET or HEAD to see whether they must (Filebeat, Logstash). */
const settingsRoutes = [
  { url: "/_index_template/:name", missing: (name: string) => `index template matching [${name}] not found` },
  { url: "/_template/:name", missing: (name: string) => `index template matching [${name}] not found` },
  {
    url: "/_component_template/:name",
    missing: (name: string) => `component template matching [${name}] not found`,
  },
  { url: "/_ilm/policy/:name", missing: (name: string) => `Lifecycle policy not found: ${name}` },
  { url: "/_ingest/pipeline/:name", missing: (name: string) => `pipeline [${name}] is missing` },
  { url: "/_data_stream/:name", missing: (name: string) => `no such index [${name}]` },
] as const;

function registerHandshakeRoutes(app: FastifyInstance, context: ServerContext): void {
  const get = (url: string, body: (request: FastifyRequest) => unknown) => {
    esRouteUrls.add(url);
    app.route({
      method: ["GET", "HEAD"],
      url,
      exposeHeadRoute: false,
      handler: async (request, reply) => sendEs(reply, 200, body(request)),
    });
  };
  const license = {
    status: "active",
    uid: uuidOf(context, "license"),
    type: "basic",
    issue_date: "2025-01-01T00:00:00.000Z",
    issue_date_in_millis: Date.parse("2025-01-01T00:00:00.000Z"),
    max_nodes: 1000,
    max_resource_units: null,
    issued_to: clusterName,
    issuer: "elasticsearch",
    start_date_in_millis: -1,
  };
  get("/_license", () => ({ license }));
  get("/_xpack", () => ({
    build: { hash: esVersion.build_hash, date: esVersion.build_date },
    license: { uid: license.uid, type: "basic", mode: "basic", status: "active" },
    features: {
      ilm: { available: true, enabled: true },
      security: { available: true, enabled: false },
      monitoring: { available: true, enabled: true },
    },
    tagline: "You know, for X",
  }));
  const health = () => ({
    cluster_name: clusterName,
    status: "green",
    timed_out: false,
    number_of_nodes: 1,
    number_of_data_nodes: 1,
    active_primary_shards: 0,
    active_shards: 0,
    relocating_shards: 0,
    initializing_shards: 0,
    unassigned_shards: 0,
    unassigned_primary_shards: 0,
    delayed_unassigned_shards: 0,
    number_of_pending_tasks: 0,
    number_of_in_flight_fetch: 0,
    task_max_waiting_in_queue_millis: 0,
    active_shards_percent_as_number: 100,
  });
  get("/_cluster/health", health);
  get("/_cluster/health/:index", health);
  const nodes = (request: FastifyRequest) => {
    // The address the client reached: a sniffing client connects to publish_address next.
    const host = String(request.headers.host ?? `127.0.0.1:${context.config.port}`);
    return {
      _nodes: { total: 1, successful: 1, failed: 0 },
      cluster_name: clusterName,
      nodes: {
        [uuidOf(context, "node")]: {
          name: context.nodeId,
          transport_address: host,
          host: host.replace(/:\d+$/, ""),
          ip: request.socket.localAddress ?? "127.0.0.1",
          version: esVersion.number,
          build_flavor: esVersion.build_flavor,
          build_type: esVersion.build_type,
          build_hash: esVersion.build_hash,
          roles: ["data", "ingest", "master"],
          http: {
            bound_address: [host],
            publish_address: host,
            max_content_length_in_bytes: context.config["body-bytes-max"],
          },
        },
      },
    };
  };
  get("/_nodes", nodes);
  get("/_nodes/:filter", nodes);
  get("/_nodes/:filter/:metric", nodes);
  for (const { url, missing } of settingsRoutes) {
    esRouteUrls.add(url);
    app.route({
      method: ["GET", "HEAD"],
      url,
      exposeHeadRoute: false,
      handler: async (request, reply) =>
        sendEsError(
          reply,
          404,
          "resource_not_found_exception",
          missing((request.params as { name: string }).name),
        ),
    });
    app.route({
      method: ["PUT", "POST"],
      url,
      handler: async (_request, reply) => sendEs(reply, 200, { acknowledged: true }),
    });
  }
  // Create index (Logstash's ILM bootstrap, curl users): acknowledged, nothing to create. HEAD: no
  // index exists (Sluice has none to report), so a shipper goes on to create it.
  esRouteUrls.add("/:index");
  app.route({
    method: ["PUT"],
    url: "/:index",
    handler: async (request, reply) => {
      const { index } = request.params as { index: string };
      if (reservedIndexNames.has(index)) return sendPlainError(reply, 404, "404 page not found");
      return sendEs(reply, 200, { acknowledged: true, shards_acknowledged: true, index });
    },
  });
  app.route({
    method: ["HEAD"],
    url: "/:index",
    handler: async (request, reply) => {
      const { index } = request.params as { index: string };
      if (reservedIndexNames.has(index)) return reply.code(404).send();
      return sendEsError(reply, 404, "index_not_found_exception", `no such index [${index}]`);
    },
  });
}

function uuidOf(context: ServerContext, what: string): string {
  return createHash("sha256").update(`sluice-${what}:${context.nodeId}`).digest("base64url").slice(0, 22);
}
