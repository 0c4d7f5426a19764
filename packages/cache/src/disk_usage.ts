import { objectAdaptor, parseFilters } from "@strata/filters";
import type { CacheRecord } from "@strata/metadata";
import type { CacheManager } from "./cache_manager.ts";
import type { DiskUsageOptions, UsageInfo } from "./types.ts";

/** The parent record ids of `r` (layer parent, merge inputs, diff inputs). */
export function parentsOf(r: CacheRecord): string[] {
  const out: string[] = [];
  if (r.parent !== undefined) out.push(r.parent);
  out.push(...r.mergeParents);
  if (r.lowerDiffParent !== undefined) out.push(r.lowerDiffParent);
  if (r.upperDiffParent !== undefined) out.push(r.upperDiffParent);
  return out;
}

/** The fields containerd filters see for one usage entry (BuildKit's prune/du filter fields). */
export function usageAdaptor(u: UsageInfo): ReturnType<typeof objectAdaptor> {
  return objectAdaptor({
    fields: {
      id: u.id,
      parents: u.parents.join(";"),
      description: u.description,
      inuse: String(u.inUse),
      mutable: String(u.mutable),
      immutable: String(!u.mutable),
      type: u.recordType,
      shared: String(u.shared),
      private: String(!u.shared),
    },
  });
}

/**
 * Disk usage of every record, as BuildKit's DiskUsage: a committed record
 * and the mutable one it came from are reported once; a mutable record in
 * use counts 0 bytes; a record whose child is in use is in use too. Unknown
 * sizes are computed (and stored).
 *
 * @throws {InvalidArgumentError} on a malformed filter.
 */
export async function diskUsage(
  cm: CacheManager,
  options: DiskUsageOptions = {},
): Promise<UsageInfo[]> {
  options.signal?.throwIfAborted();
  const filter = parseFilters(options.filters ?? []);
  const records = cm.records.list().filter((r) => !r.deleted);
  const twins = new Set(
    records.flatMap((r) => (r.equalMutable === undefined ? [] : [r.equalMutable])),
  );
  const shown = records.filter((r) => !twins.has(r.id));
  const byID = new Map(records.map((r) => [r.id, r]));
  const inUse = new Set<string>();
  for (const r of shown) {
    if (cm.inUse(r.id) || (r.equalMutable !== undefined && cm.inUse(r.equalMutable)))
      inUse.add(r.id);
  }
  // A record stays in use while any record built on it is in use.
  let changed = true;
  while (changed) {
    changed = false;
    for (const r of shown) {
      if (!inUse.has(r.id)) continue;
      for (const p of parentsOf(r)) {
        if (byID.has(p) && !inUse.has(p)) {
          inUse.add(p);
          changed = true;
        }
      }
    }
  }
  const sizes = await Promise.all(
    shown.map((r) =>
      !r.committed && inUse.has(r.id)
        ? 0
        : cm.sizeOf(r.id, options.signal === undefined ? {} : { signal: options.signal }),
    ),
  );
  const out: UsageInfo[] = [];
  shown.forEach((r, i) => {
    const u: UsageInfo = {
      id: r.id,
      mutable: !r.committed,
      inUse: inUse.has(r.id),
      size: sizes[i] as number,
      createdAt: r.createdAt,
      usageCount: r.usageCount,
      parents: parentsOf(r),
      description: r.description,
      recordType: r.recordType,
      shared: false,
    };
    if (r.lastUsedAt !== undefined) u.lastUsedAt = r.lastUsedAt;
    if (filter.match(usageAdaptor(u))) out.push(u);
  });
  return out;
}
