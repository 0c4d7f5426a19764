import { isNotFound } from "@strata/errdefs";
import {
  gcReferences,
  LABEL_GC_FLAT,
  LABEL_GC_ROOT,
  leaseExpiry,
  RESOURCE_CONTENT,
  RESOURCE_INGESTS,
  RESOURCE_SNAPSHOTS_PREFIX,
} from "@strata/leases";
import type { Digest } from "@strata/oci";
import { cleanupSnapshotters } from "./_collect_snapshots.ts";
import type { Core } from "./_core.ts";
import { forEachParallel } from "./_parallel.ts";
import { parseLabels } from "./_validate.ts";
import type { GcStats } from "./gc_stats.ts";

/** Backend blob deletions in flight at once. */
const DELETE_WIDTH = 16;

// Node keys: one string per object, NUL-separated so no name can forge another.
const contentKey = (ns: string, digest: string) => `c\0${ns}\0${digest}`;
const ingestKey = (ns: string, ref: string) => `i\0${ns}\0${ref}`;
const snapshotKey = (ns: string, snapshotter: string, key: string) =>
  `s\0${ns}\0${snapshotter}\0${key}`;

interface Node {
  labels: Record<string, string>;
  /** Followed even from a flat lease (snapshot parent, ingest's expected blob). */
  structural: string[];
}

/** The objects a label set references, as node keys. */
function labelRefs(ns: string, labels: Readonly<Record<string, string>>): string[] {
  return gcReferences(labels).map((r) =>
    r.kind === "content" ? contentKey(ns, r.digest) : snapshotKey(ns, r.snapshotter, r.key),
  );
}

/**
 * One garbage collection, as containerd's metadata GC: mark from the roots
 * and sweep unmarked records in one write transaction, then (holding the
 * content lock exclusively) delete backend blobs and ingests that no record
 * uses, and (holding each snapshotter's lock) backend snapshots no record uses.
 */
