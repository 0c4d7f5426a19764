import type { UsageInfo } from "@strata/cache";
import type { Descriptor, Digest } from "@strata/oci";

/**
 * A layer compression for exports: what `--compression` accepts, as the
 * daemon's `ExportImageRequest.compression` spells it.
 */
export type ImageCompression = "uncompressed" | "gzip" | "zstd" | "estargz";

/** One progress event of a long operation (the daemon's `Progress` message). */
export interface CacheProgress {
  /** What the event is about: a digest, a ref id, or a phase name. */
  id: string;
  /**
   * What happens to it: `computing` (a layer blob), `exists` (already in the
   * target, not sent), `pushing`/`writing`, `fetching`, `unpacking`,
   * `committing`, `done`.
   */
  action: string;
  /** Bytes (or items) done so far. */
  current: number;
  /** Bytes (or items) in all; 0 when unknown. */
  total: number;
  /** The last event for `id`. */
  done: boolean;
}

/**
 * How to reach registries. These are the caller's settings (the CLI's
 * flags and environment); a daemon applies them to its own client.
 */
export interface RegistryAccess {
  /**
   * Hosts (`host[:port]`) spoken to over plain HTTP besides `localhost`,
   * `127.0.0.1` and `[::1]` (`--insecure-registry`,
   * `$STRATA_INSECURE_REGISTRIES`).
   */
  insecureHosts?: readonly string[];
  /** Credentials for the registry of the reference (`--username`/`--password-stdin`). */
  username?: string;
  password?: string;
  /**
   * The directory of docker's `config.json` for other credentials
   * (default `$DOCKER_CONFIG`, else `~/.docker`); `false` reads none.
   */
  dockerConfig?: string | false;
}

/** Options of {@link CacheOps.exportImage}. */
export interface ExportImageOptions {
  /** Compression of layers that must be created, and with `forceCompression` of every layer (default gzip). */
  compression?: ImageCompression;
  /** Convert every layer to `compression`, reusing variants that exist. */
  forceCompression?: boolean;
  /** Registry settings for `registry:` targets. */
  registry?: RegistryAccess;
  /** Called for each progress event. */
  onProgress?: (event: CacheProgress) => void;
  signal?: AbortSignal;
}

/** What {@link CacheOps.exportImage} wrote or pushed. */
export interface ExportImageResult {
  /** The image manifest (OCI `application/vnd.oci.image.manifest.v1+json`). */
  manifest: Descriptor;
  /** The image config. */
  config: Descriptor;
  /** The layers, bottom first. */
  layers: Descriptor[];
  /** Blobs (layers and config) actually written or uploaded; the rest were already there. */
  blobsSent: number;
  /** The target, normalized: `oci:/abs/dir:tag` or `registry:host/repo:tag`. */
  target: string;
}

/** Options of {@link CacheOps.importImage}. */
export interface ImportImageOptions {
  /**
   * Leave layer blobs in the source until the contents are needed. Default:
   * true for `registry:` sources, false for `oci:` sources (which are then
   * fetched and unpacked at once).
   */
  lazy?: boolean;
  /** Registry settings for `registry:` sources. */
  registry?: RegistryAccess;
  /** Platform to pick from an index (default: this process's, `linux/amd64` style). */
  platform?: { os: string; architecture: string; variant?: string };
  /** Description of the refs created (default: the source). */
  description?: string;
  /** Called for each progress event. */
  onProgress?: (event: CacheProgress) => void;
  signal?: AbortSignal;
}

/** What {@link CacheOps.importImage} created. */
export interface ImportImageResult {
  /** The top layer's ref id (what the CLI prints). */
  ref: string;
  /** Ref ids of every layer, bottom first. */
  refs: string[];
  /** The manifest that was imported (after index resolution). */
  manifest: Descriptor;
  /** Its config. */
  config: Descriptor;
  /** The image's chain ID (of the top layer). */
  chainID: Digest;
}

/** One cache record as BuildKit's disk usage reports it (`buildctl du`): the cache manager's own. */
export type CacheUsage = UsageInfo;

/** A record's kind: BuildKit's ref kinds, plus `mutable` for an uncommitted record. */
export type RefKind = "base" | "layer" | "merge" | "diff" | "mutable";

/** One row of `strata ref ls`. */
export interface RefSummary {
  id: string;
  kind: RefKind;
  /** Bytes, -1 when not computed yet. */
  size: number;
  lastUsedAt?: Date;
  description: string;
  /** Its blobs are still in a remote. */
  lazy: boolean;
}

/** The record behind a ref (`strata ref info`). */
export interface RefInfo {
  id: string;
  kind: RefKind;
  chainID?: Digest;
  blobChainID?: Digest;
  blob?: Digest;
  diffID?: Digest;
  mediaType?: string;
  /** The layer below (layer kind). */
  parent?: string;
  /** Inputs of a merge, or the lower and upper of a diff. */
  mergeParents?: string[];
  lowerDiffParent?: string;
  upperDiffParent?: string;
  /** Bytes, -1 when not computed yet. */
  size: number;
  description: string;
  createdAt: Date;
  lastUsedAt?: Date;
  usageCount: number;
  /** Its blobs are still in a remote. */
  lazy: boolean;
  /** `retain` keeps a record until pruned. */
  cachePolicy: "default" | "retain";
  recordType: string;
}

