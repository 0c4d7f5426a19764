import { DataLossError, InvalidArgumentError } from "@strata/errdefs";
import { ByteReader } from "./_byte_reader.ts";
import {
  BLOCK,
  checksums,
  decodeUtf8,
  F,
  isZeroBlock,
  MAX_SPECIAL_SIZE,
  parsePax,
  parsePaxInt,
  parsePaxTime,
  readNumber,
  readString,
  TYPE,
} from "./_format.ts";
import type { TarEntryType, TarHeader } from "./header.ts";

/** One entry of a tar stream: its header and its body. */
export interface TarEntry {
  header: TarHeader;
  /**
   * The body's bytes (header.size of them). Read it before asking for the
   * next entry, or it is skipped; reading it after that throws.
   */
  body: AsyncIterable<Uint8Array>;
}

/** Options of {@link readTar}. */
export interface ReadTarOptions {
  signal?: AbortSignal;
  /**
   * Called once at the end with the bytes read in total, including the
   * end-of-archive blocks and whatever follows them (which is read and
   * discarded, as containerd does, so a digest over the input is complete).
   */
  onEnd?: (totalBytes: number) => void;
  /**
   * Accept a stream that ends between entries without the end-of-archive
   * marker (and without the last body's padding), as Go's archive/tar does:
   * umoci 0.4 `insert` wrote such layers, and containerd and umoci apply
   * them. A stream ending inside a header or a body is still DataLoss.
   * Default false.
   */
  allowMissingEnd?: boolean;
}

const TYPES: Record<number, TarEntryType> = {
  [TYPE.file]: "file",
  [TYPE.fileOld]: "file",
  [TYPE.contiguous]: "file",
  [TYPE.link]: "link",
  [TYPE.symlink]: "symlink",
  [TYPE.char]: "char",
  [TYPE.block]: "block",
  [TYPE.directory]: "directory",
  [TYPE.fifo]: "fifo",
};

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

interface Pending {
  pax?: Map<string, Uint8Array>;
  longName?: string;
  longLink?: string;
}

