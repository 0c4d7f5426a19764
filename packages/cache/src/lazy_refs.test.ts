import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Provider } from "@strata/content";
import { isFailedPrecondition, isNotFound } from "@strata/errdefs";
import type { Descriptor } from "@strata/oci";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bindSource, openTestCache, type TestCache, writeFiles } from "./_testing.ts";

describe("CacheManager.getByBlob", () => {
  let src: TestCache;
  let dst: TestCache;
  let layers: Descriptor[];
  let zstdLayers: Descriptor[];
  let reads: string[];
  let provider: Provider;
  beforeEach(async () => {
    src = await openTestCache("native");
    dst = await openTestCache("native");
    const m1 = await src.cm.new(undefined);
    await writeFiles(bindSource(await m1.mount()), { "etc/os": "strata", "bin/sh": "#!" });
    const base = await m1.commit();
    const m2 = await src.cm.new(base);
    await writeFiles(bindSource(await m2.mount()), { "app/main": "run" });
    const top = await m2.commit();
    layers = (await src.cm.getRemotes(top))[0]?.descriptors ?? [];
    zstdLayers =
      (await src.cm.getRemotes(top, { compression: "zstd", force: true }))[0]?.descriptors ?? [];
    reads = [];
    provider = {
      readerAt: (desc, options) => {
        reads.push(desc.digest);
        return src.cm.content.readerAt(desc, options);
      },
    };
  });
  afterEach(async () => {
    await dst.cleanup();
    await src.cleanup();
  });

  it("fetches nothing until the contents are needed, then each blob once", async () => {
    const [d0, d1] = layers as [Descriptor, Descriptor];
    const r0 = await dst.cm.getByBlob(d0, { provider, imageRefs: ["example.com/app:1"] });
    const r1 = await dst.cm.getByBlob(d1, { provider, parent: r0 });
    expect(r1.info().blobOnly).toBe(true);
    expect(r0.info().description).toBe("pulled from example.com/app:1");
    expect(isNotFound(await dst.cm.content.info(d1.digest).catch((e: unknown) => e))).toBe(true);
    // Remotes of a lazy ref need no fetch.
    const [remote] = await dst.cm.getRemotes(r1, { createIfNeeded: false });
    expect(remote?.descriptors.map((d) => d.digest)).toEqual([d0.digest, d1.digest]);
    expect(reads).toEqual([]);
    const clones = Array.from({ length: 8 }, () => r1.clone());
    await Promise.all(clones.map((c) => c.extract()));
    expect(dst.cm.stats.fetches).toBe(2);
    expect(dst.cm.stats.extractions).toBe(2);
    expect(reads.sort()).toEqual([d0.digest, d1.digest].sort());
    const dir = bindSource(await r1.mount());
    expect(await readFile(join(dir, "etc/os"), "utf8")).toBe("strata");
    expect(await readFile(join(dir, "app/main"), "utf8")).toBe("run");
    expect(r1.info().blobOnly).toBe(false);
    // The fetched blobs are held by the records' leases.
    await dst.cm.gc();
    expect((await dst.cm.content.info(d1.digest)).size).toBe(d1.size);
    for (const r of [...clones, r1, r0]) await r.release();
  });

  it("reuses a record with the same blob chain ID", async () => {
    const [d0] = layers as [Descriptor];
    const a = await dst.cm.getByBlob(d0, { provider });
    const b = await dst.cm.getByBlob(d0, { provider });
    expect(b.id).toBe(a.id);
    await a.release();
    await b.release();
  });

  it("reuses the snapshot of an equal chain ID pulled in another compression", async () => {
    const [g0, g1] = layers as [Descriptor, Descriptor];
    const [z0, z1] = zstdLayers as [Descriptor, Descriptor];
    const a0 = await dst.cm.getByBlob(g0, { provider });
    const a1 = await dst.cm.getByBlob(g1, { provider, parent: a0 });
    await a1.extract();
    const b0 = await dst.cm.getByBlob(z0, { provider });
    const b1 = await dst.cm.getByBlob(z1, { provider, parent: b0 });
    expect(b1.id).not.toBe(a1.id);
    expect(b1.info().chainID).toBe(a1.info().chainID);
    expect(b1.info().snapshotID).toBe(a1.info().snapshotID);
    const before = dst.cm.stats;
    await b1.extract();
    expect(dst.cm.stats.extractions).toBe(before.extractions);
    expect(dst.cm.stats.fetches).toBe(before.fetches);
    const dir = bindSource(await b1.mount());
    expect(await readFile(join(dir, "app/main"), "utf8")).toBe("run");
    for (const r of [b1, b0, a1, a0]) await r.release();
  });

  it("fails to extract a lazy blob whose provider is unknown", async () => {
    const [d0] = layers as [Descriptor];
    const r = await dst.cm.getByBlob(d0, { provider });
    await r.release();
    await dst.cm.close();
    // A fresh manager on the same root has no provider for the lazy blob.
    const { CacheManager } = await import("./cache_manager.ts");
    const cm2 = await CacheManager.open({
      db: dst.db,
      snapshotter: dst.snapshotter,
      snapshotterName: "native",
    });
    try {
      const again = await cm2.get(r.id);
      const err = await again.extract().catch((e: unknown) => e);
      expect(isFailedPrecondition(err)).toBe(true);
      await again.release();
    } finally {
      await cm2.close();
    }
  });

  it("refuses a parent without chain IDs", async () => {
    const [, d1] = layers as [Descriptor, Descriptor];
    const m = await dst.cm.new(undefined);
    const parent = await m.commit();
    const err = await dst.cm.getByBlob(d1, { provider, parent }).catch((e: unknown) => e);
    expect(isFailedPrecondition(err)).toBe(true);
    await parent.release();
  });
});
