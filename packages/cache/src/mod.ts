/**
 * BuildKit's cache manager in TypeScript: mutable and immutable refs over
 * snapshots with records in the metadata database, blob chains computed
 * lazily (overlay upperdir differ or walking differ) with chain IDs and blob
 * chain IDs, compression variants linked by GC labels, lazy refs whose blobs
 * stay in a remote provider until needed, disk usage and prune with
 * BuildKit's GC policies.
 *
 * @example
 * ```ts
 * import { CacheManager } from "@strata/cache";
 *
 * const cm = await CacheManager.open({ db, snapshotter, snapshotterName: "overlayfs" });
 * const m = await cm.new(undefined);
 * await withMounts(await m.mount(), (dir) => writeFile(`${dir}/a`, "1"));
 * const ref = await m.commit();
 * const [remote] = await cm.getRemotes(ref, { compression: "zstd" });
 * await ref.release();
 * await cm.prune({ maxUsedSpace: 1 << 30 });
 * ```
 *
 * @module
 */
export { CacheManager, type CacheManagerOptions } from "./cache_manager.ts";
export { diskUsage, parentsOf } from "./disk_usage.ts";
export { defaultGcPolicy, diskPercentage } from "./gc_policy.ts";
export {
  ANNOTATION_CREATED_AT,
  ANNOTATION_DESCRIPTION,
  LABEL_BLOB_ANNOTATION_PREFIX,
  LABEL_BLOB_MEDIA_TYPE,
  LABEL_BLOB_VARIANT_PREFIX,
  LABEL_GC_FLAT,
} from "./labels.ts";
export { diskSpaceOf, keepBytes, prune } from "./prune.ts";
export { ImmutableRef, MutableRef } from "./refs.ts";
export type {
  CacheStats,
  DiskSpace,
  DiskUsageOptions,
  GetByBlobOptions,
  GetRemotesOptions,
  NewRefOptions,
  PruneOptions,
  Remote,
  RemoteOptions,
  UsageInfo,
} from "./types.ts";
