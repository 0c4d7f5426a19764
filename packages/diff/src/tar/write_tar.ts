import { InvalidArgumentError } from "@strata/errdefs";
import {
  BLOCK,
  checksums,
  encodeUtf8,
  F,
  fitsOctal,
  formatPax,
  formatPaxTime,
  TYPE,
  writeOctal,
  writeString,
} from "./_format.ts";
import type { TarEntryType, TarHeader } from "./header.ts";

/** One entry to write: a header and, for regular files, header.size bytes of body. */
export interface TarWriteEntry {
  header: TarHeader;
  body?: AsyncIterable<Uint8Array> | Uint8Array;
}

/** Options of {@link writeTar}. */
export interface WriteTarOptions {
  signal?: AbortSignal;
}

const FLAGS: Record<TarEntryType, number> = {
  file: TYPE.file,
  link: TYPE.link,
  symlink: TYPE.symlink,
  char: TYPE.char,
  block: TYPE.block,
  directory: TYPE.directory,
  fifo: TYPE.fifo,
};

const NAME_MAX = 100;
const PREFIX_MAX = 155;
const OUT_CHUNK = 64 * 1024;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === 0) return false;
  }
  return true;
}

// Go's rule: split at the last "/" that leaves a prefix of at most 155 bytes
// and a non-empty name of at most 100.
function splitUstar(name: string): [string, string] | undefined {
  if (name.length <= NAME_MAX || !isAscii(name)) return undefined;
  let length = name.length;
  if (length > PREFIX_MAX + 1) length = PREFIX_MAX + 1;
  else if (name[length - 1] === "/") length--;
  const i = name.lastIndexOf("/", length - 1);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > NAME_MAX || nlen === 0 || i > PREFIX_MAX) return undefined;
  return [name.slice(0, i), name.slice(i + 1)];
}

function asciiTruncated(s: string, max: number): string {
  let out = "";
  for (const ch of s) {
    if (out.length >= max) break;
    const c = ch.charCodeAt(0);
    if (c < 0x80 && c !== 0) out += ch;
  }
  return out;
}

function finishBlock(block: Uint8Array): Uint8Array {
  block.set(encodeUtf8("ustar\u0000"), F.magic[0]);
  block.set(encodeUtf8("00"), F.version[0]);
  const [sum] = checksums(block);
  writeOctal(block, [F.chksum[0], 7], sum);
  block[F.chksum[0] + 7] = 0x20;
  return block;
}

/** The header block(s) of one entry: an optional PAX header with its records, then ustar. */
export function encodeHeader(h: TarHeader): Uint8Array[] {
  validate(h);
  const block = new Uint8Array(BLOCK);
  const pax: Array<[string, Uint8Array]> = [];
  const text = (key: string, value: string): void => {
    pax.push([key, encodeUtf8(value)]);
  };

  if (isAscii(h.name) && h.name.length <= NAME_MAX) {
    writeString(block, F.name, h.name);
  } else {
    const split = splitUstar(h.name);
    if (split) {
      writeString(block, F.prefix, split[0]);
      writeString(block, F.name, split[1]);
    } else {
      text("path", h.name);
      writeString(block, F.name, asciiTruncated(h.name, NAME_MAX));
    }
  }
  const linkname = h.linkname ?? "";
  if (isAscii(linkname) && linkname.length <= NAME_MAX) {
    writeString(block, F.linkname, linkname);
  } else {
    text("linkpath", linkname);
    writeString(block, F.linkname, asciiTruncated(linkname, NAME_MAX));
  }
  writeOctal(block, F.mode, h.mode & 0o7777);
  for (const key of ["uid", "gid"] as const) {
    if (!writeOctal(block, F[key], h[key])) {
      text(key, String(h[key]));
      writeOctal(block, F[key], 0);
    }
  }
  const size = h.type === "file" ? h.size : 0;
  if (!writeOctal(block, F.size, size)) {
    text("size", String(size));
    writeOctal(block, F.size, 0);
  }
  const whole = Math.floor(h.mtime);
  if (whole !== h.mtime || !fitsOctal(whole, F.mtime[1])) {
    text("mtime", formatPaxTime(h.mtime));
  }
  writeOctal(block, F.mtime, fitsOctal(whole, F.mtime[1]) ? whole : 0);
  if (h.atime !== undefined) text("atime", formatPaxTime(h.atime));
  if (h.ctime !== undefined) text("ctime", formatPaxTime(h.ctime));
  block[F.typeflag[0]] = FLAGS[h.type];
  for (const key of ["uname", "gname"] as const) {
    const v = h[key] ?? "";
    if (isAscii(v) && v.length <= F[key][1]) writeString(block, F[key], v);
    else text(key, v);
  }
  writeOctal(block, F.devmajor, h.devmajor ?? 0);
  writeOctal(block, F.devminor, h.devminor ?? 0);
  if (h.xattrs) for (const [k, v] of h.xattrs) pax.push([`SCHILY.xattr.${k}`, v]);
  if (h.pax) for (const [k, v] of h.pax) pax.push([k, v]);
  finishBlock(block);
  if (pax.length === 0) return [block];

  // Go sorts the records by key.
  pax.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const data = formatPax(pax);
  const raw = new Uint8Array(BLOCK);
  const slash = h.name.replace(/\/+$/, "").lastIndexOf("/");
  const dir = slash === -1 ? "" : h.name.slice(0, slash + 1);
  const file = h.name.replace(/\/+$/, "").slice(slash + 1);
  const paxName = `${dir}PaxHeaders.0${file ? `/${file}` : ""}`;
  writeString(raw, F.name, asciiTruncated(paxName, NAME_MAX).replace(/\/+$/, ""));
  writeOctal(raw, F.mode, 0);
  writeOctal(raw, F.uid, 0);
  writeOctal(raw, F.gid, 0);
  writeOctal(raw, F.size, data.length);
  writeOctal(raw, F.mtime, 0);
  raw[F.typeflag[0]] = TYPE.paxLocal;
  finishBlock(raw);
  const padded = new Uint8Array(Math.ceil(data.length / BLOCK) * BLOCK);
  padded.set(data);
  return [raw, padded, block];
}

