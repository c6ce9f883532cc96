// OTLP/gRPC logs: `opentelemetry.proto.collector.logs.v1.LogsService/Export` on @grpc/grpc-js,
// with the messages left as raw bytes (the (de)serializers are the identity) so the ingest stage's
// own decoder reads the ExportLogsServiceRequest and its encoder writes the response. A thin
// transport over a node's ingest pipeline: admission, decode, push (durable before the answer),
// then the refusal as a gRPC status per the OTLP spec (OTLP.md): INVALID_ARGUMENT for bad data,
// RESOURCE_EXHAUSTED for tenant quotas (with RetryInfo: retryable) and for a message too large
// (without: not retryable; grpc-js checks --body-bytes-max, after gzip too), UNAVAILABLE (with
// RetryInfo) while the node recovers or stops and when it is overloaded.

import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { ServeConfig } from "../config/index.ts";
import {
  DecodeError,
  type DecodeLimits,
  decodeOtlpLogsProto,
  encodeOtlpExportLogsResponse,
  encodeRpcStatus,
  IngestError,
  type IngestPipeline,
  type RpcCode,
  rejectReasons,
  rpcCodeOfReason,
  rpcCodes,
  tenantOfHeader,
} from "../ingest/index.ts";
import type { Metrics } from "../metrics/index.ts";
import { grpcLimits } from "./limits.ts";

export const logsExportPath = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
const route = logsExportPath; // the metrics' route label

/** What the service needs of the process around it (src/http/server.ts builds it from a node). */
export interface OtlpGrpcContext {
  config: ServeConfig;
  pipeline: IngestPipeline;
  metrics: Metrics;
  logger: Logger;
  /** null while serving; else why not (recovering, stopping): the call gets UNAVAILABLE. */
  notServing(): string | null;
}

export interface OtlpGrpcServer {
  /** The bound port (the one asked for, or the one picked for 0). */
  port: number;
  /** Stops accepting, lets calls in flight finish (at most grpcLimits.shutdownGraceMs), then closes. */
  close(): Promise<void>;
}

const identity = (bytes: Buffer): Buffer => bytes;

const logsServiceDefinition: grpc.ServiceDefinition = {
  Export: {
    path: logsExportPath,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** Binds the LogsService on `host:port` and resolves once it listens. */
export async function startOtlpGrpcServer(
  context: OtlpGrpcContext,
  host: string,
  port: number,
): Promise<OtlpGrpcServer> {
  const bodyBytesMax = context.config["body-bytes-max"];
  const server = new grpc.Server({
    "grpc.max_receive_message_length": bodyBytesMax,
    "grpc.max_concurrent_streams": grpcLimits.concurrentStreamsMax,
  });
  server.addService(logsServiceDefinition, { Export: exportHandler(context) });
  const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const boundPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      const force = setTimeout(() => server.forceShutdown(), grpcLimits.shutdownGraceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    return closing;
  };
  return { port: boundPort, close };
}

type ExportCall = grpc.ServerUnaryCall<Buffer, Buffer>;

function exportHandler(context: OtlpGrpcContext) {
  const limits: DecodeLimits = context.pipeline.limits;
  return (call: ExportCall, callback: grpc.sendUnaryData<Buffer>): void => {
    const notServing = context.notServing();
    if (notServing !== null) {
      callback(statusError(rpcCodes.unavailable, notServing, grpcLimits.notServingRetryDelayS));
      return;
    }
    const body = call.request;
    const ticket = context.pipeline.tryAdmit(body.length);
    if (ticket === null) {
      context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.queueFull });
      callback(statusError(rpcCodes.unavailable, "too many requests in flight, retry later", 1));
      return;
    }
    exportLogs(context, call, limits).then(
      (answer) => {
        ticket.release();
        callback(null, answer);
      },
      (error: unknown) => {
        ticket.release();
        callback(refusal(context, error));
      },
    );
  };
}

/** Decodes and pushes one request; resolves with the response bytes once the records are durable. */
async function exportLogs(context: OtlpGrpcContext, call: ExportCall, limits: DecodeLimits): Promise<Buffer> {
  const tenant = tenantOfHeader(metadataStrings(call.metadata, "x-scope-orgid"));
  const receivedAtMs = Date.now();
  const receivedBytes = call.request.length;
  const rejected = { records: 0, message: "" }; // records refused alone: partial success
  const streams = decodeOtlpLogsProto(call.request, limits, receivedAtMs, rejected);
  const result = await context.pipeline.push({
    tenant,
    streams,
    receivedBytes,
    receivedAtMs,
    clientIp: peerIp(call.getPeer()),
  });
  context.metrics.ingestedRecords.inc({ route, tenant }, result.entries);
  context.metrics.ingestedBytes.inc({ route, tenant }, receivedBytes);
  if (rejected.records > 0)
    context.metrics.rejectedRequests.inc({ route, reason: rejectReasons.lineTooLong }, rejected.records);
  // Records refused one by one (a body over --line-bytes-max) are OTLP's partial success; the rest
  // of the request is taken or refused whole by the pipeline.
  return Buffer.from(
    encodeOtlpExportLogsResponse(
      { rejectedLogRecords: rejected.records, errorMessage: rejected.message },
      "protobuf",
    ),
  );
}

function refusal(context: OtlpGrpcContext, error: unknown): Partial<grpc.StatusObject> {
  if (error instanceof DecodeError || error instanceof IngestError) {
    context.metrics.rejectedRequests.inc({ route, reason: error.reason });
    const code = rpcCodeOfReason(error.reason);
    // RetryInfo only where a retry can succeed (OTLP: RESOURCE_EXHAUSTED is retryable only with it).
    const retryable = code === rpcCodes.unavailable || code === rpcCodes.resourceExhausted;
    const retryAfterS = error instanceof IngestError && retryable ? error.retryAfterS : null;
    return statusError(code, error.message, retryAfterS);
  }
  context.logger.error({ err: error }, "OTLP/gRPC export failed");
  return statusError(rpcCodes.internal, "internal server error", null);
}

/**
 * A gRPC error status; with a retry delay, the google.rpc.Status (code, message, RetryInfo) goes in
 * the `grpc-status-details-bin` trailer, where gRPC clients read a status's details.
 */
function statusError(code: RpcCode, message: string, retryDelayS: number | null): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (retryDelayS !== null)
    metadata.set("grpc-status-details-bin", encodeRpcStatus({ code, message, retryDelayS }, "protobuf"));
  return { code: code as number as grpc.status, details: message, metadata };
}

function metadataStrings(metadata: grpc.Metadata, key: string): string[] {
  return metadata.get(key).map((value) => (typeof value === "string" ? value : value.toString("utf8")));
}

/** The host of grpc-js's peer string (`1.2.3.4:5678`, `[::1]:5678`), as clientIp does for HTTP. */
function peerIp(peer: string): string {
  const bracketed = /^\[(.*)\]:\d+$/.exec(peer);
  if (bracketed !== null) {
    const address = bracketed[1];
    return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
  }
  const colon = peer.lastIndexOf(":");
  return colon > 0 ? peer.slice(0, colon) : peer || "unknown";
}
