// The gRPC transport: OTLP/gRPC logs over a node's ingest pipeline.

export { type OtlpGrpcContext, type OtlpGrpcServer, startOtlpGrpcServer } from "./otlp-logs-service.ts";
