// One process of the cross-process test (cross_process.test.ts): opens the
// root that openTestCache("native") made, with a cache manager on the lock
// directory LOCKS ("-": none), prints "ready", waits for a line on stdin,
// then gets the remote of REF and prints its stats and layer digests as JSON.
//   node _cross_process_worker.ts ROOT LOCKS REF COMPRESSION [force]
import { join } from "node:path";
import type { Compression } from "@strata/compression";
import { LocalStore } from "@strata/content";
import { MetadataDB } from "@strata/metadata";
import { NativeSnapshotter } from "@strata/snapshots";
import { CacheManager } from "./cache_manager.ts";

const [root, locks, refId, compression, force] = process.argv.slice(2);
if (root === undefined || locks === undefined || refId === undefined) {
  throw new Error("usage: _cross_process_worker.ts ROOT LOCKS REF COMPRESSION [force]");
}
const blobs = await LocalStore.open(join(root, "content"), { labels: false });
const backend = await NativeSnapshotter.open(join(root, "snapshots", "native"));
const db = await MetadataDB.open(join(root, "metadata.db"), {
  contentStore: blobs,
  snapshotters: { native: backend },
  gc: false,
});
const snapshotter = db.snapshotter("test", "native");
const cm = await CacheManager.open({
  db,
  snapshotter,
  snapshotterName: "native",
  ...(locks === "-" ? {} : { locksDir: locks }),
});
process.stdout.write("ready\n");
await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
process.stdin.pause();
const ref = await cm.get(refId);
const [remote] = await cm.getRemotes(ref, {
  compression: compression as Compression,
  ...(force === "force" ? { force: true } : {}),
});
await ref.release();
process.stdout.write(
  `${JSON.stringify({ stats: cm.stats, digests: remote?.descriptors.map((d) => d.digest) })}\n`,
);
await cm.close();
await snapshotter.close();
db.close();
await backend.close();
await blobs.close();