function validate(h: TarHeader): void {
  const what = `cannot write tar entry ${JSON.stringify(h.name)}`;
  if (!h.name) throw new InvalidArgumentError(`${what}: empty name`);
  if (h.name.includes("\u0000")) throw new InvalidArgumentError(`${what}: NUL in name`);
  if (!(h.type in FLAGS)) throw new InvalidArgumentError(`${what}: unknown type ${h.type}`);
  for (const key of ["mode", "uid", "gid", "size"] as const) {
    if (!Number.isSafeInteger(h[key]) || h[key] < 0) {
      throw new InvalidArgumentError(`${what}: ${key} ${h[key]} is not a non-negative integer`);
    }
  }
  if (!Number.isFinite(h.mtime) || h.mtime < 0) {
    throw new InvalidArgumentError(`${what}: mtime ${h.mtime} is not a time after the epoch`);
  }
  if ((h.type === "link" || h.type === "symlink") && !h.linkname) {
    throw new InvalidArgumentError(`${what}: ${h.type} without linkname`);
  }
  if (h.xattrs) {
    for (const k of h.xattrs.keys()) {
      if (!k || k.includes("=") || k.includes("\u0000")) {
        throw new InvalidArgumentError(`${what}: invalid xattr name ${JSON.stringify(k)}`);
      }
    }
  }
}

/** Collects small pieces into larger chunks so consumers see few, large writes. */
class Coalescer {
  #buf = new Uint8Array(OUT_CHUNK);
  #len = 0;

  *push(bytes: Uint8Array): Generator<Uint8Array> {
    if (bytes.length >= OUT_CHUNK / 2) {
      yield* this.flush();
      yield bytes;
      return;
    }
    if (this.#len + bytes.length > OUT_CHUNK) yield* this.flush();
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  *flush(): Generator<Uint8Array> {
    if (this.#len === 0) return;
    yield this.#buf.slice(0, this.#len);
    this.#len = 0;
  }
}

/**
 * Writes a tar stream the way Go's archive/tar does for containerd and
 * BuildKit: a ustar block per entry, a PAX header (records sorted by key)
 * only when a value does not fit ustar (long or non-ASCII names, large ids or
 * sizes, sub-second times, xattrs as `SCHILY.xattr.*`), and two zero blocks
 * at the end, with no further padding.
 *
 * @throws {InvalidArgumentError} for an invalid header or a body whose length
 *   differs from header.size.
 * @example
 * ```ts
 * const tar = writeTar([{ header: { name: "hello", type: "file", mode: 0o644, uid: 0,
 *   gid: 0, size: 2, mtime: 0 }, body: new TextEncoder().encode("hi") }]);
 * ```
 */
export async function* writeTar(
  entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>,
  options: WriteTarOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const out = new Coalescer();
  for await (const { header, body } of entries) {
    options.signal?.throwIfAborted();
    for (const b of encodeHeader(header)) yield* out.push(b);
    const size = header.type === "file" ? header.size : 0;
    let written = 0;
    if (body !== undefined && size > 0) {
      const chunks = body instanceof Uint8Array ? [body] : body;
      for await (const chunk of chunks) {
        written += chunk.length;
        if (written > size) break;
        yield* out.push(chunk);
      }
    }
    if (written !== size) {
      throw new InvalidArgumentError(
        `cannot write tar entry ${JSON.stringify(header.name)}: header size ${size}, body ${written > size ? "longer" : `${written} bytes`}`,
      );
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) yield* out.push(new Uint8Array(pad));
  }
  yield* out.push(new Uint8Array(BLOCK * 2));
  yield* out.flush();
}
