/** What one garbage collection removed and how long it took. */
export interface GcStats {
  /** Blobs deleted from the backend store (no namespace had a record of them). */
  removedContent: number;
  /** Bytes of those blobs. */
  removedBytes: number;
  /** Expired leases removed. */
  removedLeases: number;
  /** Snapshot records removed (unreachable, or stale after a crash in a commit). */
  removedSnapshots: number;
  /** Snapshots removed from the backend snapshotters (no record in any namespace used them). */
  removedBackendSnapshots: number;
  /** Ingest records removed (expired or unleased), plus backend ingests no record used. */
  removedIngests: number;
  /** Content records removed from namespaces. */
  removedRecords: number;
  /** Time the database was locked for mark and sweep, ms. */
  pauseMs: number;
  /** Wall time of the whole collection, ms. */
  durationMs: number;
}
