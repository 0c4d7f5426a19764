import { InvalidArgumentError } from "@strata/errdefs";
import { MediaType } from "./_oci.ts";
import type { Compression } from "./compression.ts";
import { ESTARGZ_TOC_DIGEST_ANNOTATION } from "./estargz_format.ts";

const COMPRESSION_OF: ReadonlyMap<string, Exclude<Compression, "estargz">> = new Map([
  [MediaType.OCI_LAYER, "uncompressed"],
  [MediaType.OCI_LAYER_GZIP, "gzip"],
  [MediaType.OCI_LAYER_ZSTD, "zstd"],
  [MediaType.OCI_LAYER_NONDISTRIBUTABLE, "uncompressed"],
  [MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP, "gzip"],
  [MediaType.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, "zstd"],
  [MediaType.DOCKER_LAYER, "uncompressed"],
  [MediaType.DOCKER_LAYER_GZIP, "gzip"],
  [MediaType.DOCKER_LAYER_FOREIGN_GZIP, "gzip"],
  [MediaType.DOCKER_LAYER_ZSTD, "zstd"],
]);

/** Options of {@link compressionOfMediaType}. */
export interface CompressionOfMediaTypeOptions {
  /**
   * The descriptor's annotations. A gzip layer whose annotations carry the
   * eStargz TOC digest (`containerd.io/snapshot/stargz/toc.digest`) is
   * `"estargz"`; without annotations a gzip layer is `"gzip"`.
   */
  annotations?: Readonly<Record<string, string>>;
}

/**
 * The compression of a layer media type (OCI or Docker, distributable or not).
 *
 * @throws {InvalidArgumentError} when `mediaType` is not a known layer media type.
 *
 * @example
 * ```ts
 * compressionOfMediaType("application/vnd.oci.image.layer.v1.tar+zstd"); // "zstd"
 * compressionOfMediaType("application/vnd.docker.image.rootfs.diff.tar.gzip"); // "gzip"
 * ```
 */
export function compressionOfMediaType(
  mediaType: string,
  options?: CompressionOfMediaTypeOptions,
): Compression {
  // Parameters such as "; charset=" are not part of the type.
  const bare = mediaType.split(";", 1)[0]?.trim() ?? "";
  const compression = COMPRESSION_OF.get(bare);
  if (compression === undefined) {
    throw new InvalidArgumentError(`unsupported layer media type "${mediaType}"`);
  }
  if (
    compression === "gzip" &&
    options?.annotations?.[ESTARGZ_TOC_DIGEST_ANNOTATION] !== undefined
  ) {
    return "estargz";
  }
  return compression;
}

/** Options of {@link mediaTypeFor}. */
export interface MediaTypeForOptions {
  /** Docker image manifest v2.2 media types instead of OCI ones. */
  docker?: boolean;
}

/**
 * The layer media type for a compression. eStargz layers are gzip layers (their
 * descriptor carries the TOC digest annotation, see `writeEstargz`).
 *
 * @throws {InvalidArgumentError} for zstd or estargz with `docker: true`:
 *   Docker's manifest format has no zstd layer type, and, as in BuildKit,
 *   eStargz is produced for OCI manifests only.
 *
 * @example
 * ```ts
 * mediaTypeFor("gzip"); // "application/vnd.oci.image.layer.v1.tar+gzip"
 * mediaTypeFor("gzip", { docker: true }); // "application/vnd.docker.image.rootfs.diff.tar.gzip"
 * ```
 */
export function mediaTypeFor(compression: Compression, options?: MediaTypeForOptions): string {
  if (options?.docker === true) {
    switch (compression) {
      case "uncompressed":
        return MediaType.DOCKER_LAYER;
      case "gzip":
        return MediaType.DOCKER_LAYER_GZIP;
      case "zstd":
      case "estargz":
        throw new InvalidArgumentError(
          `no Docker media type for ${compression} layers: use OCI media types`,
        );
    }
  }
  switch (compression) {
    case "uncompressed":
      return MediaType.OCI_LAYER;
    case "gzip":
    case "estargz":
      return MediaType.OCI_LAYER_GZIP;
    case "zstd":
      return MediaType.OCI_LAYER_ZSTD;
  }
  throw new InvalidArgumentError(`unknown compression "${String(compression)}"`);
}
