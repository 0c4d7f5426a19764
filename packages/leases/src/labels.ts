/** Label on a lease: RFC3339 time after which GC ignores and removes the lease. */
export const LABEL_GC_EXPIRE = "containerd.io/gc.expire";

/** Label on a lease: hold only its direct resources, do not follow their references. */
export const LABEL_GC_FLAT = "containerd.io/gc.flat";

/** Label on content or a snapshot: the object is a GC root (the value is never parsed). */
export const LABEL_GC_ROOT = "containerd.io/gc.root";

/** Label prefix: the value is a digest this object references (`.<suffix>` or `/<suffix>` allowed). */
export const LABEL_GC_REF_CONTENT = "containerd.io/gc.ref.content";

/** Label prefix: `containerd.io/gc.ref.snapshot.<snapshotter>[/<suffix>]` = key of a referenced snapshot. */
export const LABEL_GC_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot.";

/** The resource types a lease can hold: `content`, `ingests`, `snapshots/<snapshotter>`. */
export const RESOURCE_CONTENT = "content";

/** Resource type of an in-progress ingest, identified by its ref. */
export const RESOURCE_INGESTS = "ingests";

/** Prefix of snapshot resource types: `snapshots/<snapshotter>`. */
export const RESOURCE_SNAPSHOTS_PREFIX = "snapshots/";
