// Comparing directory trees after a layer went through Strata and a real
// tool: every path's type, mode bits, owner, size and contents, symlink
// target, device numbers, extended attributes (binary, as hex), hardlink
// groups and modification time at a chosen precision.
import { createHash } from "node:crypto";
import { type BigIntStats, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { lgetxattrs } from "@strata/sys";

/** What {@link snapshotTree} records for one path (relative to the root). */
export interface TreeEntry {
  path: string;
  type: "file" | "dir" | "symlink" | "fifo" | "char" | "block" | "socket";
  /** Permission bits with setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in nanoseconds. */
  mtimeNs: bigint;
  /** Files: bytes. */
  size?: number;
  /** Files: sha256 of the contents (hex). */
  sha256?: string;
  /** Symlinks: the target as stored. */
  link?: string;
  /** Devices: "major:minor". */
  device?: string;
  /** Extended attributes, values as hex. */
  xattrs: Record<string, string>;
  /** For the later names of a multiply-linked file: the first name (in sorted order). */
  hardlinkOf?: string;
}

/** How closely {@link compareTrees} compares modification times. */
export type MtimePrecision = "exact" | "microseconds" | "seconds" | "nearest-second" | "ignore";

/** Options of {@link compareTrees}. */
export interface CompareOptions {
  /**
   * Default "seconds": whole seconds, truncated (what containerd's layer
   * writer keeps). "nearest-second": what Go's tar writer keeps in a ustar
   * header (rounded). "microseconds": within a microsecond (a PAX time read
   * into a float of seconds).
   */
  mtime?: MtimePrecision;
  /** Compare directory mtimes too (default true). */
  dirMtimes?: boolean;
  /** Compare symlink mtimes too (default true). */
  symlinkMtimes?: boolean;
  /** Extended attributes to leave out, by name prefix. */
  ignoreXattrs?: readonly string[];
  /** Paths to leave out (exact relative paths). */
  ignorePaths?: readonly string[];
}

function typeOf(st: BigIntStats): TreeEntry["type"] {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFIFO()) return "fifo";
  if (st.isCharacterDevice()) return "char";
  if (st.isBlockDevice()) return "block";
  return "socket";
}

function hashFile(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * Every path under `root` (the root itself left out), sorted by path, with
 * its metadata. Reads xattrs with `@strata/sys` (one system call per path)
 * and contents whole (the trees in these tests are small).
 */
export function snapshotTree(root: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const inodes = new Map<string, bigint>();
  const walk = (rel: string): void => {
    const names = readdirSync(rel === "" ? root : `${root}/${rel}`).sort();
    for (const name of names) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const full = `${root}/${path}`;
      const st = lstatSync(full, { bigint: true });
      const type = typeOf(st);
      const xattrs: Record<string, string> = {};
      for (const [k, v] of [...lgetxattrs(full)].sort(([a], [b]) => (a < b ? -1 : 1))) {
        xattrs[k] = Buffer.from(v).toString("hex");
      }
      const entry: TreeEntry = {
        path,
        type,
        mode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtimeNs: st.mtimeNs,
        xattrs,
      };
      if (type === "file") {
        entry.size = Number(st.size);
        entry.sha256 = hashFile(full);
      } else if (type === "symlink") {
        entry.link = readlinkSync(full);
      } else if (type === "char" || type === "block") {
        const rdev = st.rdev;
        // glibc's gnu_dev_major/minor split of a 64-bit dev_t.
        const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
        const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
        entry.device = `${major}:${minor}`;
      }
      out.push(entry);
      if (type !== "dir" && st.nlink > 1n) inodes.set(path, st.ino);
      if (type === "dir") walk(path);
    }
  };
  walk("");
  // Hardlink groups are named by their first path in sorted order, so two
  // trees with the same groups compare equal whatever their inode numbers.
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const firstName = new Map<bigint, string>();
  for (const e of out) {
    const ino = inodes.get(e.path);
    if (ino === undefined) continue;
    const first = firstName.get(ino);
    if (first === undefined) firstName.set(ino, e.path);
    else e.hardlinkOf = first;
  }
  return out;
}

function mtimeKey(ns: bigint, precision: MtimePrecision): bigint {
  switch (precision) {
    case "exact":
      return ns;
    case "microseconds":
      return ns / 1000n;
    case "seconds":
      return ns / 1_000_000_000n;
    case "nearest-second":
      return (ns + 500_000_000n) / 1_000_000_000n;
    case "ignore":
      return 0n;
  }
}

function mtimeEqual(a: bigint, b: bigint, precision: MtimePrecision): boolean {
  // A float of seconds keeps about 0.2 µs today: allow one unit of slack.
  if (precision === "microseconds") return (a > b ? a - b : b - a) < 1000n;
  return mtimeKey(a, precision) === mtimeKey(b, precision);
}

/**
 * The differences between two trees, one line each (empty when equal), so a
 * failing test shows every difference at once.
 *
 * @example
 * ```ts
 * expect(compareTrees(snapshotTree(src), snapshotTree(out), { mtime: "seconds" })).toEqual([]);
 * ```
 */
export function compareTrees(
  expected: readonly TreeEntry[],
  actual: readonly TreeEntry[],
  options: CompareOptions = {},
): string[] {
  const precision = options.mtime ?? "seconds";
  const ignorePaths = new Set(options.ignorePaths ?? []);
  const ignored = (name: string) => (options.ignoreXattrs ?? []).some((p) => name.startsWith(p));
  const xattrs = (e: TreeEntry) =>
    JSON.stringify(Object.entries(e.xattrs).filter(([k]) => !ignored(k)));
  const byPath = new Map(actual.map((e) => [e.path, e]));
  const diffs: string[] = [];
  for (const want of expected) {
    if (ignorePaths.has(want.path)) continue;
    const got = byPath.get(want.path);
    byPath.delete(want.path);
    if (got === undefined) {
      diffs.push(`${want.path}: missing`);
      continue;
    }
    const fields: Array<[string, unknown, unknown]> = [
      ["type", want.type, got.type],
      ["mode", want.mode.toString(8), got.mode.toString(8)],
      ["uid", want.uid, got.uid],
      ["gid", want.gid, got.gid],
      ["size", want.size, got.size],
      ["sha256", want.sha256, got.sha256],
      ["link", want.link, got.link],
      ["device", want.device, got.device],
      ["xattrs", xattrs(want), xattrs(got)],
      ["hardlinkOf", want.hardlinkOf, got.hardlinkOf],
    ];
    for (const [name, a, b] of fields) {
      if (a !== b) diffs.push(`${want.path}: ${name} ${String(a)} != ${String(b)}`);
    }
    const skipTime =
      (want.type === "dir" && options.dirMtimes === false) ||
      (want.type === "symlink" && options.symlinkMtimes === false);
    if (!skipTime && !mtimeEqual(want.mtimeNs, got.mtimeNs, precision)) {
      diffs.push(`${want.path}: mtime ${want.mtimeNs}ns != ${got.mtimeNs}ns (${precision})`);
    }
  }
  for (const extra of byPath.keys())
    if (!ignorePaths.has(extra)) diffs.push(`${extra}: unexpected`);
  return diffs;
}
