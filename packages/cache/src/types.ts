import type { Compression } from "@strata/compression";
import type { Provider } from "@strata/content";
import type { CachePolicy } from "@strata/metadata";
import type { Descriptor } from "@strata/oci";

/** Options of `CacheManager.new`. */
export interface NewRefOptions {
  description?: string;
  /** `retain` keeps the mutable record after release (cache mounts). Default `default`. */
  cachePolicy?: CachePolicy;
  /** BuildKit's record type (`regular`, `internal`, `frontend`, `source.local`, `exec.cachemount`, ...). */
  recordType?: string;
  signal?: AbortSignal;
}

/** Options of `CacheManager.getByBlob`. */
export interface GetByBlobOptions {
  /** The layer below; it must have a chain ID and blob chain ID. */
  parent?: { readonly id: string };
  /** Where the blob can be fetched from when it is not in the content store. */
  provider?: Provider;
  description?: string;
  /** Image references the blob came from. */
  imageRefs?: string[];
  signal?: AbortSignal;
}

/** Options of the blob and remote operations. */
export interface RemoteOptions {
  /** Compression of blobs that must be created, and with `force` of every layer (default gzip). */
  compression?: Compression;
  /** Compression level of new blobs. */
  level?: number;
  /** Convert every layer to `compression` (reusing variants that exist). */
  force?: boolean;
  /** Compute blobs that are missing (default true); false fails with FailedPrecondition. */
  createIfNeeded?: boolean;
  signal?: AbortSignal;
}

/** Options of `CacheManager.getRemotes`. */
export interface GetRemotesOptions extends RemoteOptions {
  /**
   * Also return the other chains of existing variants whose top layer has
   * `compression` (BuildKit's `all`), lazily generated and capped at `limit`.
   */
  all?: boolean;
  /** Most remotes returned with `all` (default 32). */
  limit?: number;
}

/** Layers of a ref as descriptors, with a provider that serves them (fetching lazy blobs on read). */
export interface Remote {
  descriptors: Descriptor[];
  provider: Provider;
}

/** One record in disk usage, as BuildKit's UsageInfo. */
export interface UsageInfo {
  id: string;
  mutable: boolean;
  inUse: boolean;
  /** Bytes: snapshot usage (unless lazy) plus the blob and its variants. */
  size: number;
  createdAt: Date;
  lastUsedAt?: Date;
  usageCount: number;
  parents: string[];
  description: string;
  /** BuildKit's record type (`regular`, `internal`, `frontend`, ...). */
  recordType: string;
  /** Its content is also held by something outside the cache. */
  shared: boolean;
}

/** Options of `CacheManager.diskUsage`. */
export interface DiskUsageOptions {
  /** containerd filters over `id`, `parents`, `description`, `inuse`, `mutable`, `immutable`, `type`, `shared`, `private`. */
  filters?: readonly string[];
  signal?: AbortSignal;
}

/** Free and total bytes of the disk holding the cache. */
export interface DiskSpace {
  total: number;
  free: number;
}

/** One prune policy, as BuildKit's PruneInfo / GC policy. */
export interface PruneOptions {
  /** Also prune `internal`, `frontend` and shared records. */
  all?: boolean;
  /** containerd filters (see DiskUsageOptions); several strings are OR'ed. */
  filters?: readonly string[];
  /** Keep records used within this many milliseconds. */
  keepDuration?: number;
  /** Never prune below this many bytes. */
  reservedSpace?: number;
  /** Prune until usage is at most this many bytes. */
  maxUsedSpace?: number;
  /** Prune until the disk has this many free bytes. */
  minFreeSpace?: number;
  /** Disk space (for minFreeSpace); default: statfs of the content root, when known. */
  diskSpace?: () => Promise<DiskSpace>;
  signal?: AbortSignal;
}

/** Counters of the expensive operations, for tests and metrics. */
export interface CacheStats {
  /** Layers computed by a differ. */
  differRuns: number;
  /** Runs of the overlay upperdir differ among them. */
  overlayDiffs: number;
  /** Blobs fetched from remote providers. */
  fetches: number;
  /** Compression conversions. */
  conversions: number;
  /** Layers applied into snapshots (unlazy). */
  extractions: number;
  /** Snapshots of merge and diff refs built. */
  merges: number;
}
