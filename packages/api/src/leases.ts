/**
 * containerd.services.leases.v1: the generated messages and service descriptor.
 *
 * @module
 */
export * from "./gen/containerd/services/leases/v1/leases_pb.ts";