/**
 * Reads a tar stream entry by entry: ustar, PAX (binary values kept, so
 * `SCHILY.xattr.*` round-trips), GNU long names and links, base-256 numbers.
 * Global PAX headers are read and ignored. Every header's checksum is checked.
 *
 * @throws {InvalidArgumentError} on a bad checksum, a malformed or negative
 *   field, an unsupported entry type (sparse, multi-volume), or an oversized
 *   PAX/long-name record.
 * @throws {DataLossError} when the stream ends inside a header or a body, or
 *   before the end-of-archive marker (unless `allowMissingEnd`).
 * @example
 * ```ts
 * for await (const { header, body } of readTar(stream)) {
 *   if (header.type === "file") for await (const chunk of body) use(chunk);
 * }
 * ```
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const reader = new ByteReader(source);
  let pending: Pending = {};
  // The entry handed out last: what its body has left, and its padding.
  let current: { left: number; pad: number; stale: boolean } | undefined;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      if (current) {
        current.stale = true;
        const { left, pad } = current;
        current = undefined;
        if (!options.allowMissingEnd) {
          await reader.skip(left + pad, "the previous entry's body");
        } else {
          await reader.skip(left, "the previous entry's body");
          if ((await reader.skipUpTo(pad)) < pad) {
            options.onEnd?.(reader.consumed);
            return;
          }
        }
      }
      const block = await reader.readUpTo(BLOCK);
      if (block.length === 0) {
        // An extended header must be followed by its entry's header.
        if (options.allowMissingEnd && Object.keys(pending).length === 0) {
          options.onEnd?.(reader.consumed);
          return;
        }
        throw new DataLossError("truncated tar archive: no end-of-archive marker");
      }
      if (block.length < BLOCK) {
        throw new DataLossError(
          `truncated tar archive: header needs ${BLOCK} bytes, got ${block.length}`,
        );
      }
      if (isZeroBlock(block)) {
        // The end: a second zero block should follow; tolerate its absence
        // like GNU tar and Go do, then drain trailing bytes.
        await reader.drain();
        options.onEnd?.(reader.consumed);
        return;
      }
      const header = parseBlock(block, reader.consumed - BLOCK);
      const flag = block[F.typeflag[0]] ?? 0;
      if (
        flag === TYPE.paxLocal ||
        flag === TYPE.paxGlobal ||
        flag === TYPE.gnuLongName ||
        flag === TYPE.gnuLongLink
      ) {
        if (header.size > MAX_SPECIAL_SIZE) {
          throw new InvalidArgumentError(
            `invalid tar archive: ${String.fromCharCode(flag)} header of ${header.size} bytes exceeds ${MAX_SPECIAL_SIZE}`,
          );
        }
        const data = await reader.readExact(header.size, "an extended header");
        await reader.skip(padding(header.size), "extended header padding");
        if (flag === TYPE.paxLocal) {
          pending.pax = parsePax(data);
        } else if (flag === TYPE.paxGlobal) {
          parsePax(data); // validated, then ignored: layers must not depend on it
        } else {
          const nul = data.indexOf(0);
          const text = decodeUtf8(nul === -1 ? data : data.subarray(0, nul));
          if (flag === TYPE.gnuLongName) pending.longName = text;
          else pending.longLink = text;
        }
        continue;
      }
      const type = TYPES[flag];
      if (type === undefined) {
        throw new InvalidArgumentError(
          `unsupported tar entry type ${JSON.stringify(String.fromCharCode(flag))} for ${JSON.stringify(header.name)}`,
        );
      }
      header.type = type;
      applyPending(header, pending);
      pending = {};
      if (header.type === "file" && header.name.endsWith("/") && flag === TYPE.fileOld) {
        header.type = "directory"; // V7 archives mark directories by the slash only
      }
      // Only regular files carry a body; the other types are header-only
      // whatever their size field says (as in Go's reader).
      if (header.type !== "file") header.size = 0;
      current = { left: header.size, pad: padding(header.size), stale: false };
      yield { header, body: bodyOf(reader, current, header.name) };
    }
  } finally {
    await reader.close();
  }
}

async function* bodyOf(
  reader: ByteReader,
  state: { left: number; stale: boolean },
  name: string,
): AsyncGenerator<Uint8Array, void, undefined> {
  if (state.stale) {
    throw new InvalidArgumentError(
      `cannot read the body of ${JSON.stringify(name)}: the next entry was already requested`,
    );
  }
  while (state.left > 0) {
    if (state.stale) {
      throw new InvalidArgumentError(
        `cannot read the body of ${JSON.stringify(name)}: the next entry was already requested`,
      );
    }
    const part = await reader.readSome(state.left);
    if (!part) {
      throw new DataLossError(
        `truncated tar archive: body of ${JSON.stringify(name)} ends ${state.left} bytes early`,
      );
    }
    state.left -= part.length;
    yield part;
  }
}

function parseBlock(block: Uint8Array, offset: number): TarHeader {
  const stored = readNumber(block, F.chksum, "checksum");
  const [unsigned, signed] = checksums(block);
  if (stored !== unsigned && stored !== signed) {
    throw new InvalidArgumentError(
      `invalid tar header at offset ${offset}: checksum ${stored} does not match ${unsigned}`,
    );
  }
  const magic = readString(block, F.magic);
  const version = readString(block, [F.version[0], 2]);
  const isUstar = magic === "ustar" && version === "00";
  let name = readString(block, F.name);
  if (isUstar) {
    const prefix = readString(block, F.prefix);
    if (prefix) name = `${prefix}/${name}`;
  }
  const header: TarHeader = {
    name,
    type: "file",
    mode: readNumber(block, F.mode, "mode") & 0o7777,
    uid: readNumber(block, F.uid, "uid"),
    gid: readNumber(block, F.gid, "gid"),
    size: readNumber(block, F.size, "size"),
    mtime: readNumber(block, F.mtime, "mtime"),
  };
  const linkname = readString(block, F.linkname);
  if (linkname) header.linkname = linkname;
  if (magic === "ustar") {
    const uname = readString(block, F.uname);
    const gname = readString(block, F.gname);
    if (uname) header.uname = uname;
    if (gname) header.gname = gname;
    const flag = block[F.typeflag[0]];
    if (flag === TYPE.char || flag === TYPE.block) {
      header.devmajor = readNumber(block, F.devmajor, "devmajor");
      header.devminor = readNumber(block, F.devminor, "devminor");
    }
  }
  return header;
}

function applyPending(header: TarHeader, pending: Pending): void {
  if (pending.longName !== undefined) header.name = pending.longName;
  if (pending.longLink !== undefined) header.linkname = pending.longLink;
  const pax = pending.pax;
  if (!pax) return;
  for (const [key, value] of pax) {
    switch (key) {
      case "path":
        header.name = decodeUtf8(value);
        break;
      case "linkpath":
        header.linkname = decodeUtf8(value);
        break;
      case "size":
        header.size = parsePaxInt(value, key);
        break;
      case "uid":
        header.uid = parsePaxInt(value, key);
        break;
      case "gid":
        header.gid = parsePaxInt(value, key);
        break;
      case "uname":
        header.uname = decodeUtf8(value);
        break;
      case "gname":
        header.gname = decodeUtf8(value);
        break;
      case "mtime":
        header.mtime = parsePaxTime(value, key);
        break;
      case "atime":
        header.atime = parsePaxTime(value, key);
        break;
      case "ctime":
        header.ctime = parsePaxTime(value, key);
        break;
      default:
        if (key.startsWith("SCHILY.xattr.")) {
          header.xattrs ??= new Map();
          header.xattrs.set(key.slice("SCHILY.xattr.".length), value);
        } else {
          header.pax ??= new Map();
          header.pax.set(key, value);
        }
    }
  }
}
