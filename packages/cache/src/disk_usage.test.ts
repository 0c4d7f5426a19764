import { createHash } from "node:crypto";
import { readBlob, writeBlob } from "@strata/content";
import {
  LABEL_GC_EXPIRE,
  LABEL_GC_FLAT,
  LABEL_GC_REF_CONTENT,
  LABEL_GC_ROOT,
  LABEL_TEMPORARY,
  RESOURCE_CONTENT,
} from "@strata/leases";
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

  /** `{description: shared}` of every record. */
  const sharedByDesc = async (): Promise<Record<string, boolean>> =>
    Object.fromEntries((await t.cm.diskUsage()).map((u) => [u.description, u.shared]));

  /** Writes `bytes` into namespace `ns` under lease `lease` (created); returns its digest. */
  async function putBlob(ns: string, lease: string, bytes: Uint8Array, labels = {}) {
    await t.db
      .leases(ns)
      .create({ id: lease })
      .catch(() => {});
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}` as const;
    await writeBlob(
      t.db.contentStore(ns, { lease }),
      `put-${digest}`,
      bytes,
      { digest, size: bytes.byteLength },
      { labels },
    );
    return digest;
  }

  it("does not mark records that only hold the same data as other records", async () => {
    const base = await makeRef(t.cm, undefined, "base");
    const top = await makeRef(t.cm, base, "top");
    const lone = await makeRef(t.cm, undefined, "lone");
    await t.cm.getRemotes(lone);
    // The same layers in zstd: new records (other blob chain IDs) that reuse
    // the snapshots (same chain IDs) and whose blobs are linked variants.
    await t.cm.getRemotes(top); // gzip blobs
    const [zstd] = await t.cm.getRemotes(top, { compression: "zstd", force: true });
    const [d0, d1] = zstd?.descriptors ?? [];
    if (d0 === undefined || d1 === undefined) throw new Error("no layers");
    const z0 = await t.cm.getByBlob(d0, { description: "zstd base" });
    const z1 = await t.cm.getByBlob(d1, { parent: z0, description: "zstd top" });
    expect(z1.info().snapshotID).toBe(top.info().snapshotID);
    expect(await sharedByDesc()).toEqual({
      base: false,
      top: false,
      lone: false,
      "zstd base": false,
      "zstd top": false,
    });
    for (const r of [z1, z0, lone, top, base]) await r.release();
    // Nothing outside the cache keeps them: prune without `all` takes them all.
    expect((await t.cm.prune({})).length).toBe(5);
  });

  it("marks a record whose blob a lease outside the cache holds shared, with its parents", async () => {
    const base = await makeRef(t.cm, undefined, "base");
    const top = await makeRef(t.cm, base, "top");
    const lone = await makeRef(t.cm, undefined, "lone");
    const [remote] = await t.cm.getRemotes(top);
    await t.cm.getRemotes(lone);
    const blob = remote?.descriptors[1]?.digest as string;
    expect(blob).toBe(top.info().blob);
    // Leases of work in flight, and expired ones, keep nothing for long: not shared.
    const leases = t.db.leases("test");
    await leases.create({ id: "in-flight", labels: { [LABEL_TEMPORARY]: "now" } });
    await leases.create({ id: "expired", labels: { [LABEL_GC_EXPIRE]: "2001-01-01T00:00:00Z" } });
    for (const id of ["in-flight", "expired"]) {
      await leases.addResource({ id }, { type: RESOURCE_CONTENT, id: blob });
    }
    expect(await sharedByDesc()).toEqual({ base: false, top: false, lone: false });
    await leases.create({ id: "client-1" });
    await leases.addResource({ id: "client-1" }, { type: RESOURCE_CONTENT, id: blob });
    expect(await sharedByDesc()).toEqual({ base: true, top: true, lone: false });
    expect(
      (await t.cm.diskUsage({ filters: ["shared==true"] })).map((u) => u.description).sort(),
    ).toEqual(["base", "top"]);
    expect((await t.cm.diskUsage({ filters: ["private==true"] })).map((u) => u.id)).toEqual([
      lone.id,
    ]);
    for (const r of [lone, top, base]) await r.release();
    // Without `all`, prune leaves shared records; with it they go, and the
    // client's lease still keeps the blob.
    expect((await t.cm.prune({})).map((u) => u.description)).toEqual(["lone"]);
    expect((await t.cm.prune({ all: true })).length).toBe(2);
    expect((await t.cm.content.info(blob)).digest).toBe(blob);
  });

  it("marks a record whose snapshot a gc.root label keeps, or a blob referenced from outside", async () => {
    const base = await makeRef(t.cm, undefined, "base");
    const top = await makeRef(t.cm, base, "top");
    const lone = await makeRef(t.cm, undefined, "lone");
    await t.cm.getRemotes(top);
    await t.cm.getRemotes(lone);
    // A manifest-like blob that references lone's blob, held by a flat lease:
    // a flat lease keeps only what it lists, so lone is not shared yet.
    const manifest = Buffer.from(JSON.stringify({ layers: [lone.info().blob] }));
    const labels = { [`${LABEL_GC_REF_CONTENT}.l.0`]: lone.info().blob as string };
    await t.db.leases("test").create({ id: "flat-client", labels: { [LABEL_GC_FLAT]: "x" } });
    await putBlob("test", "flat-client", manifest, labels);
    expect(await sharedByDesc()).toEqual({ base: false, top: false, lone: false });
    // The same blob under a plain lease: its label keeps lone's blob.
    await putBlob("test", "client-2", manifest, labels);
    expect(await sharedByDesc()).toEqual({ base: false, top: false, lone: true });
    // A gc.root label on base's snapshot keeps it: base is shared, top is not.
    await t.cm.snapshotter.update(
      { name: base.info().snapshotID, labels: { [LABEL_GC_ROOT]: "pinned" } },
      { fieldpaths: [`labels.${LABEL_GC_ROOT}`] },
    );
    expect(await sharedByDesc()).toEqual({ base: true, top: false, lone: true });
    for (const r of [lone, top, base]) await r.release();
  });

  it("marks a record whose blob another namespace records shared", async () => {
    const lone = await makeRef(t.cm, undefined, "lone");
    const [remote] = await t.cm.getRemotes(lone);
    const desc = remote?.descriptors[0];
    if (desc === undefined) throw new Error("no layer");
    expect(await sharedByDesc()).toEqual({ lone: false });
    await putBlob("elsewhere", "other-ns", await readBlob(t.cm.content, desc));
    expect(await sharedByDesc()).toEqual({ lone: true });
    await lone.release();
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
