import type { Compression } from "./compression.ts";

/** How many leading bytes {@link detectCompression} needs to decide. */
export const DETECT_HEAD_SIZE = 4;

/**
 * The compression of a blob, from its first bytes: gzip (`1f 8b 08`), zstd
 * (`28 b5 2f fd`, or a skippable frame `5? 2a 4d 18`), otherwise uncompressed.
 *
 * A head shorter than a whole magic number is uncompressed: pass at least
 * {@link DETECT_HEAD_SIZE} bytes (or the whole blob, when it is shorter).
 * eStargz cannot be told from gzip by its head (its marker is the footer): use
 * `isEstargz` on a `ReaderAt` for that.
 *
 * @example
 * ```ts
 * detectCompression(new Uint8Array([0x1f, 0x8b, 0x08, 0x00])); // "gzip"
 * detectCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd])); // "zstd"
 * detectCompression(new TextEncoder().encode("etc/")); // "uncompressed"
 * ```
 */
export function detectCompression(head: Uint8Array): Exclude<Compression, "estargz"> {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) {
    return "gzip";
  }
  if (head.length >= 4) {
    if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
      return "zstd";
    }
    // Skippable frames: little-endian magic 0x184D2A50..0x184D2A5F.
    if (
      ((head[0] ?? 0) & 0xf0) === 0x50 &&
      head[1] === 0x2a &&
      head[2] === 0x4d &&
      head[3] === 0x18
    ) {
      return "zstd";
    }
  }
  return "uncompressed";
}
