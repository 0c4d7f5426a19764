import { join } from "node:path";
import { CacheManager, defaultGcPolicy, diskSpaceOf, type PruneOptions } from "@strata/cache";
import { LocalStore } from "@strata/content";
import { FailedPreconditionError, InvalidArgumentError } from "@strata/errdefs";
import type { LeaseManager } from "@strata/leases";
import { type GcSchedulerOptions, MetadataDB } from "@strata/metadata";
import {
  type Cleaner,
  NativeSnapshotter,
  OverlaySnapshotter,
  type Snapshotter,
} from "@strata/snapshots";
import { embeddedCacheOps } from "./cache/embedded_cache_ops.ts";
import { fsck } from "./fsck.ts";
import { removeLeasesOfDeadProcesses } from "./process_leases.ts";
import { type RootLayout, rootLayout } from "./root.ts";
import type { GcReport, Session } from "./session.ts";
import { type LoadedSnapshotters, openSnapshotters } from "./snapshotters.ts";

/** Options of {@link StrataRoot.open}. */
export interface OpenRootOptions {
  /**
   * Run the GC scheduler (a long-lived process wants it; a one-shot CLI call
   * does not): true for containerd's defaults, or its settings.
   */
  gcScheduler?: boolean | GcSchedulerOptions;
  /** The default snapshotter (default: overlayfs where supported, else native). */
  snapshotter?: string;
  /** Aborts opening. */
  signal?: AbortSignal;
}

/**
 * An opened root directory: the content store, the metadata database and
 * (as they land) the snapshotters, wired as containerd wires its plugins.
 * Many namespaces share one root; {@link StrataRoot.session} scopes to one.
 *
 * @example
 * ```ts
 * const root = await StrataRoot.open("/var/lib/strata");
 * const session = root.session("default");
 * await session.content().walk((info) => console.log(info.digest));
 * await root.close();
 * ```
 */
export class StrataRoot {
  /** Where each part lives. */
  readonly layout: RootLayout;
  /** The shared blob store (no labels: the database holds them per namespace). */
  readonly blobs: LocalStore;
  /** The metadata database. */
  readonly db: MetadataDB;
  /** The loaded snapshotters' names. */
  readonly snapshotterNames: readonly string[];
  /** The snapshotter used when none is named. */
  readonly defaultSnapshotter: string;
  readonly #snapshotters: LoadedSnapshotters;
  readonly #proxies = new Map<string, Promise<Snapshotter & Cleaner>>();
  #proxyContent: Promise<LocalStore> | undefined;
  readonly #caches = new Map<string, Promise<CacheManager>>();
  #closed = false;

  private constructor(
    layout: RootLayout,
    blobs: LocalStore,
    db: MetadataDB,
    snapshotters: LoadedSnapshotters,
  ) {
    this.layout = layout;
    this.blobs = blobs;
    this.db = db;
    this.#snapshotters = snapshotters;
    this.snapshotterNames = Object.keys(snapshotters.backends);
    this.defaultSnapshotter = snapshotters.defaultName;
  }

