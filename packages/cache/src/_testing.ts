import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { LocalStore } from "@strata/content";
import { MetadataDB } from "@strata/metadata";
import {
  type Mount,
  NativeSnapshotter,
  OverlaySnapshotter,
  type Snapshotter,
} from "@strata/snapshots";
import { CacheManager } from "./cache_manager.ts";

/** A cache manager on a fresh temporary root, for tests. */
export interface TestCache {
  root: string;
  cm: CacheManager;
  db: MetadataDB;
  blobs: LocalStore;
  /** What the manager uses: `db.snapshotter("test", kind)`, or the backend itself. */
  snapshotter: Snapshotter;
  /** The backend snapshotter. */
  backend: Snapshotter;
  cleanup(): Promise<void>;
}

/** Options of {@link openTestCache}. */
export interface TestCacheOptions {
  /** Give the manager the backend snapshotter itself instead of the namespaced one. */
  backend?: boolean;
  /** Run the database's GC scheduler (default: off; tests call `db.gc()`). */
  scheduler?: boolean;
}

/**
 * Opens a cache manager in namespace "test" over the namespaced view of a
 * native (default) or overlayfs snapshotter, in a temp dir.
 */
export async function openTestCache(
  kind: "native" | "overlayfs" = "native",
  options: TestCacheOptions = {},
): Promise<TestCache> {
  const root = await mkdtemp(join(tmpdir(), "strata-cache-"));
  const blobs = await LocalStore.open(join(root, "content"), { labels: false });
  const backend =
    kind === "native"
      ? await NativeSnapshotter.open(join(root, "snapshots", "native"))
      : await OverlaySnapshotter.open(join(root, "snapshots", "overlayfs"));
  const db = await MetadataDB.open(join(root, "metadata.db"), {
    contentStore: blobs,
    // A backend given to the manager directly must not be registered: GC would
    // delete its snapshots, which no namespace records.
    ...(options.backend === true ? {} : { snapshotters: { [kind]: backend } }),
    gc: options.scheduler === true ? { startupDelayMs: 0, scheduleDelayMs: 0 } : false,
  });
  const snapshotter = options.backend === true ? backend : db.snapshotter("test", kind);
  const cm = await CacheManager.open({
    db,
    snapshotter,
    snapshotterName: kind,
    ...(options.backend === true ? { namespace: "test" } : {}),
  });
  return {
    root,
    cm,
    db,
    blobs,
    snapshotter,
    backend,
    async cleanup() {
      await cm.close();
      await snapshotter.close();
      db.close();
      await backend.close();
      await blobs.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The directory of a single bind mount (native snapshotter): writable without mount(2). */
export function bindSource(mounts: readonly Mount[]): string {
  const [m] = mounts;
  if (mounts.length !== 1 || m === undefined || m.type !== "bind") {
    throw new Error(`expected one bind mount, got ${JSON.stringify(mounts)}`);
  }
  return m.source;
}

/** Writes `files` (path → content) under `dir`. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

/**
 * The tree under `dir` as path → description (`dir`, `file:<content>`,
 * `link:<target>`, or the file type), for comparing trees.
 */
export async function readTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      const full = join(dir, path);
      const st = await lstat(full);
      if (st.isDirectory()) {
        out[path] = "dir";
        await walk(path);
      } else if (st.isFile()) out[path] = `file:${await readFile(full, "utf8")}`;
      else if (st.isSymbolicLink()) out[path] = `link:${await readlink(full)}`;
      else out[path] = `type:${st.mode & 0o170000}`;
    }
  };
  await walk("");
  return out;
}
