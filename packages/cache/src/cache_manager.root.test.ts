import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readerStream } from "@strata/content";
import { applyLayer } from "@strata/diff";
import type { Descriptor } from "@strata/oci";
import { withMounts } from "@strata/snapshots";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openTestCache, readTree, type TestCache, writeFiles } from "./_testing.ts";

describe("CacheManager on overlayfs (root)", () => {
  let t: TestCache;
  beforeAll(() => {
    // Fails rather than skips where overlay mounts are impossible.
    expect(process.getuid?.()).toBe(0);
  });
  beforeEach(async () => {
    t = await openTestCache("overlayfs");
  });
  afterEach(async () => {
    await t.cleanup();
  });

  async function chain() {
    const m1 = await t.cm.new(undefined, { description: "base" });
    await withMounts(await m1.mount(), (dir) =>
      writeFiles(dir, { "etc/os": "strata", "etc/gone": "bye", "bin/sh": "#!" }),
    );
    const base = await m1.commit();
    const m2 = await t.cm.new(base, { description: "child" });
    await withMounts(await m2.mount(), async (dir) => {
      await writeFiles(dir, { "app/main": "run" });
      await unlink(join(dir, "etc/gone"));
    });
    const child = await m2.commit();
    return { base, child };
  }

  it("computes blobs with the overlay upperdir differ", async () => {
    const { base, child } = await chain();
    const [remote] = await t.cm.getRemotes(child, { compression: "zstd" });
    expect(t.cm.stats.differRuns).toBe(2);
    expect(t.cm.stats.overlayDiffs).toBe(2);
    const root = await mkdtemp(join(tmpdir(), "strata-cache-apply-"));
    try {
      for (const desc of remote?.descriptors ?? []) {
        const ra = await t.cm.content.readerAt(desc);
        try {
          await applyLayer(root, readerStream(ra));
        } finally {
          await ra.close();
        }
      }
      expect(await readFile(join(root, "app/main"), "utf8")).toBe("run");
      expect(await readFile(join(root, "etc/os"), "utf8")).toBe("strata");
      expect(existsSync(join(root, "etc/gone"))).toBe(false);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    const mounted = await withMounts(
      await child.mount(),
      async (dir) => [
        existsSync(join(dir, "etc/gone")),
        await readFile(join(dir, "app/main"), "utf8"),
      ],
      { readonly: true },
    );
    expect(mounted).toEqual([false, "run"]);
    await child.release();
    await base.release();
  });

  it("extracts lazy refs into overlay snapshots with whiteouts", async () => {
    const { base, child } = await chain();
    const [remote] = await t.cm.getRemotes(child);
    const [d0, d1] = (remote?.descriptors ?? []) as [Descriptor, Descriptor];
    const dst = await openTestCache("overlayfs");
    try {
      const provider = remote?.provider ?? t.cm.content;
      const r0 = await dst.cm.getByBlob(d0, { provider });
      const r1 = await dst.cm.getByBlob(d1, { provider, parent: r0 });
      const seen = await withMounts(
        await r1.mount(),
        async (dir) => [
          existsSync(join(dir, "etc/gone")),
          await readFile(join(dir, "etc/os"), "utf8"),
          await readFile(join(dir, "app/main"), "utf8"),
        ],
        { readonly: true },
      );
      expect(seen).toEqual([false, "strata", "run"]);
      expect(dst.cm.stats.fetches).toBe(2);
      // A writable child of the lazy chain sees the same tree.
      const m = await dst.cm.new(r1);
      const listed = await withMounts(await m.mount(), async (dir) =>
        readFile(join(dir, "app/main"), "utf8"),
      );
      expect(listed).toBe("run");
      await m.release();
      await r1.release();
      await r0.release();
    } finally {
      await dst.cleanup();
    }
    await child.release();
    await base.release();
  });

  it("mounts merges on top of a leading parent chain and diffs from the upperdir", async () => {
    const { base, child } = await chain();
    const m = await t.cm.new(undefined, { description: "other" });
    await withMounts(await m.mount(), (dir) => writeFiles(dir, { "opt/tool": "t", "etc/os": "x" }));
    const other = await m.commit();
    const merged = await t.cm.merge([child, other]);
    const tree = await withMounts(await merged.mount(), (dir) => readTree(dir), { readonly: true });
    expect(tree).toEqual({
      app: "dir",
      "app/main": "file:run",
      bin: "dir",
      "bin/sh": "file:#!",
      etc: "dir",
      "etc/os": "file:x",
      opt: "dir",
      "opt/tool": "file:t",
    });
    // overlayBased: the merge is prepared on the child's snapshot, not copied.
    expect((await t.snapshotter.stat(merged.info().snapshotID)).parent).toBe(
      child.info().snapshotID,
    );
    // A one-layer diff mounts as the changes alone, and reuses the child's blob.
    const d = await t.cm.diff(base, child);
    const changes = await withMounts(await d.mount(), (dir) => readTree(dir), { readonly: true });
    // etc changed too: etc/gone was deleted (a whiteout applied to nothing leaves the directory).
    expect(changes).toEqual({ app: "dir", "app/main": "file:run", etc: "dir" });
    const [remote] = await t.cm.getRemotes(d);
    expect(remote?.descriptors.map((x) => x.digest)).toEqual([child.info().blob]);
    for (const r of [d, merged, other, child, base]) await r.release();
  });
});
