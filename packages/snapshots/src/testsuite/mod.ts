/**
 * The conformance suite of `@strata/snapshots`: what containerd's
 * snapshotter testsuite checks (and its error table), as vitest
 * `describe`/`it` blocks, for any {@link Snapshotter}; plus the tree
 * helpers it uses (appliers in the style of continuity's `fstest`, and
 * {@link compareTrees}). The suite mounts snapshots, so it needs root.
 *
 * @example
 * ```ts
 * import { snapshotterSuite } from "@strata/snapshots/testsuite";
 *
 * snapshotterSuite("native", { open: (root) => NativeSnapshotter.open(root) });
 * ```
 *
 * @module
 */
export {
  type Applier,
  apply,
  type CompareTreesOptions,
  type CreateFileOptions,
  chmod,
  chown,
  chtimes,
  compareTrees,
  createDir,
  createFile,
  link,
  removeAll,
  rename,
  symlink,
} from "./fstest.ts";
export { type SnapshotterSuiteOptions, snapshotterSuite } from "./snapshotter_suite.ts";
