/**
 * The eStargz format: names, annotations, the TOC's shape and the footer
 * (containerd/stargz-snapshotter `docs/estargz.md`).
 *
 * @module
 */
import { InvalidArgumentError } from "@strata/errdefs";

/** The name of the TOC entry, the last entry of an eStargz tar stream. */
export const ESTARGZ_TOC_NAME = "stargz.index.json";
/** The size of the eStargz footer. */
export const ESTARGZ_FOOTER_SIZE = 51;
/** The default size of the chunks large files are cut into. */
export const ESTARGZ_DEFAULT_CHUNK_SIZE: number = 4 * 1024 * 1024;
/** The layer descriptor annotation holding the digest of the TOC JSON. */
export const ESTARGZ_TOC_DIGEST_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest";
/** The layer descriptor annotation holding the size of the uncompressed tar stream. */
export const ESTARGZ_UNCOMPRESSED_SIZE_ANNOTATION = "io.containers.estargz.uncompressed-size";

/** One TOC entry: a tar entry, or one chunk of a regular file's payload. */
export interface EstargzTocEntry {
  /** The entry's name as stored in the tar stream. */
  name: string;
  type: "dir" | "reg" | "symlink" | "hardlink" | "char" | "block" | "fifo" | "chunk";
  /** Uncompressed size of a regular file. */
  size?: number;
  /** Modification time, RFC 3339 UTC, whole seconds. */
  modtime?: string;
  linkName?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  userName?: string;
  groupName?: string;
  /** Offset in the blob of the gzip member holding this file's (chunk's) payload. */
  offset?: number;
  devMajor?: number;
  devMinor?: number;
  /** Extended attributes, values base64 (as Go encodes bytes). */
  xattrs?: Record<string, string>;
  /** Digest of the whole file payload (on `reg` entries). */
  digest?: string;
  /** Offset of this chunk in the file payload. */
  chunkOffset?: number;
  /** Size of this chunk; 0 or absent for the last (or only) chunk. */
  chunkSize?: number;
  /** Digest of this chunk's bytes. */
  chunkDigest?: string;
}

/** The TOC: `stargz.index.json`. */
export interface EstargzToc {
  version: 1;
  entries: EstargzTocEntry[];
}

const EXTRA_MAGIC = "STARGZ";

/**
 * The 51-byte footer: an empty gzip member whose extra field (subfield "SG")
 * holds the TOC's offset as 16 hex digits followed by "STARGZ".
 */
export function estargzFooter(tocOffset: number): Uint8Array {
  const footer = new Uint8Array(ESTARGZ_FOOTER_SIZE);
  // gzip header: magic, deflate, FEXTRA, mtime 0, XFL 0, OS unknown.
  footer.set([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff], 0);
  footer.set([26, 0, 0x53, 0x47, 22, 0], 10);
  footer.set(
    new TextEncoder().encode(`${tocOffset.toString(16).padStart(16, "0")}${EXTRA_MAGIC}`),
    16,
  );
  // One final stored block of length 0; CRC-32 and size of nothing are 0.
  footer.set([0x01, 0x00, 0x00, 0xff, 0xff], 38);
  return footer;
}

/**
 * The TOC offset recorded in an eStargz footer.
 *
 * @throws {InvalidArgumentError} when `footer` is not an eStargz footer.
 */
export function parseEstargzFooter(footer: Uint8Array): number {
  const bad = (why: string): InvalidArgumentError =>
    new InvalidArgumentError(`not an eStargz footer: ${why}`);
  if (footer.length !== ESTARGZ_FOOTER_SIZE)
    throw bad(`${footer.length} bytes, expected ${ESTARGZ_FOOTER_SIZE}`);
  if (footer[0] !== 0x1f || footer[1] !== 0x8b || footer[2] !== 0x08) throw bad("no gzip magic");
  if (((footer[3] ?? 0) & 0x04) === 0) throw bad("no gzip extra field");
  if (footer[10] !== 26 || footer[11] !== 0) throw bad("extra field is not 26 bytes");
  if (footer[12] !== 0x53 || footer[13] !== 0x47 || footer[14] !== 22 || footer[15] !== 0) {
    throw bad('no "SG" subfield of 22 bytes');
  }
  const text = new TextDecoder().decode(footer.subarray(16, 38));
  if (!text.endsWith(EXTRA_MAGIC) || !/^[0-9a-f]{16}$/u.test(text.slice(0, 16))) {
    throw bad(`subfield is ${JSON.stringify(text)}`);
  }
  const offset = Number.parseInt(text.slice(0, 16), 16);
  if (!Number.isSafeInteger(offset)) throw bad(`TOC offset ${text.slice(0, 16)} is too large`);
  return offset;
}
