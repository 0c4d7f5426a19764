import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import {
  AlreadyExistsError,
  InvalidArgumentError,
  isNotFound,
  isNotImplemented,
  NotFoundError,
} from "@strata/errdefs";
import {
  diskUsage,
  LABEL_MERGE_USAGE_INODES,
  LABEL_MERGE_USAGE_SIZE,
  type Mount,
  NativeSnapshotter,
  OverlaySnapshotter,
  type SnapshotInfo,
  type Snapshotter,
  type Usage,
} from "@strata/snapshots";
import { readMeta } from "./_meta.ts";
import { type Change, compareNames, walkChanges } from "./changes.ts";
import { MergeApplier } from "./merge_apply.ts";
import { resolverOf, upperdirBetween, withTarget, withTree } from "./merge_mounts.ts";
import { overlayChanges } from "./overlay_differ.ts";

/** One diff of a merge: the changes that turn snapshot `lower` (`""`: empty) into `upper`. */
export interface MergeDiff {
  lower: string;
  upper: string;
}

/** What a snapshotter allows a merge to do (BuildKit's lists). */
export interface MergeCapabilities {
  /** Files can be hardlinked from other snapshots (native, overlayfs). */
  hardlinks: boolean;
  /** A snapshot is its parents' layers plus its own (overlayfs), so leading layers can be reused. */
  overlayBased: boolean;
}

/** Options of {@link mergeSnapshots}. */
export interface MergeOptions {
  /** Labels of the committed snapshot (the usage labels are added). */
  labels?: Record<string, string>;
  /** Hardlink files from the source snapshots (default: {@link mergeCapabilities}). */
  hardlinks?: boolean;
  /** Prepare on top of leading diffs that form a parent chain (default: {@link mergeCapabilities}). */
  overlayBased?: boolean;
  signal?: AbortSignal;
}

/** What {@link mergeSnapshots} made. */
export interface MergeResult {
  /** The committed snapshot. */
  info: SnapshotInfo;
  /** Its true disk use, also stored in its usage labels. */
  usage: Usage;
  /** How many leading diffs were reused as the parent instead of applied. */
  skipped: number;
}

/**
 * What `snapshotter` lets a merge do, known for Strata's own snapshotters:
 * {@link NativeSnapshotter} hardlinks, {@link OverlaySnapshotter} hardlinks
 * and is overlay-based; anything else (a wrapper, a remote snapshotter)
 * gets neither: pass the options of {@link mergeSnapshots} for those.
 */
export function mergeCapabilities(snapshotter: Snapshotter): MergeCapabilities {
  const overlay = snapshotter instanceof OverlaySnapshotter;
  return { hardlinks: overlay || snapshotter instanceof NativeSnapshotter, overlayBased: overlay };
}

/**
 * Creates committed snapshot `key` whose tree is what applying `diffs` in
 * order to an empty tree gives (BuildKit's merge snapshotter). Each diff's
 * changes come from the overlay upperdir when the upper's layers are the
 * lower's plus one, else from the walking differ over the two trees. Files
 * are hardlinked from the source snapshots where allowed (copied across
 * file systems or past the link limit), so a merge costs little disk; the
 * snapshot's labels record its usage without those shared files
 * ({@link LABEL_MERGE_USAGE_SIZE}, {@link LABEL_MERGE_USAGE_INODES}), which
 * the snapshotters report as its usage. On an overlay-based snapshotter,
 * leading diffs that form a parent chain (`""`→A, A→B, ...) are not applied:
 * the merge is prepared on top of the last of them.
 *
 * The work happens in a temporary active snapshot, removed on failure, so
 * `key` exists only when complete.
 *
 * @throws {InvalidArgumentError} for an empty key or upper.
 * @throws {AlreadyExistsError} when `key` exists.
 * @throws {NotFoundError} when a diff names an unknown snapshot.
 * @example
 * ```ts
 * // An image's layers A, B (child of A) and an unrelated layer X, as one snapshot.
 * const { info } = await mergeSnapshots(snapshotter, "merged", [
 *   { lower: "", upper: "A" },
 *   { lower: "A", upper: "B" },
 *   { lower: "", upper: "X" },
 * ]);
 * ```
 */
