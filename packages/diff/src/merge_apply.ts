// Internal to mergeSnapshots (not exported from mod.ts): applies the changes
// of one diff to a target directory, hardlinking or copying from the diff's
// upper tree.
import {
  chmodSync,
  constants,
  copyFileSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readlinkSync,
  rmSync,
  type Stats,
  symlinkSync,
} from "node:fs";
import { fromSystemError, isNotImplemented, isPermissionDenied } from "@strata/errdefs";
import { lgetxattrs, mknod, removexattr, setxattr } from "@strata/sys";
import { type Meta, readMeta } from "./_meta.ts";
import type { Change } from "./changes.ts";

/** Where merged changes are written. */
export interface MergeTarget {
  /** The directory written into: a bind source, an overlay upperdir or a mounted tree. */
  root: string;
  /**
   * The overlay lower directories below `root`, nearest first; empty when
   * `root` is the whole tree (deletes then remove instead of whiting out).
   */
  lowerdirs: readonly string[];
  /** The xattr that marks a directory opaque in `root` (overlay targets only). */
  opaqueXattr: string;
}

/** The changes of one diff and where its files are. */
export interface MergeSource {
  changes: AsyncIterable<Change>;
  /** A directory showing the diff's upper tree. */
  upper: string;
  /**
   * The path of a non-directory of the upper tree in the directory that
   * really holds it (bind source, overlay layer), so a hardlink to it does
   * not cross file systems.
   */
  resolve(path: string): string;
}

/** Options of {@link MergeApplier}. */
export interface MergeApplierOptions {
  /** Hardlink files from the sources instead of copying them (copy on EXDEV/EMLINK/EPERM). */
  hardlinks: boolean;
}

const OPAQUE_VALUE = new TextEncoder().encode("y");
const LINK_FALLBACK = new Set(["EXDEV", "EMLINK", "EPERM"]);
const IS_ROOT = process.getuid?.() === 0;

// Per-diff state: which directories were set already (a change's parents are
// set from the upper, as a layer's parent entries would be), and the inode
// map that keeps hardlinks within the diff.
interface DiffState {
  source: MergeSource;
  dirs: Set<string>;
  inodes: Map<string, string>;
  waiting: Map<string, string[]>;
}

const inodeKey = (s: { dev: number | bigint; ino: number | bigint }): string => `${s.dev}:${s.ino}`;

// Seconds for utimes, truncated to microseconds: a double cannot hold
// nanoseconds since 1970, and rounding must not carry into the next second.
const seconds = (ns: bigint): number =>
  Number(ns / 1_000_000_000n) + Number((ns % 1_000_000_000n) / 1000n) / 1e6;

/**
 * Applies diffs in order to one target, as an OCI layer of each would be
 * applied: deletes remove (whiteouts over overlay lowers), a file replaces
 * whatever was there, a directory keeps its contents and takes the new
 * metadata. Directory times are set by {@link finish}, after all diffs.
 *
 * File system calls are synchronous for the same reason as in the applier:
 * a few microseconds each, where a thread-pool round trip costs tens.
 */
export class MergeApplier {
  readonly #target: MergeTarget;
  readonly #overlay: boolean;
  readonly #hardlinks: boolean;
  readonly #dirTimes = new Map<string, [number, number]>();
  readonly #linked = new Set<string>();

  constructor(target: MergeTarget, options: MergeApplierOptions) {
    this.#target = target;
    this.#overlay = target.lowerdirs.length > 0;
    this.#hardlinks = options.hardlinks;
  }

  /** Inodes (`"dev:ino"`) hardlinked from source snapshots: not this snapshot's usage. */
  get linked(): ReadonlySet<string> {
    return this.#linked;
  }

