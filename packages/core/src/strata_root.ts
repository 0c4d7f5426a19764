import { LocalStore } from "@strata/content";
import type { LeaseManager } from "@strata/leases";
import { MetadataDB } from "@strata/metadata";
import { fsck } from "./fsck.ts";
import { type RootLayout, rootLayout } from "./root.ts";
import type { GcReport, Session } from "./session.ts";

/** Options of {@link StrataRoot.open}. */
export interface OpenRootOptions {
  /** Run the GC scheduler (a long-lived process wants it; a one-shot CLI call does not). */
  gcScheduler?: boolean;
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
  #closed = false;

  private constructor(layout: RootLayout, blobs: LocalStore, db: MetadataDB) {
    this.layout = layout;
    this.blobs = blobs;
    this.db = db;
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
    try {
      db = await MetadataDB.open(layout.metadata, {
        contentStore: blobs,
        gc: options.gcScheduler === true ? {} : false,
      });
    } catch (err) {
      await blobs.close();
      throw err;
    }
    return new StrataRoot(layout, blobs, db);
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
      gc: () => this.gc(),
      fsck: (options) => fsck(this, options),
      close: async () => {},
    };
  }

  /** Closes the database and the stores. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.db.close();
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
