import type { UsageInfo } from "@strata/cache";
import type { CacheRecord } from "@strata/metadata";
import type { CacheUsage, RefInfo, RefKind, RefSummary } from "./cache_ops.ts";

/** The kind shown for a record: `mutable` until committed. */
export function refKindOf(r: CacheRecord): RefKind {
  return r.committed ? r.kind : "mutable";
}

/** A record as {@link RefInfo}. */
export function refInfoOf(r: CacheRecord): RefInfo {
  const info: RefInfo = {
    id: r.id,
    kind: refKindOf(r),
    size: r.size,
    description: r.description,
    createdAt: r.createdAt,
    usageCount: r.usageCount,
    lazy: r.blobOnly,
    cachePolicy: r.cachePolicy,
    recordType: r.recordType,
  };
  if (r.chainID !== undefined) info.chainID = r.chainID;
  if (r.blobChainID !== undefined) info.blobChainID = r.blobChainID;
  if (r.blob !== undefined) info.blob = r.blob;
  if (r.diffID !== undefined) info.diffID = r.diffID;
  if (r.mediaType !== undefined) info.mediaType = r.mediaType;
  if (r.parent !== undefined) info.parent = r.parent;
  if (r.mergeParents.length > 0) info.mergeParents = [...r.mergeParents];
  if (r.lowerDiffParent !== undefined) info.lowerDiffParent = r.lowerDiffParent;
  if (r.upperDiffParent !== undefined) info.upperDiffParent = r.upperDiffParent;
  if (r.lastUsedAt !== undefined) info.lastUsedAt = r.lastUsedAt;
  return info;
}

/** A record as a row of `ref ls`, with `size` from disk usage when known. */
export function refSummaryOf(r: CacheRecord, size: number | undefined): RefSummary {
  return {
    id: r.id,
    kind: refKindOf(r),
    size: size ?? r.size,
    ...(r.lastUsedAt === undefined ? {} : { lastUsedAt: r.lastUsedAt }),
    description: r.description,
    lazy: r.blobOnly,
  };
}

/** The cache manager's usage record as {@link CacheUsage}. */
export function cacheUsageOf(u: UsageInfo): CacheUsage {
  return {
    id: u.id,
    mutable: u.mutable,
    inUse: u.inUse,
    size: u.size,
    createdAt: u.createdAt,
    ...(u.lastUsedAt === undefined ? {} : { lastUsedAt: u.lastUsedAt }),
    usageCount: u.usageCount,
    parents: [...u.parents],
    description: u.description,
    recordType: u.recordType,
    shared: u.shared,
  };
}
