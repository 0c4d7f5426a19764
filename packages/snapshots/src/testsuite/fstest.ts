import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from "node:fs";
import {
  chmod as fsChmod,
  link as fsLink,
  rename as fsRename,
  symlink as fsSymlink,
  lchown,
  lutimes,
  mkdir,
  rm,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { lgetxattrs } from "@strata/sys";

/**
 * A change to a directory tree, applied under `root` (continuity's
 * `fstest.Applier`). Paths given to the constructors below are relative to
 * the root; a leading `/` is allowed.
 */
export type Applier = (root: string) => Promise<void>;

const under = (root: string, path: string): string => join(root, path.replace(/^\/+/, ""));

/** Runs `appliers` in order. */
export function apply(...appliers: Applier[]): Applier {
  return async (root) => {
    for (const a of appliers) await a(root);
  };
}

/** Options of {@link createFile}. */
export interface CreateFileOptions {
  /** Sets access and modification time of the file (otherwise: now). */
  mtime?: Date;
}

/**
 * Writes a file (replacing one that exists) and sets its permission bits to
 * `mode` exactly, whatever the umask.
 */
export function createFile(
  path: string,
  data: string | Uint8Array,
  mode: number,
  options: CreateFileOptions = {},
): Applier {
  return async (root) => {
    const p = under(root, path);
    await writeFile(p, data);
    await fsChmod(p, mode);
    if (options.mtime !== undefined) await lutimes(p, options.mtime, options.mtime);
  };
}

/** Creates a directory (and missing parents) with permission bits `mode` exactly. */
export function createDir(path: string, mode: number): Applier {
  return async (root) => {
    const p = under(root, path);
    await mkdir(p, { recursive: true });
    await fsChmod(p, mode);
  };
}

/** Removes a path and everything below it; a missing path is fine. */
export function removeAll(path: string): Applier {
  return (root) => rm(under(root, path), { recursive: true, force: true });
}

/** Changes the owner of a path (not following a final symlink). */
export function chown(path: string, uid: number, gid: number): Applier {
  return (root) => lchown(under(root, path), uid, gid);
}

/** Changes the permission bits of a path. */
export function chmod(path: string, mode: number): Applier {
  return (root) => fsChmod(under(root, path), mode);
}

/** Sets access and modification times of a path (not following a final symlink). */
export function chtimes(path: string, atime: Date, mtime: Date): Applier {
  return (root) => lutimes(under(root, path), atime, mtime);
}

/** Makes `newPath` a hard link to `oldPath`. */
export function link(oldPath: string, newPath: string): Applier {
  return (root) => fsLink(under(root, oldPath), under(root, newPath));
}

/** Creates a symlink at `path` pointing to `target` (taken as it is). */
export function symlink(target: string, path: string): Applier {
  return (root) => fsSymlink(target, under(root, path));
}

/** Renames `from` to `to`, replacing a file at `to`. */
export function rename(from: string, to: string): Applier {
  return (root) => fsRename(under(root, from), under(root, to));
}

/** Options of {@link compareTrees}. */
export interface CompareTreesOptions {
  /**
   * Also compare modification times of files and symlinks (to the
   * millisecond); only meaningful when the appliers set them explicitly.
   */
  mtimes?: boolean;
}

interface Entry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  rdev: number;
  mtimeMs: number;
  ino: number;
  target?: string;
  digest?: string;
  xattrs: string;
}

function typeOf(s: Stats): string {
  if (s.isFile()) return "file";
  if (s.isDirectory()) return "dir";
  if (s.isSymbolicLink()) return "symlink";
  if (s.isCharacterDevice()) return "char";
  if (s.isBlockDevice()) return "block";
  if (s.isFIFO()) return "fifo";
  return "socket";
}

// Sync calls: for the many small files of test trees they are several
// times faster than round trips through the thread pool.
function digestFile(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function xattrsOf(path: string): string {
  const pairs = [...lgetxattrs(path)].map(
    ([name, value]) => `${name}=${Buffer.from(value).toString("hex")}`,
  );
  return pairs.sort().join(",");
}

function scan(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const r = `${rel}/${name}`;
      const s = lstatSync(path);
      const e: Entry = {
        type: typeOf(s),
        mode: s.mode & 0o7777,
        uid: s.uid,
        gid: s.gid,
        size: s.isFile() ? s.size : 0,
        rdev: s.rdev,
        mtimeMs: s.mtimeMs,
        ino: s.ino,
        xattrs: xattrsOf(path),
      };
      if (e.type === "symlink") e.target = readlinkSync(path);
      if (e.type === "file") e.digest = digestFile(path);
      out.set(r, e);
      if (e.type === "dir") walk(path, r);
    }
  };
  walk(root, "");
  return out;
}

// For each path, the other paths of the tree that are the same inode.
function linkGroups(entries: Map<string, Entry>): Map<string, string> {
  const byIno = new Map<number, string[]>();
  for (const [path, e] of entries) {
    if (e.type === "dir") continue;
    byIno.set(e.ino, [...(byIno.get(e.ino) ?? []), path]);
  }
  const out = new Map<string, string>();
  for (const paths of byIno.values()) {
    if (paths.length < 2) continue;
    for (const p of paths) out.set(p, paths.filter((q) => q !== p).join(","));
  }
  return out;
}

/**
 * Compares the trees under `expected` and `actual` as continuity's
 * `fstest.CheckDirectoryEqual` does (the roots themselves excluded): the
 * same paths with the same type, permission bits, owner, size, content
 * (sha256), symlink target, device number, extended attributes and
 * hard-link grouping; directory times are never compared. Returns one line
 * per difference, empty when the trees are equal.
 *
 * @example
 * ```ts
 * expect(await compareTrees(flat, mounted)).toEqual([]);
 * ```
 */
export async function compareTrees(
  expected: string,
  actual: string,
  options: CompareTreesOptions = {},
): Promise<string[]> {
  const [want, got] = [scan(expected), scan(actual)];
  const [wantLinks, gotLinks] = [linkGroups(want), linkGroups(got)];
  const diffs: string[] = [];
  for (const [path, w] of want) {
    const g = got.get(path);
    if (g === undefined) {
      diffs.push(`${path}: missing`);
      continue;
    }
    const fields: (keyof Entry)[] = [
      "type",
      "mode",
      "uid",
      "gid",
      "size",
      "rdev",
      "target",
      "digest",
      "xattrs",
    ];
    if (options.mtimes === true && w.type !== "dir") fields.push("mtimeMs");
    for (const f of fields) {
      const [a, b] =
        f === "mode" ? [w.mode.toString(8), g.mode.toString(8)] : [String(w[f]), String(g[f])];
      if (a !== b) diffs.push(`${path}: ${f} ${a} != ${b}`);
    }
    const [wl, gl] = [wantLinks.get(path) ?? "", gotLinks.get(path) ?? ""];
    if (wl !== gl) diffs.push(`${path}: hard links [${wl}] != [${gl}]`);
  }
  for (const path of got.keys()) if (!want.has(path)) diffs.push(`${path}: unexpected`);
  return diffs;
}
