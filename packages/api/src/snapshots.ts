/**
 * containerd.services.snapshots.v1: the generated messages and service descriptor.
 *
 * @module
 */
export * from "./gen/containerd/services/snapshots/v1/snapshots_pb.ts";
