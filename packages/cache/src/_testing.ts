import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
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
  snapshotter: Snapshotter;
  cleanup(): Promise<void>;
}

/** Opens a cache manager over a native (default) or overlayfs snapshotter in a temp dir. */
export async function openTestCache(kind: "native" | "overlayfs" = "native"): Promise<TestCache> {
  const root = await mkdtemp(join(tmpdir(), "strata-cache-"));
  const blobs = await LocalStore.open(join(root, "content"), { labels: false });
  const db = await MetadataDB.open(join(root, "metadata.db"), { contentStore: blobs, gc: false });
  const snapshotter =
    kind === "native"
      ? await NativeSnapshotter.open(join(root, "snapshots", "native"))
      : await OverlaySnapshotter.open(join(root, "snapshots", "overlayfs"));
  const cm = await CacheManager.open({ db, snapshotter, snapshotterName: kind });
  return {
    root,
    cm,
    db,
    blobs,
    snapshotter,
    async cleanup() {
      await cm.close();
      await snapshotter.close();
      db.close();
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
