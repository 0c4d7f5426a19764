import { isNotFound } from "@strata/errdefs";
import { objectAdaptor, parseFilters } from "@strata/filters";
import {
  gcReferences,
  LABEL_GC_FLAT,
  LABEL_GC_ROOT,
  LABEL_TEMPORARY,
  leaseExpiry,
  RESOURCE_CONTENT,
  RESOURCE_SNAPSHOTS_PREFIX,
} from "@strata/leases";
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
 * `shared` is BuildKit's: the record's data is also kept by something
 * outside the cache, so removing the record would not free it (BuildKit
 * asks containerd's image store whether an image has the record's layer
 * chain). Here "outside" is what the garbage collector would still keep
 * if no cache record held anything: a lease of the namespace that is not a
 * record's (not `<id>`, `<id>-variants`, `<id>-view`, nor a temporary lease
 * of work in flight), a `containerd.io/gc.root` label, the objects those
 * reference through `containerd.io/gc.ref.*` labels and snapshot parents,
 * and the same blob recorded in another namespace. A record is shared when
 * its snapshot or its blob is kept so, and then so are its parents, as
 * BuildKit propagates it; prune skips shared records without `all`.
 * Records that merely hold the same data as another record (two
 * compressions of one layer share a snapshot) are not shared: pruning both
 * frees it.
 *
 * @throws {InvalidArgumentError} on a malformed filter.
 */
export async function diskUsage(
  cm: CacheManager,
  options: DiskUsageOptions = {},
): Promise<UsageInfo[]> {
  options.signal?.throwIfAborted();
  const filter = parseFilters(options.filters ?? []);
  const all = cm.records.list();
  const records = all.filter((r) => !r.deleted);
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
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const sizes = await Promise.all(
    shown.map((r) => (!r.committed && inUse.has(r.id) ? 0 : cm.sizeOf(r.id, signal))),
  );
  const shared = await sharedRecords(cm, all, shown, byID, signal);
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

// Graph nodes of what the collector keeps: content by digest, snapshots by key.
const contentNode = (digest: string) => `c ${digest}`;
const snapshotNode = (key: string) => `s ${key}`;

/** The nodes a label set references (`gc.ref.content*`, `gc.ref.snapshot.<ours>*`). */
function labelRefs(labels: Readonly<Record<string, string>>, snapshotter: string): string[] {
  const out: string[] = [];
  for (const r of gcReferences(labels)) {
    if (r.kind === "content") out.push(contentNode(r.digest));
    else if (r.snapshotter === snapshotter) out.push(snapshotNode(r.key));
  }
  return out;
}

/**
 * The records whose snapshot or blob something outside the cache keeps
 * (see {@link diskUsage}), with their parents.
 */
async function sharedRecords(
  cm: CacheManager,
  all: readonly CacheRecord[],
  shown: readonly CacheRecord[],
  byID: ReadonlyMap<string, CacheRecord>,
  signal: { signal?: AbortSignal },
): Promise<Set<string>> {
  const now = Date.now();
  const own = new Set(all.flatMap((r) => [r.id, `${r.id}-variants`, `${r.id}-view`]));
  const leases = cm.db.leases(cm.namespace);
  const resourceType = `${RESOURCE_SNAPSHOTS_PREFIX}${cm.snapshotterName}`;
  // Roots: [node, flat]. A flat lease keeps its resources, not what their labels reference.
  const roots: [string, boolean][] = [];
  for (const lease of await leases.list(signal)) {
    if (own.has(lease.id) || lease.labels[LABEL_TEMPORARY] !== undefined) continue;
    const expiry = leaseExpiry(lease.labels);
    if (expiry !== undefined && expiry.getTime() <= now) continue;
    const flat = (lease.labels[LABEL_GC_FLAT] ?? "") !== "";
    for (const res of await leases.listResources(lease, signal)) {
      if (res.type === RESOURCE_CONTENT) roots.push([contentNode(res.id), flat]);
      else if (res.type === resourceType) roots.push([snapshotNode(res.id), flat]);
    }
  }
  const edges = new Map<string, { labels: string[]; structural: string[] }>();
  await cm.content.walk((info) => {
    const node = contentNode(info.digest);
    edges.set(node, { labels: labelRefs(info.labels, cm.snapshotterName), structural: [] });
    if ((info.labels[LABEL_GC_ROOT] ?? "") !== "") roots.push([node, false]);
  }, signal);
  await cm.snapshotter.walk((info) => {
    const node = snapshotNode(info.name);
    edges.set(node, {
      labels: labelRefs(info.labels, cm.snapshotterName),
      structural: info.parent === "" ? [] : [snapshotNode(info.parent)],
    });
    if ((info.labels[LABEL_GC_ROOT] ?? "") !== "") roots.push([node, false]);
  }, signal);
  const kept = new Set<string>();
  const queue = roots.map(([node, flat]) => ({ node, flat }));
  const followed = new Set<string>();
  while (queue.length > 0) {
    const { node, flat } = queue.pop() as { node: string; flat: boolean };
    kept.add(node);
    // A node reached both flat and not is followed fully once.
    const mark = `${flat ? "f" : "n"} ${node}`;
    if (followed.has(mark) || followed.has(`n ${node}`)) continue;
    followed.add(mark);
    const e = edges.get(node);
    if (e === undefined) continue;
    for (const next of e.structural) queue.push({ node: next, flat });
    if (!flat) for (const next of e.labels) queue.push({ node: next, flat: false });
  }
  // The bytes of a blob stay while any namespace records it.
  const elsewhere = new Set<string>();
  const blobs = new Set(shown.flatMap((r) => (r.blob === undefined ? [] : [r.blob])));
  if (blobs.size > 0) {
    for (const ns of await cm.db.namespaces.list()) {
      if (ns.name === cm.namespace) continue;
      const store = cm.db.contentStore(ns.name);
      for (const digest of blobs) {
        try {
          await store.info(digest, signal);
          elsewhere.add(digest);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    }
  }
  const shared = new Set<string>();
  for (const r of shown) {
    const snapshot =
      r.equalMutable === undefined ? r.snapshotID : byID.get(r.equalMutable)?.snapshotID;
    const held =
      (!r.blobOnly && snapshot !== undefined && kept.has(snapshotNode(snapshot))) ||
      (r.blob !== undefined && (kept.has(contentNode(r.blob)) || elsewhere.has(r.blob)));
    if (held) shared.add(r.id);
  }
  const queueUp = [...shared];
  while (queueUp.length > 0) {
    const r = byID.get(queueUp.pop() as string);
    if (r === undefined) continue;
    for (const p of parentsOf(r)) {
      if (byID.has(p) && !shared.has(p)) {
        shared.add(p);
        queueUp.push(p);
      }
    }
  }
  return shared;
}
