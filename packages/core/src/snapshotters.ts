import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InvalidArgumentError } from "@strata/errdefs";
import {
  type Cleaner,
  NativeSnapshotter,
  OverlaySnapshotter,
  type Snapshotter,
} from "@strata/snapshots";

/** The snapshotters of a root, by name, and the one used when none is named. */
export interface LoadedSnapshotters {
  backends: Record<string, Snapshotter & Cleaner>;
  defaultName: string;
}

/**
 * Whether this process can use overlayfs: the kernel has it and we may
 * mount (root). Unprivileged overlay mounts need a user namespace, which a
 * plain CLI call does not have.
 */
export async function overlaySupported(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  try {
    const filesystems = await readFile("/proc/filesystems", "utf8");
    return /\toverlay$/m.test(filesystems);
  } catch {
    return false;
  }
}

/**
 * Opens the snapshotters under `dir` (`<root>/snapshots`): `native` always,
 * `overlayfs` where {@link overlaySupported}, which is then the default.
 * `preferred` picks the default explicitly.
 *
 * @throws {InvalidArgumentError} when `preferred` is not loaded.
 */
export async function openSnapshotters(
  dir: string,
  options: { preferred?: string } = {},
): Promise<LoadedSnapshotters> {
  const backends: Record<string, Snapshotter & Cleaner> = {
    native: await NativeSnapshotter.open(join(dir, "native")),
  };
  if (await overlaySupported()) {
    backends.overlayfs = await OverlaySnapshotter.open(join(dir, "overlayfs"));
  }
  const defaultName = options.preferred ?? (backends.overlayfs ? "overlayfs" : "native");
  if (backends[defaultName] === undefined) {
    for (const sn of Object.values(backends)) await sn.close();
    throw new InvalidArgumentError(
      `snapshotter not loaded: ${defaultName} (loaded: ${Object.keys(backends).join(", ")})`,
    );
  }
  return { backends, defaultName };
}
