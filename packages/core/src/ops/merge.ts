import { type MergeDiff, type MergeResult, mergeSnapshots } from "@strata/diff";
import { InvalidArgumentError } from "@strata/errdefs";
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
 */
export function mergeIn(
  session: Session,
  key: string,
  diffs: readonly MergeDiff[],
  options: MergeInOptions = {},
): Promise<MergeResult> {
  const name = options.snapshotter ?? session.defaultSnapshotter;
  const snapshotter = session.snapshotter(
    name,
    options.lease === undefined ? {} : { lease: options.lease },
  );
  return mergeSnapshots(snapshotter, key, diffs, {
    hardlinks: name === "native" || name === "overlayfs",
    overlayBased: name === "overlayfs",
    ...(options.labels === undefined ? {} : { labels: options.labels }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}