/** Options of {@link CacheOps.commitDirectory}. */
export interface CommitDirectoryOptions {
  /** The ref the new one is a layer on. */
  parent?: string;
  /** Its description (default `commit <dir>`). */
  description?: string;
  /** Registry settings, for a lazy parent whose blobs must be fetched. */
  registry?: RegistryAccess;
  onProgress?: (event: CacheProgress) => void;
  signal?: AbortSignal;
}

/** Options of {@link CacheOps.diskUsage}. */
export interface CacheDiskUsageOptions {
  /** containerd filters over `id`, `parents`, `description`, `inuse`, `mutable`, `immutable`, `type`, `shared`, `private`; several are OR'ed. */
  filters?: readonly string[];
  signal?: AbortSignal;
}

/** Options of {@link CacheOps.prune} (BuildKit's prune policy). */
export interface CachePruneOptions {
  /** Also prune `internal`, `frontend` and shared records. */
  all?: boolean;
  /** containerd filters, as {@link CacheDiskUsageOptions.filters}. */
  filters?: readonly string[];
  /** Keep records used within this many milliseconds. */
  keepDuration?: number;
  /** Never prune below this many bytes (`--keep-storage`). */
  reservedSpace?: number;
  /** Prune until usage is at most this many bytes. */
  maxUsedSpace?: number;
  /** Prune until the disk has this many free bytes. */
  minFreeSpace?: number;
  signal?: AbortSignal;
}

/**
 * The cache manager's operations on one namespace, as the CLI calls them:
 * images in and out, refs, commit, disk usage and prune. The embedded root
 * runs them on its `CacheManager`; a daemon session sends them to the
 * daemon's Cache service.
 */
export interface CacheOps {
  /**
   * Writes an image of ref `ref` (manifest, config, layer blobs from its
   * blob chain) to `target`: `oci:DIR[:TAG]` (an OCI image layout; tag
   * default `latest`) or `registry:HOST/REPO[:TAG]`. Blobs already in the
   * target are not sent again.
   *
   * @throws {InvalidArgumentError} for a malformed target.
   * @throws {NotFoundError} when `ref` does not exist.
   * @throws registry errors (Unauthenticated, PermissionDenied, Unavailable, ...).
   */
  exportImage(
    ref: string,
    target: string,
    options?: ExportImageOptions,
  ): Promise<ExportImageResult>;
  /**
   * Creates refs for the layers of the image at `source` (`oci:DIR[:TAG]`
   * or `registry:HOST/REPO[:TAG|@DIGEST]`), resolving an index to this
   * platform's manifest.
   *
   * @throws {InvalidArgumentError} for a malformed source or an image without layers.
   * @throws {NotFoundError} when the tag, the platform or a blob is missing.
   * @throws {DataLossError} when a blob does not match its digest.
   */
  importImage(source: string, options?: ImportImageOptions): Promise<ImportImageResult>;
  /** Every record of the namespace (mutable ones too), oldest first. */
  refs(options?: { signal?: AbortSignal }): Promise<RefSummary[]>;
  /**
   * The record of ref `id`.
   *
   * @throws {NotFoundError} when there is none.
   */
  refInfo(id: string, options?: { signal?: AbortSignal }): Promise<RefInfo>;
  /**
   * Removes the records `ids`; checks all of them first and removes none
   * when one fails. Children listed with their parents are removed first.
   * Returns what was removed; then collects garbage.
   *
   * @throws {NotFoundError} for an unknown id.
   * @throws {FailedPreconditionError} for a record in use or with children not in `ids`.
   */
  removeRefs(ids: readonly string[], options?: { signal?: AbortSignal }): Promise<CacheUsage[]>;
  /**
   * Copies directory `dir` into a new mutable ref on `options.parent`,
   * commits it and keeps the record (`retain`) until it is removed or
   * pruned. Returns its record.
   *
   * @throws {NotFoundError} when `dir` or the parent does not exist.
   * @throws {InvalidArgumentError} when `dir` is not a directory.
   */
  commitDirectory(dir: string, options?: CommitDirectoryOptions): Promise<RefInfo>;
  /**
   * Disk usage per record, as `buildctl du`.
   *
   * @throws {InvalidArgumentError} on a malformed filter.
   */
  diskUsage(options?: CacheDiskUsageOptions): Promise<CacheUsage[]>;
  /**
   * Removes records the policy selects (least recently and least frequently
   * used first), then collects garbage. Returns what was removed.
   *
   * @throws {InvalidArgumentError} on a malformed filter or negative sizes.
   */
  prune(options?: CachePruneOptions): Promise<CacheUsage[]>;
}
