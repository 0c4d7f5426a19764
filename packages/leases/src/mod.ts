/**
 * Leases, as containerd's `leases` package: the {@link LeaseManager}
 * interface and its types, the GC label keys, carrying a lease through async
 * calls ({@link withLease} / {@link currentLease}), BuildKit-style temporary
 * leases ({@link withTemporaryLease}) and an in-memory manager.
 *
 * @example
 * ```ts
 * import { withTemporaryLease } from "@strata/leases";
 *
 * await withTemporaryLease(db.leases("default"), async () => {
 *   await writeBlob(db.contentStore("default"), "ref", bytes, desc);
 * }, { adoptInto: "build-42" });
 * ```
 *
 * @module
 */
export { expireLabel, leaseExpiry } from "./expiry.ts";
export { generateLeaseId } from "./generate_lease_id.ts";
export {
  type GcReference,
  gcReferences,
  LABEL_GC_EXPIRE,
  LABEL_GC_FLAT,
  LABEL_GC_REF_CONTENT,
  LABEL_GC_REF_SNAPSHOT,
  LABEL_GC_ROOT,
  RESOURCE_CONTENT,
  RESOURCE_INGESTS,
  RESOURCE_SNAPSHOTS_PREFIX,
} from "./labels.ts";
export type {
  CreateLeaseOptions,
  DeleteLeaseOptions,
  Lease,
  LeaseManager,
  Resource,
} from "./lease.ts";
export { currentLease, withLease } from "./lease_context.ts";
export { MemoryLeaseManager, parseLeaseFilters } from "./memory_lease_manager.ts";
export {
  DEFAULT_TEMPORARY_EXPIRY_MS,
  LABEL_TEMPORARY,
  type TemporaryLeaseOptions,
  withTemporaryLease,
} from "./temporary_lease.ts";
export { validateResource } from "./validate_resource.ts";
