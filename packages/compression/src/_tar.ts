/**
 * A minimal tar header reader and writer, private to this package: enough for
 * eStargz (ustar, PAX extended headers, GNU long names; regular files,
 * directories, links, devices, fifos). The full tar codec is `@strata/diff`'s,
 * a higher layer this package cannot import.
 *
 * The reader keeps every byte it consumes available to its caller (header
 * blocks, payload, padding, the end-of-archive blocks and what follows), so a
 * tar stream can be re-framed without changing one byte of it.
 *
 * @module
 */
import { InvalidArgumentError } from "@strata/errdefs";
import type { ByteReader } from "./_bytes.ts";

/** The size of a tar block. */
export const BLOCK = 512;
// Extended headers (PAX, GNU long names) are small; refuse absurd ones.
const MAX_EXTENDED_HEADER = 1024 * 1024;

/** The kinds of entry eStargz records; "other" is carried along without a TOC entry. */
export type TarEntryType =
  | "reg"
  | "dir"
  | "symlink"
  | "hardlink"
  | "char"
  | "block"
  | "fifo"
  | "other";

/** A tar entry's header, with PAX and GNU extensions applied. */
export interface TarHeader {
  name: string;
  type: TarEntryType;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Modification time in seconds since the epoch (PAX may give fractions). */
  mtime: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** PAX records of the entry (`SCHILY.xattr.*` included), values as raw bytes. */
  pax: Map<string, Uint8Array>;
}

/** One entry: its header and the raw bytes of every header block that made it. */
export interface TarEntry {
  header: TarHeader;
  raw: Uint8Array[];
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function cstring(block: Uint8Array, at: number, len: number): string {
  const field = block.subarray(at, at + len);
  const nul = field.indexOf(0);
  return decoder.decode(nul === -1 ? field : field.subarray(0, nul));
}

function numeric(block: Uint8Array, at: number, len: number, what: string): number {
  const field = block.subarray(at, at + len);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    // GNU base-256: big-endian two's complement with the top bit as marker.
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    if (!Number.isSafeInteger(value))
      throw new InvalidArgumentError(`tar header ${what} is too large`);
    return value;
  }
  const text = decoder
    .decode(field)
    .replace(/[\0 ]+$/u, "")
    .replace(/^[\0 ]+/u, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/u.test(text)) {
    throw new InvalidArgumentError(
      `invalid tar header: ${what} field is not octal (${JSON.stringify(text)})`,
    );
  }
  return Number.parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  const stored = numeric(block, 148, 8, "checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (const b of block) if (b !== 0) return false;
  return true;
}

function typeOf(typeflag: string, name: string): TarEntryType {
  switch (typeflag) {
    case "0":
    case "7":
      return "reg";
    case "\0":
    case "":
      return name.endsWith("/") ? "dir" : "reg";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "3":
      return "char";
    case "4":
      return "block";
    case "5":
      return "dir";
    case "6":
      return "fifo";
    case "g":
      return "other";
    default:
      throw new InvalidArgumentError(
        `unsupported tar entry type ${JSON.stringify(typeflag)} for "${name}"`,
      );
  }
}

/**
 * The name in a block when it is a valid tar header (checksum and all), else
 * undefined. For scanning bytes after the end of an archive.
 */
export function headerNameOf(block: Uint8Array): string | undefined {
  if (block.length !== BLOCK || isZeroBlock(block)) return undefined;
  try {
    if (!checksumOk(block)) return undefined;
  } catch {
    return undefined;
  }
  const prefix = cstring(block, 257, 6) === "ustar" ? cstring(block, 345, 155) : "";
  const name = cstring(block, 0, 100);
  return prefix === "" ? name : `${prefix}/${name}`;
}

/** Parses PAX records (`<len> <key>=<value>\n`), keeping values as bytes. */
export function parsePax(data: Uint8Array): Map<string, Uint8Array> {
  const records = new Map<string, Uint8Array>();
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) break;
    const space = data.indexOf(0x20, at);
    const len = space === -1 ? Number.NaN : Number(decoder.decode(data.subarray(at, space)));
    if (
      !Number.isInteger(len) ||
      len <= 0 ||
      at + len > data.length ||
      data[at + len - 1] !== 0x0a
    ) {
      throw new InvalidArgumentError(`invalid PAX record at byte ${at} of an extended header`);
    }
    const record = data.subarray(space + 1, at + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw new InvalidArgumentError(`invalid PAX record at byte ${at}: no "="`);
    records.set(decoder.decode(record.subarray(0, eq)), record.slice(eq + 1));
    at += len;
  }
  return records;
}

