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
 * sizes are computed (and stored). A record is `shared` when its snapshot
 * or one of its blobs (or their compression variants) is also held by
 * another record (e.g. the same layers pulled in two compressions), and
 * then so are its parents, as BuildKit propagates `shared`; removing it
 * alone would free little, so prune skips it without `all`.
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
  const shared = await sharedRecords(cm, shown, byID);
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
      shared: shared.has(r.id),
    };
    if (r.lastUsedAt !== undefined) u.lastUsedAt = r.lastUsedAt;
    if (filter.match(usageAdaptor(u))) out.push(u);
  });
  return out;
}

/** The records whose snapshot or blobs another record holds too, with their parents. */
async function sharedRecords(
  cm: CacheManager,
  shown: readonly CacheRecord[],
  byID: ReadonlyMap<string, CacheRecord>,
): Promise<Set<string>> {
  const holders = new Map<string, Set<string>>();
  const held = await Promise.all(shown.map((r) => cm.resourcesOf(r.id)));
  shown.forEach((r, i) => {
    const res = held[i] as Awaited<ReturnType<CacheManager["resourcesOf"]>>;
    const keys = [
      ...(res.snapshot === undefined ? [] : [`snapshot:${res.snapshot}`]),
      ...res.blobs.map((d) => `blob:${d}`),
    ];
    for (const k of keys) {
      const set = holders.get(k) ?? new Set<string>();
      set.add(r.id);
      holders.set(k, set);
    }
  });
  const shared = new Set<string>();
  for (const ids of holders.values()) if (ids.size > 1) for (const id of ids) shared.add(id);
  const queue = [...shared];
  while (queue.length > 0) {
    const r = byID.get(queue.pop() as string);
    if (r === undefined) continue;
    for (const p of parentsOf(r)) {
      if (byID.has(p) && !shared.has(p)) {
        shared.add(p);
        queue.push(p);
      }
    }
  }
  return shared;
}
