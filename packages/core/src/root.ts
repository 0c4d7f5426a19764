import { homedir } from "node:os";
import { join, resolve } from "node:path";

/**
 * The default root of an embedded Strata: `$STRATA_ROOT`, else
 * `$XDG_DATA_HOME/strata`, else `~/.local/share/strata`.
 *
 * @example
 * ```ts
 * defaultRoot({ XDG_DATA_HOME: "/data" }); // "/data/strata"
 * ```
 */
export function defaultRoot(env: Readonly<Record<string, string | undefined>>): string {
  if (env.STRATA_ROOT) return resolve(env.STRATA_ROOT);
  if (env.XDG_DATA_HOME) return resolve(env.XDG_DATA_HOME, "strata");
  return join(env.HOME ?? homedir(), ".local", "share", "strata");
}

/** Where each part of a root lives (DESIGN.md, "On disk"). */
export interface RootLayout {
  /** The root itself. */
  root: string;
  /** The content store: `blobs/` and `ingest/`. */
  content: string;
  /** The snapshotters' directories, one per snapshotter. */
  snapshots: string;
  /** The metadata database file. */
  metadata: string;
}

/** The layout of the root at `root`. */
export function rootLayout(root: string): RootLayout {
  const abs = resolve(root);
  return {
    root: abs,
    content: join(abs, "content"),
    snapshots: join(abs, "snapshots"),
    metadata: join(abs, "metadata.db"),
  };
}
