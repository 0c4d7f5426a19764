/**
 * containerd.services.introspection.v1: the generated messages and service descriptor.
 *
 * @module
 */
export * from "./gen/containerd/services/introspection/v1/introspection_pb.ts";
