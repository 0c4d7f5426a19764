/**
 * grpc.health.v1: the standard gRPC health-check service, generated.
 *
 * @module
 */
export * from "./gen/grpc/health/v1/health_pb.ts";
