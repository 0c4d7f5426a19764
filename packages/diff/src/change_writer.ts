import { readFileSync, readlinkSync } from "node:fs";
import { open } from "node:fs/promises";
import { type Meta, readMeta } from "./_meta.ts";
import type { Change } from "./changes.ts";
import type { TarHeader } from "./tar/header.ts";
import type { TarWriteEntry } from "./tar/write_tar.ts";
import { WHITEOUT_PREFIX } from "./whiteout.ts";

/** Options of {@link changesToTar}. */
export interface ChangesToTarOptions {
  /** mtime of whiteout entries, seconds (default: now, truncated to seconds, as containerd). */
  whiteoutTime?: number;
  signal?: AbortSignal;
}

const READ_CHUNK = 64 * 1024;
const SMALL_FILE = 256 * 1024;

function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

/**
 * A layer header for `path` from its metadata, as containerd's tar writer
 * makes it: permission bits only, mtime truncated to seconds, no atime/ctime
 * or user names, "/" after directory names, xattrs as `SCHILY.xattr.*`.
 * Undefined for sockets, which layers do not carry.
 */
export function headerFromMeta(root: string, path: string, meta: Meta): TarHeader | undefined {
  const s = meta.stat;
  const h: TarHeader = {
    name: path,
    type: "file",
    mode: Number(s.mode & 0o7777n),
    uid: Number(s.uid),
    gid: Number(s.gid),
    size: 0,
    mtime: Number(s.mtimeNs / 1_000_000_000n),
  };
  if (s.isFile()) h.size = Number(s.size);
  else if (s.isDirectory()) {
    h.type = "directory";
    h.name = `${path}/`;
  } else if (s.isSymbolicLink()) {
    h.type = "symlink";
    h.linkname = readlinkSync(`${root}/${path}`);
  } else if (s.isCharacterDevice() || s.isBlockDevice()) {
    h.type = s.isCharacterDevice() ? "char" : "block";
    h.devmajor = major(s.rdev);
    h.devminor = minor(s.rdev);
  } else if (s.isFIFO()) h.type = "fifo";
  else return undefined;
  if (meta.xattrs.size > 0) h.xattrs = new Map(meta.xattrs);
  return h;
}

async function* fileBody(path: string, size: number): AsyncGenerator<Uint8Array> {
  const fh = await open(path, "r");
  try {
    let left = size;
    while (left > 0) {
      const buf = new Uint8Array(Math.min(READ_CHUNK, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length);
      if (bytesRead === 0) break; // shrank while reading: writeTar reports the mismatch
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/**
 * Turns changes of `upper` into layer entries the way containerd's
 * ChangeWriter does: deletes become `.wh.<name>` whiteouts, every entry's
 * parent directories are written first (once, never the root), a file with
 * several links is written once and its other names as hardlinks to it,
 * unchanged names included (reported as "unmodified"), right after it.
 */
export async function* changesToTar(
  upper: string,
  changes: AsyncIterable<Change>,
  options: ChangesToTarOptions = {},
): AsyncGenerator<TarWriteEntry, void, undefined> {
  const whiteoutTime = options.whiteoutTime ?? Math.floor(Date.now() / 1000);
  const emitted = new Set<string>();
  const inodes = new Map<string, string>();
  // Unchanged names of a multiply-linked inode, waiting for a changed name of
  // it to be written (then they follow it as links).
  const waiting = new Map<string, Array<{ path: string; header: TarHeader }>>();

  async function* parents(path: string): AsyncGenerator<TarWriteEntry> {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (emitted.has(dir)) continue;
      emitted.add(dir);
      const meta = readMeta(`${upper}/${dir}`);
      if (!meta) continue;
      const header = headerFromMeta(upper, dir, meta);
      if (header) yield { header };
    }
  }

  for await (const change of changes) {
    options.signal?.throwIfAborted();
    if (change.kind === "delete") {
      yield* parents(change.path);
      const slash = change.path.lastIndexOf("/");
      const name = `${change.path.slice(0, slash + 1)}${WHITEOUT_PREFIX}${change.path.slice(slash + 1)}`;
      yield {
        header: { name, type: "file", mode: 0, uid: 0, gid: 0, size: 0, mtime: whiteoutTime },
      };
      continue;
    }
    const meta = change.meta ?? readMeta(`${upper}/${change.path}`);
    if (!meta) continue;
    const header = headerFromMeta(upper, change.path, meta);
    if (!header) continue; // sockets
    if (change.kind === "unmodified") {
      const key = `${meta.stat.dev}:${meta.stat.ino}`;
      const source = inodes.get(key);
      if (source !== undefined) {
        yield* parents(change.path);
        yield { header: { ...header, type: "link", linkname: source, size: 0 } };
      } else {
        const list = waiting.get(key) ?? [];
        list.push({ path: change.path, header });
        waiting.set(key, list);
      }
      continue;
    }
    yield* parents(change.path);
    if (header.type === "directory") {
      if (emitted.has(change.path)) continue;
      emitted.add(change.path);
      yield { header };
      continue;
    }
    if (meta.stat.nlink > 1n) {
      const key = `${meta.stat.dev}:${meta.stat.ino}`;
      const first = inodes.get(key);
      if (first !== undefined) {
        yield { header: { ...header, type: "link", linkname: first, size: 0 } };
        continue;
      }
      inodes.set(key, change.path);
    }
    if (header.type === "file" && header.size > 0) {
      const path = `${upper}/${change.path}`;
      // Small files in one synchronous read; big ones streamed.
      const body = header.size <= SMALL_FILE ? readFileSync(path) : fileBody(path, header.size);
      yield { header, body };
    } else {
      yield { header };
    }
    if (meta.stat.nlink > 1n && waiting.size > 0) {
      const key = `${meta.stat.dev}:${meta.stat.ino}`;
      for (const ref of waiting.get(key) ?? []) {
        yield* parents(ref.path);
        yield { header: { ...ref.header, type: "link", linkname: change.path, size: 0 } };
      }
      waiting.delete(key);
    }
  }
}
