/**
 * Layer compression for Strata: uncompressed, gzip, zstd and eStargz. Detect a
 * blob's compression, compress and decompress streams, convert between
 * compressions keeping the diffID, and read eStargz blobs file by file.
 *
 * @example
 * ```ts
 * import { convert, decompress, detectCompression } from "@strata/compression";
 *
 * const { stream, result } = convert(blob, "zstd", { from: "gzip", maxBytes: 2 ** 33 });
 * await writeToStore(stream);
 * const { descriptor, diffID } = await result;
 * ```
 *
 * @module
 */

export type { Descriptor, Digest, ReaderAt } from "./_oci.ts";
export { type CompressOptions, compress, GZIP_PARALLEL_DEFAULT } from "./compress.ts";
export { COMPRESSIONS, type Compression, isCompression } from "./compression.ts";
export { type Conversion, type ConvertOptions, type ConvertResult, convert } from "./convert.ts";
export { type DecompressOptions, decompress } from "./decompress.ts";
export { DETECT_HEAD_SIZE, detectCompression } from "./detect.ts";
export {
  ESTARGZ_DEFAULT_CHUNK_SIZE,
  ESTARGZ_FOOTER_SIZE,
  ESTARGZ_TOC_DIGEST_ANNOTATION,
  ESTARGZ_TOC_NAME,
  ESTARGZ_UNCOMPRESSED_SIZE_ANNOTATION,
  type EstargzToc,
  type EstargzTocEntry,
  estargzFooter,
  parseEstargzFooter,
} from "./estargz_format.ts";
export {
  ESTARGZ_DEFAULT_MAX_TOC_BYTES,
  EstargzReader,
  type IsEstargzOptions,
  isEstargz,
  type OpenEstargzOptions,
  type OpenFileOptions,
  openEstargz,
} from "./estargz_reader.ts";
export {
  type EstargzResult,
  type EstargzWrite,
  type WriteEstargzOptions,
  writeEstargz,
} from "./estargz_writer.ts";
export {
  type CompressionOfMediaTypeOptions,
  compressionOfMediaType,
  type MediaTypeForOptions,
  mediaTypeFor,
} from "./media_types.ts";
