import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type Cache,
  type RefInfo as RefInfoMessage,
  RefInfoSchema,
  type RegistryAccess as RegistryAccessMessage,
  type UsageRecord,
  UsageRecordSchema,
} from "@strata/api/cache";
import type {
  CacheOps,
  CachePruneOptions,
  CacheUsage,
  GcReport,
  ImageCompression,
  RefInfo,
  RegistryAccess,
} from "@strata/core";
import { InvalidArgumentError } from "@strata/errdefs";
import type { Descriptor } from "@strata/oci";
import { namespaceOf } from "./_context.ts";
import { mapErrors, toConnectError } from "./_errors.ts";
import { progressOf } from "./_progress.ts";

/** What the cache service runs on. */
export interface CacheBackend {
  /** Collects garbage now (across namespaces). */
  gc(options?: { signal?: AbortSignal }): Promise<GcReport>;
  /** The cache operations of `namespace` (the embedded implementation). */
  cache(namespace: string): CacheOps;
}

const COMPRESSIONS: readonly string[] = ["uncompressed", "gzip", "zstd", "estargz"];

function usageRecord(u: CacheUsage): UsageRecord {
  return create(UsageRecordSchema, {
    id: u.id,
    mutable: u.mutable,
    inUse: u.inUse,
    size: BigInt(u.size),
    parents: u.parents,
    createdAt: timestampFromDate(u.createdAt),
    ...(u.lastUsedAt !== undefined ? { lastUsedAt: timestampFromDate(u.lastUsedAt) } : {}),
    usageCount: BigInt(u.usageCount),
    description: u.description,
    recordType: u.recordType,
    shared: u.shared,
  });
}

function refInfoMessage(r: RefInfo): RefInfoMessage {
  return create(RefInfoSchema, {
    id: r.id,
    kind: r.kind,
    chainId: r.chainID ?? "",
    blobChainId: r.blobChainID ?? "",
    blob: r.blob ?? "",
    diffId: r.diffID ?? "",
    mediaType: r.mediaType ?? "",
    parent: r.parent ?? "",
    mergeParents: r.mergeParents ?? [],
    lowerDiffParent: r.lowerDiffParent ?? "",
    upperDiffParent: r.upperDiffParent ?? "",
    size: BigInt(r.size),
    description: r.description,
    createdAt: timestampFromDate(r.createdAt),
    ...(r.lastUsedAt !== undefined ? { lastUsedAt: timestampFromDate(r.lastUsedAt) } : {}),
    usageCount: BigInt(r.usageCount),
    lazy: r.lazy,
    cachePolicy: r.cachePolicy,
    recordType: r.recordType,
  });
}

function descriptor(d: Descriptor) {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: BigInt(d.size),
    annotations: d.annotations ?? {},
  };
}

function registryOf(m: RegistryAccessMessage | undefined): { registry?: RegistryAccess } {
  if (m === undefined) return {};
  const registry: RegistryAccess = { insecureHosts: m.insecureHosts };
  if (m.username !== "") registry.username = m.username;
  if (m.password !== "") registry.password = m.password;
  if (m.noDockerConfig) registry.dockerConfig = false;
  else if (m.dockerConfig !== "") registry.dockerConfig = m.dockerConfig;
  return { registry };
}

function nonNegative(name: string, value: bigint | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value < 0n)
    throw new InvalidArgumentError(`prune: ${name} must not be negative, got ${value}`);
  return Number(value);
}

function pruneOptions(
  req: Parameters<ServiceImpl<typeof Cache>["prune"]>[0],
  signal: AbortSignal,
): CachePruneOptions {
  const options: CachePruneOptions = { all: req.all, filters: req.filters, signal };
  const keep =
    req.keepDurationMs !== undefined
      ? nonNegative("keep duration", req.keepDurationMs)
      : (nonNegative("keep duration", req.keepDurationSeconds) ?? 0) * 1000;
  if (keep !== undefined && keep > 0) options.keepDuration = keep;
  const reserved = nonNegative("reserved space", req.reservedSpace);
  if (reserved !== undefined) options.reservedSpace = reserved;
  const maxUsed = nonNegative("max used space", req.maxUsedSpace);
  if (maxUsed !== undefined) options.maxUsedSpace = maxUsed;
  const minFree = nonNegative("min free space", req.minFreeSpace);
  if (minFree !== undefined) options.minFreeSpace = minFree;
  return options;
}

/**
 * strata.services.cache.v1.Cache over the embedded cache operations of each
 * namespace: disk usage, prune (each removed record streamed), garbage
 * collection, refs, commit of a directory on the daemon's host, and image
 * export and import with their progress streamed.
 */
