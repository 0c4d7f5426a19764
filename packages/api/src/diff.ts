/**
 * containerd.services.diff.v1: the generated messages and service descriptor.
 *
 * @module
 */
export * from "./gen/containerd/services/diff/v1/diff_pb.ts";
