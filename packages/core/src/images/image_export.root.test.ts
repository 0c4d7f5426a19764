// Images in and out on overlayfs roots (needs root: overlay mounts).
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withMounts } from "@strata/snapshots";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StrataRoot } from "../strata_root.ts";
import { readTree } from "./_test_registry.ts";

let tmp: string;

async function treeOf(root: StrataRoot, id: string): Promise<Record<string, string>> {
  const ref = await (await root.cacheManager("default")).get(id);
  try {
    return await withMounts(await ref.mount(), (dir) => readTree(dir), { readonly: true });
  } finally {
    await ref.release();
  }
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("these tests need root (overlay mounts)");
  tmp = await mkdtemp(join(tmpdir(), "strata-core-export-root-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("exportImage and importImage on overlayfs", () => {
  it("computes layers with the upperdir differ and round-trips the tree", async () => {
    const a = await StrataRoot.open(join(tmp, "a"), { snapshotter: "overlayfs" });
    const b = await StrataRoot.open(join(tmp, "b"), { snapshotter: "overlayfs" });
    try {
      const d1 = join(tmp, "d1");
      await mkdir(join(d1, "srv"), { recursive: true });
      await writeFile(join(d1, "srv", "index.html"), "<h1>hi</h1>\n");
      const d2 = join(tmp, "d2");
      await mkdir(join(d2, "srv"), { recursive: true });
      await writeFile(join(d2, "srv", "index.html"), "<h1>bye</h1>\n");
      await writeFile(join(d2, "extra"), "x");
      const cache = a.session("default").cache;
      const base = await cache.commitDirectory(d1);
      const top = await cache.commitDirectory(d2, { parent: base.id });
      const out = join(tmp, "layout");
      const result = await cache.exportImage(top.id, `oci:${out}`, { compression: "zstd" });
      expect(result.layers).toHaveLength(2);
      expect((await a.cacheManager("default")).stats.overlayDiffs).toBe(2);
      const imported = await b.session("default").cache.importImage(`oci:${out}`);
      expect(imported.chainID).toBe((await cache.refInfo(top.id)).chainID);
      const tree = await treeOf(b, imported.ref);
      expect(tree).toEqual(await treeOf(a, top.id));
      expect(tree["srv/index.html"]).toBe(
        `file 644 ${Buffer.from("<h1>bye</h1>\n").toString("base64")}`,
      );
    } finally {
      await a.close();
      await b.close();
    }
  });
});
