import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Store } from "@strata/content";
import { fromSystemError, UnavailableError } from "@strata/errdefs";
import type { Snapshotter } from "@strata/snapshots";
import { collect } from "./_collect.ts";
import { Core } from "./_core.ts";
import { RwLock } from "./_rw_lock.ts";
import { migrate } from "./_schema.ts";
import { GcScheduler, type GcSchedulerOptions } from "./gc_scheduler.ts";
import type { GcStats } from "./gc_stats.ts";
import { MetadataLeaseManager } from "./metadata_lease_manager.ts";
import { NamespaceStore } from "./namespace_store.ts";
import {
  NamespacedContentStore,
  type NamespacedContentStoreOptions,
} from "./namespaced_content_store.ts";
import {
  NamespacedSnapshotter,
  type NamespacedSnapshotterOptions,
} from "./namespaced_snapshotter.ts";

/** Options of {@link MetadataDB.open}. */
export interface MetadataDBOptions {
  /** The shared blob store, e.g. `LocalStore.open(root, { labels: false })`. */
  contentStore: Store;
  /**
   * Backend snapshotters by name, e.g. `{ native, overlayfs }`. Each
   * namespace sees them through {@link MetadataDB.snapshotter}; GC removes
   * their snapshots that no record uses. The caller keeps ownership (closes
   * them after the database).
   */
  snapshotters?: Readonly<Record<string, Snapshotter>>;
  /** GC scheduler options, or `false` for none (GC only through {@link MetadataDB.gc} and sync lease deletes). */
  gc?: GcSchedulerOptions | false;
  /** How long a write waits for another handle's lock, ms (default 5000). */
  busyTimeoutMs?: number;
}

/**
 * The embedded metadata database (SQLite in WAL mode, `node:sqlite`):
 * namespaces, per-namespace content records over one shared blob store,
 * leases, snapshot records, and containerd's garbage collector.
 *
 * @example
 * ```ts
 * const blobs = await LocalStore.open(`${root}/content`, { labels: false });
 * const db = await MetadataDB.open(`${root}/metadata.db`, { contentStore: blobs });
 * const lease = await db.leases("default").create({ expiresIn: 3_600_000 });
 * await writeBlob(db.contentStore("default", { lease: lease.id }), "ref", bytes, desc);
 * await db.leases("default").delete(lease, { sync: true }); // blob collected
 * db.close();
 * ```
 */
export class MetadataDB {
  /** The database file. */
  readonly path: string;
  /** The namespaces. */
  readonly namespaces: NamespaceStore;
  readonly #core: Core;
  readonly #scheduler: GcScheduler | undefined;
  #gcRunning: Promise<GcStats> | undefined;
  #closed = false;

  private constructor(path: string, core: Core, gc: GcSchedulerOptions | false | undefined) {
    this.path = path;
    this.#core = core;
    this.namespaces = new NamespaceStore(core);
    this.#scheduler = gc === false ? undefined : new GcScheduler(() => this.#collectOnce(), gc);
    core.onMutation = (deletion) => this.#scheduler?.mutation(deletion);
    core.gcAndWait = () =>
      this.#scheduler === undefined ? this.gc() : this.#scheduler.scheduleAndWait();
  }

  /**
   * Opens (creating or upgrading) the database at `path`.
   *
   * @throws {FailedPreconditionError} when the file's schema is newer than this code.
   * @throws errdefs errors mapped from the file system.
   */
  static async open(path: string, options: MetadataDBOptions): Promise<MetadataDB> {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (err) {
      throw fromSystemError(err, `cannot create directory of ${path}`);
    }
    const sql = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 5000 });
    try {
      sql.exec("PRAGMA journal_mode = WAL");
      sql.exec("PRAGMA synchronous = NORMAL");
      sql.exec("PRAGMA foreign_keys = ON");
      sql.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
      migrate(sql, path);
    } catch (err) {
      sql.close();
      throw err;
    }
    const core = new Core(sql, options.contentStore);
    for (const [name, backend] of Object.entries(options.snapshotters ?? {})) {
      core.snapshotters.set(name, { backend, lock: new RwLock() });
    }
    return new MetadataDB(path, core, options.gc);
  }

  /** The scheduler, when enabled. */
  get scheduler(): GcScheduler | undefined {
    return this.#scheduler;
  }

  /**
   * The content store namespace `namespace` sees. With `lease`, new ingests
   * and committed blobs are added to that lease.
   *
   * @throws {InvalidArgumentError} on a bad namespace name.
   */
  contentStore(namespace: string, options?: NamespacedContentStoreOptions): NamespacedContentStore {
    this.#open();
    return new NamespacedContentStore(this.#core, namespace, options);
  }

  /** The names of the registered backend snapshotters. */
  get snapshotterNames(): readonly string[] {
    return [...this.#core.snapshotters.keys()];
  }

  /**
   * Snapshotter `name` as namespace `namespace` sees it. With `lease`,
   * prepared, viewed and committed snapshots are added to that lease.
   *
   * @throws {InvalidArgumentError} on a bad namespace name or a snapshotter not registered.
   */
  snapshotter(
    namespace: string,
    name: string,
    options?: NamespacedSnapshotterOptions,
  ): NamespacedSnapshotter {
    this.#open();
    return new NamespacedSnapshotter(this.#core, namespace, name, options);
  }

  /** The lease manager of `namespace`. @throws {InvalidArgumentError} on a bad namespace name. */
  leases(namespace: string): MetadataLeaseManager {
    this.#open();
    return new MetadataLeaseManager(this.#core, namespace);
  }

  /**
   * Runs one garbage collection now (joining one in progress) and returns
   * what it removed.
   */
  gc(options?: { signal?: AbortSignal }): Promise<GcStats> {
    options?.signal?.throwIfAborted();
    this.#open();
    return this.#collectOnce();
  }

  #collectOnce(): Promise<GcStats> {
    if (this.#gcRunning !== undefined) {
      // Wait for the running one, then run again: it may have marked before our caller's change.
      return this.#gcRunning.catch(() => undefined).then(() => this.#collectOnce());
    }
    const run = collect(this.#core).finally(() => {
      this.#gcRunning = undefined;
    });
    this.#gcRunning = run;
    return run;
  }

  /** Stops the scheduler and closes the database. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduler?.close();
    this.#core.sql.close();
  }

  #open(): void {
    if (this.#closed) throw new UnavailableError(`metadata database ${this.path} is closed`);
  }
}