  /** Applies the changes of one diff. */
  async apply(source: MergeSource, options: { signal?: AbortSignal } = {}): Promise<void> {
    const state: DiffState = { source, dirs: new Set(), inodes: new Map(), waiting: new Map() };
    let n = 0;
    for await (const change of source.changes) {
      if ((++n & 255) === 0) options.signal?.throwIfAborted();
      try {
        this.#change(change, state);
      } catch (err) {
        throw fromSystemError(err, `cannot merge ${change.kind} of ${JSON.stringify(change.path)}`);
      }
    }
    options.signal?.throwIfAborted();
  }

  /** Sets the times of every directory written, once all diffs are applied. */
  finish(): void {
    for (const [path, [atime, mtime]] of this.#dirTimes) {
      // A later diff may have put a file there, maybe one shared with a
      // source snapshot: only directories, which this merge made, are touched.
      if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory() !== true) continue;
      try {
        lutimesSync(path, atime, mtime);
      } catch (err) {
        throw fromSystemError(err, `cannot set times of ${path}`);
      }
    }
  }

  #change(change: Change, state: DiffState): void {
    const path = change.path;
    if (change.kind === "delete") {
      this.#parents(path, state);
      this.#delete(path);
      return;
    }
    const meta = change.meta ?? readMeta(`${state.source.upper}/${path}`);
    if (meta === undefined) return; // gone from the upper while walking
    const s = meta.stat;
    if (change.kind === "unmodified") {
      // Another name of a multiply-linked file: it follows a changed name
      // of the same inode, as it would in a layer (the change writer's rule).
      const key = inodeKey(s);
      const first = state.inodes.get(key);
      if (first !== undefined) this.#linkName(path, first, state);
      else state.waiting.set(key, [...(state.waiting.get(key) ?? []), path]);
      return;
    }
    this.#parents(path, state);
    if (s.isDirectory()) {
      this.#dir(path, meta);
      state.dirs.add(path);
      return;
    }
    if (s.isSocket()) return; // layers do not carry sockets either
    const key = inodeKey(s);
    const first = s.nlink > 1n ? state.inodes.get(key) : undefined;
    if (first !== undefined) {
      this.#linkName(path, first, state);
      return;
    }
    this.#nonDir(path, meta, state.source.resolve(path));
    if (s.nlink > 1n) {
      const target = `${this.#target.root}/${path}`;
      state.inodes.set(key, target);
      for (const other of state.waiting.get(key) ?? []) this.#linkName(other, target, state);
      state.waiting.delete(key);
    }
  }

  // Another name for a file this diff wrote already.
  #linkName(path: string, existing: string, state: DiffState): void {
    this.#parents(path, state);
    const target = `${this.#target.root}/${path}`;
    this.#clear(target);
    linkSync(existing, target);
  }

  // A layer writes every parent of a change with the upper's metadata.
  #parents(path: string, state: DiffState): void {
    let slash = path.indexOf("/");
    while (slash !== -1) {
      const dir = path.slice(0, slash);
      if (!state.dirs.has(dir)) {
        state.dirs.add(dir);
        const meta = readMeta(`${state.source.upper}/${dir}`);
        if (meta?.stat.isDirectory()) this.#dir(dir, meta);
        else mkdirSync(`${this.#target.root}/${dir}`, { recursive: true, mode: 0o755 });
      }
      slash = path.indexOf("/", slash + 1);
    }
  }

  #delete(path: string): void {
    const target = `${this.#target.root}/${path}`;
    rmSync(target, { recursive: true, force: true });
    if (this.#overlay && this.#lower(path) !== undefined) {
      mknod(target, { type: "char", major: 0, minor: 0, mode: 0 });
    }
  }

  // What the nearest lower layer holds at `path`, if any.
  #lower(path: string): Stats | undefined {
    for (const dir of this.#target.lowerdirs) {
      const st = lstatSync(`${dir}/${path}`, { throwIfNoEntry: false });
      if (st !== undefined) return st;
    }
    return undefined;
  }

  #dir(path: string, meta: Meta): void {
    const target = `${this.#target.root}/${path}`;
    const existing = lstatSync(target, { throwIfNoEntry: false });
    if (existing?.isDirectory()) {
      this.#meta(target, meta, true);
      return;
    }
    let opaque = false;
    if (existing !== undefined) {
      rmSync(target, { recursive: true, force: true });
      // Whatever the lowers have here was hidden by that non-directory.
      opaque = this.#overlay;
    } else if (this.#overlay) {
      const below = this.#lower(path);
      opaque = below !== undefined && !below.isDirectory();
    }
    mkdirSync(target, { mode: 0o700 });
    if (opaque) setxattr(target, this.#target.opaqueXattr, OPAQUE_VALUE, { noFollow: true });
    this.#meta(target, meta, false);
  }

  // A file is never changed in place: it may be shared with a source snapshot.
  #nonDir(path: string, meta: Meta, source: string): void {
    const target = `${this.#target.root}/${path}`;
    this.#clear(target);
    // A FIFO is made anew, as BuildKit does: its readers and writers meet
    // in the inode, which should not be shared between snapshots.
    if (this.#hardlinks && !meta.stat.isFIFO()) {
      try {
        linkSync(source, target);
        this.#linked.add(inodeKey(lstatSync(target)));
        return;
      } catch (err) {
        if (!LINK_FALLBACK.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      }
    }
    const s = meta.stat;
    if (s.isFile()) copyFileSync(source, target, constants.COPYFILE_FICLONE);
    else if (s.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
    else if (s.isFIFO()) mknod(target, { type: "fifo", mode: 0o600 });
    else if (s.isCharacterDevice() || s.isBlockDevice()) {
      mknod(target, {
        type: s.isCharacterDevice() ? "char" : "block",
        major: Number(((s.rdev >> 8n) & 0xfffn) | ((s.rdev >> 32n) & ~0xfffn)),
        minor: Number((s.rdev & 0xffn) | ((s.rdev >> 12n) & ~0xffn)),
        mode: 0o600,
      });
    } else return;
    this.#meta(target, meta, false);
  }

  #clear(target: string): void {
    const existing = lstatSync(target, { throwIfNoEntry: false });
    if (existing === undefined) return;
    if (existing.isDirectory()) rmSync(target, { recursive: true, force: true });
    else rmSync(target, { force: true });
  }

  // Owner, then mode (chown clears set-id bits), then xattrs (chown clears
  // security.capability), then times; directory times wait for finish().
  #meta(target: string, meta: Meta, existed: boolean): void {
    const s = meta.stat;
    const symlink = s.isSymbolicLink();
    try {
      lchownSync(target, Number(s.uid), Number(s.gid));
    } catch (err) {
      if (IS_ROOT || (err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    }
    if (!symlink) chmodSync(target, Number(s.mode & 0o7777n));
    if (existed) {
      for (const name of lgetxattrs(target).keys()) {
        if (!meta.xattrs.has(name) && !isOverlayXattr(name)) {
          removexattr(target, name, { noFollow: true });
        }
      }
    }
    for (const [name, value] of meta.xattrs) {
      try {
        setxattr(target, name, value, { noFollow: true });
      } catch (err) {
        if (isNotImplemented(err)) continue;
        // The kernel allows user.* only on files and directories.
        if (
          isPermissionDenied(err) &&
          name.startsWith("user.") &&
          !s.isFile() &&
          !s.isDirectory()
        ) {
          continue;
        }
        throw err;
      }
    }
    if (s.isDirectory()) {
      this.#dirTimes.set(target, [seconds(s.atimeNs), seconds(s.mtimeNs)]);
    } else {
      lutimesSync(target, seconds(s.atimeNs), seconds(s.mtimeNs));
    }
  }
}

function isOverlayXattr(name: string): boolean {
  return name.startsWith("trusted.overlay.") || name.startsWith("user.overlay.");
}
