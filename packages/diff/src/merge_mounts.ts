// Internal to mergeSnapshots (not exported from mod.ts): what a snapshot's
// mounts say about the directories behind them.
import { lstatSync } from "node:fs";
import { type Mount, withMounts } from "@strata/snapshots";
import type { MergeTarget } from "./merge_apply.ts";

// The overlay options whose meaning the merge understands (BuildKit's list):
// any other (metacopy=on, volatile, ...) means the layers are not plain trees.
const KNOWN = /^(lowerdir|upperdir|workdir|redirect_dir)=|^(index=off|userxattr|ro|rw)$/;

const option = (m: Mount, name: string): string | undefined =>
  m.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1);

/** Whether `m` is a bind mount (containerd's type, or the option on another type). */
export function isBind(m: Mount): boolean {
  return m.type === "bind" || m.options.includes("bind") || m.options.includes("rbind");
}

/**
 * The directories of a plain overlay mount, nearest first (upperdir, then
 * lowerdirs); undefined for anything else.
 */
export function overlayLayers(m: Mount): { upperdir?: string; lowerdirs: string[] } | undefined {
  if (m.type !== "overlay" || !m.options.every((o) => KNOWN.test(o))) return undefined;
  const lower = option(m, "lowerdir");
  if (lower === undefined || lower === "") return undefined;
  const upperdir = option(m, "upperdir");
  return { ...(upperdir === undefined ? {} : { upperdir }), lowerdirs: lower.split(":") };
}

/** The directories of a single bind or plain overlay mount, nearest first. */
export function layersOf(mounts: readonly Mount[] | undefined): string[] | undefined {
  if (mounts?.length !== 1) return undefined;
  const m = mounts[0] as Mount;
  if (isBind(m)) return [m.source];
  const layers = overlayLayers(m);
  if (layers === undefined) return undefined;
  return [...(layers.upperdir === undefined ? [] : [layers.upperdir]), ...layers.lowerdirs];
}

/**
 * The directory that holds exactly the changes from `lower` to `upper`
 * (BuildKit's GetUpperdir): the top layer of an overlay `upper` whose other
 * layers are `lower`'s, in the same order. Undefined when there is none
 * (the walking differ is needed then).
 */
export function upperdirBetween(
  lower: readonly Mount[],
  upper: readonly Mount[],
): string | undefined {
  const l = layersOf(lower);
  const u = layersOf(upper);
  if (l === undefined || u === undefined || upper[0]?.type !== "overlay") return undefined;
  if (u.length !== l.length + 1) return undefined;
  for (let i = 0; i < l.length; i++) if (u[i + 1] !== l[i]) return undefined;
  return u[0];
}

/**
 * Maps a path of the tree `mounts` show (mounted at `dir`) to the layer
 * directory that holds it, nearest layer first, so links to it stay on the
 * layer's file system; paths no layer has stay under `dir`.
 */
export function resolverOf(
  mounts: readonly Mount[] | undefined,
  dir: string,
): (path: string) => string {
  const layers = layersOf(mounts);
  if (layers === undefined) return (path) => `${dir}/${path}`;
  const [only] = layers;
  if (layers.length === 1) return (path) => `${only}/${path}`;
  return (path) => {
    for (const layer of layers) {
      const full = `${layer}/${path}`;
      if (lstatSync(full, { throwIfNoEntry: false }) !== undefined) return full;
    }
    return `${dir}/${path}`;
  };
}

/**
 * Runs `fn` on a directory showing `mounts` read-only: a bind's source
 * as it is, anything else mounted on a temporary directory. Undefined
 * mounts (the empty tree) give undefined.
 */
export function withTree<T>(
  mounts: readonly Mount[] | undefined,
  fn: (dir: string | undefined) => Promise<T>,
  options: { signal?: AbortSignal } = {},
): Promise<T> {
  if (mounts === undefined) return fn(undefined);
  const [m] = mounts;
  if (mounts.length === 1 && m !== undefined && isBind(m)) return fn(m.source);
  return withMounts(mounts, fn, { ...options, readonly: true });
}

/**
 * Runs `fn` on the target an active snapshot's mounts give: a bind's
 * source, an overlay's upperdir (with its lowerdirs, for whiteouts), or
 * else the mounts on a temporary directory.
 */
export function withTarget<T>(
  mounts: readonly Mount[],
  fn: (target: MergeTarget) => Promise<T>,
  options: { signal?: AbortSignal } = {},
): Promise<T> {
  const [m] = mounts;
  if (mounts.length === 1 && m !== undefined) {
    if (isBind(m)) return fn({ root: m.source, lowerdirs: [], opaqueXattr: "" });
    const layers = overlayLayers(m);
    if (layers?.upperdir !== undefined) {
      const opaqueXattr = m.options.includes("userxattr")
        ? "user.overlay.opaque"
        : "trusted.overlay.opaque";
      return fn({ root: layers.upperdir, lowerdirs: layers.lowerdirs, opaqueXattr });
    }
  }
  return withMounts(mounts, (dir) => fn({ root: dir, lowerdirs: [], opaqueXattr: "" }), options);
}
