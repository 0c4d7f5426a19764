/**
 * What a snapshot is: `active` (prepared, writable, not yet a parent),
 * `view` (read-only, never committed) or `committed` (immutable, may be a
 * parent). The string forms are containerd's filter values; the wire enum
 * (View=1, Active=2, Committed=3) lives in the API package.
 */
export type SnapshotKind = "active" | "view" | "committed";

/** A snapshot's record, as containerd's `snapshots.Info`. */
export interface SnapshotInfo {
  kind: SnapshotKind;
  /** The key (active, view) or the committed name. */
  name: string;
  /** The committed parent's name; `""` for none. */
  parent: string;
  labels: Record<string, string>;
  created: Date;
  updated: Date;
}

/** Disk use of one snapshot, excluding its parents. */
export interface Usage {
  /** Bytes allocated (st_blocks × 512 over unique inodes). */
  size: number;
  /** Unique inodes, the snapshot's root directory included. */
  inodes: number;
}

/**
 * A mount as a snapshotter returns it: what `mount -t TYPE -o OPTIONS
 * SOURCE TARGET` would take, with the target left to the caller. `bind` is
 * containerd's type name for bind mounts.
 */
export interface Mount {
  type: string;
  source: string;
  options: string[];
}

/** Options of {@link Snapshotter.prepare} and {@link Snapshotter.view}. */
export interface PrepareOptions {
  /** Labels of the new snapshot. */
  labels?: Record<string, string>;
  signal?: AbortSignal;
}

/** Options of {@link Snapshotter.commit}. */
export interface CommitOptions {
  /** Labels of the committed snapshot; those of the active one are not kept. */
  labels?: Record<string, string>;
  signal?: AbortSignal;
}

/** Options of {@link Snapshotter.update}. */
export interface UpdateOptions {
  /**
   * Which fields to change: none or `labels` replace all labels;
   * `labels.<key>` sets one (an empty or absent value removes it). Anything
   * else is InvalidArgument.
   */
  fieldpaths?: readonly string[];
  signal?: AbortSignal;
}

/** Options of {@link Snapshotter.walk}. */
export interface WalkOptions {
  /**
   * containerd filters over `name`, `parent`, `kind` (`active`, `view`,
   * `committed`) and `labels.<key>`; several strings are OR'ed.
   */
  filters?: readonly string[];
  signal?: AbortSignal;
}

/** Only a signal. */
export interface SignalOptions {
  signal?: AbortSignal;
}

/**
 * containerd's snapshotter: a tree of file-system snapshots addressed by
 * key. Active and committed snapshots share one key space; a parent must be
 * committed; a view is never committed.
 *
 * Errors, as containerd's: unknown key → NotFoundError; existing key →
 * AlreadyExistsError; parent missing → NotFoundError; parent not committed
 * → InvalidArgumentError; commit of a view → FailedPreconditionError;
 * mounts of a committed snapshot → FailedPreconditionError; remove of a
 * snapshot with children → FailedPreconditionError.
 */
export interface Snapshotter {
  /** The record of `key`. @throws {NotFoundError} */
  stat(key: string, options?: SignalOptions): Promise<SnapshotInfo>;
  /**
   * Changes the labels of `info.name` (see {@link UpdateOptions}); kind,
   * parent and created stay; updated becomes now.
   *
   * @throws {NotFoundError} for an unknown snapshot.
   * @throws {InvalidArgumentError} for an empty name, a field path other than labels, or labels over 4096 bytes.
   */
  update(
    info: Pick<SnapshotInfo, "name"> & Partial<Pick<SnapshotInfo, "labels">>,
    options?: UpdateOptions,
  ): Promise<SnapshotInfo>;
  /** Disk use of `key` without its parents. @throws {NotFoundError} */
  usage(key: string, options?: SignalOptions): Promise<Usage>;
  /** The mounts of an active snapshot or a view. @throws {NotFoundError} @throws {FailedPreconditionError} when committed */
  mounts(key: string, options?: SignalOptions): Promise<Mount[]>;
  /** A new active snapshot on `parent` (`""` for none); returns its mounts. */
  prepare(key: string, parent: string, options?: PrepareOptions): Promise<Mount[]>;
  /** A new read-only view of `parent` (`""` for an empty one); returns its mounts. */
  view(key: string, parent: string, options?: PrepareOptions): Promise<Mount[]>;
  /** Turns active `key` into committed `name`; `key` is gone afterwards. */
  commit(name: string, key: string, options?: CommitOptions): Promise<void>;
  /** Removes `key`. @throws {FailedPreconditionError} while it has children */
  remove(key: string, options?: SignalOptions): Promise<void>;
  /** Calls `fn` for every snapshot that passes the filters. */
  walk(fn: (info: SnapshotInfo) => void | Promise<void>, options?: WalkOptions): Promise<void>;
  /** Releases resources; idempotent. */
  close(): Promise<void>;
}

/**
 * A snapshotter that can delete, later and in one pass, what removed
 * snapshots left on disk (containerd's `Cleaner`); the garbage collector
 * calls it.
 */
export interface Cleaner {
  cleanup(options?: SignalOptions): Promise<void>;
}

/** Whether `s` implements {@link Cleaner}. */
export function isCleaner(s: Snapshotter): s is Snapshotter & Cleaner {
  return typeof (s as Partial<Cleaner>).cleanup === "function";
}
