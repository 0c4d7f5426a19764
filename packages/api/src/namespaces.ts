/**
 * containerd.services.namespaces.v1: the generated messages and service descriptor.
 *
 * @module
 */
export * from "./gen/containerd/services/namespaces/v1/namespace_pb.ts";
