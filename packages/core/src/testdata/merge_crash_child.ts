// Run by merge_crash.root.test.ts: builds three layers of FILES files each
// through an embedded root, then merges them again and again, printing a
// line before and after each merge, until the parent kills it with SIGKILL.
// Usage: merge_crash_child.ts <root> <native|overlayfs> <files>
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { withMounts } from "@strata/snapshots";
import { mergeIn } from "../ops/merge.ts";
import { openRoot } from "../strata_root.ts";

const [dir, snapshotter, count] = process.argv.slice(2) as [string, string, string];
const files = Number(count);
const root = { "containerd.io/gc.root": "crash-test" };
const session = await openRoot(dir, { namespace: "crash", snapshotter });
const sn = session.snapshotter(snapshotter);
let parent = "";
for (const layer of ["l1", "l2", "l3"]) {
  await withMounts(await sn.prepare(`${layer}-a`, parent, { labels: root }), async (target) => {
    await mkdir(join(target, layer));
    for (let i = 0; i < files; i++) await writeFile(join(target, layer, `f${i}`), `${layer}/${i}`);
  });
  await sn.commit(layer, `${layer}-a`, { labels: root });
  parent = "";
}
process.stdout.write("ready\n");
for (let i = 0; ; i++) {
  process.stdout.write(`merging m${i}\n`);
  await mergeIn(
    session,
    `m${i}`,
    [
      { lower: "", upper: "l1" },
      { lower: "", upper: "l2" },
      { lower: "", upper: "l3" },
    ],
    {
      snapshotter,
      labels: root,
    },
  );
  process.stdout.write(`merged m${i}\n`);
}
