/**
 * OCI layers for Strata: a streaming tar codec that keeps binary xattrs and
 * device nodes, the walking and overlay differs that turn two trees (or an
 * overlay upperdir) into a layer, and the applier that unpacks a layer into a
 * directory safely, with whiteouts.
 *
 * @example
 * ```ts
 * import { applyLayer, readTar } from "@strata/diff";
 *
 * const { diffID } = await applyLayer("/rootfs", decompressedLayer);
 * ```
 *
 * @module
 */

export { type ApplyOptions, type ApplyResult, applyLayer } from "./apply.ts";
export { type ChangesToTarOptions, changesToTar, headerFromMeta } from "./change_writer.ts";
export { type Change, compareNames, type WalkChangesOptions, walkChanges } from "./changes.ts";
export {
  type MergeCapabilities,
  type MergeDiff,
  type MergeOptions,
  type MergeResult,
  mergeCapabilities,
  mergeSnapshots,
} from "./merge.ts";
export { diffOverlay, type OverlayDiffOptions, overlayChanges } from "./overlay_differ.ts";
export {
  encodeHeader,
  type ReadTarOptions,
  readTar,
  type TarEntry,
  type TarEntryType,
  type TarHeader,
  type TarWriteEntry,
  type WriteTarOptions,
  writeTar,
} from "./tar/mod.ts";
export { type DiffOptions, diffDirectories } from "./walking_differ.ts";
export { OPAQUE_MARKER, OVERLAY_OPAQUE_XATTRS, WHITEOUT_PREFIX } from "./whiteout.ts";
export { type WriteLayerOptions, type WriteLayerResult, writeLayer } from "./write_layer.ts";