export function cacheService(backend: CacheBackend): ServiceImpl<typeof Cache> {
  return {
    async garbageCollect(_req, ctx) {
      return mapErrors(async () => {
        const report = await backend.gc({ signal: ctx.signal });
        return {
          removedContent: BigInt(report.removedContent),
          removedBytes: BigInt(report.removedBytes),
          removedLeases: BigInt(report.removedLeases),
          removedSnapshots: BigInt(report.removedSnapshots),
          durationMs: report.durationMs,
        };
      });
    },

    async diskUsage(req, ctx) {
      return mapErrors(async () => {
        const usage = await backend
          .cache(namespaceOf(ctx))
          .diskUsage({ filters: req.filters, signal: ctx.signal });
        return { records: usage.map(usageRecord) };
      });
    },

    async *prune(req, ctx) {
      let removed: CacheUsage[];
      try {
        removed = await backend.cache(namespaceOf(ctx)).prune(pruneOptions(req, ctx.signal));
      } catch (err) {
        throw toConnectError(err);
      }
      for (const u of removed) yield { removed: usageRecord(u) };
    },

    async *exportImage(req, ctx) {
      let ops: CacheOps;
      try {
        ops = backend.cache(namespaceOf(ctx));
        if (req.refId === "") throw new InvalidArgumentError("export: ref_id is required");
        if (req.compression !== "" && !COMPRESSIONS.includes(req.compression)) {
          throw new InvalidArgumentError(
            `export: compression "${req.compression}" is not one of ${COMPRESSIONS.join(", ")}`,
          );
        }
      } catch (err) {
        throw toConnectError(err);
      }
      yield* progressOf(
        (onProgress) =>
          ops.exportImage(req.refId, req.destination, {
            ...(req.compression !== "" ? { compression: req.compression as ImageCompression } : {}),
            forceCompression: req.forceCompression,
            ...registryOf(req.registry),
            onProgress,
            signal: ctx.signal,
          }),
        (r) => ({
          id: r.target,
          action: "done",
          result: descriptor(r.manifest),
          exportResult: {
            manifest: descriptor(r.manifest),
            config: descriptor(r.config),
            layers: r.layers.map(descriptor),
            blobsSent: BigInt(r.blobsSent),
            target: r.target,
          },
        }),
      );
    },

    async *importImage(req, ctx) {
      let ops: CacheOps;
      try {
        ops = backend.cache(namespaceOf(ctx));
      } catch (err) {
        throw toConnectError(err);
      }
      const platform = req.platform;
      yield* progressOf(
        (onProgress) =>
          ops.importImage(req.source, {
            ...(req.lazy !== undefined ? { lazy: req.lazy } : {}),
            ...registryOf(req.registry),
            ...(platform !== undefined && platform.os !== ""
              ? {
                  platform: {
                    os: platform.os,
                    architecture: platform.architecture,
                    ...(platform.variant !== "" ? { variant: platform.variant } : {}),
                  },
                }
              : {}),
            ...(req.description !== "" ? { description: req.description } : {}),
            onProgress,
            signal: ctx.signal,
          }),
        (r) => ({
          id: r.ref,
          action: "done",
          result: descriptor(r.manifest),
          importResult: {
            ref: r.ref,
            refs: r.refs,
            manifest: descriptor(r.manifest),
            config: descriptor(r.config),
            chainId: r.chainID,
          },
        }),
      );
    },

    async listRefs(_req, ctx) {
      return mapErrors(async () => {
        const refs = await backend.cache(namespaceOf(ctx)).refs({ signal: ctx.signal });
        return {
          refs: refs.map((r) => ({
            id: r.id,
            kind: r.kind,
            size: BigInt(r.size),
            ...(r.lastUsedAt !== undefined ? { lastUsedAt: timestampFromDate(r.lastUsedAt) } : {}),
            description: r.description,
            lazy: r.lazy,
          })),
        };
      });
    },

    async getRef(req, ctx) {
      return mapErrors(async () => {
        if (req.id === "") throw new InvalidArgumentError("ref info: id is required");
        const info = await backend.cache(namespaceOf(ctx)).refInfo(req.id, { signal: ctx.signal });
        return { info: refInfoMessage(info) };
      });
    },

    async removeRefs(req, ctx) {
      return mapErrors(async () => {
        const removed = await backend
          .cache(namespaceOf(ctx))
          .removeRefs(req.ids, { signal: ctx.signal });
        return { removed: removed.map(usageRecord) };
      });
    },

    async *commitDirectory(req, ctx) {
      let ops: CacheOps;
      try {
        ops = backend.cache(namespaceOf(ctx));
        if (!req.directory.startsWith("/")) {
          throw new InvalidArgumentError(
            `commit: directory "${req.directory}" must be an absolute path on the daemon's host`,
          );
        }
      } catch (err) {
        throw toConnectError(err);
      }
      yield* progressOf(
        (onProgress) =>
          ops.commitDirectory(req.directory, {
            ...(req.parent !== "" ? { parent: req.parent } : {}),
            ...(req.description !== "" ? { description: req.description } : {}),
            ...registryOf(req.registry),
            onProgress,
            signal: ctx.signal,
          }),
        (r) => ({ id: r.id, action: "done", commitResult: refInfoMessage(r) }),
      );
    },
  };
}
