import { isFailedPrecondition, isNotFound } from "@strata/errdefs";
import { RESOURCE_SNAPSHOTS_PREFIX } from "@strata/leases";
import { isCleaner } from "@strata/snapshots";
import type { Core, SnapshotterBackend } from "./_core.ts";

/** What the backend cleanup of the snapshotters removed. */
export interface SnapshotCleanup {
  /** Backend snapshots removed (no record in any namespace used them). */
  removedBackendSnapshots: number;
  /** Records removed because their backend snapshot was gone (a crash in a commit). */
  removedStaleRecords: number;
}

/**
 * The snapshot half of GC's backend cleanup, as containerd's: for each
 * registered snapshotter, holding its lock exclusively (no create or commit
 * runs meanwhile), remove the backend snapshots that no record of any
 * namespace uses, children before parents, then let the backend delete what
 * removed snapshots left (`cleanup()` of a Cleaner). A failure on one
 * snapshot does not stop the others (containerd#3923); the first
 * unexpected one is thrown at the end.
 */
export async function cleanupSnapshotters(core: Core): Promise<SnapshotCleanup> {
  const result: SnapshotCleanup = { removedBackendSnapshots: 0, removedStaleRecords: 0 };
  let failure: unknown;
  for (const [name, entry] of core.snapshotters) {
    try {
      const one = await cleanupOne(core, name, entry);
      result.removedBackendSnapshots += one.removedBackendSnapshots;
      result.removedStaleRecords += one.removedStaleRecords;
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
  return result;
}

interface Node {
  parent: string;
  children: number;
  used: boolean;
}

async function cleanupOne(
  core: Core,
  name: string,
  entry: SnapshotterBackend,
): Promise<SnapshotCleanup> {
  const release = await entry.lock.exclusive();
  try {
    const nodes = new Map<string, Node>();
    await entry.backend.walk((info) => {
      nodes.set(info.name, { parent: info.parent, children: 0, used: false });
    });
    for (const node of nodes.values()) {
      const parent = nodes.get(node.parent);
      if (parent !== undefined) parent.children++;
    }

    // Records whose backend snapshot is gone can only come from a commit
    // cut short after the backend committed (the active record stays) or
    // before (the reserved name stays): no create or commit is running now,
    // so they are stale.
    let removedStaleRecords = 0;
    core.tx(() => {
      for (const row of core.all<{ namespace: string; key: string; backend_key: string }>(
        "SELECT namespace, key, backend_key FROM snapshots WHERE snapshotter = ? AND backend_key IS NOT NULL",
        name,
      )) {
        const node = nodes.get(row.backend_key);
        if (node !== undefined) {
          node.used = true;
          continue;
        }
        removedStaleRecords += core.run(
          "DELETE FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ?",
          row.namespace,
          name,
          row.key,
        );
        core.run(
          "DELETE FROM lease_resources WHERE namespace = ? AND type = ? AND id = ?",
          row.namespace,
          `${RESOURCE_SNAPSHOTS_PREFIX}${name}`,
          row.key,
        );
      }
    });
    if (removedStaleRecords > 0) core.onMutation(true);

    // Leaves first: an unused snapshot goes once it has no children left.
    const queue = [...nodes].filter(([, n]) => !n.used && n.children === 0).map(([k]) => k);
    let removed = 0;
    let failure: unknown;
    while (queue.length > 0) {
      const key = queue.pop() as string;
      const node = nodes.get(key) as Node;
      try {
        await entry.backend.remove(key);
        removed++;
      } catch (err) {
        // A snapshot the backend will not remove now is left for the next GC.
        if (!isFailedPrecondition(err) && !isNotFound(err)) failure ??= err;
        continue;
      }
      const parent = nodes.get(node.parent);
      if (parent !== undefined && --parent.children === 0 && !parent.used) queue.push(node.parent);
    }
    if (isCleaner(entry.backend)) await entry.backend.cleanup();
    if (failure !== undefined) throw failure;
    return { removedBackendSnapshots: removed, removedStaleRecords };
  } finally {
    release();
  }
}
