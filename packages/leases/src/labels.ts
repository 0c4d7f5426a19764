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

/** What a `gc.ref.*` label points at: a blob, or a snapshot of a snapshotter. */
export type GcReference =
  | { kind: "content"; digest: string }
  | { kind: "snapshot"; snapshotter: string; key: string };

/**
 * The objects a label set references for the garbage collector:
 * `containerd.io/gc.ref.content[.|/<suffix>]` = a blob's digest, and
 * `containerd.io/gc.ref.snapshot.<snapshotter>[/<suffix>]` = a snapshot key.
 * Empty values and other labels reference nothing.
 */
export function gcReferences(labels: Readonly<Record<string, string>>): GcReference[] {
  const out: GcReference[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (value === "") continue;
    if (
      key === LABEL_GC_REF_CONTENT ||
      key.startsWith(`${LABEL_GC_REF_CONTENT}.`) ||
      key.startsWith(`${LABEL_GC_REF_CONTENT}/`)
    ) {
      out.push({ kind: "content", digest: value });
    } else if (key.startsWith(LABEL_GC_REF_SNAPSHOT)) {
      const rest = key.slice(LABEL_GC_REF_SNAPSHOT.length);
      const slash = rest.indexOf("/");
      const snapshotter = slash === -1 ? rest : rest.slice(0, slash);
      if (snapshotter !== "") out.push({ kind: "snapshot", snapshotter, key: value });
    }
  }
  return out;
}
