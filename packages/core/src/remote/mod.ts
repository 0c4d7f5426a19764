/**
 * Strata's daemon from the client side: {@link connectDaemon} gives the same
 * Session as an embedded root, over gRPC on the daemon's socket; the clients
 * of containerd's Content and Leases services are usable alone. A subpath of
 * its own (`@strata/core/remote`), so that embedded use does not load the
 * gRPC stack.
 *
 * @example
 * ```ts
 * import { connectDaemon } from "@strata/core/remote";
 *
 * const session = connectDaemon("unix:///run/strata/stratad.sock", { namespace: "default" });
 * await session.content().walk((info) => console.log(info.digest));
 * await session.close();
 * ```
 *
 * @module
 */
export { connectDaemon } from "./connect_daemon.ts";
export { RemoteContentStore, scopeHeaders } from "./content_client.ts";
export { RemoteLeaseManager } from "./leases_client.ts";
export { daemonTransport, MAX_MESSAGE_BYTES, socketPathOf } from "./transport.ts";
