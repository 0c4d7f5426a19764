import { InvalidArgumentError } from "@strata/errdefs";

// Byte layout of a 512-byte ustar header block.
export const BLOCK = 512;
type Field = readonly [offset: number, length: number];
export const F: {
  readonly [K in
    | "name"
    | "mode"
    | "uid"
    | "gid"
    | "size"
    | "mtime"
    | "chksum"
    | "typeflag"
    | "linkname"
    | "magic"
    | "version"
    | "uname"
    | "gname"
    | "devmajor"
    | "devminor"
    | "prefix"]: Field;
} = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
};

export const TYPE: {
  readonly [K in
    | "file"
    | "fileOld"
    | "link"
    | "symlink"
    | "char"
    | "block"
    | "directory"
    | "fifo"
    | "contiguous"
    | "paxLocal"
    | "paxGlobal"
    | "gnuLongName"
    | "gnuLongLink"]: number;
} = {
  file: 0x30, // '0'
  fileOld: 0, // '\0'
  link: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  directory: 0x35,
  fifo: 0x36,
  contiguous: 0x37,
  paxLocal: 0x78, // 'x'
  paxGlobal: 0x67, // 'g'
  gnuLongName: 0x4c, // 'L'
  gnuLongLink: 0x4b, // 'K'
};

// PAX and GNU long-name bodies larger than this are refused, as Go does.
export const MAX_SPECIAL_SIZE: number = 1 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

export function encodeUtf8(s: string): Uint8Array {
  return encoder.encode(s);
}

export function decodeUtf8(b: Uint8Array): string {
  return utf8.decode(b);
}

/** A NUL-terminated (or full-width) string field. */
export function readString(block: Uint8Array, [off, len]: readonly [number, number]): string {
  const field = block.subarray(off, off + len);
  const nul = field.indexOf(0);
  return decodeUtf8(nul === -1 ? field : field.subarray(0, nul));
}

/**
 * A numeric field: octal text (spaces and NULs around it allowed) or GNU
 * base-256 (first byte 0x80 positive, 0xff negative).
 */
export function readNumber(
  block: Uint8Array,
  [off, len]: readonly [number, number],
  what: string,
): number {
  const field = block.subarray(off, off + len);
  const first = field[0] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) {
      throw new InvalidArgumentError(`invalid tar header: negative base-256 ${what}`);
    }
    let n = BigInt(first & 0x7f);
    for (let i = 1; i < field.length; i++) n = (n << 8n) | BigInt(field[i] ?? 0);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new InvalidArgumentError(`invalid tar header: ${what} ${n} is too large`);
    }
    return Number(n);
  }
  let start = 0;
  let end = field.length;
  while (start < end && (field[start] === 0x20 || field[start] === 0)) start++;
  while (end > start && (field[end - 1] === 0x20 || field[end - 1] === 0)) end--;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = field[i] ?? 0;
    if (c < 0x30 || c > 0x37) {
      throw new InvalidArgumentError(
        `invalid tar header: ${what} field ${JSON.stringify(decodeUtf8(field))} is not octal`,
      );
    }
    n = n * 8 + (c - 0x30);
  }
  if (!Number.isSafeInteger(n)) {
    throw new InvalidArgumentError(`invalid tar header: ${what} is too large`);
  }
  return n;
}

/** Writes octal digits zero-padded to len-1 and a NUL, as Go does; false if it does not fit. */
export function writeOctal(
  block: Uint8Array,
  [off, len]: readonly [number, number],
  n: number,
): boolean {
  const digits = n.toString(8);
  if (n < 0 || digits.length > len - 1) return false;
  const text = digits.padStart(len - 1, "0");
  for (let i = 0; i < text.length; i++) block[off + i] = text.charCodeAt(i);
  block[off + len - 1] = 0;
  return true;
}

