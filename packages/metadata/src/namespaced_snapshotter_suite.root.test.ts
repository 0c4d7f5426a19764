// The snapshotter conformance suite through the metadata layer: the same
// checks the backends pass must hold for a namespace's view of them, keys
// mapped to backend snapshots, parents and kinds from the database's records.
// Needs root (the suite mounts); fails, not skips, without it.
import { join } from "node:path";
import { LocalStore } from "@strata/content";
import { NativeSnapshotter, OverlaySnapshotter, type Snapshotter } from "@strata/snapshots";
import { snapshotterSuite } from "@strata/snapshots/testsuite";
import { MetadataDB } from "./metadata_db.ts";

async function openNamespaced(root: string, kind: "native" | "overlayfs"): Promise<Snapshotter> {
  const dir = join(root, "snapshots", kind);
  const backend =
    kind === "native" ? await NativeSnapshotter.open(dir) : await OverlaySnapshotter.open(dir);
  const blobs = await LocalStore.open(join(root, "content"), { labels: false });
  const db = await MetadataDB.open(join(root, "metadata.db"), {
    contentStore: blobs,
    snapshotters: { [kind]: backend },
    gc: false,
  });
  const sn = db.snapshotter("suite", kind);
  const closeView = sn.close.bind(sn);
  let closed = false;
  // The suite closes what it opens: the view, then what stands behind it.
  return Object.assign(sn, {
    async close(): Promise<void> {
      await closeView();
      if (closed) return;
      closed = true;
      db.close();
      await backend.close();
      await blobs.close();
    },
  });
}

snapshotterSuite("NamespacedSnapshotter over native", {
  open: (root) => openNamespaced(root, "native"),
});
snapshotterSuite("NamespacedSnapshotter over overlayfs", {
  open: (root) => openNamespaced(root, "overlayfs"),
});
