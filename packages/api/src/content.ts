/**
 * containerd.services.content.v1: the generated messages and service descriptor.
 *
 * @module
 */
export * from "./gen/containerd/services/content/v1/content_pb.ts";
