import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LABEL_GC_ROOT } from "@strata/leases";
import { withMounts } from "@strata/snapshots";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { crashAndCheck } from "./_snapshot_crash_check.ts";
import { openSnapshotTestDb, type SnapshotTestDb } from "./_snapshot_test_util.ts";

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("this test needs root (overlay mounts)");
}

describe("NamespacedSnapshotter over overlayfs", () => {
  let t: SnapshotTestDb;
  beforeEach(async () => {
    requireRoot();
    t = await openSnapshotTestDb("overlayfs");
  });
  afterEach(() => t.cleanup());

  it("stacks layers through mounts, per namespace, and GC removes their directories", async () => {
    const root = { labels: { [LABEL_GC_ROOT]: "x" } };
    const a = t.db.snapshotter("a", "overlayfs");
    const b = t.db.snapshotter("b", "overlayfs");
    await withMounts(await a.prepare("l1-active", "", root), (dir) =>
      writeFile(join(dir, "one"), "1"),
    );
    await a.commit("l1", "l1-active", root);
    const upper = await a.prepare("l2-active", "l1", root);
    expect(upper[0]?.type).toBe("overlay");
    await withMounts(upper, async (dir) => {
      expect(await readFile(join(dir, "one"), "utf8")).toBe("1");
      await writeFile(join(dir, "two"), "2");
      await rm(join(dir, "one"));
    });
    await a.commit("l2", "l2-active", root);
    // The same names in namespace b are other snapshots.
    await withMounts(await b.prepare("l1-active", "", root), (dir) =>
      writeFile(join(dir, "one"), "b"),
    );
    await a.view("top", "l2");
    await withMounts(await a.mounts("top"), async (dir) => {
      expect(await readFile(join(dir, "two"), "utf8")).toBe("2");
      await expect(readFile(join(dir, "one"))).rejects.toThrow();
    });
    await withMounts(await b.mounts("l1-active"), async (dir) => {
      expect(await readFile(join(dir, "one"), "utf8")).toBe("b");
    });
    expect(await t.backendDirs()).toHaveLength(4);

    await a.remove("top");
    await a.remove("l2");
    await a.remove("l1");
    const stats = await t.db.gc();
    expect(stats.removedBackendSnapshots).toBe(3);
    expect(await t.backendDirs()).toHaveLength(1);
    await b.remove("l1-active");
    await t.db.gc();
    expect(await t.backendDirs()).toEqual([]);
  });
});

describe("NamespacedSnapshotter over overlayfs after SIGKILL", () => {
  it("shows only complete snapshots and leaks nothing", async () => {
    requireRoot();
    for (const point of [
      { lines: 4, delayMs: 3 },
      { lines: 9, delayMs: 7 },
      { lines: 14, delayMs: 1 },
    ]) {
      await crashAndCheck("overlayfs", point);
    }
  }, 60_000);
});
