/**
 * containerd.services.version.v1: the generated messages and service descriptor.
 *
 * @module
 */
export * from "./gen/containerd/services/version/v1/version_pb.ts";
