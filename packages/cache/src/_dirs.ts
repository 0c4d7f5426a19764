import type { Mount } from "@strata/snapshots";
import { withMounts } from "@strata/snapshots";

const isBind = (m: Mount): boolean =>
  m.type === "bind" || m.options.includes("bind") || m.options.includes("rbind");

const option = (m: Mount, name: string): string | undefined =>
  m.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1);

/**
 * Runs `fn` on a directory showing `mounts`: the source itself for a single
 * bind mount (no mount(2) needed), else a temporary mount.
 */
export function withDirectory<T>(
  mounts: readonly Mount[],
  fn: (dir: string) => Promise<T>,
  options: { readonly?: boolean; signal?: AbortSignal } = {},
): Promise<T> {
  const [only] = mounts;
  if (mounts.length === 1 && only !== undefined && isBind(only)) return fn(only.source);
  return withMounts(mounts, fn, options);
}

/** The directories of an overlay stack, top first; undefined for anything but one bind or overlay. */
export function overlayLayers(mounts: readonly Mount[]): string[] | undefined {
  if (mounts.length !== 1) return undefined;
  const m = mounts[0] as Mount;
  if (isBind(m)) return [m.source];
  if (m.type !== "overlay") return undefined;
  const known = [
    "upperdir",
    "lowerdir",
    "workdir",
    "index",
    "userxattr",
    "redirect_dir",
    "ro",
    "rw",
  ];
  if (m.options.some((o) => !known.includes(o.split("=", 1)[0] as string))) return undefined;
  const upper = option(m, "upperdir");
  const lower = option(m, "lowerdir")?.split(":") ?? [];
  return [...(upper === undefined ? [] : [upper]), ...lower];
}

/**
 * BuildKit's GetUpperdir: the one directory holding what `upper` adds over
 * `lower` (undefined for none), when `upper` is `lower` plus one overlay
 * layer; undefined otherwise.
 */
export function upperdirOf(
  lower: readonly Mount[] | undefined,
  upper: readonly Mount[],
): string | undefined {
  const u = overlayLayers(upper);
  if (u === undefined || u.length === 0) return undefined;
  const l = lower === undefined ? [] : overlayLayers(lower);
  if (l === undefined || u.length !== l.length + 1) return undefined;
  for (let i = 0; i < l.length; i++) if (u[i + 1] !== l[i]) return undefined;
  return u[0];
}

/** The upperdir of an active overlay mount, or undefined. */
export function activeUpperdir(mounts: readonly Mount[]): string | undefined {
  const [m] = mounts;
  if (mounts.length !== 1 || m === undefined || m.type !== "overlay") return undefined;
  return option(m, "upperdir");
}