/** Writes a non-negative integer in GNU base-256 (used when octal cannot hold it). */
export function writeBase256(
  block: Uint8Array,
  [off, len]: readonly [number, number],
  n: number,
): void {
  let v = BigInt(n);
  for (let i = len - 1; i > 0; i--) {
    block[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  block[off] = 0x80;
}

export function fitsOctal(n: number, len: number): boolean {
  return n >= 0 && n.toString(8).length <= len - 1;
}

/** Writes a string field; false if it does not fit in the field. */
export function writeString(
  block: Uint8Array,
  [off, len]: readonly [number, number],
  s: string | Uint8Array,
): boolean {
  const bytes = typeof s === "string" ? encodeUtf8(s) : s;
  if (bytes.length > len) return false;
  block.set(bytes, off);
  return true;
}

/** Sum of the header's bytes with the checksum field read as spaces (unsigned, and signed). */
export function checksums(block: Uint8Array): [number, number] {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return [unsigned, signed];
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parses PAX records `"<len> <key>=<value>\n"`; values stay bytes. */
export function parsePax(data: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let pos = 0;
  while (pos < data.length) {
    // GNU tar may pad a PAX body with NULs; stop at the first one.
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    if (space === -1 || space - pos > 20) {
      throw new InvalidArgumentError(`invalid PAX record at byte ${pos}: no length`);
    }
    const lenText = decodeUtf8(data.subarray(pos, space));
    if (!/^[0-9]+$/.test(lenText)) {
      throw new InvalidArgumentError(`invalid PAX record at byte ${pos}: length ${lenText}`);
    }
    const length = Number(lenText);
    const end = pos + length;
    if (length <= space - pos + 1 || end > data.length || data[end - 1] !== 0x0a) {
      throw new InvalidArgumentError(
        `invalid PAX record at byte ${pos}: length ${length} does not end at a newline`,
      );
    }
    const eq = data.indexOf(0x3d, space + 1);
    if (eq === -1 || eq >= end - 1 || eq === space + 1) {
      throw new InvalidArgumentError(`invalid PAX record at byte ${pos}: no key=value`);
    }
    const key = decodeUtf8(data.subarray(space + 1, eq));
    out.set(key, data.slice(eq + 1, end - 1));
    pos = end;
  }
  return out;
}

/** Encodes PAX records in the order given; each record's length counts its own digits. */
export function formatPax(records: Iterable<[string, Uint8Array]>): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const [key, value] of records) {
    const keyBytes = encodeUtf8(key);
    const rest = keyBytes.length + value.length + 3; // " " "=" "\n"
    let length = rest + 1;
    while (rest + String(length).length !== length) length = rest + String(length).length;
    const head = encodeUtf8(`${length} `);
    const rec = new Uint8Array(length);
    rec.set(head, 0);
    rec.set(keyBytes, head.length);
    rec[head.length + keyBytes.length] = 0x3d;
    rec.set(value, head.length + keyBytes.length + 1);
    rec[length - 1] = 0x0a;
    parts.push(rec);
    total += length;
  }
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Parses a PAX time ("1700000000.123456789", maybe negative) into seconds. */
export function parsePaxTime(value: Uint8Array, key: string): number {
  const text = decodeUtf8(value);
  if (!/^-?[0-9]+(\.[0-9]*)?$/.test(text)) {
    throw new InvalidArgumentError(`invalid PAX ${key} ${JSON.stringify(text)}`);
  }
  const n = Number(text);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`invalid PAX ${key} ${text}`);
  return n;
}

/** Formats seconds for a PAX time record, up to nanoseconds, trailing zeros trimmed. */
export function formatPaxTime(seconds: number): string {
  const whole = Math.floor(seconds);
  let nanos = Math.round((seconds - whole) * 1e9);
  let w = whole;
  if (nanos >= 1e9) {
    w += 1;
    nanos -= 1e9;
  }
  if (nanos === 0) return String(w);
  return `${w}.${String(nanos).padStart(9, "0").replace(/0+$/, "")}`;
}

/** Parses a PAX decimal integer record. */
export function parsePaxInt(value: Uint8Array, key: string): number {
  const text = decodeUtf8(value);
  if (!/^[0-9]+$/.test(text)) {
    throw new InvalidArgumentError(`invalid PAX ${key} ${JSON.stringify(text)}`);
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n))
    throw new InvalidArgumentError(`invalid PAX ${key} ${text}: too large`);
  return n;
}
