/**
 * Media types of the OCI image spec and of Docker image manifest schema 2.
 *
 * @example
 * ```ts
 * if (desc.mediaType === MediaType.OCI_MANIFEST) { ... }
 * ```
 */
export const MediaType = {
  OCI_LAYER: "application/vnd.oci.image.layer.v1.tar",
  OCI_LAYER_GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
  OCI_LAYER_ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
  OCI_LAYER_NONDISTRIBUTABLE: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OCI_LAYER_NONDISTRIBUTABLE_GZIP: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OCI_LAYER_NONDISTRIBUTABLE_ZSTD: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  OCI_MANIFEST: "application/vnd.oci.image.manifest.v1+json",
  OCI_INDEX: "application/vnd.oci.image.index.v1+json",
  OCI_CONFIG: "application/vnd.oci.image.config.v1+json",
  OCI_EMPTY: "application/vnd.oci.empty.v1+json",
  OCI_LAYOUT_HEADER: "application/vnd.oci.layout.header.v1+json",
  DOCKER_LAYER: "application/vnd.docker.image.rootfs.diff.tar",
  DOCKER_LAYER_GZIP: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DOCKER_LAYER_ZSTD: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  DOCKER_LAYER_FOREIGN: "application/vnd.docker.image.rootfs.foreign.diff.tar",
  DOCKER_LAYER_FOREIGN_GZIP: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  DOCKER_MANIFEST: "application/vnd.docker.distribution.manifest.v2+json",
  DOCKER_MANIFEST_LIST: "application/vnd.docker.distribution.manifest.list.v2+json",
  DOCKER_CONFIG: "application/vnd.docker.container.image.v1+json",
  DOCKER_MANIFEST_SCHEMA1: "application/vnd.docker.distribution.manifest.v1+json",
  DOCKER_MANIFEST_SCHEMA1_SIGNED: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** One of the media types named in {@link MediaType}. */
export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

/** The compression of a layer media type. */
export type LayerCompression = "uncompressed" | "gzip" | "zstd";

const LAYERS: ReadonlyMap<string, { compression: LayerCompression; distributable: boolean }> =
  new Map([
    [MediaType.OCI_LAYER, { compression: "uncompressed", distributable: true }],
    [MediaType.OCI_LAYER_GZIP, { compression: "gzip", distributable: true }],
    [MediaType.OCI_LAYER_ZSTD, { compression: "zstd", distributable: true }],
    [MediaType.OCI_LAYER_NONDISTRIBUTABLE, { compression: "uncompressed", distributable: false }],
    [MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP, { compression: "gzip", distributable: false }],
    [MediaType.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, { compression: "zstd", distributable: false }],
    [MediaType.DOCKER_LAYER, { compression: "uncompressed", distributable: true }],
    [MediaType.DOCKER_LAYER_GZIP, { compression: "gzip", distributable: true }],
    [MediaType.DOCKER_LAYER_ZSTD, { compression: "zstd", distributable: true }],
    [MediaType.DOCKER_LAYER_FOREIGN, { compression: "uncompressed", distributable: false }],
    [MediaType.DOCKER_LAYER_FOREIGN_GZIP, { compression: "gzip", distributable: false }],
  ]);

/**
 * Whether `mediaType` is a known tar layer type (OCI or Docker, any
 * compression, distributable or not). Parameters after `;` are ignored.
 */
export function isLayerMediaType(mediaType: string): boolean {
  return LAYERS.has(baseMediaType(mediaType));
}

/**
 * The compression of a known layer media type, or `undefined` when
 * `mediaType` is not a known layer type.
 */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return LAYERS.get(baseMediaType(mediaType))?.compression;
}

/** Whether `mediaType` is a non-distributable (OCI) or foreign (Docker) layer type. */
export function isNonDistributableMediaType(mediaType: string): boolean {
  return LAYERS.get(baseMediaType(mediaType))?.distributable === false;
}

/** Whether `mediaType` is an OCI image manifest or a Docker schema 2 manifest. */
export function isManifestMediaType(mediaType: string): boolean {
  const m = baseMediaType(mediaType);
  return m === MediaType.OCI_MANIFEST || m === MediaType.DOCKER_MANIFEST;
}

/** Whether `mediaType` is an OCI image index or a Docker manifest list. */
export function isIndexMediaType(mediaType: string): boolean {
  const m = baseMediaType(mediaType);
  return m === MediaType.OCI_INDEX || m === MediaType.DOCKER_MANIFEST_LIST;
}

/** Whether `mediaType` is an OCI or Docker image config. */
export function isConfigMediaType(mediaType: string): boolean {
  const m = baseMediaType(mediaType);
  return m === MediaType.OCI_CONFIG || m === MediaType.DOCKER_CONFIG;
}

/** Whether `mediaType` belongs to Docker's schema 2 family rather than to OCI. */
export function isDockerMediaType(mediaType: string): boolean {
  return baseMediaType(mediaType).startsWith("application/vnd.docker.");
}

/**
 * The layer media type of the given family and compression, distributable
 * or not (Docker has no non-distributable zstd type; `undefined` then).
 *
 * @example
 * ```ts
 * layerMediaType("gzip", { docker: true }); // "application/vnd.docker.image.rootfs.diff.tar.gzip"
 * ```
 */
export function layerMediaType(
  compression: LayerCompression,
  options?: { docker?: boolean; nonDistributable?: boolean },
): string | undefined {
  const docker = options?.docker === true;
  const distributable = options?.nonDistributable !== true;
  for (const [mediaType, info] of LAYERS) {
    if (
      info.compression === compression &&
      info.distributable === distributable &&
      isDockerMediaType(mediaType) === docker
    ) {
      return mediaType;
    }
  }
  return undefined;
}

/** `mediaType` without parameters (`; charset=…`), trimmed. */
export function baseMediaType(mediaType: string): string {
  const semi = mediaType.indexOf(";");
  return (semi < 0 ? mediaType : mediaType.slice(0, semi)).trim();
}
