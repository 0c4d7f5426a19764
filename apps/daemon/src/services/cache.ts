import type { ServiceImpl } from "@connectrpc/connect";
import type { Cache } from "@strata/api/cache";
import type { GcReport } from "@strata/core";
import { mapErrors } from "./_errors.ts";

/** What the cache service runs on. */
export interface CacheBackend {
  /** Collects garbage now (across namespaces). */
  gc(options?: { signal?: AbortSignal }): Promise<GcReport>;
}

/**
 * strata.services.cache.v1.Cache. GarbageCollect is served now; disk usage,
 * prune and image export/import arrive with the cache manager (the router
 * answers them Unimplemented until then).
 */
export function cacheService(backend: CacheBackend): Partial<ServiceImpl<typeof Cache>> {
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
  };
}
