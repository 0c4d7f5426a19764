import { statfs } from "node:fs/promises";
import { InvalidArgumentError } from "@strata/errdefs";
import { parseFilters } from "@strata/filters";
import type { CacheManager } from "./cache_manager.ts";
import { diskUsage, parentsOf, usageAdaptor } from "./disk_usage.ts";
import type { DiskSpace, PruneOptions, UsageInfo } from "./types.ts";

const PROTECTED_TYPES = ["internal", "frontend"];

/** Disk space of the file system holding `path`. */
export async function diskSpaceOf(path: string): Promise<DiskSpace> {
  const s = await statfs(path);
  return { total: s.blocks * s.bsize, free: s.bavail * s.bsize };
}

/**
 * The byte budget of a policy (BuildKit's calculateKeepBytes): undefined
 * means no cap (prune everything that matches); otherwise prune until usage
 * is at most the result.
 */
export async function keepBytes(
  options: PruneOptions,
  total: () => number,
): Promise<number | undefined> {
  const reserved = options.reservedSpace ?? 0;
  const maxUsed = options.maxUsedSpace ?? 0;
  const minFree = options.minFreeSpace ?? 0;
  if (reserved === 0 && maxUsed === 0 && minFree === 0) return undefined;
  let keep = maxUsed;
  if (minFree > 0) {
    if (options.diskSpace === undefined) {
      throw new InvalidArgumentError("cannot prune with minFreeSpace: no diskSpace function given");
    }
    const { free } = await options.diskSpace();
    if (free < minFree) {
      const target = Math.max(0, total() - (minFree - free));
      keep = keep === 0 ? target : Math.min(keep, target);
    } else if (keep === 0) {
      return Number.POSITIVE_INFINITY;
    }
  }
  return Math.max(keep, reserved);
}

/**
 * Prunes records that match one policy, as BuildKit's prune: records in use
 * (or with a child in use, or any child at all) stay; so do records used
 * within `keepDuration`, and without `all` internal, frontend and shared
 * ones. With a byte budget, one record per pass goes, least recently and
 * least frequently used first, until usage fits; without one, everything
 * that matches goes. Returns what was removed; run the GC afterwards.
 *
 * @throws {InvalidArgumentError} on a malformed filter or negative sizes.
 */
export async function prune(cm: CacheManager, options: PruneOptions = {}): Promise<UsageInfo[]> {
  for (const k of ["keepDuration", "reservedSpace", "maxUsedSpace", "minFreeSpace"] as const) {
    const v = options[k];
    if (v !== undefined && (!Number.isFinite(v) || v < 0)) {
      throw new InvalidArgumentError(`cannot prune: ${k} must be a non-negative number, got ${v}`);
    }
  }
  const filter = parseFilters(options.filters ?? []);
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  let usage = await diskUsage(cm, signal);
  const totalOf = (u: UsageInfo[]) => u.reduce((n, x) => n + (x.shared ? 0 : x.size), 0);
  const keep = await keepBytes(options, () => totalOf(usage));
  const removed: UsageInfo[] = [];
  for (;;) {
    options.signal?.throwIfAborted();
    if (keep !== undefined && totalOf(usage) <= keep) break;
    const now = Date.now();
    const withChildren = new Set(
      cm.records
        .list()
        .filter((r) => !r.deleted)
        .flatMap((r) => parentsOf(r)),
    );
    const candidates = usage.filter(
      (u) =>
        !u.inUse &&
        !withChildren.has(u.id) &&
        (options.all === true || (!PROTECTED_TYPES.includes(u.recordType) && !u.shared)) &&
        !(
          options.keepDuration !== undefined &&
          u.lastUsedAt !== undefined &&
          u.lastUsedAt.getTime() > now - options.keepDuration
        ) &&
        filter.match(usageAdaptor(u)),
    );
    if (candidates.length === 0) break;
    const batch = keep === undefined ? candidates.slice(0, 10) : [pickOne(candidates)];
    for (const u of batch) {
      await cm.removeRecord(u.id);
      removed.push(u);
    }
    usage = await diskUsage(cm, signal);
  }
  return removed;
}

/** BuildKit's combined LRU + LFU rank: lowest (rank of lastUsed / n + rank of usageCount / n) first. */
function pickOne(candidates: UsageInfo[]): UsageInfo {
  const n = candidates.length;
  const byTime = [...candidates].sort(
    (a, b) => (a.lastUsedAt?.getTime() ?? -1) - (b.lastUsedAt?.getTime() ?? -1),
  );
  const byCount = [...candidates].sort((a, b) => a.usageCount - b.usageCount);
  const score = (u: UsageInfo) => byTime.indexOf(u) / n + byCount.indexOf(u) / n;
  let best = candidates[0] as UsageInfo;
  for (const u of candidates) {
    const s = score(u);
    const b = score(best);
    if (s < b || (s === b && (u.lastUsedAt?.getTime() ?? -1) < (best.lastUsedAt?.getTime() ?? -1)))
      best = u;
  }
  return best;
}