export async function mergeSnapshots(
  snapshotter: Snapshotter,
  key: string,
  diffs: readonly MergeDiff[],
  options: MergeOptions = {},
): Promise<MergeResult> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const what = `cannot merge into snapshot ${JSON.stringify(key)}`;
  if (key === "") throw new InvalidArgumentError(`${what}: empty key`);
  for (const [i, d] of diffs.entries()) {
    if (d.upper === "") throw new InvalidArgumentError(`${what}: diff ${i} has an empty upper`);
  }
  options.signal?.throwIfAborted();
  if (await exists(snapshotter, key, signal)) {
    throw new AlreadyExistsError(`${what}: it exists`);
  }
  const infos = new Map<string, SnapshotInfo>();
  for (const [i, d] of diffs.entries()) {
    for (const name of [d.lower, d.upper]) {
      if (name === "" || infos.has(name)) continue;
      try {
        infos.set(name, await snapshotter.stat(name, signal));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        throw new NotFoundError(`${what}: diff ${i} names snapshot ${JSON.stringify(name)}`, {
          cause: err,
        });
      }
    }
  }
  const caps = mergeCapabilities(snapshotter);
  const hardlinks = options.hardlinks ?? caps.hardlinks;
  const skipped = (options.overlayBased ?? caps.overlayBased) ? chainLength(diffs, infos) : 0;
  const parent = skipped > 0 ? (diffs[skipped - 1] as MergeDiff).upper : "";

  const active = `merge-${randomBytes(8).toString("hex")}-${key}`;
  const mounts = await snapshotter.prepare(active, parent, signal);
  try {
    const usage = await withTarget(
      mounts,
      async (target) => {
        const applier = new MergeApplier(target, { hardlinks });
        let views = 0;
        const mountsOf = async (name: string): Promise<[Mount[], string | undefined]> => {
          if ((infos.get(name) as SnapshotInfo).kind !== "committed") {
            return [await snapshotter.mounts(name, signal), undefined];
          }
          const view = `${active}-view-${views++}`;
          return [await snapshotter.view(view, name, signal), view];
        };
        for (const d of diffs.slice(skipped)) {
          if (d.lower === d.upper) continue;
          const made: string[] = [];
          try {
            const [upper, upperView] = await mountsOf(d.upper);
            if (upperView !== undefined) made.push(upperView);
            let lower: Mount[] | undefined;
            if (d.lower !== "") {
              const [mounts, lowerView] = await mountsOf(d.lower);
              if (lowerView !== undefined) made.push(lowerView);
              lower = mounts;
            }
            await applyDiff(applier, lower, upper, signal);
          } finally {
            for (const view of made) await snapshotter.remove(view).catch(() => {});
          }
        }
        applier.finish();
        return diskUsage(target.root, { exclude: applier.linked, ...signal });
      },
      signal,
    );
    await snapshotter.commit(key, active, {
      labels: {
        ...options.labels,
        [LABEL_MERGE_USAGE_SIZE]: String(usage.size),
        [LABEL_MERGE_USAGE_INODES]: String(usage.inodes),
      },
      ...signal,
    });
    return { info: await snapshotter.stat(key), usage, skipped };
  } catch (err) {
    // Without the signal: cleaning up must happen even when it fired.
    await snapshotter.remove(active).catch(() => {});
    throw err;
  }
}

async function exists(
  snapshotter: Snapshotter,
  key: string,
  signal: { signal?: AbortSignal },
): Promise<boolean> {
  try {
    await snapshotter.stat(key, signal);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

// How many leading diffs are "" → A, A → B, ... with each upper a committed
// child of its lower: their last upper already is their merge.
function chainLength(diffs: readonly MergeDiff[], infos: Map<string, SnapshotInfo>): number {
  let n = 0;
  let previous = "";
  for (const d of diffs) {
    const info = infos.get(d.upper);
    if (d.lower !== previous || info?.kind !== "committed" || info.parent !== d.lower) break;
    previous = d.upper;
    n++;
  }
  return n;
}

async function applyDiff(
  applier: MergeApplier,
  lower: Mount[] | undefined,
  upper: Mount[],
  signal: { signal?: AbortSignal },
): Promise<void> {
  const upperdir = lower === undefined ? undefined : upperdirBetween(lower, upper);
  if (upperdir !== undefined) {
    try {
      await withTree(
        lower,
        (lowerDir) =>
          applier.apply(
            {
              changes: withOtherNames(overlayChanges(lowerDir, upperdir, signal), upperdir),
              upper: upperdir,
              resolve: (path) => `${upperdir}/${path}`,
            },
            signal,
          ),
        signal,
      );
      return;
    } catch (err) {
      // Redirected directories or metacopy files: walk instead. Re-applying
      // the whole diff over part of it gives the same tree.
      if (!isNotImplemented(err)) throw err;
    }
  }
  await withTree(
    lower,
    (lowerDir) =>
      withTree(
        upper,
        async (upperDir) => {
          const dir = upperDir as string;
          await applier.apply(
            {
              changes: walkChanges(lowerDir, dir, signal),
              upper: dir,
              resolve: resolverOf(upper, dir),
            },
            signal,
          );
        },
        signal,
      ),
    signal,
  );
}

/**
 * The upperdir's changes plus, at the end, the unchanged names of files
 * that a change gave another name (`ln lower-file new-name` copies the
 * lower file up): the upperdir differ does not report them, the walking
 * differ does ("unmodified"), and a layer then keeps the two names linked.
 */
async function* withOtherNames(
  changes: AsyncIterable<Change>,
  upperdir: string,
): AsyncGenerator<Change, void, undefined> {
  // Inodes with more links than changed names: dev:ino → changed paths.
  const linked = new Map<string, { nlink: bigint; paths: Set<string> }>();
  for await (const change of changes) {
    yield change;
    const s = change.meta?.stat;
    if (s === undefined || s.nlink < 2n || s.isDirectory()) continue;
    const key = `${s.dev}:${s.ino}`;
    const entry = linked.get(key) ?? { nlink: s.nlink, paths: new Set<string>() };
    entry.paths.add(change.path);
    linked.set(key, entry);
  }
  for (const [key, entry] of linked)
    if (BigInt(entry.paths.size) >= entry.nlink) linked.delete(key);
  if (linked.size === 0) return;
  const walk = function* (rel: string): Generator<Change> {
    for (const name of readdirSync(rel ? `${upperdir}/${rel}` : upperdir).sort(compareNames)) {
      const path = rel ? `${rel}/${name}` : name;
      const meta = readMeta(`${upperdir}/${path}`);
      if (meta === undefined) continue;
      if (meta.stat.isDirectory()) {
        yield* walk(path);
        continue;
      }
      const entry = linked.get(`${meta.stat.dev}:${meta.stat.ino}`);
      if (entry !== undefined && !entry.paths.has(path)) yield { kind: "unmodified", path, meta };
    }
  };
  yield* walk("");
}
