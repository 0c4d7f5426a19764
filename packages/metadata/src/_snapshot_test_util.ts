import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStore } from "@strata/content";
import { NativeSnapshotter, OverlaySnapshotter, type Snapshotter } from "@strata/snapshots";
import type { GcSchedulerOptions } from "./gc_scheduler.ts";
import { MetadataDB } from "./metadata_db.ts";

/** A database with one backend snapshotter on a fresh temporary root, for tests. */
export interface SnapshotTestDb {
  root: string;
  db: MetadataDB;
  blobs: LocalStore;
  /** The backend snapshotter, registered as {@link name}. */
  backend: NativeSnapshotter | OverlaySnapshotter;
  name: "native" | "overlayfs";
  /** Closes everything and opens it again on the same files (as after a restart). */
  reopen(): Promise<void>;
  /** Entries of the backend's `snapshots/` directory (one per backend snapshot, plus leftovers). */
  backendDirs(): Promise<string[]>;
  cleanup(): Promise<void>;
}

/** Opens a MetadataDB with a native (default) or overlayfs snapshotter in a new temp dir. */
export async function openSnapshotTestDb(
  kind: "native" | "overlayfs" = "native",
  gc: GcSchedulerOptions | false = false,
): Promise<SnapshotTestDb> {
  const root = await mkdtemp(join(tmpdir(), "strata-metadata-snapshots-"));
  const snRoot = join(root, "snapshots", kind);
  const openBackend = () =>
    kind === "native" ? NativeSnapshotter.open(snRoot) : OverlaySnapshotter.open(snRoot);
  const openDb = (blobs: LocalStore, backend: Snapshotter) =>
    MetadataDB.open(join(root, "metadata.db"), {
      contentStore: blobs,
      snapshotters: { [kind]: backend },
      gc,
    });
  const blobs = await LocalStore.open(join(root, "content"), { labels: false });
  const backend = await openBackend();
  const t: SnapshotTestDb = {
    root,
    blobs,
    backend,
    name: kind,
    db: await openDb(blobs, backend),
    async reopen() {
      t.db.close();
      await t.backend.close();
      await t.blobs.close();
      t.blobs = await LocalStore.open(join(root, "content"), { labels: false });
      t.backend = await openBackend();
      t.db = await openDb(t.blobs, t.backend);
    },
    async backendDirs() {
      return (await readdir(join(snRoot, "snapshots"))).sort();
    },
    async cleanup() {
      t.db.close();
      await t.backend.close();
      await t.blobs.close();
      await rm(root, { recursive: true, force: true });
    },
  };
  return t;
}

/** The error `promise` rejects with (fails when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}
