import { createClient } from "@connectrpc/connect";
import { Cache } from "@strata/api/cache";
import { NotImplementedError } from "@strata/errdefs";
import type { FsckReport } from "../fsck.ts";
import type { GcReport, Session } from "../session.ts";
import { call } from "./_errors.ts";
import { remoteCacheOps } from "./cache_client.ts";
import { RemoteContentStore, scopeHeaders } from "./content_client.ts";
import { RemoteLeaseManager } from "./leases_client.ts";
import { RemoteSnapshotter } from "./snapshots_client.ts";
import { daemonTransport } from "./transport.ts";

/**
 * A {@link Session} on a daemon (`stratad`) at `address`
 * (`unix:///run/strata/stratad.sock`), for one namespace. No call is made
 * until the first operation, as containerd's client does.
 *
 * @throws {InvalidArgumentError} when the address is not a unix socket.
 */
export function connectDaemon(
  address: string,
  options: { namespace: string; defaultSnapshotter?: string },
): Session {
  const transport = daemonTransport(address);
  const { namespace } = options;
  const defaultSnapshotter = options.defaultSnapshotter ?? "overlayfs";
  const cache = createClient(Cache, transport);
  return {
    location: address,
    namespace,
    content: (opts) =>
      new RemoteContentStore(transport, {
        namespace,
        ...(opts?.lease !== undefined ? { lease: opts.lease } : {}),
      }),
    leases: new RemoteLeaseManager(transport, { namespace }),
    defaultSnapshotter,
    snapshotter: (name, opts) =>
      new RemoteSnapshotter(transport, {
        namespace,
        snapshotter: name ?? defaultSnapshotter,
        ...(opts?.lease !== undefined ? { lease: opts.lease } : {}),
      }),
    cache: remoteCacheOps(transport, { namespace }),
    async gc(opts): Promise<GcReport> {
      const res = await call(() =>
        cache.garbageCollect(
          {},
          {
            headers: scopeHeaders(namespace),
            ...(opts?.signal !== undefined ? { signal: opts.signal } : {}),
          },
        ),
      );
      return {
        removedContent: Number(res.removedContent),
        removedBytes: Number(res.removedBytes),
        removedLeases: Number(res.removedLeases),
        removedSnapshots: Number(res.removedSnapshots),
        durationMs: res.durationMs,
      };
    },
    async fsck(): Promise<FsckReport> {
      throw new NotImplementedError(
        "fsck checks the disk and runs on the embedded root (stop the daemon, then run it with --root)",
      );
    },
    async close() {},
  };
}
