import { hostname } from "node:os";
import {
  type Lease,
  type LeaseManager,
  type TemporaryLeaseOptions,
  withTemporaryLease,
} from "@strata/leases";
import type { MetadataDB } from "@strata/metadata";

/**
 * Label on a temporary lease naming the process that works under it
 * (`<host>/<pid>`), so a root opened later can drop the leases of processes
 * that died instead of waiting for them to expire.
 */
export const LABEL_LEASE_PROCESS = "strata.io/lease.process";

const SELF = `${hostname()}/${process.pid}`;

/**
 * Runs `fn` under a new temporary lease labelled with this process
 * ({@link LABEL_LEASE_PROCESS}); deleted when `fn` ends, expiring (one hour
 * by default) if the process dies and no root is opened again.
 *
 * @throws what `fn` throws, and the lease manager's errors.
 */
export function withProcessLease<T>(
  leases: LeaseManager,
  fn: (lease: Lease) => Promise<T>,
  options: Omit<TemporaryLeaseOptions, "reuseCurrent" | "adoptInto"> = {},
): Promise<T> {
  return withTemporaryLease(leases, (lease) => fn(lease as Lease), {
    ...options,
    reuseCurrent: false,
    labels: { ...options.labels, [LABEL_LEASE_PROCESS]: SELF },
  });
}

/**
 * Deletes, in every namespace, the temporary leases of processes of this
 * host that are gone (what they held becomes garbage for the next
 * collection). A lease of a live process, of another host, or with a pid
 * that was reused stays until it expires. Returns how many were deleted.
 */
export async function removeLeasesOfDeadProcesses(db: MetadataDB): Promise<number> {
  const host = `${hostname()}/`;
  let removed = 0;
  for (const ns of await db.namespaces.list()) {
    const leases = db.leases(ns.name);
    for (const lease of await leases.list({ filters: [`labels."${LABEL_LEASE_PROCESS}"`] })) {
      const owner = lease.labels[LABEL_LEASE_PROCESS] ?? "";
      if (!owner.startsWith(host)) continue;
      const pid = Number(owner.slice(host.length));
      if (!Number.isSafeInteger(pid) || pid <= 0 || alive(pid)) continue;
      await leases.delete({ id: lease.id }).catch(() => {});
      removed++;
    }
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
