/**
 * Strata's core: opens a root directory (content store, metadata database,
 * leases, garbage collection) or connects to a daemon, and gives both apps
 * the same {@link Session} on a namespace.
 *
 * @example
 * ```ts
 * import { defaultRoot, openRoot } from "@strata/core";
 *
 * const session = await openRoot(defaultRoot(process.env), { namespace: "default" });
 * try {
 *   await session.content().walk((info) => console.log(info.digest, info.size));
 * } finally {
 *   await session.close();
 * }
 * ```
 *
 * @module
 */
export type {
  CacheDiskUsageOptions,
  CacheOps,
  CacheProgress,
  CachePruneOptions,
  CacheUsage,
  CommitDirectoryOptions,
  ExportImageOptions,
  ExportImageResult,
  ImageCompression,
  ImportImageOptions,
  ImportImageResult,
  RefInfo,
  RefKind,
  RefSummary,
  RegistryAccess,
} from "./cache/cache_ops.ts";
export { embeddedCacheOps } from "./cache/embedded_cache_ops.ts";
export { type FsckProblem, type FsckReport, fsck } from "./fsck.ts";
export { exportImage } from "./images/image_export.ts";
export { importImage } from "./images/image_import.ts";
export {
  formatImageLocation,
  type ImageLocation,
  parseImageLocation,
} from "./images/image_location.ts";
export { hostPlatform, type ImagePlatform, selectManifest } from "./images/platform.ts";
export { insecureRegistriesFromEnv, registryClient } from "./images/registry_access.ts";
export { type MergeInOptions, mergeIn, parseMergeDiff } from "./ops/merge.ts";
export {
  LABEL_LEASE_PROCESS,
  removeLeasesOfDeadProcesses,
  withProcessLease,
} from "./process_leases.ts";
export { defaultRoot, type RootLayout, rootLayout } from "./root.ts";
export type { GcReport, Session } from "./session.ts";
export { type OpenRootOptions, openRoot, StrataRoot } from "./strata_root.ts";
