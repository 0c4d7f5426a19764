import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bindSource, openTestCache, type TestCache, writeFiles } from "./_testing.ts";
import type { CacheManager } from "./cache_manager.ts";
import { parentsOf } from "./disk_usage.ts";
import type { ImmutableRef } from "./refs.ts";

async function makeRef(
  cm: CacheManager,
  parent: ImmutableRef | undefined,
  name: string,
): Promise<ImmutableRef> {
  const m = await cm.new(parent, { description: name });
  await writeFiles(bindSource(await m.mount()), { [name]: name.repeat(1000) });
  return m.commit();
}

describe("CacheManager.diskUsage", () => {
  let t: TestCache;
  beforeEach(async () => {
    t = await openTestCache("native");
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it("marks records holding the same snapshot or blobs as shared, and their parents", async () => {
    const base = await makeRef(t.cm, undefined, "base");
    const top = await makeRef(t.cm, base, "top");
    const lone = await makeRef(t.cm, undefined, "lone");
    await t.cm.getRemotes(lone);
    let du = await t.cm.diskUsage();
    expect(du.every((u) => !u.shared)).toBe(true);
    // The same layers in zstd: new records (other blob chain IDs) that reuse
    // the snapshots (same chain IDs) and whose blobs are linked variants.
    await t.cm.getRemotes(top); // gzip blobs
    const [zstd] = await t.cm.getRemotes(top, { compression: "zstd", force: true });
    const [d0, d1] = zstd?.descriptors ?? [];
    if (d0 === undefined || d1 === undefined) throw new Error("no layers");
    const z0 = await t.cm.getByBlob(d0, { description: "zstd base" });
    const z1 = await t.cm.getByBlob(d1, { parent: z0, description: "zstd top" });
    expect(z1.info().snapshotID).toBe(top.info().snapshotID);
    du = await t.cm.diskUsage();
    const shared = Object.fromEntries(du.map((u) => [u.description, u.shared]));
    expect(shared).toEqual({
      base: true,
      top: true,
      lone: false,
      "zstd base": true,
      "zstd top": true,
    });
    expect(
      (await t.cm.diskUsage({ filters: ["shared==true"] })).map((u) => u.description).sort(),
    ).toEqual(["base", "top", "zstd base", "zstd top"]);
    expect((await t.cm.diskUsage({ filters: ["private==true"] })).map((u) => u.id)).toEqual([
      lone.id,
    ]);
    for (const r of [z1, z0, lone, top, base]) await r.release();
    // Without `all`, prune leaves shared records; with it, everything goes.
    const removed = await t.cm.prune({});
    expect(removed.map((u) => u.description)).toEqual(["lone"]);
    expect((await t.cm.prune({ all: true })).length).toBe(4);
  });

  it("reports in use, last used, usage count, parents and descriptions", async () => {
    const a = await makeRef(t.cm, undefined, "a");
    const b = await makeRef(t.cm, undefined, "b");
    const before = Date.now();
    await b.release();
    const again = await t.cm.get(b.id);
    const merged = await t.cm.merge([a, again]);
    await again.release(); // a second use of b
    const byDesc = async () =>
      Object.fromEntries((await t.cm.diskUsage()).map((u) => [u.description, u]));
    let du = await byDesc();
    expect(Object.keys(du).sort()).toEqual(["a", "b", "merge a + b"]);
    const m = du["merge a + b"];
    expect(m?.parents).toEqual([a.id, b.id]);
    expect(m?.inUse).toBe(true);
    expect(du.b?.inUse).toBe(true); // a parent of the merge in use
    expect(du.b?.usageCount).toBe(2);
    expect(du.b?.lastUsedAt?.getTime()).toBeGreaterThanOrEqual(before);
    expect(du.a?.usageCount).toBe(0);
    expect(du.a?.lastUsedAt).toBeUndefined();
    expect(du.a?.mutable).toBe(false);
    // Mounting builds the merge snapshot; its size counts only what it does not hardlink.
    await merged.mount();
    await merged.release();
    await a.release();
    du = await byDesc();
    expect(Object.values(du).every((u) => !u.inUse)).toBe(true);
    expect(du["merge a + b"]?.usageCount).toBe(1);
    expect(du["merge a + b"]?.size).toBeLessThan(du.a?.size ?? 0);
    expect(parentsOf(merged.info())).toEqual([a.id, b.id]);
    // A mutable record in use counts 0 bytes and is mutable.
    const w = await t.cm.new(undefined, { description: "work" });
    await writeFiles(bindSource(await w.mount()), { big: "x".repeat(10000) });
    du = await byDesc();
    expect(du.work).toMatchObject({ mutable: true, inUse: true, size: 0 });
    await w.release();
    expect((await byDesc()).work).toBeUndefined();
  });
});
