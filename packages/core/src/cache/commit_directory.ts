import { stat } from "node:fs/promises";
import type { CacheManager, ImmutableRef, MutableRef } from "@strata/cache";
import { applyLayer, diffDirectories } from "@strata/diff";
import { fromSystemError, InvalidArgumentError } from "@strata/errdefs";
import { type Mount, withMounts } from "@strata/snapshots";
import { attachLazySources } from "../images/_lazy_sources.ts";
import { refInfoOf } from "./_records.ts";
import type { CommitDirectoryOptions, RefInfo, RegistryAccess } from "./cache_ops.ts";

const isBind = (m: Mount): boolean =>
  m.type === "bind" || m.options.includes("bind") || m.options.includes("rbind");

/** Runs `fn` on the directory to write into: a bind source or overlay upperdir as it is, else a temporary mount. */
async function withWritableDir<T>(
  mounts: readonly Mount[],
  fn: (dir: string, overlay: boolean) => Promise<T>,
): Promise<T> {
  const [only] = mounts;
  if (mounts.length === 1 && only !== undefined) {
    if (isBind(only)) return fn(only.source, false);
    const upper =
      only.type === "overlay"
        ? only.options.find((o) => o.startsWith("upperdir="))?.slice("upperdir=".length)
        : undefined;
    if (upper !== undefined) return fn(upper, true);
  }
  return withMounts(mounts, (dir) => fn(dir, false));
}

/**
 * Copies directory `dir` into a new ref: a mutable ref on `options.parent`
 * (whose lazy blobs are fetched first), filled by streaming `dir` as a
 * layer (ownership, modes, xattrs, hardlinks and times kept) and applying
 * it, then committed, finalized and marked `retain`: the record stays
 * until removed or pruned. A failed copy leaves no record.
 *
 * @throws {NotFoundError} when `dir` or the parent does not exist.
 * @throws {InvalidArgumentError} when `dir` is not a directory.
 */
export async function commitDirectory(
  cm: CacheManager,
  dir: string,
  options: CommitDirectoryOptions & { registry?: RegistryAccess } = {},
): Promise<RefInfo> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(dir);
  } catch (err) {
    throw fromSystemError(err, `cannot commit ${dir}`);
  }
  if (!st.isDirectory()) throw new InvalidArgumentError(`cannot commit ${dir}: not a directory`);
  let parent: ImmutableRef | undefined;
  let m: MutableRef | undefined;
  let ref: ImmutableRef | undefined;
  try {
    if (options.parent !== undefined) {
      parent = await cm.get(options.parent, signal);
      await attachLazySources(cm, parent.id, options.registry, signal);
    }
    m = await cm.new(parent, {
      description: options.description ?? `commit ${dir}`,
      ...signal,
    });
    const mounts = await m.mount(signal);
    options.onProgress?.({ id: m.id, action: "copying", current: 0, total: 0, done: false });
    await withWritableDir(mounts, (target, overlay) =>
      applyLayer(target, diffDirectories(undefined, dir, signal), { overlay, ...signal }),
    );
    const mutable = m;
    m = undefined;
    ref = await mutable.commit(signal);
    await ref.finalize(signal);
    // Written under the default policy so a failed copy is dropped with its
    // handle; the finished record is marked retained (kept until pruned).
    cm.records.update(ref.id, (r) => {
      r.cachePolicy = "retain";
    });
    options.onProgress?.({ id: ref.id, action: "committing", current: 1, total: 1, done: true });
    return refInfoOf(ref.info());
  } finally {
    await m?.release();
    await ref?.release();
    await parent?.release();
  }
}