export async function collect(core: Core): Promise<GcStats> {
  const started = performance.now();
  const now = Date.now();
  const swept = core.tx(() => markAndSweep(core, now));
  const pauseMs = performance.now() - started;

  const release = await core.lock.exclusive();
  let removedContent = 0;
  let removedBytes = 0;
  let removedBackendIngests = 0;
  try {
    // List the backend before reading the records: anything created after
    // the listing is not considered, anything listed has its record by now.
    const blobs: { digest: Digest; size: number }[] = [];
    await core.backend.walk((info) => {
      blobs.push({ digest: info.digest, size: info.size });
    });
    const ingests = await core.backend.listStatuses();
    const used = new Set(
      core.all<{ digest: string }>("SELECT DISTINCT digest FROM content").map((r) => r.digest),
    );
    const refs = new Set<string>();
    for (const row of core.all<{ backend_ref: string; expected: string | null }>(
      "SELECT backend_ref, expected FROM ingests",
    )) {
      refs.add(row.backend_ref);
      if (row.expected !== null) used.add(row.expected);
    }
    const unused = blobs.filter((blob) => !used.has(blob.digest));
    await forEachParallel(unused, DELETE_WIDTH, async (blob) => {
      try {
        await core.backend.delete(blob.digest);
        removedContent++;
        removedBytes += blob.size;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    });
    for (const status of ingests) {
      if (refs.has(status.ref)) continue;
      try {
        await core.backend.abort(status.ref);
        removedBackendIngests++;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  } finally {
    release();
  }
  const snapshots = await cleanupSnapshotters(core);
  return {
    removedContent,
    removedBytes,
    removedLeases: swept.leases,
    removedSnapshots: swept.snapshots + snapshots.removedStaleRecords,
    removedBackendSnapshots: snapshots.removedBackendSnapshots,
    removedIngests: swept.ingests + removedBackendIngests,
    removedRecords: swept.content,
    pauseMs,
    durationMs: performance.now() - started,
  };
}

interface Swept {
  content: number;
  ingests: number;
  snapshots: number;
  leases: number;
}

function markAndSweep(core: Core, now: number): Swept {
  const nodes = new Map<string, Node>();
  const roots: { key: string; flat: boolean }[] = [];

  for (const row of core.all<{ namespace: string; digest: string; labels: string }>(
    "SELECT namespace, digest, labels FROM content",
  )) {
    const labels = parseLabels(row.labels);
    const key = contentKey(row.namespace, row.digest);
    nodes.set(key, { labels, structural: [] });
    if ((labels[LABEL_GC_ROOT] ?? "") !== "") roots.push({ key, flat: false });
  }
  for (const row of core.all<{
    namespace: string;
    snapshotter: string;
    key: string;
    parent: string | null;
    labels: string;
  }>("SELECT namespace, snapshotter, key, parent, labels FROM snapshots")) {
    const labels = parseLabels(row.labels);
    const key = snapshotKey(row.namespace, row.snapshotter, row.key);
    const structural =
      row.parent === null || row.parent === ""
        ? []
        : [snapshotKey(row.namespace, row.snapshotter, row.parent)];
    nodes.set(key, { labels, structural });
    if ((labels[LABEL_GC_ROOT] ?? "") !== "") roots.push({ key, flat: false });
  }
  for (const row of core.all<{
    namespace: string;
    ref: string;
    expected: string | null;
    expires_at: number | null;
  }>("SELECT namespace, ref, expected, expires_at FROM ingests")) {
    const key = ingestKey(row.namespace, row.ref);
    nodes.set(key, {
      labels: {},
      structural: row.expected === null ? [] : [contentKey(row.namespace, row.expected)],
    });
    if (row.expires_at !== null && row.expires_at > now) roots.push({ key, flat: false });
  }

  const expired: { namespace: string; id: string }[] = [];
  const leaseFlat = new Map<string, boolean>();
  for (const row of core.all<{ namespace: string; id: string; labels: string }>(
    "SELECT namespace, id, labels FROM leases",
  )) {
    const labels = parseLabels(row.labels);
    const expiry = leaseExpiry(labels);
    if (expiry !== undefined && expiry.getTime() <= now) {
      expired.push({ namespace: row.namespace, id: row.id });
      continue;
    }
    leaseFlat.set(`${row.namespace}\0${row.id}`, Object.hasOwn(labels, LABEL_GC_FLAT));
  }
  for (const row of core.all<{ namespace: string; lease: string; type: string; id: string }>(
    "SELECT namespace, lease, type, id FROM lease_resources",
  )) {
    const flat = leaseFlat.get(`${row.namespace}\0${row.lease}`);
    if (flat === undefined) continue; // expired
    if (row.type === RESOURCE_CONTENT) roots.push({ key: contentKey(row.namespace, row.id), flat });
    else if (row.type === RESOURCE_INGESTS)
      roots.push({ key: ingestKey(row.namespace, row.id), flat });
    else if (row.type.startsWith(RESOURCE_SNAPSHOTS_PREFIX)) {
      const snapshotter = row.type.slice(RESOURCE_SNAPSHOTS_PREFIX.length);
      roots.push({ key: snapshotKey(row.namespace, snapshotter, row.id), flat });
    }
  }

  // Depth-first mark. A node reached flat first and fully later is expanded
  // again, so the stronger hold wins whatever the order.
  const marked = new Map<string, "flat" | "full">();
  const stack = roots.slice();
  while (stack.length > 0) {
    const { key, flat } = stack.pop() as { key: string; flat: boolean };
    const seen = marked.get(key);
    if (seen === "full" || (seen === "flat" && flat)) continue;
    marked.set(key, flat ? "flat" : "full");
    const node = nodes.get(key);
    if (node === undefined) continue; // a dead edge: harmless
    const ns = key.split("\0")[1] as string;
    for (const next of node.structural) stack.push({ key: next, flat });
    if (!flat)
      for (const next of labelRefs(ns, node.labels)) stack.push({ key: next, flat: false });
  }

  const swept: Swept = { content: 0, ingests: 0, snapshots: 0, leases: 0 };
  for (const key of nodes.keys()) {
    if (marked.has(key)) continue;
    const parts = key.split("\0");
    const [kind, ns] = parts as [string, string];
    if (kind === "c") {
      swept.content += core.run(
        "DELETE FROM content WHERE namespace = ? AND digest = ?",
        ns,
        parts[2] as string,
      );
    } else if (kind === "i") {
      swept.ingests += core.run(
        "DELETE FROM ingests WHERE namespace = ? AND ref = ?",
        ns,
        parts.slice(2).join("\0"),
      );
    } else {
      swept.snapshots += core.run(
        "DELETE FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ?",
        ns,
        parts[2] as string,
        parts.slice(3).join("\0"),
      );
    }
  }
  for (const lease of expired) {
    swept.leases += core.run(
      "DELETE FROM leases WHERE namespace = ? AND id = ?",
      lease.namespace,
      lease.id,
    );
  }
  return swept;
}
