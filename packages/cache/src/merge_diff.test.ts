import { stat, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { isFailedPrecondition } from "@strata/errdefs";
import { chainID, type Digest } from "@strata/oci";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bindSource, openTestCache, readTree, type TestCache, writeFiles } from "./_testing.ts";
import type { CacheManager } from "./cache_manager.ts";
import type { ImmutableRef } from "./refs.ts";

async function makeRef(
  cm: CacheManager,
  parent: ImmutableRef | undefined,
  files: Record<string, string>,
  remove: string[] = [],
): Promise<ImmutableRef> {
  const m = await cm.new(parent, { description: Object.keys(files).join(",") });
  const dir = bindSource(await m.mount());
  await writeFiles(dir, files);
  for (const path of remove) await unlink(join(dir, path));
  return m.commit();
}

async function treeOf(ref: ImmutableRef): Promise<Record<string, string>> {
  return readTree(bindSource(await ref.mount()));
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

// Every test gets a fresh cache; the refs it keeps are released after it.
let t: TestCache;
let refs: ImmutableRef[];
const keep = (r: ImmutableRef): ImmutableRef => {
  refs.push(r);
  return r;
};
beforeEach(async () => {
  t = await openTestCache("native");
  refs = [];
});
afterEach(async () => {
  for (const r of refs.reverse()) await r.release();
  await t.cleanup();
});

describe("CacheManager.merge", () => {
  it("mounts the inputs stacked in order, hardlinking their files", async () => {
    const a = keep(await makeRef(t.cm, undefined, { "etc/a": "a", "etc/both": "from a" }));
    const b = keep(await makeRef(t.cm, undefined, { "etc/b": "b", gone: "x" }));
    const b2 = keep(await makeRef(t.cm, b, { "etc/both": "from b2" }, ["gone"]));
    const merged = keep(await t.cm.merge([a, b2]));
    expect(await treeOf(merged)).toEqual({
      etc: "dir",
      "etc/a": "file:a",
      "etc/b": "file:b",
      "etc/both": "file:from b2",
    });
    expect(t.cm.stats.merges).toBe(1);
    // Hardlinked from the input's snapshot (native): same inode, no copy.
    const mergedDir = bindSource(await merged.mount());
    const aDir = bindSource(await a.mount());
    expect((await stat(join(mergedDir, "etc/a"))).ino).toBe((await stat(join(aDir, "etc/a"))).ino);
    // Later inputs win; order matters.
    const reversed = keep(await t.cm.merge([b2, a]));
    expect((await treeOf(reversed))["etc/both"]).toBe("file:from a");
  });

  it("concatenates the inputs' layer chains and reuses their blobs", async () => {
    const a = keep(await makeRef(t.cm, undefined, { a: "1" }));
    const b = keep(await makeRef(t.cm, undefined, { b: "2" }));
    const b2 = keep(await makeRef(t.cm, b, { c: "3" }));
    await t.cm.getRemotes(a);
    await t.cm.getRemotes(b2);
    const runs = t.cm.stats.differRuns;
    const merged = keep(await t.cm.merge([a, b2]));
    const [remote] = await t.cm.getRemotes(merged);
    expect(t.cm.stats.differRuns).toBe(runs); // no new blob
    expect(remote?.descriptors.map((d) => d.digest)).toEqual([a, b, b2].map((r) => r.info().blob));
    const diffIDs = [a, b, b2].map((r) => r.info().diffID as Digest);
    expect(merged.info().chainID).toBe(chainID(diffIDs));
    // A merge of merges is flattened.
    const again = keep(await t.cm.merge([merged, a]));
    expect(again.info().mergeParents).toEqual([a.id, b2.id, a.id]);
  });

  it("builds layers on top of a merge", async () => {
    const a = keep(await makeRef(t.cm, undefined, { a: "1" }));
    const b = keep(await makeRef(t.cm, undefined, { b: "2" }));
    const merged = keep(await t.cm.merge([a, b]));
    const top = keep(await makeRef(t.cm, merged, { c: "3" }));
    expect(await treeOf(top)).toEqual({ a: "file:1", b: "file:2", c: "file:3" });
    const [remote] = await t.cm.getRemotes(top);
    expect(remote?.descriptors.length).toBe(3);
    expect(remote?.descriptors[2]?.digest).toBe(top.info().blob);
    const diffIDs = [a, b, top].map((r) => r.info().diffID as Digest);
    expect(top.info().chainID).toBe(chainID(diffIDs));
  });

  it("mounts merges of lazy refs after fetching them", async () => {
    const a = keep(await makeRef(t.cm, undefined, { a: "1" }));
    const [remote] = await t.cm.getRemotes(a);
    const desc = remote?.descriptors[0];
    if (desc === undefined) throw new Error("no layer");
    // The same layer as a lazy ref in a second manager, provided by the first.
    const other = await openTestCache("native");
    try {
      const lazy = await other.cm.getByBlob(desc, { provider: t.cm.content });
      const local = await other.cm.new(undefined);
      await writeFiles(bindSource(await local.mount()), { z: "26" });
      const z = await local.commit();
      const merged = await other.cm.merge([lazy, z]);
      expect(await readTree(bindSource(await merged.mount()))).toEqual({
        a: "file:1",
        z: "file:26",
      });
      expect(other.cm.stats.fetches).toBe(1);
      for (const r of [merged, z, lazy]) await r.release();
    } finally {
      await other.cleanup();
    }
  });

  it("rejects released inputs", async () => {
    const a = await makeRef(t.cm, undefined, { a: "1" });
    const b = keep(await makeRef(t.cm, undefined, { b: "1" }));
    await a.release();
    expect(isFailedPrecondition(await rejection(t.cm.merge([a, b])))).toBe(true);
    expect(isFailedPrecondition(await rejection(t.cm.diff(a, b)))).toBe(true);
  });
});

describe("CacheManager.diff", () => {
  it("reuses the upper's blob when it is one layer on lower", async () => {
    const base = keep(await makeRef(t.cm, undefined, { a: "1", b: "2" }));
    const top = keep(await makeRef(t.cm, base, { c: "3" }, ["b"]));
    const d = keep(await t.cm.diff(base, top));
    expect(d.info().kind).toBe("diff");
    const [remote] = await t.cm.getRemotes(d);
    expect(remote?.descriptors.map((x) => x.digest)).toEqual([top.info().blob]);
    expect(t.cm.stats.differRuns).toBe(1); // top's layer only: the diff needs no other
    // Mounted, it is the changes alone (a deletion applied to nothing is nothing).
    expect(await treeOf(d)).toEqual({ c: "file:3" });
    // A base layer diffed with scratch is that layer.
    const fromScratch = keep(await t.cm.diff(undefined, base));
    expect((await t.cm.getRemotes(fromScratch))[0]?.descriptors.map((x) => x.digest)).toEqual([
      base.info().blob,
    ]);
  });

  it("becomes a merge of per-layer diffs when lower is an ancestor several layers down", async () => {
    const l1 = keep(await makeRef(t.cm, undefined, { a: "1" }));
    const l2 = keep(await makeRef(t.cm, l1, { b: "2" }));
    const l3 = keep(await makeRef(t.cm, l2, { c: "3" }));
    const d = keep(await t.cm.diff(l1, l3));
    expect(d.info().kind).toBe("merge");
    const [remote] = await t.cm.getRemotes(d);
    expect(remote?.descriptors.map((x) => x.digest)).toEqual([l2.info().blob, l3.info().blob]);
    expect(t.cm.stats.differRuns).toBe(2); // l2 and l3; l1 is not part of the diff
    expect(await treeOf(d)).toEqual({ b: "file:2", c: "file:3" });
    const all = keep(await t.cm.diff(undefined, l3));
    expect(await treeOf(all)).toEqual({ a: "file:1", b: "file:2", c: "file:3" });
  });

  it("computes its own layer between unrelated refs, which applies on lower to give upper", async () => {
    const make = async (files: Record<string, string>): Promise<ImmutableRef> => {
      const m = await t.cm.new(undefined);
      const dir = bindSource(await m.mount());
      await writeFiles(dir, files);
      // Same content and times: not a change.
      await utimes(join(dir, "same"), 1_000_000, 1_000_000);
      return keep(await m.commit());
    };
    const a = await make({ same: "s", old: "o", "dir/x": "1" });
    const b = await make({ same: "s", new: "n", "dir/x": "2" });
    const d = keep(await t.cm.diff(a, b));
    expect(await treeOf(d)).toEqual({ new: "file:n", dir: "dir", "dir/x": "file:2" });
    const [remote] = await t.cm.getRemotes(d, { compression: "zstd" });
    expect(remote?.descriptors.length).toBe(1);
    const layer = remote?.descriptors[0];
    if (layer === undefined) throw new Error("no layer");
    expect(layer.mediaType).toContain("zstd");
    expect(d.info().chainID).toBe(d.info().diffID);
    // a + diff(a, b) == b, through a lazy ref of the diff's blob on a.
    await t.cm.getRemotes(a);
    const rebuilt = keep(await t.cm.getByBlob(layer, { parent: a }));
    expect(await treeOf(rebuilt)).toEqual(await treeOf(b));
  });

  it("diffs merge refs", async () => {
    const a = keep(await makeRef(t.cm, undefined, { a: "1" }));
    const b = keep(await makeRef(t.cm, undefined, { b: "2" }));
    const c = keep(await makeRef(t.cm, undefined, { c: "3" }));
    const ab = keep(await t.cm.merge([a, b]));
    const abc = keep(await t.cm.merge([a, b, c]));
    const d = keep(await t.cm.diff(ab, abc));
    expect(await treeOf(d)).toEqual({ c: "file:3" });
    const [remote] = await t.cm.getRemotes(d);
    expect(remote?.descriptors.length).toBe(1);
  });
});