/** The zero padding after a payload of `size` bytes. */
export function paddingOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * Reads a tar stream entry by entry. After {@link next}, read the payload with
 * {@link readPayload} and the padding with {@link readPadding} (what is left
 * unread is skipped by the next call to {@link next}).
 */
export class TarReader {
  #reader: ByteReader;
  #payloadLeft = 0;
  #paddingLeft = 0;
  #end: Uint8Array | undefined;

  constructor(reader: ByteReader) {
    this.#reader = reader;
  }

  /** The block that ended the archive (a zero block), once {@link next} returned null. */
  get endBlock(): Uint8Array | undefined {
    return this.#end;
  }

  /** The underlying byte reader: after the end, its `rest()` is what follows the end block. */
  get reader(): ByteReader {
    return this.#reader;
  }

  async #block(what: string): Promise<Uint8Array | null> {
    const block = await this.#reader.readFull(BLOCK);
    if (block.length === 0) return null;
    if (block.length < BLOCK) {
      throw new InvalidArgumentError(
        `tar stream truncated: ${block.length} bytes where ${what} should be`,
      );
    }
    return block;
  }

  async #extended(size: number, what: string): Promise<Uint8Array> {
    if (size > MAX_EXTENDED_HEADER) {
      throw new InvalidArgumentError(
        `tar ${what} of ${size} bytes is larger than ${MAX_EXTENDED_HEADER}`,
      );
    }
    const total = size + paddingOf(size);
    const data = await this.#reader.readFull(total);
    if (data.length < total)
      throw new InvalidArgumentError(`tar stream truncated inside a ${what}`);
    return data;
  }

  /**
   * The next entry, or null at the end of the archive (a zero block, or the
   * end of the stream right after an entry).
   *
   * @throws {InvalidArgumentError} on a malformed or truncated archive.
   */
  async next(): Promise<TarEntry | null> {
    await this.#skipRest();
    const raw: Uint8Array[] = [];
    let pax = new Map<string, Uint8Array>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const block = await this.#block("a tar header");
      if (block === null) return null;
      if (isZeroBlock(block)) {
        if (raw.length > 0)
          throw new InvalidArgumentError("tar stream ends after an extended header");
        this.#end = block;
        return null;
      }
      if (!checksumOk(block)) {
        throw new InvalidArgumentError(
          `invalid tar header at offset ${this.#reader.position - BLOCK}: bad checksum`,
        );
      }
      raw.push(block);
      const typeflag = String.fromCharCode(block[156] ?? 0);
      const size = numeric(block, 124, 12, "size");
      if (typeflag === "x" || typeflag === "L" || typeflag === "K") {
        const what = typeflag === "x" ? "PAX header" : "GNU long name";
        const data = await this.#extended(size, what);
        raw.push(data);
        const body = data.subarray(0, size);
        if (typeflag === "x") {
          pax = new Map([...pax, ...parsePax(body)]);
        } else {
          const nul = body.indexOf(0);
          const text = decoder.decode(nul === -1 ? body : body.subarray(0, nul));
          if (typeflag === "L") longName = text;
          else longLink = text;
        }
        continue;
      }
      const header = this.#header(block, typeflag, pax, longName, longLink);
      const payload = header.type === "reg" || header.type === "other" ? header.size : 0;
      this.#payloadLeft = payload;
      this.#paddingLeft = paddingOf(payload);
      return { header, raw };
    }
  }

  #header(
    block: Uint8Array,
    typeflag: string,
    pax: Map<string, Uint8Array>,
    longName: string | undefined,
    longLink: string | undefined,
  ): TarHeader {
    const paxText = (key: string): string | undefined => {
      const v = pax.get(key);
      return v === undefined ? undefined : decoder.decode(v);
    };
    const paxNumber = (key: string, fallback: number): number => {
      const v = paxText(key);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n))
        throw new InvalidArgumentError(`invalid PAX ${key} ${JSON.stringify(v)}`);
      return n;
    };
    const magic = cstring(block, 257, 6);
    const prefix = magic === "ustar" ? cstring(block, 345, 155) : "";
    const plain = cstring(block, 0, 100);
    const name = paxText("path") ?? longName ?? (prefix === "" ? plain : `${prefix}/${plain}`);
    const size = paxNumber("size", numeric(block, 124, 12, "size"));
    if (!Number.isSafeInteger(size) || size < 0)
      throw new InvalidArgumentError(`invalid tar size for "${name}"`);
    return {
      name,
      type: typeOf(typeflag, name),
      typeflag,
      mode: numeric(block, 100, 8, "mode"),
      uid: paxNumber("uid", numeric(block, 108, 8, "uid")),
      gid: paxNumber("gid", numeric(block, 116, 8, "gid")),
      size,
      mtime: paxNumber("mtime", numeric(block, 136, 12, "mtime")),
      linkname: paxText("linkpath") ?? longLink ?? cstring(block, 157, 100),
      uname: paxText("uname") ?? cstring(block, 265, 32),
      gname: paxText("gname") ?? cstring(block, 297, 32),
      devmajor: numeric(block, 329, 8, "devmajor"),
      devminor: numeric(block, 337, 8, "devminor"),
      pax,
    };
  }

  /** Up to `max` bytes of the current entry's payload, or null when it is all read. */
  async readPayload(max: number): Promise<Uint8Array | null> {
    if (this.#payloadLeft === 0) return null;
    const piece = await this.#reader.read(Math.min(max, this.#payloadLeft));
    if (piece === null)
      throw new InvalidArgumentError("tar stream truncated inside an entry's payload");
    this.#payloadLeft -= piece.length;
    return piece;
  }

  /** The zero padding after the current entry's payload (read the payload first). */
  async readPadding(): Promise<Uint8Array> {
    if (this.#payloadLeft !== 0) throw new InvalidArgumentError("tar payload not fully read");
    const n = this.#paddingLeft;
    this.#paddingLeft = 0;
    const padding = await this.#reader.readFull(n);
    if (padding.length < n)
      throw new InvalidArgumentError("tar stream truncated inside an entry's padding");
    return padding;
  }

  async #skipRest(): Promise<void> {
    while ((await this.readPayload(1 << 20)) !== null) {
      // discard
    }
    await this.readPadding();
  }
}

