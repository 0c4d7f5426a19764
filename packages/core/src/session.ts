import type { Store } from "@strata/content";
import type { LeaseManager } from "@strata/leases";
import type { Snapshotter } from "@strata/snapshots";
import type { CacheOps } from "./cache/cache_ops.ts";
import type { FsckReport } from "./fsck.ts";

/** What one garbage collection did, as both modes report it. */
export interface GcReport {
  /** Blobs removed from the content store. */
  removedContent: number;
  /** Bytes those blobs took. */
  removedBytes: number;
  /** Leases removed because they expired. */
  removedLeases: number;
  /** Snapshot records removed. */
  removedSnapshots: number;
  /** Wall time, in milliseconds. */
  durationMs: number;
}

/**
 * Strata for one namespace: an embedded root ({@link openRoot}) or a daemon
 * ({@link connectDaemon}) behind the same interface, so the CLI's commands
 * work the same in both modes.
 */
export interface Session {
  /** The root directory, or the daemon's address. */
  readonly location: string;
  /** The namespace every call uses. */
  readonly namespace: string;
  /** The namespace's content store; writes are held by `lease` when given. */
  content(options?: { lease?: string }): Store;
  /** The namespace's leases. */
  readonly leases: LeaseManager;
  /**
   * The snapshotter used when none is named: `overlayfs` where the kernel
   * and privileges allow it, else `native`.
   */
  readonly defaultSnapshotter: string;
  /**
   * Snapshotter `name` (default {@link defaultSnapshotter}) of the
   * namespace; snapshots it creates are held by `lease` when given.
   *
   * @throws {InvalidArgumentError} when no snapshotter of that name is loaded (embedded; a daemon answers on first call).
   */
  snapshotter(name?: string, options?: { lease?: string }): Snapshotter;
  /**
   * The namespace's cache manager operations: images in and out, refs,
   * commit, disk usage and prune.
   */
  readonly cache: CacheOps;
  /**
   * Verifies every blob against its digest and every record against the
   * disk. Embedded roots only: NotImplemented on a daemon.
   */
  fsck(options?: { signal?: AbortSignal }): Promise<FsckReport>;
  /** Collects garbage now. */
  gc(options?: { signal?: AbortSignal }): Promise<GcReport>;
  /** Releases the root or the connection. Idempotent. */
  close(): Promise<void>;
}
