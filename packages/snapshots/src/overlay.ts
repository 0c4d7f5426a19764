import { existsSync } from "node:fs";
import { lchown, mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { fromSystemError } from "@strata/errdefs";
import { DirSnapshotter } from "./_dir_snapshotter.ts";
import type { MetaStore, StoredSnapshot } from "./_metastore.ts";
import { diskUsage } from "./disk_usage.ts";
import type { Mount, SignalOptions, Usage } from "./snapshotter.ts";

/** Options of {@link OverlaySnapshotter.open}. */
export interface OverlayOptions {
  /**
   * Adds `userxattr` to overlay mounts (overlay keeps its whiteout and
   * opaque markers in `user.overlay.*`, as unprivileged mounts need).
   * Default: when not running as root.
   */
  userxattr?: boolean;
  /** Options appended to every overlay mount. */
  mountOptions?: readonly string[];
}

/**
 * containerd's overlayfs snapshotter: each snapshot owns an upper directory
 * (`snapshots/<id>/fs`) and, while active, a work directory; an active
 * snapshot mounts as an overlay of its upper on its parents' upper
 * directories (nearest parent first), so prepare and commit cost the same
 * whatever the size of the tree below. A snapshot without parents, or a
 * view with one, is a bind mount. `index=off` is set when the kernel has
 * the option.
 *
 * @example
 * ```ts
 * const sn = await OverlaySnapshotter.open("/var/lib/strata/snapshots/overlayfs");
 * await sn.prepare("build-2", "layer-1"); // [{ type: "overlay", source: "overlay", options: [...] }]
 * ```
 */
export class OverlaySnapshotter extends DirSnapshotter {
  readonly #options: readonly string[];
  readonly #extra: readonly string[];

  private constructor(
    root: string,
    meta: MetaStore,
    options: readonly string[],
    extra: readonly string[],
  ) {
    super(root, meta);
    this.#options = options;
    this.#extra = extra;
  }

  /** Opens (creating) an overlayfs snapshotter rooted at `root`, cleaning up what a crash left. */
  static async open(root: string, options: OverlayOptions = {}): Promise<OverlaySnapshotter> {
    const mountOptions: string[] = [];
    if (existsSync("/sys/module/overlay/parameters/index")) mountOptions.push("index=off");
    if (options.userxattr ?? process.getuid?.() !== 0) mountOptions.push("userxattr");
    const sn = new OverlaySnapshotter(
      root,
      await DirSnapshotter.openStore(root),
      mountOptions,
      options.mountOptions ?? [],
    );
    await sn.cleanup();
    return sn;
  }

  /** The upper directory of snapshot `id`. */
  upperdir(id: number): string {
    return join(this.dir(id), "fs");
  }

  protected async populate(
    tmp: string,
    kind: "active" | "view",
    parent: StoredSnapshot | undefined,
  ): Promise<void> {
    const fs = join(tmp, "fs");
    try {
      await mkdir(fs, { mode: 0o755 });
      if (kind === "active") await mkdir(join(tmp, "work"), { mode: 0o711 });
      if (parent !== undefined) {
        // The new upper takes the owner of the parent's root, so the merged root keeps it.
        const s = await stat(this.upperdir(parent.id));
        await lchown(fs, s.uid, s.gid);
      }
    } catch (err) {
      throw fromSystemError(err, `cannot prepare overlay directories in ${tmp}`);
    }
  }

  protected mountsOf(snapshot: StoredSnapshot): Mount[] {
    const parents = snapshot.parentIDs;
    if (parents.length === 0) {
      return [
        {
          type: "bind",
          source: this.upperdir(snapshot.id),
          options: [snapshot.kind === "active" ? "rw" : "ro", "rbind"],
        },
      ];
    }
    const lowerdir = `lowerdir=${parents.map((id) => this.upperdir(id)).join(":")}`;
    if (snapshot.kind === "view") {
      if (parents.length === 1) {
        return [
          { type: "bind", source: this.upperdir(parents[0] as number), options: ["ro", "rbind"] },
        ];
      }
      return [
        {
          type: "overlay",
          source: "overlay",
          options: [...this.#options, lowerdir, ...this.#extra],
        },
      ];
    }
    return [
      {
        type: "overlay",
        source: "overlay",
        options: [
          ...this.#options,
          `workdir=${join(this.dir(snapshot.id), "work")}`,
          `upperdir=${this.upperdir(snapshot.id)}`,
          lowerdir,
          ...this.#extra,
        ],
      },
    ];
  }

  protected liveUsage(snapshot: StoredSnapshot, options: SignalOptions): Promise<Usage> {
    return diskUsage(this.upperdir(snapshot.id), options);
  }
}
