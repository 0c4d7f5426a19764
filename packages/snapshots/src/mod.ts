/**
 * Snapshotters as containerd's: a tree of file-system snapshots (active,
 * view, committed) addressed by key, each handed out as mounts. `native`
 * copies (reflinks where it can), `overlayfs` stacks upper directories.
 * Also the mount helpers (read-only variants, mount-run-unmount), disk
 * usage as containerd counts it, and the conformance suite in
 * `@strata/snapshots/testsuite`.
 *
 * @example
 * ```ts
 * import { OverlaySnapshotter, withMounts } from "@strata/snapshots";
 *
 * const sn = await OverlaySnapshotter.open("/var/lib/strata/snapshots/overlayfs");
 * const mounts = await sn.prepare("build-1", "");
 * await withMounts(mounts, async (dir) => writeFile(`${dir}/hello`, "hi"));
 * await sn.commit("layer-1", "build-1");
 * ```
 *
 * @module
 */
export { type DiskUsageOptions, diskUsage } from "./disk_usage.ts";
export { LABEL_MERGE_USAGE_INODES, LABEL_MERGE_USAGE_SIZE } from "./labels.ts";
export { type MountOptions, mountAll, readonlyMounts, unmountAll, withMounts } from "./mount.ts";
export { NativeSnapshotter } from "./native.ts";
export { type OverlayOptions, OverlaySnapshotter } from "./overlay.ts";
export {
  type Cleaner,
  type CommitOptions,
  isCleaner,
  type Mount,
  type PrepareOptions,
  type SignalOptions,
  type SnapshotInfo,
  type SnapshotKind,
  type Snapshotter,
  type UpdateOptions,
  type Usage,
  type WalkOptions,
} from "./snapshotter.ts";
