import { closeSync, openSync, readlinkSync, readSync } from "node:fs";
import { type Meta, sameXattrs } from "./_meta.ts";

const TYPE_MASK = 0o170000n;

/**
 * continuity's sameFile: metadata decides where it can; contents are read
 * only when both mtimes are whole seconds.
 */
export function sameFile(lowerPath: string, upperPath: string, l: Meta, u: Meta): boolean {
  const a = l.stat;
  const b = u.stat;
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return false;
  if (!sameXattrs(l.xattrs, u.xattrs)) return false;
  if ((a.mode & TYPE_MASK) === 0o040000n) return true; // directories: metadata only
  if (a.size !== b.size) return false;
  const sec = 1_000_000_000n;
  if (a.mtimeNs / sec !== b.mtimeNs / sec) return false;
  const an = a.mtimeNs % sec;
  const bn = b.mtimeNs % sec;
  if (an !== bn) return false;
  if (an !== 0n) return true;
  // Both truncated to whole seconds: metadata cannot tell, look at the data.
  if (a.isSymbolicLink()) return readlinkSync(lowerPath) === readlinkSync(upperPath);
  if (a.isFile()) return sameContents(lowerPath, upperPath);
  return true;
}

function sameContents(p: string, q: string): boolean {
  const f = openSync(p, "r");
  try {
    const g = openSync(q, "r");
    try {
      const size = 256 * 1024;
      const x = Buffer.allocUnsafe(size);
      const y = Buffer.allocUnsafe(size);
      for (;;) {
        const r = readFull(f, x);
        const s = readFull(g, y);
        if (r !== s) return false;
        if (r === 0) return true;
        if (x.compare(y, 0, s, 0, r) !== 0) return false;
      }
    } finally {
      closeSync(g);
    }
  } finally {
    closeSync(f);
  }
}

function readFull(fd: number, buf: Buffer): number {
  let n = 0;
  while (n < buf.length) {
    const r = readSync(fd, buf, n, buf.length - n, null);
    if (r === 0) break;
    n += r;
  }
  return n;
}
