// Run by crash.root.test.ts: opens a snapshotter on argv[3] (backend
// argv[2]: native or overlay), prints "ready", then prepares, commits,
// views and removes snapshots on the committed parent "big" until killed.
// Nothing is mounted, so a kill leaves no mount behind.
import { NativeSnapshotter } from "../native.ts";
import { OverlaySnapshotter } from "../overlay.ts";

const [backend, root] = process.argv.slice(2);
if (root === undefined || (backend !== "native" && backend !== "overlay")) {
  throw new Error("usage: crash_child.ts native|overlay <root>");
}
const sn =
  backend === "native" ? await NativeSnapshotter.open(root) : await OverlaySnapshotter.open(root);
process.stdout.write("ready\n");
for (let i = 0; ; i++) {
  const id = `${process.pid}-${i}`;
  await sn.prepare(`a-${id}`, "big", { labels: { n: String(i) } });
  await sn.commit(`c-${id}`, `a-${id}`);
  await sn.view(`v-${id}`, `c-${id}`);
  await sn.prepare(`a2-${id}`, `c-${id}`);
  await sn.remove(`v-${id}`);
  await sn.remove(`a2-${id}`);
  // Keep every third chain so that records accumulate a little.
  if (i % 3 !== 0) await sn.remove(`c-${id}`);
}