/** The fields {@link tarHeader} writes. */
export interface TarHeaderInit {
  name: string;
  /** A tar typeflag: "0" file, "5" directory, "2" symlink, "1" hard link... */
  typeflag: string;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  uname?: string;
  gname?: string;
  /** Extra PAX records (for example `SCHILY.xattr.user.x`). */
  pax?: Record<string, string | Uint8Array>;
}

function writeString(block: Uint8Array, at: number, len: number, value: string): void {
  block.set(encoder.encode(value).subarray(0, len), at);
}

function writeOctal(block: Uint8Array, at: number, len: number, value: number): void {
  writeString(block, at, len, `${value.toString(8).padStart(len - 1, "0")}\0`);
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = 1 + encoder.encode(key).length + 1 + value.length + 1;
  // The length counts its own digits.
  let len = body + 1;
  while (len !== body + String(len).length) len = body + String(len).length;
  const head = encoder.encode(`${len} ${key}=`);
  const out = new Uint8Array(len);
  out.set(head, 0);
  out.set(value, head.length);
  out[len - 1] = 0x0a;
  return out;
}

function ustarBlock(init: TarHeaderInit, name: string, size: number, typeflag: string): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeString(block, 0, 100, name);
  writeOctal(block, 100, 8, init.mode ?? (typeflag === "5" ? 0o755 : 0o644));
  writeOctal(block, 108, 8, init.uid ?? 0);
  writeOctal(block, 116, 8, init.gid ?? 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, Math.floor(init.mtime ?? 0));
  block.fill(0x20, 148, 156);
  writeString(block, 156, 1, typeflag);
  writeString(block, 157, 100, init.linkname ?? "");
  writeString(block, 257, 8, "ustar\x0000");
  writeString(block, 265, 32, init.uname ?? "");
  writeString(block, 297, 32, init.gname ?? "");
  let sum = 0;
  for (const b of block) sum += b;
  writeString(block, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

/**
 * The header blocks of one entry: a ustar header, preceded by a PAX extended
 * header when a name or link name does not fit (over 100 bytes) or PAX
 * records are given.
 */
export function tarHeader(init: TarHeaderInit): Uint8Array {
  const size = init.size ?? 0;
  const records: Uint8Array[] = [];
  if (encoder.encode(init.name).length > 100)
    records.push(paxRecord("path", encoder.encode(init.name)));
  if (init.linkname !== undefined && encoder.encode(init.linkname).length > 100) {
    records.push(paxRecord("linkpath", encoder.encode(init.linkname)));
  }
  for (const [key, value] of Object.entries(init.pax ?? {})) {
    records.push(paxRecord(key, typeof value === "string" ? encoder.encode(value) : value));
  }
  const main = ustarBlock(init, init.name, size, init.typeflag);
  if (records.length === 0) return main;
  const paxData = concat(records);
  const paxHeader = ustarBlock(
    { name: "", typeflag: "x" },
    `PaxHeaders/${init.name}`.slice(0, 99),
    paxData.length,
    "x",
  );
  return concat([paxHeader, paxData, new Uint8Array(paddingOf(paxData.length)), main]);
}

/** The two zero blocks that end an archive. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * BLOCK);
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
