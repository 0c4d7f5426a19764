import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { lgetxattrs } from "@strata/sys";
/** Concatenates a byte stream (tests only). */
export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const p of source) {
    parts.push(p);
    n += p.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Yields `bytes` in pieces of `size` (tests only: exercises chunk boundaries). */
export async function* chunks(bytes: Uint8Array, size = 7): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Runs a command, returning stdout; throws with stderr on failure. */
export function run(cmd: string, args: string[], options: { cwd?: string } = {}): Buffer {
  return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
}

/** One path of a tree, as {@link snapshotTree} records it (tests only). */
export interface TreeRecord {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  link?: string;
  data?: string;
  rdev?: number;
  xattrs?: Record<string, string>;
  /** Index of the hardlink group (paths sharing an inode), when nlink > 1. */
  group?: number;
}

/** Every path under root with its metadata, sorted (tests only). */
export function snapshotTree(
  root: string,
  options: { dirTimes?: boolean; ignore?: (xattr: string) => boolean } = {},
): TreeRecord[] {
  const out: TreeRecord[] = [];
  const groups = new Map<string, number>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel ? `${root}/${rel}` : root).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const full = `${root}/${path}`;
      const st = lstatSync(full);
      const type = st.isFile()
        ? "file"
        : st.isDirectory()
          ? "dir"
          : st.isSymbolicLink()
            ? "symlink"
            : st.isFIFO()
              ? "fifo"
              : st.isCharacterDevice()
                ? "char"
                : st.isBlockDevice()
                  ? "block"
                  : "other";
      const r: TreeRecord = {
        path,
        type,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: type === "dir" && !options.dirTimes ? 0 : Math.floor(st.mtimeMs / 1000),
        size: type === "file" ? st.size : 0,
      };
      if (type === "symlink") r.link = readlinkSync(full);
      if (type === "file") r.data = createHash("sha256").update(readFileSync(full)).digest("hex");
      if (type === "char" || type === "block") r.rdev = st.rdev;
      const x = lgetxattrs(full);
      const kept = [...x].filter(([k]) => !options.ignore?.(k));
      if (kept.length) {
        r.xattrs = Object.fromEntries(kept.map(([k, v]) => [k, Buffer.from(v).toString("hex")]));
      }
      if (type !== "dir" && st.nlink > 1) {
        const key = String(st.ino);
        if (!groups.has(key)) groups.set(key, groups.size);
        r.group = groups.get(key) as number;
      }
      out.push(r);
      if (type === "dir") walk(path);
    }
  };
  walk("");
  return out;
}