  /**
   * Opens (creating when absent) the root at `root`.
   *
   * @throws errdefs errors from the file system and the database.
   */
  static async open(root: string, options: OpenRootOptions = {}): Promise<StrataRoot> {
    const layout = rootLayout(root);
    const blobs = await LocalStore.open(layout.content, {
      labels: false,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    let db: MetadataDB;
    let snapshotters: LoadedSnapshotters | undefined;
    try {
      snapshotters = await openSnapshotters(
        layout.snapshots,
        options.snapshotter === undefined ? {} : { preferred: options.snapshotter },
      );
      db = await MetadataDB.open(layout.metadata, {
        contentStore: blobs,
        snapshotters: snapshotters.backends,
        gc:
          options.gcScheduler === true
            ? {}
            : options.gcScheduler === false || options.gcScheduler === undefined
              ? false
              : options.gcScheduler,
      });
      await removeLeasesOfDeadProcesses(db);
    } catch (err) {
      for (const sn of Object.values(snapshotters?.backends ?? {})) await sn.close();
      await blobs.close();
      throw err;
    }
    return new StrataRoot(layout, blobs, db, snapshotters);
  }

  /**
   * A bare backend snapshotter for containerd to use as a proxy snapshotter
   * (`[proxy_plugins.<name>]` with type "snapshot"): containerd keeps the
   * records and namespaces itself and collects its own garbage, so these
   * live apart, under `snapshots/proxy/<name>`, where Strata's garbage
   * collector never looks. `native` gives a native one; any other name
   * the default kind.
   *
   * @throws {InvalidArgumentError} for a name that is not a plain directory name.
   */
  proxySnapshotter(name: string): Promise<Snapshotter & Cleaner> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
      return Promise.reject(
        new InvalidArgumentError(`invalid proxy snapshotter name ${JSON.stringify(name)}`),
      );
    }
    let opened = this.#proxies.get(name);
    if (opened === undefined) {
      const dir = join(this.layout.snapshots, "proxy", name);
      const kind = name === "native" ? "native" : this.defaultSnapshotter;
      opened = kind === "overlayfs" ? OverlaySnapshotter.open(dir) : NativeSnapshotter.open(dir);
      this.#proxies.set(name, opened);
      opened.catch(() => this.#proxies.delete(name));
    }
    return opened;
  }

  /**
   * A bare content store for containerd to use as a proxy content store
   * (`[proxy_plugins.<name>]` with type "content", and containerd's own
   * content plugin disabled): containerd keeps the records, labels and
   * namespaces in its database and collects its own garbage, so the blobs
   * live apart, under `content/proxy`, where Strata's collector and fsck
   * never look. Labels set through it are kept, as containerd's local store
   * keeps them.
   */
  proxyContentStore(): Promise<LocalStore> {
    if (this.#proxyContent === undefined) {
      const opened = LocalStore.open(join(this.layout.content, "proxy"));
      this.#proxyContent = opened;
      opened.catch(() => {
        this.#proxyContent = undefined;
      });
    }
    return this.#proxyContent;
  }

  /**
   * BuildKit's cache garbage collection over every namespace: each of `policies` in order (default: BuildKit's default
   * policies for the root's disk), as buildkitd runs it after builds. Returns
   * how many records went and the bytes they held.
   */
  async collectCaches(
    policies?: readonly PruneOptions[],
    options: { signal?: AbortSignal } = {},
  ): Promise<{ records: number; bytes: number }> {
    const rules =
      policies ?? defaultGcPolicy({ totalBytes: (await diskSpaceOf(this.layout.root)).total });
    let records = 0;
    let bytes = 0;
    for (const ns of await this.db.namespaces.list()) {
      options.signal?.throwIfAborted();
      const cm = await this.cacheManager(ns.name);
      for (const removed of await cm.prune(...rules)) {
        records++;
        bytes += removed.size;
      }
    }
    return { records, bytes };
  }

  /**
   * The cache manager of `namespace`, opened on first use over the
   * namespace's default snapshotter (GC-aware, `db.snapshotter`) and the
   * content store; closed with the root.
   *
   * @throws {InvalidArgumentError} on a bad namespace.
   * @throws {FailedPreconditionError} once the root is closed.
   */
  cacheManager(namespace: string): Promise<CacheManager> {
    if (this.#closed) {
      return Promise.reject(
        new FailedPreconditionError(`cannot open cache of ${namespace}: root is closed`),
      );
    }
    let opened = this.#caches.get(namespace);
    if (opened === undefined) {
      opened = CacheManager.open({
        db: this.db,
        namespace,
        snapshotter: this.db.snapshotter(namespace, this.defaultSnapshotter),
        snapshotterName: this.defaultSnapshotter,
        diskSpace: () => diskSpaceOf(this.layout.root),
        // Every process on this root (CLI calls, the daemon) computes each blob once.
        locksDir: join(this.layout.root, "locks"),
      });
      this.#caches.set(namespace, opened);
      opened.catch(() => this.#caches.delete(namespace));
    }
    return opened;
  }

  /** Collects garbage now, across every namespace. */
  async gc(): Promise<GcReport> {
    const stats = await this.db.gc();
    return {
      removedContent: stats.removedContent,
      removedBytes: stats.removedBytes,
      removedLeases: stats.removedLeases,
      removedSnapshots: stats.removedSnapshots,
      durationMs: stats.durationMs,
    };
  }

  /** A {@link Session} on one namespace of this root; closing it leaves the root open. */
  session(namespace: string): Session {
    const db = this.db;
    const leases: LeaseManager = db.leases(namespace);
    return {
      location: this.layout.root,
      namespace,
      content: (options) =>
        db.contentStore(namespace, options?.lease ? { lease: options.lease } : {}),
      leases,
      defaultSnapshotter: this.defaultSnapshotter,
      snapshotter: (name, options) =>
        db.snapshotter(
          namespace,
          name ?? this.defaultSnapshotter,
          options?.lease ? { lease: options.lease } : {},
        ),
      gc: () => this.gc(),
      cache: embeddedCacheOps(() => this.cacheManager(namespace)),
      fsck: (options) => fsck(this, options),
      close: async () => {},
    };
  }

  /** Closes the database and the stores. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const cm of this.#caches.values()) await (await cm.catch(() => undefined))?.close();
    this.db.close();
    for (const sn of Object.values(this.#snapshotters.backends)) await sn.close();
    for (const sn of this.#proxies.values()) await (await sn.catch(() => undefined))?.close();
    await (await this.#proxyContent?.catch(() => undefined))?.close();
    await this.blobs.close();
  }
}

/**
 * Opens the root at `root` and returns a {@link Session} on `namespace`
 * whose `close` also closes the root: what a one-shot CLI call needs.
 */
export async function openRoot(
  root: string,
  options: OpenRootOptions & { namespace: string },
): Promise<Session> {
  const opened = await StrataRoot.open(root, options);
  const session = opened.session(options.namespace);
  return { ...session, content: session.content, close: () => opened.close() };
}
