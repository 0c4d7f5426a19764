import { type MergeDiff, type MergeResult, mergeSnapshots } from "@strata/diff";
import { InvalidArgumentError } from "@strata/errdefs";
import { withProcessLease } from "../process_leases.ts";
import type { Session } from "../session.ts";

/** Options of {@link mergeIn}. */
export interface MergeInOptions {
  /** The snapshotter (default: the session's). */
  snapshotter?: string;
  /** A lease that holds the merged snapshot. */
  lease?: string;
  /** Labels of the merged snapshot. */
  labels?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Parses the CLI form of a merge's inputs: `UPPER` (a whole snapshot, the
 * diff from the empty tree) or `LOWER..UPPER` (the changes from LOWER to
 * UPPER).
 *
 * @throws {InvalidArgumentError} for an empty side.
 */
export function parseMergeDiff(text: string): MergeDiff {
  const at = text.indexOf("..");
  const [lower, upper] = at < 0 ? ["", text] : [text.slice(0, at), text.slice(at + 2)];
  if (upper === "" || (at >= 0 && lower === "")) {
    throw new InvalidArgumentError(
      `invalid merge input ${JSON.stringify(text)}: want UPPER or LOWER..UPPER`,
    );
  }
  return { lower, upper };
}

/**
 * Merges `diffs` into the committed snapshot `key` of a session's
 * snapshotter (BuildKit's merge). The session's snapshotters are namespaced
 * wrappers, so what the backend allows is known by its name: native
 * hardlinks, overlayfs hardlinks and reuses leading parent chains.
 *
 * The work (a temporary active snapshot and views of the inputs) runs under
 * `options.lease`, else under a temporary lease of this process
 * ({@link withProcessLease}), so a collection running meanwhile cannot take
 * it, and after a crash the next open of the root drops the lease and the
 * next collection takes the leftovers. The merged snapshot is then
 * held by that lease, or else only by what its labels say (a
 * `containerd.io/gc.root` label, as the CLI adds).
 *
 * @throws what {@link mergeSnapshots} throws.
 */
export function mergeIn(
  session: Session,
  key: string,
  diffs: readonly MergeDiff[],
  options: MergeInOptions = {},
): Promise<MergeResult> {
  const name = options.snapshotter ?? session.defaultSnapshotter;
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const merge = (lease: string) =>
    mergeSnapshots(session.snapshotter(name, { lease }), key, diffs, {
      hardlinks: name === "native" || name === "overlayfs",
      overlayBased: name === "overlayfs",
      ...(options.labels === undefined ? {} : { labels: options.labels }),
      ...signal,
    });
  if (options.lease !== undefined) return merge(options.lease);
  return withProcessLease(session.leases, (lease) => merge(lease.id), signal);
}
