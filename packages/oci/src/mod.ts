/**
 * OCI building blocks: digests, descriptors, media types (OCI and Docker),
 * manifest/index/config validation, ChainID and OCI image-layout read/write.
 *
 * @example
 * ```ts
 * import { chainID, parseManifest } from "@strata/oci";
 *
 * const manifest = parseManifest(bytes);
 * const config = parseImageConfig(configBytes);
 * console.log(chainID(config.rootfs.diff_ids));
 * ```
 *
 * @module
 */
export { chainID, chainIDs } from "./chain_id.ts";
export {
  ANNOTATION_REF_NAME,
  type Descriptor,
  LABEL_UNCOMPRESSED,
  type Platform,
  validateDescriptor,
  validatePlatform,
} from "./descriptor.ts";
export {
  ALGORITHM_HEX_LENGTH,
  type Algorithm,
  CANONICAL_ALGORITHM,
  type Digest,
  Digester,
  digestOf,
  digestStream,
  isAlgorithm,
  isDigest,
  parseDigest,
  validateDigest,
  verifyStream,
} from "./digest.ts";
export {
  type ContainerConfig,
  type History,
  type ImageConfig,
  parseImageConfig,
  validateImageConfig,
} from "./image_config.ts";
export { DEFAULT_MAX_JSON_BYTES, type ParseOptions } from "./json.ts";
export {
  applyLabelUpdate,
  compactLabels,
  MAX_LABEL_SIZE,
  validateLabels,
} from "./labels.ts";
export {
  detectManifestMediaType,
  type ImageIndex,
  type ImageManifest,
  parseIndex,
  parseManifest,
  validateIndex,
  validateManifest,
} from "./manifest.ts";
export {
  baseMediaType,
  isConfigMediaType,
  isDockerMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  isNonDistributableMediaType,
  type KnownMediaType,
  type LayerCompression,
  layerCompression,
  layerMediaType,
  MediaType,
} from "./media_types.ts";
export {
  type LayoutOptions,
  OCI_LAYOUT_FILE,
  OCI_LAYOUT_VERSION,
  OciLayout,
} from "./oci_layout.ts";
export { fileReaderAt, type ReaderAt } from "./reader_at.ts";
