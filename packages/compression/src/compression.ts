/** The layer compressions Strata reads and writes. */
export type Compression = "uncompressed" | "gzip" | "zstd" | "estargz";

/** Every {@link Compression}, in a stable order. */
export const COMPRESSIONS: readonly Compression[] = ["uncompressed", "gzip", "zstd", "estargz"];

/**
 * Whether a value names a {@link Compression}.
 *
 * @example
 * ```ts
 * isCompression("zstd"); // true
 * isCompression("lz4"); // false
 * ```
 */
export function isCompression(value: unknown): value is Compression {
  return typeof value === "string" && (COMPRESSIONS as readonly string[]).includes(value);
}
