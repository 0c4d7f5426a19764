import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { FailedPreconditionError, fromSystemError } from "@strata/errdefs";
import { objectAdaptor, parseFilters } from "@strata/filters";
import { MetaStore, type StoredSnapshot } from "./_metastore.ts";
import { LABEL_MERGE_USAGE_INODES, LABEL_MERGE_USAGE_SIZE } from "./labels.ts";
import type {
  Cleaner,
  CommitOptions,
  Mount,
  PrepareOptions,
  SignalOptions,
  SnapshotInfo,
  Snapshotter,
  UpdateOptions,
  Usage,
  WalkOptions,
} from "./snapshotter.ts";

const TEMP_PREFIX = "new-";
const REMOVED_PREFIX = "rm-";

/**
 * What native and overlayfs share: records in the snapshotter's own
 * database, one directory per snapshot under `<root>/snapshots/<id>`, built
 * in a temporary directory and moved into place in the transaction that
 * records it, moved aside in the transaction that removes it. A crash
 * leaves only unrecorded directories, which {@link cleanup} (also run on
 * open) deletes.
 */
export abstract class DirSnapshotter implements Snapshotter, Cleaner {
  /** The snapshotter's root directory. */
  readonly root: string;
  readonly #meta: MetaStore;
  readonly #building = new Set<string>();
  #closed = false;

  protected constructor(root: string, meta: MetaStore) {
    this.root = root;
    this.#meta = meta;
  }

