import { FailedPreconditionError } from "@strata/errdefs";
import { copyTree } from "./_copy.ts";
import { DirSnapshotter } from "./_dir_snapshotter.ts";
import type { StoredSnapshot } from "./_metastore.ts";
import { diskUsage } from "./disk_usage.ts";
import type { Mount, SignalOptions, Usage } from "./snapshotter.ts";

/**
 * containerd's native snapshotter: every active snapshot is a full copy of
 * its parent's tree (reflink clones where the file system allows), mounted
 * with a bind mount; a view of a committed snapshot binds the parent's
 * directory read-only and copies nothing. Works on any file system, with
 * no kernel features beyond bind mounts.
 *
 * @example
 * ```ts
 * const sn = await NativeSnapshotter.open("/var/lib/strata/snapshots/native");
 * const mounts = await sn.prepare("build-1", "");
 * // mount, write, unmount ...
 * await sn.commit("layer-1", "build-1");
 * ```
 */
export class NativeSnapshotter extends DirSnapshotter {
  /** Opens (creating) a native snapshotter rooted at `root`, cleaning up what a crash left. */
  static async open(root: string): Promise<NativeSnapshotter> {
    const sn = new NativeSnapshotter(root, await DirSnapshotter.openStore(root));
    await sn.cleanup();
    return sn;
  }

  protected async populate(
    tmp: string,
    kind: "active" | "view",
    parent: StoredSnapshot | undefined,
    options: SignalOptions,
  ): Promise<void> {
    if (parent !== undefined && kind === "active") {
      await copyTree(this.dir(parent.id), tmp, options);
    }
  }

  protected mountsOf(snapshot: StoredSnapshot): Mount[] {
    if (snapshot.kind === "view") {
      const [parent] = snapshot.parentIDs;
      return [
        {
          type: "bind",
          source: this.dir(parent ?? snapshot.id),
          options: ["rbind", "ro"],
        },
      ];
    }
    if (snapshot.kind !== "active") {
      throw new FailedPreconditionError(`snapshot ${snapshot.id} is ${snapshot.kind}`);
    }
    return [{ type: "bind", source: this.dir(snapshot.id), options: ["rbind", "rw"] }];
  }

  // The copied parent is part of the snapshot's directory, as in containerd.
  protected liveUsage(snapshot: StoredSnapshot, options: SignalOptions): Promise<Usage> {
    return diskUsage(this.dir(snapshot.id), options);
  }
}
