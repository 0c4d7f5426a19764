/**
 * The embedded metadata database of Strata, as containerd's `metadata`
 * package: namespaces, per-namespace content records over a shared blob
 * store, leases, per-namespace snapshotters over backend snapshotters
 * (`MetadataDB.snapshotter`), and the garbage collector with its
 * scheduler. SQLite (`node:sqlite`) in WAL mode.
 *
 * @example
 * ```ts
 * import { LocalStore } from "@strata/content";
 * import { MetadataDB } from "@strata/metadata";
 *
 * const blobs = await LocalStore.open("/var/lib/strata/content", { labels: false });
 * const db = await MetadataDB.open("/var/lib/strata/metadata.db", { contentStore: blobs });
 * const store = db.contentStore("default", { lease: "build-1" });
 * const stats = await db.gc();
 * db.close();
 * ```
 *
 * @module
 */

export { SCHEMA_VERSION } from "./_schema.ts";
export {
  type CachePolicy,
  type CacheRecord,
  type CacheRecordKind,
  CacheRecordStore,
  newCacheRecord,
} from "./cache_records.ts";
export { GcScheduler, type GcSchedulerOptions } from "./gc_scheduler.ts";
export type { GcStats } from "./gc_stats.ts";
export { MetadataDB, type MetadataDBOptions } from "./metadata_db.ts";
export { MetadataLeaseManager } from "./metadata_lease_manager.ts";
export { type Namespace, NamespaceStore } from "./namespace_store.ts";
export {
  NamespacedContentStore,
  type NamespacedContentStoreOptions,
  UNLEASED_INGEST_EXPIRY_MS,
} from "./namespaced_content_store.ts";
export {
  LABEL_SNAPSHOT_PREFIX,
  LABEL_SNAPSHOT_REF,
  NamespacedSnapshotter,
  type NamespacedSnapshotterOptions,
} from "./namespaced_snapshotter.ts";