  /** Creates the root's directories and opens its database. */
  protected static async openStore(root: string): Promise<MetaStore> {
    try {
      await mkdir(join(root, "snapshots"), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw fromSystemError(err, `cannot open snapshotter at ${root}`);
    }
    return MetaStore.open(join(root, "metadata.db"));
  }

  /** The directory of snapshot `id`. */
  protected dir(id: number): string {
    return join(this.root, "snapshots", String(id));
  }

  /** Fills the new snapshot's directory `tmp` (moved to its id's place afterwards). */
  protected abstract populate(
    tmp: string,
    kind: "active" | "view",
    parent: StoredSnapshot | undefined,
    options: SignalOptions,
  ): Promise<void>;

  /** The mounts of an active snapshot or a view. */
  protected abstract mountsOf(snapshot: StoredSnapshot): Mount[];

  /** The disk use of an active snapshot, without parents. */
  protected abstract liveUsage(snapshot: StoredSnapshot, options: SignalOptions): Promise<Usage>;

  async stat(key: string, options: SignalOptions = {}): Promise<SnapshotInfo> {
    this.#check(options);
    return this.#meta.info(key);
  }

  async update(
    info: Pick<SnapshotInfo, "name"> & Partial<Pick<SnapshotInfo, "labels">>,
    options: UpdateOptions = {},
  ): Promise<SnapshotInfo> {
    this.#check(options);
    return this.#meta.update(info.name, info.labels ?? {}, options.fieldpaths ?? []);
  }

  async usage(key: string, options: SignalOptions = {}): Promise<Usage> {
    this.#check(options);
    const info = this.#meta.info(key);
    const size = info.labels[LABEL_MERGE_USAGE_SIZE];
    const inodes = info.labels[LABEL_MERGE_USAGE_INODES];
    if (size !== undefined && inodes !== undefined) {
      return { size: Number(size), inodes: Number(inodes) };
    }
    // As containerd: only an active snapshot is measured; a view has no
    // usage of its own, a committed one keeps what was measured at commit.
    if (info.kind !== "active") return this.#meta.storedUsage(key) ?? { size: 0, inodes: 0 };
    return this.liveUsage(this.#meta.get(key), options);
  }

  async mounts(key: string, options: SignalOptions = {}): Promise<Mount[]> {
    this.#check(options);
    const snapshot = this.#meta.get(key);
    if (snapshot.kind === "committed") {
      throw new FailedPreconditionError(
        `cannot get mounts of snapshot ${JSON.stringify(key)}: it is committed, not active or view`,
      );
    }
    return this.mountsOf(snapshot);
  }

  prepare(key: string, parent: string, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.#create("active", key, parent, options);
  }

  view(key: string, parent: string, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.#create("view", key, parent, options);
  }

  async commit(name: string, key: string, options: CommitOptions = {}): Promise<void> {
    this.#check(options);
    const snapshot = this.#meta.get(key);
    if (snapshot.kind !== "active") {
      throw new FailedPreconditionError(
        `cannot commit snapshot ${JSON.stringify(key)}: it is a ${snapshot.kind}, not active`,
      );
    }
    const usage = await this.liveUsage(snapshot, options);
    this.#meta.commit(name, key, options.labels ?? {}, usage);
  }

  async remove(key: string, options: SignalOptions = {}): Promise<void> {
    this.#check(options);
    let removed: string | undefined;
    this.#meta.remove(key, (snapshot) => {
      const aside = join(this.root, "snapshots", `${REMOVED_PREFIX}${snapshot.id}`);
      try {
        renameSync(this.dir(snapshot.id), aside);
        removed = aside;
      } catch (err) {
        // A record without a directory (a view of a parent needs none) is fine.
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
          throw fromSystemError(err, `cannot remove snapshot ${JSON.stringify(key)}`);
        }
      }
    });
    if (removed !== undefined) await rm(removed, { recursive: true, force: true });
  }

  async walk(
    fn: (info: SnapshotInfo) => void | Promise<void>,
    options: WalkOptions = {},
  ): Promise<void> {
    this.#check(options);
    const filter = parseFilters(options.filters ?? []);
    for (const info of this.#meta.list()) {
      options.signal?.throwIfAborted();
      const adaptor = objectAdaptor({
        fields: { name: info.name, parent: info.parent, kind: info.kind },
        labels: info.labels,
      });
      if (filter.match(adaptor)) await fn(info);
    }
  }

  /**
   * Deletes directories no record owns: those of removed snapshots, and
   * those left by a crash in the middle of prepare, view or commit (of this
   * process or of one that is gone).
   */
  async cleanup(options: SignalOptions = {}): Promise<void> {
    this.#check(options);
    const snapshots = join(this.root, "snapshots");
    const doomed: string[] = [];
    this.#meta.tx(() => {
      const live = this.#meta.ids();
      for (const name of readdirSync(snapshots)) {
        const removed = /^rm-(\d+)$/.exec(name)?.[1];
        if (removed !== undefined && live.has(Number(removed))) {
          // A remove that died between moving the directory aside and
          // committing left its record: the snapshot still exists, so its
          // directory goes back. (The write lock held here means no remove
          // is in flight.)
          if (!existsSync(this.dir(Number(removed)))) {
            renameSync(join(snapshots, name), this.dir(Number(removed)));
            continue;
          }
        } else if (/^\d+$/.test(name) ? live.has(Number(name)) : !this.#isGarbage(name)) {
          continue;
        }
        const aside = name.startsWith(REMOVED_PREFIX)
          ? name
          : `${REMOVED_PREFIX}${name}-${randomBytes(4).toString("hex")}`;
        if (aside !== name) renameSync(join(snapshots, name), join(snapshots, aside));
        doomed.push(join(snapshots, aside));
      }
    });
    for (const path of doomed) await rm(path, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#meta.close();
  }

  async #create(
    kind: "active" | "view",
    key: string,
    parent: string,
    options: PrepareOptions,
  ): Promise<Mount[]> {
    this.#check(options);
    // Refuse what would fail before copying anything; the transaction checks again.
    const parentSnapshot = this.#meta.checkCreate(key, parent, options.labels ?? {});
    const name = `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString("hex")}`;
    const tmp = join(this.root, "snapshots", name);
    this.#building.add(name);
    try {
      await mkdir(tmp, { mode: 0o755 });
      await this.populate(tmp, kind, parentSnapshot, options);
      options.signal?.throwIfAborted();
      const snapshot = this.#meta.create(kind, key, parent, options.labels ?? {}, (s) => {
        const target = this.dir(s.id);
        // A crash between a move and its commit can leave this id's directory.
        if (existsSync(target)) rmSync(target, { recursive: true, force: true });
        renameSync(tmp, target);
      });
      return this.mountsOf(snapshot);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      if (options.signal?.aborted) throw options.signal.reason;
      throw fromSystemError(err, `cannot create snapshot ${JSON.stringify(key)}`);
    } finally {
      this.#building.delete(name);
    }
  }

  #isGarbage(name: string): boolean {
    if (name.startsWith(REMOVED_PREFIX)) return true;
    if (!name.startsWith(TEMP_PREFIX)) return false;
    const pid = Number(name.slice(TEMP_PREFIX.length).split("-")[0]);
    if (pid === process.pid) return !this.#building.has(name);
    return !Number.isInteger(pid) || !processAlive(pid);
  }

  #check(options: SignalOptions): void {
    options.signal?.throwIfAborted();
    if (this.#closed) {
      throw new FailedPreconditionError(`snapshotter at ${this.root} is closed`);
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
