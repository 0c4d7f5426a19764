import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError } from "@strata/errdefs";
import { mount, unmount } from "@strata/sys";

/** A mount as the Diff API carries it. */
export interface WireMount {
  type: string;
  source: string;
  options: readonly string[];
}

/**
 * Where a layer applies, read from the mounts a snapshotter returned,
 * without mounting where the mounts say it plainly (as containerd's own
 * appliers do): a single bind mount is its source directory; an overlay's
 * changes go into its upperdir, written with overlay whiteouts.
 */
export type ApplyTarget =
  | { kind: "dir"; path: string }
  | { kind: "overlay-upper"; path: string }
  | { kind: "mount"; mounts: readonly WireMount[] };

/** Decides how to apply onto `mounts`. InvalidArgument when there are none. */
export function applyTarget(mounts: readonly WireMount[]): ApplyTarget {
  if (mounts.length === 0) throw new InvalidArgumentError("apply: no mounts given");
  const [only] = mounts;
  if (mounts.length === 1 && only !== undefined) {
    if (only.type === "bind" || only.options.includes("bind") || only.options.includes("rbind")) {
      if (only.options.includes("ro")) {
        throw new InvalidArgumentError(`apply: mount of ${only.source} is read-only`);
      }
      return { kind: "dir", path: only.source };
    }
    if (only.type === "overlay") {
      const upper = only.options.find((o) => o.startsWith("upperdir="));
      if (upper !== undefined)
        return { kind: "overlay-upper", path: upper.slice("upperdir=".length) };
      throw new InvalidArgumentError("apply: overlay mount without an upperdir is read-only");
    }
  }
  return { kind: "mount", mounts };
}

/**
 * Mounts `mounts` on a temporary directory, runs `fn` on it, and always
 * unmounts and removes the directory.
 */
export async function withMounted<T>(
  mounts: readonly WireMount[],
  fn: (dir: string) => Promise<T>,
  options: { readonly?: boolean; signal?: AbortSignal } = {},
): Promise<T> {
  // A single bind mount needs no mounting to be read.
  const [only] = mounts;
  if (mounts.length === 1 && only !== undefined && options.readonly === true) {
    if (only.type === "bind" || only.options.includes("rbind") || only.options.includes("bind")) {
      return fn(only.source);
    }
  }
  if (mounts.length === 0) return withEmpty(fn);
  const dir = await mkdtemp(join(tmpdir(), "stratad-mount-"));
  const mounted: string[] = [];
  try {
    for (const m of mounts) {
      const opts =
        options.readonly === true ? [...m.options.filter((o) => o !== "rw"), "ro"] : [...m.options];
      await mount(
        { type: m.type, source: m.source, target: dir, options: opts },
        options.signal !== undefined ? { signal: options.signal } : {},
      );
      mounted.push(dir);
    }
    return await fn(dir);
  } finally {
    for (const target of mounted.reverse())
      await unmount(target).catch(() => unmount(target, { detach: true }));
    await rm(dir, { recursive: true, force: true });
  }
}

async function withEmpty<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "stratad-empty-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
