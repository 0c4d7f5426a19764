import type { CacheManager } from "@strata/cache";
import { FailedPreconditionError, NotFoundError } from "@strata/errdefs";
import { exportImage } from "../images/image_export.ts";
import { importImage } from "../images/image_import.ts";
import { cacheUsageOf, refInfoOf, refSummaryOf } from "./_records.ts";
import type { CacheOps, CacheUsage } from "./cache_ops.ts";
import { commitDirectory } from "./commit_directory.ts";

const signalOf = (options?: { signal?: AbortSignal }): { signal?: AbortSignal } =>
  options?.signal === undefined ? {} : { signal: options.signal };

/**
 * {@link CacheOps} over a cache manager in this process (the embedded
 * root). `manager` opens it on first use.
 */
export function embeddedCacheOps(manager: () => Promise<CacheManager>): CacheOps {
  return {
    exportImage: async (ref, target, options) => exportImage(await manager(), ref, target, options),
    importImage: async (source, options) => importImage(await manager(), source, options),
    async refs(options) {
      const cm = await manager();
      const sizes = new Map((await cm.diskUsage(signalOf(options))).map((u) => [u.id, u.size]));
      return cm.records
        .list()
        .filter((r) => !r.deleted)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id))
        .map((r) => refSummaryOf(r, sizes.get(r.id)));
    },
    async refInfo(id, options) {
      options?.signal?.throwIfAborted();
      const cm = await manager();
      const r = cm.records.get(id);
      if (r === undefined || r.deleted) throw new NotFoundError(`ref ${id}: not found`);
      return refInfoOf(r);
    },
    async removeRefs(ids, options) {
      const cm = await manager();
      const wanted = new Set(ids);
      for (const id of wanted) {
        const r = cm.records.get(id);
        if (r === undefined || r.deleted)
          throw new NotFoundError(`cannot remove ref ${id}: not found`);
        if (cm.inUse(id)) throw new FailedPreconditionError(`cannot remove ref ${id}: in use`);
        const kept = cm.records
          .children(id)
          .filter((c) => !c.deleted && !wanted.has(c.id))
          .map((c) => c.id);
        if (kept.length > 0) {
          throw new FailedPreconditionError(
            `cannot remove ref ${id}: it is the parent of ${kept.join(", ")}`,
          );
        }
      }
      if (wanted.size === 0) return [];
      // Prune by id: children go before their parents, and nothing in use goes.
      const removed: CacheUsage[] = (
        await cm.prune({
          all: true,
          filters: [...wanted].map((id) => `id==${id}`),
          ...signalOf(options),
        })
      ).map(cacheUsageOf);
      await cm.gc(signalOf(options));
      const left = [...wanted].filter((id) => !removed.some((u) => u.id === id));
      if (left.length > 0) {
        throw new FailedPreconditionError(
          `cannot remove ref ${left.join(", ")}: in use (removed ${removed.length} others)`,
        );
      }
      return removed;
    },
    commitDirectory: async (dir, options) => commitDirectory(await manager(), dir, options),
    async diskUsage(options) {
      const cm = await manager();
      return (
        await cm.diskUsage({
          ...(options?.filters === undefined ? {} : { filters: options.filters }),
          ...signalOf(options),
        })
      ).map(cacheUsageOf);
    },
    async prune(options = {}) {
      const cm = await manager();
      const { signal: _s, ...policy } = options;
      const removed = (await cm.prune({ ...policy, ...signalOf(options) })).map(cacheUsageOf);
      await cm.gc(signalOf(options));
      return removed;
    },
  };
}
